"""The run queue: leases and their fenced worker calls (leases.py), checkpoint blobs
(checkpoints.py), and the in-process wake-up of long-polling lease calls (signal.py)."""
