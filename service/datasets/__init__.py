"""Datasets shared through the server: files pushed once (records.py) and named by the runs of
their project, which the API validates from the files' stored facts (validation.py)."""
