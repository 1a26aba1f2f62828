"""Adaptive search's trials: read from the database (their states and objectives), and created
one at a time by asking the sampler (sampling.py), with the service's database as the only
truth. Any API process can ask, and a restart loses nothing.

Trials are created under a lock on the experiment's row (SQLite: the write lock), numbered
0, 1, … with the number in the primary key of ``trials``: never more than ``trials`` of them,
however many processes race (a comparison numbers all its optimizers' trials in one sequence).
schedule.py tops a search up to ``parallelism`` queued or running trials at submission and
whenever one of its trials ends, in that same transaction.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.orm import Session, object_session

from ..datasets.validation import ProjectDatasets
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

def load_trials(session: Session, experiment: Experiment, spec: SearchSpec,
                study: str | None = "", final: bool | None = False) -> list[TrialView]:
    """The experiment's trials in order, with their states and objective values: those of one
    ``study`` (a comparison's optimizer; "" for any other search) and, by default, not a
    comparison's final runs (None: any)."""
    stmt = (select(Trial.number, Trial.params, Trial.system_attrs, Run.id, Run.status,
                   Run.finished_at, Trial.study, Trial.final)
            .join(Run, Run.id == Trial.run_id).where(Trial.experiment_id == experiment.id)
            .order_by(Trial.number))
    if study is not None:
        stmt = stmt.where(Trial.study == study)
    if final is not None:
        stmt = stmt.where(Trial.final.is_(final))
    rows = session.execute(stmt).all()
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
    number, params, system_attrs, run_id, status, finished_at, study, final = row
    intermediate = {i: v for i, v in enumerate(values, start=1)}
    state, value = _STATES.get(status), None
    if status == RunStatus.diverged.value:
        state, value = TrialState.COMPLETE, spec.objective.worst
    elif status == RunStatus.succeeded.value:
        value = final_value(values, spec.objective.mode, spec.objective.at)
        state = TrialState.FAIL if value is None else TrialState.COMPLETE
    return TrialView(number, params, system_attrs or {}, run_id, status, finished_at, state,
                     value, intermediate, study, bool(final))


def final_value(values: list[float], mode: str, at: str) -> float | None:
    """A finished run's objective: its last value, or its best one. None — a failed trial, as
    Optuna counts a NaN objective — when the metric was never logged or is NaN."""
    finite = [v for v in values if not math.isnan(v)]
    if at == "last":
        return values[-1] if values and not math.isnan(values[-1]) else None
    if not finite:
        return None
    return min(finite) if mode == "min" else max(finite)


def best_trial(trials: list[TrialView], mode: str) -> TrialView | None:
    """The complete trial with the best objective (the first of equals), if any."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and not math.isnan(t.value)]
    if not complete:
        return None
    return (min if mode == "min" else max)(complete, key=lambda t: t.value)


def is_final(session: Session, run_id: str) -> bool:
    """Whether the run is a comparison's final run (never pruned)."""
    return bool(session.scalar(select(Trial.final).where(Trial.run_id == run_id)))


# -- creating trials ---------------------------------------------------------------------------

def lock(session: Session, experiment_id: str) -> Experiment:
    """The experiment, its row locked until the transaction ends: trials of one search are
    created and judged one transaction at a time."""
    return session.scalar(select(Experiment).where(Experiment.id == experiment_id)
                          .with_for_update().execution_options(populate_existing=True))


def next_number(session: Session, experiment_id: str) -> int:
    """The number of the experiment's next trial (call under its lock)."""
    last = session.scalar(select(func.max(Trial.number))
                          .where(Trial.experiment_id == experiment_id))
    return 0 if last is None else last + 1


def create_trials(session: Session, experiment: Experiment, spec: SearchSpec, count: int,
                  external: bool = False, study: str = "",
                  base: dict[str, Any] | None = None) -> list[Run]:
    """Up to ``count`` new trials to run (never beyond ``trials``) of the search ``spec`` — a
    comparison's optimizer's, ``study``, from its ``base`` config — each asked with the ones
    before it running; queued for workers, or ``external`` runs already running. A sampled
    config that optim_core refuses, or a sampler that fails, becomes a failed trial and the
    next one is asked, so a search never stalls on it. The trials made, failed ones too."""
    trials = load_trials(session, experiment, spec, study)
    base = base_config(experiment.request) if base is None else base
    number, made, to_run = next_number(session, experiment.id), [], 0
    while to_run < count and len(trials) < spec.trials:
        params, attrs = _ask(experiment, spec, trials, study)
        label = f"{study} trial {len(trials)}" if study else f"trial {number}"
        run = trial_run(experiment, base, params, label, external)
        if spec.space and not params:
            run.status, run.finished_at = RunStatus.failed.value, run.created_at
            run.error = "the sampler suggested nothing (see the server's log)"
        session.add(run)
        session.flush()
        session.add(Trial(experiment_id=experiment.id, number=number, run_id=run.id,
                          params=params, system_attrs=attrs, study=study))
        state = _STATES.get(run.status, TrialState.FAIL)
        trials.append(TrialView(number, params, attrs, run.id, run.status, None, state, None, {},
                                study))
        made.append(run)
        number += 1
        to_run += state == TrialState.RUNNING
    return made


def _ask(experiment: Experiment, spec: SearchSpec, trials: list[TrialView],
         study: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The sampler's next parameters and notes, its study's notes kept on the experiment (a
    comparison's per optimizer); nothing to ask for a search with nothing to tune."""
    if not spec.space:
        return {}, {}
    saved = dict(experiment.search_state or {})
    state = saved.get(study, {}) if study else saved
    try:
        params, attrs, state = ask(f"{experiment.id}-{study}" if study else experiment.id,
                                   spec, trials, state)
    except Exception as exc:  # noqa: BLE001 — a sampler's bug must not fail a finish call
        log.exception("experiment %s: the %s sampler failed", experiment.id, spec.method)
        return {}, {"optrack:sampler_error": f"{type(exc).__name__}: {exc}"}
    experiment.search_state = {**saved, study: state} if study else state
    return params, attrs


def trial_run(experiment: Experiment, base: dict[str, Any], params: dict[str, Any],
              label: str, external: bool = False) -> Run:
    """A new run of the experiment: ``params`` applied to ``base``, queued (or running, when
    ``external``) — or failed at once when optim_core refuses the config."""
    now = utcnow()
    run = Run(project_id=experiment.project_id, experiment_id=experiment.id, created_at=now,
              name=f"{experiment.name[:150]} {label}", config=base, external=external,
              status=RunStatus.running.value if external else RunStatus.queued.value,
              started_at=now if external else None,
              tags=[RunTag(tag=t) for t in experiment.tags])
    try:
        datasets = ProjectDatasets(object_session(experiment), experiment.project_id)
        resolved = trial_config(base, params, datasets.load)
        run.config, run.total_steps = resolved.config, resolved.total_steps
    except InvalidInput as exc:
        run.status, run.finished_at = RunStatus.failed.value, now
        run.error = f"the sampled config is invalid: {exc.message}"
    return run


def note_missing_objective(session: Session, run: Run, spec: SearchSpec) -> None:
    """A trial that succeeded without its objective counts as failed: say so on the run."""
    if run.status == RunStatus.succeeded.value:
        values = objective_series(session, [run.id], spec.objective.metric).get(run.id, [])
        if final_value(values, spec.objective.mode, spec.objective.at) is None:
            run.error = (f"the objective {spec.objective.metric!r} was never logged (or is "
                         f"NaN): the trial counts as failed")


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
