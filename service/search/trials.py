"""Adaptive search: trials asked of an Optuna sampler one at a time, with the service's database
as the only truth. No study outlives a request: each ask rebuilds an in-memory study from the
experiment's stored trials (running ones as RUNNING, so TPE's constant liar sees them), its
sampler seeded from the search's seed and the trial's number, and the sampler's notes restored
from the database. Any API process can ask, and a restart loses nothing.

Trials are created under a lock on the experiment's row (SQLite: the write lock), numbered
0, 1, … with the number in the primary key of ``trials``: never more than ``trials`` of them,
however many processes race. The search is topped up to ``parallelism`` queued or running trials
at submission and whenever one of its trials ends, in that same transaction.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState, create_trial
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import optim_core

from ..errors import Conflict, InvalidInput
from ..models import Experiment, Metric, Run, RunStatus, RunTag, Trial, utcnow
from .configs import ExpandedRun, apply_params, validate_config
from .spec import SECTIONS, SearchSpec, check_distribution, parse_search

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the service logs its own decisions

_STATES = {RunStatus.queued.value: TrialState.RUNNING, RunStatus.running.value: TrialState.RUNNING,
           RunStatus.pruned.value: TrialState.PRUNED, RunStatus.failed.value: TrialState.FAIL,
           RunStatus.cancelled.value: TrialState.FAIL}


@dataclass
class TrialView:
    """A trial as the sampler and the pruner see it."""

    row: Trial
    run: Run
    state: TrialState
    value: float | None  # the objective of a complete trial
    intermediate: dict[int, float]  # evaluation index (1, 2, …) → objective


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


def distributions(space: dict[str, dict[str, Any]]) -> dict[str, BaseDistribution]:
    out: dict[str, BaseDistribution] = {}
    for path, dist in space.items():
        kind, args = check_distribution(f"search.space.{path}", dist)
        if kind == "choice":
            out[path] = CategoricalDistribution(args)
        elif kind == "int_uniform":
            out[path] = IntDistribution(math.ceil(args[0]), math.floor(args[1]))
        else:
            out[path] = FloatDistribution(args[0], args[1], log=kind == "log_uniform")
    return out


def make_sampler(spec: SearchSpec, number: int) -> optuna.samplers.BaseSampler:
    """The search's sampler for trial ``number``. Samplers that draw afresh for each trial get
    a seed of their own per trial (a study rebuilt per ask would otherwise draw the same
    numbers every time); QMC's place in its sequence is in the study's notes."""
    seed = (spec.seed * 1_000_003 + number) % 2**32
    if spec.method == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constant_liar=True)
    if spec.method == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    if spec.method == "qmc":
        with warnings.catch_warnings():  # "experimental" since Optuna 3: we pin the version
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.samplers.QMCSampler(seed=spec.seed)
    if spec.method == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


# -- reading the trials ------------------------------------------------------------------------

def load_trials(session: Session, experiment: Experiment, spec: SearchSpec) -> list[TrialView]:
    """The experiment's trials in order, with their states and objective values."""
    rows = session.execute(select(Trial, Run).join(Run, Run.id == Trial.run_id)
                           .where(Trial.experiment_id == experiment.id)
                           .order_by(Trial.number)).all()
    series = objective_series(session, [run.id for _, run in rows], spec.objective.metric)
    return [_view(trial, run, series.get(run.id, []), spec) for trial, run in rows]


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


def _view(trial: Trial, run: Run, values: list[float], spec: SearchSpec) -> TrialView:
    intermediate = {i: v for i, v in enumerate(values, start=1)}
    objective = spec.objective
    if run.status == RunStatus.diverged.value:
        return TrialView(trial, run, TrialState.COMPLETE, objective.worst, intermediate)
    if run.status == RunStatus.succeeded.value:
        value = final_value(values, objective.mode, objective.at)
        state = TrialState.FAIL if value is None else TrialState.COMPLETE
        return TrialView(trial, run, state, value, intermediate)
    return TrialView(trial, run, _STATES[run.status], None, intermediate)


def final_value(values: list[float], mode: str, at: str) -> float | None:
    """A finished run's objective: its last value, or its best one. None — a failed trial, as
    Optuna counts a NaN objective — when the metric was never logged or is NaN."""
    finite = [v for v in values if not math.isnan(v)]
    if at == "last":
        return values[-1] if values and not math.isnan(values[-1]) else None
    if not finite:
        return None
    return min(finite) if mode == "min" else max(finite)


# -- asking the sampler ------------------------------------------------------------------------

def frozen(view: TrialView, dists: dict[str, BaseDistribution]) -> FrozenTrial:
    params = {k: v for k, v in view.row.params.items() if k in dists}
    return create_trial(state=view.state, value=view.value, params=params,
                        distributions={k: dists[k] for k in params},
                        intermediate_values=view.intermediate,
                        system_attrs=view.row.system_attrs or {})


