"""Adaptive search's trials: read from the database (their states and objectives), and created
one at a time by asking the sampler (sampling.py), with the service's database as the only
truth. Any API process can ask, and a restart loses nothing.

Trials are created under a lock on the experiment's row (SQLite: the write lock), numbered
0, 1, … with the number in the primary key of ``trials``: never more than ``trials`` of them,
however many processes race. The search is topped up to ``parallelism`` queued or running trials
at submission and whenever one of its trials ends, in that same transaction.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import Conflict, InvalidInput
from ..models import Experiment, Metric, Run, RunStatus, RunTag, Trial, utcnow
from .configs import base_config, trial_config
from .sampling import TrialView, ask
from .spec import SearchSpec, parse_search

log = logging.getLogger("optrack.search")

_STATES = {RunStatus.queued.value: TrialState.RUNNING, RunStatus.running.value: TrialState.RUNNING,
           RunStatus.pruned.value: TrialState.PRUNED, RunStatus.failed.value: TrialState.FAIL,
           RunStatus.cancelled.value: TrialState.FAIL}


def search_of(experiment: Experiment) -> SearchSpec | None:
    return parse_search(experiment.request.get("search"))


_SPECS: dict[str, SearchSpec | None] = {}  # experiment id → its search (requests never change)


def spec_for(session: Session, experiment_id: str | None) -> SearchSpec | None:
    """The search of an experiment, read once per process: every metrics report and every
    finished run asks, and most experiments are grids."""
    if experiment_id is None:
        return None
    if experiment_id not in _SPECS:
        request = session.scalar(select(Experiment.request)
                                 .where(Experiment.id == experiment_id))
        if len(_SPECS) > 10_000:
            _SPECS.clear()
        _SPECS[experiment_id] = None if request is None else parse_search(request.get("search"))
    return _SPECS[experiment_id]


# -- reading the trials ------------------------------------------------------------------------

def load_trials(session: Session, experiment: Experiment, spec: SearchSpec) -> list[TrialView]:
    """The experiment's trials in order, with their states and objective values."""
    rows = session.execute(
        select(Trial.number, Trial.params, Trial.system_attrs, Run.id, Run.status,
               Run.finished_at)
        .join(Run, Run.id == Trial.run_id).where(Trial.experiment_id == experiment.id)
        .order_by(Trial.number)).all()
    series = objective_series(session, [row[3] for row in rows], spec.objective.metric)
    return [_view(row, series.get(row[3], []), spec) for row in rows]


def objective_series(session: Session, run_ids: list[str], metric: str
                     ) -> dict[str, list[float]]:
    """run id → the objective's values in step order (NaN for NULL)."""
    out: dict[str, list[float]] = {}
    if not run_ids:
        return out
    for run_id, value in session.execute(
            select(Metric.run_id, Metric.value)
            .where(Metric.run_id.in_(run_ids), Metric.key == metric)
            .order_by(Metric.run_id, Metric.step)):
        out.setdefault(run_id, []).append(math.nan if value is None else value)
    return out


def _view(row, values: list[float], spec: SearchSpec) -> TrialView:
    number, params, system_attrs, run_id, status, finished_at = row
    intermediate = {i: v for i, v in enumerate(values, start=1)}
    state, value = _STATES.get(status), None
    if status == RunStatus.diverged.value:
        state, value = TrialState.COMPLETE, spec.objective.worst
    elif status == RunStatus.succeeded.value:
        value = final_value(values, spec.objective.mode, spec.objective.at)
        state = TrialState.FAIL if value is None else TrialState.COMPLETE
    return TrialView(number, params, system_attrs or {}, run_id, status, finished_at, state,
                     value, intermediate)


def final_value(values: list[float], mode: str, at: str) -> float | None:
    """A finished run's objective: its last value, or its best one. None — a failed trial, as
    Optuna counts a NaN objective — when the metric was never logged or is NaN."""
    finite = [v for v in values if not math.isnan(v)]
    if at == "last":
        return values[-1] if values and not math.isnan(values[-1]) else None
    if not finite:
        return None
    return min(finite) if mode == "min" else max(finite)


# -- creating trials ---------------------------------------------------------------------------

def lock(session: Session, experiment_id: str) -> Experiment:
    """The experiment, its row locked until the transaction ends: trials of one search are
    created and judged one transaction at a time."""
    return session.scalar(select(Experiment).where(Experiment.id == experiment_id)
                          .with_for_update().execution_options(populate_existing=True))


