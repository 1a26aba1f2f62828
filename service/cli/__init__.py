"""The ``optrack`` command (main.py): serving, the one-machine start (local.py), workers,
submitting, administration (accounts.py), saved credentials, the demo."""
