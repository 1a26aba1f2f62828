"""An experiment's summary table: for each distinct config apart from the seed, mean ± std of
the final metrics over its seeds, and the best run."""

from __future__ import annotations

import copy
import json
import math
import statistics
from typing import Any

from optrack.wire import encode_value

from ..models import Run

# the metric that picks the best run, in order of preference, and which way is better
BEST_BY = (("val_accuracy", max), ("val_loss", min), ("val_rmse", min), ("train_loss", min))
TIMING = {"step_time"}


def summarise(runs: list[Run], latest: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """One row per distinct config (seed aside): ``config``, ``runs``, ``metrics`` (key →
    mean, std, n over the finite values), ``best_run_id`` and ``best_by``."""
    groups: dict[str, list[Run]] = {}
    configs: dict[str, dict[str, Any]] = {}
    for run in runs:
        config = copy.deepcopy(run.config)
        training = config.get("training")
        if isinstance(training, dict):  # a run logged over MLflow may have any config
            training.pop("seed", None)
        key = json.dumps(config, sort_keys=True)
        groups.setdefault(key, []).append(run)
        configs[key] = config
    return [_row(configs[key], members, latest) for key, members in groups.items()]


def _row(config: dict[str, Any], runs: list[Run], latest) -> dict[str, Any]:
    keys = sorted({k for r in runs for k in latest.get(r.id, {})} - TIMING)
    metrics = {}
    for key in keys:
        values = [latest[r.id][key] for r in runs if key in latest.get(r.id, {})]
        finite = [v for v in values if math.isfinite(v)]
        mean = statistics.fmean(finite) if finite else math.nan
        std = statistics.stdev(finite) if len(finite) > 1 else 0.0 if finite else math.nan
        metrics[key] = {"mean": encode_value(mean), "std": encode_value(std), "n": len(finite)}
    best_run, best_by = None, None
    for key, pick in BEST_BY:
        candidates = [(latest[r.id][key], r.id) for r in runs
                      if math.isfinite(latest.get(r.id, {}).get(key, math.nan))]
        if candidates:
            best_run, best_by = pick(candidates)[1], key
            break
    return {"config": config, "runs": len(runs), "metrics": metrics, "best_run_id": best_run,
            "best_by": best_by}
