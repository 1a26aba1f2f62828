"""Metric tracking: ingest (ingest.py), rollups maintained at ingest (rollups.py), downsampled
histories read from them (histories.py), latest values per run and key (latest.py)."""
