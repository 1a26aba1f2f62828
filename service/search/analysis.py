"""Reading an adaptive search: where it stands, its trials as a table (the optimisation
history and slice plots are drawn from it), and which parameters matter (Optuna's importance
evaluators over the complete trials)."""

from __future__ import annotations

import math
from typing import Any

import optuna
from optuna.trial import TrialState
from sqlalchemy.orm import Session

from optrack.wire import encode_value

from ..errors import Conflict, InvalidInput
from ..models import Experiment
from .spec import SearchSpec
from .sampling import distributions, frozen
from .studies import study_spec
from .trials import TrialView, best_trial, load_trials, search_of

MIN_TRIALS_FOR_IMPORTANCE = 4  # complete trials before importances mean anything


def adaptive_search(experiment: Experiment) -> SearchSpec:
    """The experiment's adaptive search, or Conflict: a grid has none."""
    spec = search_of(experiment)
    if spec is None or not spec.adaptive:
        raise Conflict(f"experiment {experiment.id!r} has no adaptive search")
    return spec


def summarise_search(session: Session, experiment: Experiment) -> dict[str, Any] | None:
    """{method, trials, done, in_flight, pruned, best_run_id, best_value} of an adaptive
    search (None for grids and today's random search)."""
    spec = search_of(experiment)
    if spec is None or not spec.adaptive:
        return None
    trials = load_trials(session, experiment, spec, study=None)  # a comparison's: every search
    best = best_trial(trials, spec.objective.mode)
    return {"method": spec.method, "trials": spec.trials,
            "done": sum(t.state != TrialState.RUNNING for t in trials),
            "in_flight": sum(t.state == TrialState.RUNNING for t in trials),
            "pruned": sum(t.state == TrialState.PRUNED for t in trials),
            "best_run_id": best.run_id if best else None,
            "best_value": encode_value(best.value) if best else None}


def trial_table(session: Session, experiment: Experiment
                ) -> tuple[SearchSpec, list[dict[str, Any]]]:
    """The search, and every trial: number, run, status, sampled parameters, objective
    (complete trials), evaluations reported, and when it ended — in order of number (a
    comparison's: every optimizer's, its final runs too)."""
    spec = adaptive_search(experiment)
    return spec, [{"number": t.number, "run_id": t.run_id, "status": t.status,
                   "params": t.params, "evaluations": len(t.intermediate),
                   "value": _value(t), "finished_at": t.finished_at,
                   "optimizer": t.study or None, "final": t.final}
                  for t in load_trials(session, experiment, spec, study=None, final=None)]


def _value(trial: TrialView):
    return encode_value(trial.value) if trial.state == TrialState.COMPLETE else None


def importances(session: Session, experiment: Experiment, optimizer: str | None = None
                ) -> tuple[dict[str, float] | None, int]:
    """Parameter importances by Optuna's default evaluator (fANOVA) over the complete trials
    with a finite objective (of a comparison: of one ``optimizer``'s search), and how many
    there are; None below ``MIN_TRIALS_FOR_IMPORTANCE`` or when no parameter varies."""
    spec = adaptive_search(experiment)
    study = ""
    if spec.compare is not None:
        if optimizer not in spec.compare.optimizers:
            raise InvalidInput.field("optimizer", f"must name one of the comparison's "
                                                  f"optimizers "
                                                  f"({', '.join(spec.compare.optimizers)})")
        spec, study = study_spec(spec, optimizer), optimizer
    dists = distributions(spec.space)
    complete = [t for t in load_trials(session, experiment, spec, study)
                if t.state == TrialState.COMPLETE and math.isfinite(t.value)]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return None, len(complete)
    study = optuna.create_study(direction=spec.objective.direction)
    for trial in complete:
        study.add_trial(frozen(trial, dists))
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # every trial has the same parameters
        return None, len(complete)
    return {k: float(v) for k, v in found.items()}, len(complete)