def ask(experiment: Experiment, spec: SearchSpec,
        trials: list[TrialView]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The next trial's parameters and the sampler's notes on it; updates the experiment's
    sampler state."""
    dists = distributions(spec.space)
    study = optuna.create_study(storage=InMemoryStorage(), study_name=f"optrack-{experiment.id}",
                                sampler=make_sampler(spec, len(trials)),
                                direction=spec.objective.direction)
    storage = study._storage
    for key, value in (experiment.search_state or {}).items():
        storage.set_study_system_attr(study._study_id, key, value)
    for view in trials:
        study.add_trial(frozen(view, dists))
    asked = study.ask(fixed_distributions=dists)
    experiment.search_state = dict(storage.get_study_system_attrs(study._study_id))
    return dict(asked.params), dict(storage.get_trial_system_attrs(asked._trial_id))


def base_config(request: dict[str, Any]) -> dict[str, Any]:
    """The sections of an adaptive search's request: the config every trial starts from."""
    return {s: request[s] for s in SECTIONS if request.get(s) is not None}


def trial_config(base: dict[str, Any], params: dict[str, Any]) -> ExpandedRun:
    """The validated run of one trial: ``params`` applied to the base config, leaving out an
    optimizer's hyperparameter that the sampled optimizer does not have."""
    config = apply_params(base, params)
    optimizer = config.get("optimizer")
    known = optimizer_fields(_optimizer_name(config))
    if known is not None and isinstance(optimizer, dict):
        config["optimizer"] = {k: v for k, v in optimizer.items()
                               if k in known or f"optimizer.{k}" not in params}
    return validate_config(config, {s: s for s in SECTIONS})


def optimizer_fields(name: Any) -> set[str] | None:
    """The fields an optimizer's config may have (None for an unknown name)."""
    found = optim_core.catalog()["optimizers"].get(name) if isinstance(name, str) else None
    return None if found is None else {"name", "convention", *found["hyperparameters"]}


CORNERS = 256  # sampled-config corners validated at submission, at most


def check_space(base: dict[str, Any], spec: SearchSpec) -> None:
    """InvalidInput, naming the space's field, when the space can produce a config optim_core
    refuses: every optimizer hyperparameter must belong to an optimizer of the search, and the
    corners of the space (each range's ends, every choice) must validate."""
    space = spec.space
    names = space.get("optimizer.name", {}).get("choice") or [_optimizer_name(base)]
    for path in space:
        section, _, key = path.partition(".")
        fields = [optimizer_fields(n) or set() for n in names]
        if section == "optimizer" and not any(key in f for f in fields):
            raise InvalidInput.field(f"search.space.{path}", f"no optimizer of this search "
                                                             f"({', '.join(map(str, names))}) "
                                                             f"has {key}")
    axes = [[(path, v) for v in _corners(dist)] for path, dist in space.items()]
    for combo in itertools.islice(itertools.product(*axes), CORNERS):
        params = dict(combo)
        try:
            trial_config(base, params)
        except InvalidInput as exc:
            loc = exc.details[0]["loc"] if exc.details else ""
            field = f"search.space.{loc}" if loc in space else loc or "search.space"
            rule = exc.details[0]["msg"] if exc.details else exc.message
            raise InvalidInput.field(field, f"{rule} (at {params})") from None


def _corners(dist: dict[str, Any]) -> list[Any]:
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        return list(args)
    if kind == "int_uniform":
        return [math.ceil(args[0]), math.floor(args[1])]
    return list(args)


def _optimizer_name(base: dict[str, Any]) -> Any:
    optimizer = base.get("optimizer")
    return optimizer.get("name") if isinstance(optimizer, dict) else optimizer


# -- creating trials ---------------------------------------------------------------------------

def lock(session: Session, experiment_id: str) -> Experiment:
    """The experiment, its row locked until the transaction ends: trials of one search are
    created and judged one transaction at a time."""
    return session.scalar(select(Experiment).where(Experiment.id == experiment_id)
                          .with_for_update().execution_options(populate_existing=True))


def create_trials(session: Session, experiment: Experiment, spec: SearchSpec, count: int,
                  external: bool = False) -> list[Run]:
    """Up to ``count`` new trials (never beyond ``trials``), each asked with the ones before it
    running; queued for workers, or ``external`` runs already running. A sampled config that
    optim_core refuses becomes a failed trial, so a search never stalls on it."""
    trials = load_trials(session, experiment, spec)
    base = base_config(experiment.request)
    made = []
    for _ in range(max(0, min(count, spec.trials - len(trials)))):
        number = len(trials)
        params, attrs = ask(experiment, spec, trials)
        run = _trial_run(experiment, base, params, number, external)
        session.add(run)
        session.flush()
        row = Trial(experiment_id=experiment.id, number=number, run_id=run.id, params=params,
                    system_attrs=attrs)
        session.add(row)
        trials.append(TrialView(row, run, _STATES.get(run.status, TrialState.FAIL), None, {}))
        made.append(run)
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
    return made[0]