def create_trials(session: Session, experiment: Experiment, spec: SearchSpec, count: int,
                  external: bool = False) -> list[Run]:
    """Up to ``count`` new trials to run (never beyond ``trials``), each asked with the ones
    before it running; queued for workers, or ``external`` runs already running. A sampled
    config that optim_core refuses, or a sampler that fails, becomes a failed trial and the
    next one is asked, so a search never stalls on it. The trials made, failed ones too."""
    trials = load_trials(session, experiment, spec)
    base = base_config(experiment.request)
    made, to_run = [], 0
    while to_run < count and len(trials) < spec.trials:
        number = len(trials)
        try:
            params, attrs = ask(experiment, spec, trials)
        except Exception as exc:  # noqa: BLE001 — a sampler's bug must not fail a finish call
            log.exception("experiment %s: the %s sampler failed", experiment.id, spec.method)
            params, attrs = {}, {"optrack:sampler_error": f"{type(exc).__name__}: {exc}"}
        run = _trial_run(experiment, base, params, number, external)
        session.add(run)
        session.flush()
        session.add(Trial(experiment_id=experiment.id, number=number, run_id=run.id,
                          params=params, system_attrs=attrs))
        state = _STATES.get(run.status, TrialState.FAIL)
        trials.append(TrialView(number, params, attrs, run.id, run.status, None, state, None, {}))
        made.append(run)
        to_run += state == TrialState.RUNNING
    return made


def _trial_run(experiment: Experiment, base: dict[str, Any], params: dict[str, Any],
               number: int, external: bool) -> Run:
    now = utcnow()
    run = Run(project_id=experiment.project_id, experiment_id=experiment.id, created_at=now,
              name=f"{experiment.name[:180]} trial {number}", config=base, external=external,
              status=RunStatus.running.value if external else RunStatus.queued.value,
              started_at=now if external else None,
              tags=[RunTag(tag=t) for t in experiment.tags])
    try:
        resolved = trial_config(base, params)
        run.config, run.total_steps = resolved.config, resolved.total_steps
    except InvalidInput as exc:
        run.status, run.finished_at = RunStatus.failed.value, now
        run.error = f"the sampled config is invalid: {exc.message}"
    if not params:
        run.status, run.finished_at = RunStatus.failed.value, now
        run.error = "the sampler suggested nothing (see the server's log)"
    return run


def trial_ended(session: Session, run: Run) -> list[Run]:
    """A run reached its final state: if it is a trial, note an objective it never logged (the
    trial counts as failed) and queue its successors."""
    spec = spec_for(session, run.experiment_id)
    if spec is None or not spec.adaptive:
        return []
    if run.status == RunStatus.succeeded.value:
        values = objective_series(session, [run.id], spec.objective.metric).get(run.id, [])
        if final_value(values, spec.objective.mode, spec.objective.at) is None:
            run.error = (f"the objective {spec.objective.metric!r} was never logged (or is "
                         f"NaN): the trial counts as failed")
    return top_up(session, run.experiment_id)


def top_up(session: Session, experiment_id: str) -> list[Run]:
    """Queue new trials of the experiment's adaptive search until ``parallelism`` are queued or
    running (none for an ask-and-tell search, a deleted experiment, or no search)."""
    spec = spec_for(session, experiment_id)
    if spec is None or not spec.adaptive or spec.external:
        return []
    experiment = lock(session, experiment_id)
    if experiment is None or experiment.deleted_at is not None:
        return []
    in_flight = session.scalar(select(func.count()).select_from(Run).where(
        Run.experiment_id == experiment_id,
        Run.status.in_((RunStatus.queued.value, RunStatus.running.value))))
    return create_trials(session, experiment, spec, spec.parallelism - in_flight)



def ask_external(session: Session, experiment: Experiment) -> Run:
    """Ask and tell: the next trial as an external run for the caller to train (Conflict when
    the search is not an ask-and-tell one, or its ``trials`` are all asked)."""
    spec = search_of(experiment)
    if spec is None or not spec.adaptive:
        raise Conflict(f"experiment {experiment.id!r} has no adaptive search to ask")
    if not spec.external:
        raise Conflict(f"the trials of experiment {experiment.id!r} are run by optrack's "
                       f"workers; submit the search with \"external\": true to ask for them")
    made = create_trials(session, lock(session, experiment.id), spec, 1, external=True)
    if not made:
        raise Conflict(f"all {spec.trials} trials of experiment {experiment.id!r} were asked")
    return made[-1]  # the one to train (after any that failed at creation)
