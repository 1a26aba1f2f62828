"""The ``optrack`` command (main.py): serving, the one-machine start (local.py), workers,
administration (accounts.py), saved credentials, the demo; and over the REST API (common.py):
submitting and exporting experiments (experiments.py), runs and their histories (runs.py),
watching an experiment (watch.py, watch_view.py)."""
