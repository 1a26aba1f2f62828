"""The MLflow-compatible API's domain: MLflow's experiments, runs, params, tags, metrics,
filters and errors translated to optrack's (routes/mlflow.py serves it under /api/2.0/mlflow).

    caller.py       the token's default project; experiment id "0" (Default)
    experiments.py  create, get, get by name, search
    runs.py         create, update (finish), delete, log params/tags/metrics, metric history
    search.py       runs/search: MLflow's filter and order_by in optrack's query language
    filters.py      MLflow's search syntax, read into clauses
    values.py       params as config paths, tags as key=value run tags
    entities.py     experiments and runs as MLflow's JSON entities
    errors.py       MLflow's error shape and status codes
"""
