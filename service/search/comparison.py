"""The result of a fair comparison of optimizers, read from its stored runs: per optimizer the
best config of its search, its final runs' objective (mean ± std, a 95 % interval), its rank,
and for each pair of optimizers whether they differ (Welch's t-test, Holm-corrected).

An optimizer's ``final`` is filled in once all its final runs have ended; the ranks and the
pairs once every optimizer's are (a rank among some would change as the others end, and Holm's
correction counts every pair). The statistics are over the final runs' finite objectives; a
final run that diverged is counted in ``diverged``, one that failed is left out of ``n``.
"""

from __future__ import annotations

import math
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import select
from sqlalchemy.orm import Session

from optrack.wire import encode_value

from ..models import Experiment, Run, RunStatus
from .spec import SearchSpec
from .statistics import ALPHA, pairs, ranks, summarise
from .trials import TrialView, best_trial, load_trials, search_of


def comparison(session: Session, experiment: Experiment) -> dict[str, Any] | None:
    """{objective, alpha, optimizers: [...], pairs: [...]} of a comparison (None otherwise)."""
    spec = search_of(experiment)
    if spec is None or spec.compare is None:
        return None
    views = load_trials(session, experiment, spec, study=None, final=None)
    rows, finals = [], {}  # finals: optimizer → its final objectives, once all have ended
    for name in spec.compare.optimizers:
        row, values = _optimizer(spec, name, [v for v in views if v.study == name])
        rows.append(row)
        if row["final"] is not None:
            finals[name] = values
    configs = _configs(session, [row["best_run_id"] for row in rows if row["best_run_id"]])
    for row in rows:
        row["best_config"] = configs.get(row["best_run_id"])
    settled = all(row["status"] in ("done", "no complete trial") for row in rows)
    tested = []
    if settled and finals:
        means = {name: _mean(values, spec) for name, values in finals.items()}
        for name, rank in ranks(means, spec.objective.mode).items():
            next(row for row in rows if row["optimizer"] == name)["rank"] = rank
        tested = [{"a": p.a, "b": p.b, "p_value": p.p_value, "p_holm": p.p_holm,
                   "significant": p.significant} for p in pairs(finals, ALPHA)]
    return {"objective": {"metric": spec.objective.metric, "mode": spec.objective.mode},
            "alpha": ALPHA, "final_seeds": spec.compare.final_seeds, "optimizers": rows,
            "pairs": tested}


def _optimizer(spec: SearchSpec, name: str, views: list[TrialView]
               ) -> tuple[dict[str, Any], list[float]]:
    """An optimizer's entry, and its final runs' objectives (complete ones)."""
    compare = spec.compare
    search = [v for v in views if not v.final]
    final = [v for v in views if v.final]
    best = best_trial(search, spec.objective.mode)
    searched = (len(search) == compare.trials_of(name)
                and all(v.state != TrialState.RUNNING for v in search))
    finished = (len(final) == compare.final_seeds
                and all(v.state != TrialState.RUNNING for v in final))
    status = ("searching" if not searched else "no complete trial" if best is None
              else "done" if finished else "final runs")
    values = [v.value for v in final if v.state == TrialState.COMPLETE]
    return {"optimizer": name, "status": status, "tuned": compare.tuned(name),
            "budget": compare.trials_of(name), "trials": len(search),
            "pruned": sum(v.status == RunStatus.pruned.value for v in search),
            "best_run_id": best.run_id if best else None,
            "best_value": encode_value(best.value) if best else None,
            "best_params": best.params if best else None, "best_config": None,
            "final_run_ids": [v.run_id for v in final],
            "final": _final(values, len(final)) if status == "done" else None,
            "rank": None}, values


def _final(values: list[float], runs: int) -> dict[str, Any]:
    """The final runs' objective summarised (over the finite values)."""
    finite = [v for v in values if math.isfinite(v)]
    out = {"mean": None, "std": None, "ci95": None, "n": len(finite),
           "diverged": sum(not math.isfinite(v) for v in values),
           "failed": runs - len(values), "values": [encode_value(v) for v in values]}
    if finite:
        summary = summarise(finite)
        out.update(mean=summary.mean, std=summary.std,
                   ci95=None if summary.ci95 is None else list(summary.ci95))
    return out


def _mean(values: list[float], spec: SearchSpec) -> float:
    """What ranks an optimizer: its final mean, the worst value when no final run is finite."""
    finite = [v for v in values if math.isfinite(v)]
    return summarise(finite).mean if finite else spec.objective.worst


def _configs(session: Session, run_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not run_ids:
        return {}
    return dict(session.execute(select(Run.id, Run.config).where(Run.id.in_(run_ids))).all())
