"""Metric tracking: ingest (ingest.py), rollups and downsampled histories (rollups.py), latest
values per run and key (latest.py)."""
