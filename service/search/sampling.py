"""Asking Optuna's samplers. No study outlives a request: each ask rebuilds an in-memory study
from the experiment's stored trials (running ones as RUNNING, so TPE's constant liar sees them),
its sampler seeded from the search's seed and the trial's number, and the sampler's notes (the
study's and each trial's system attributes, where CMA-ES and QMC keep their state) restored
from the database."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import optuna
from optuna.distributions import (BaseDistribution, CategoricalDistribution, FloatDistribution,
                                  IntDistribution)
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState, create_trial

from .spec import SearchSpec, check_distribution

optuna.logging.set_verbosity(optuna.logging.WARNING)  # the service logs its own decisions


@dataclass
class TrialView:
    """A trial as the sampler and the pruner see it: plain values, read without building ORM
    objects (an ask at 1,000 trials reads them all)."""

    number: int
    params: dict[str, Any]  # what the sampler suggested
    system_attrs: dict[str, Any]  # the sampler's notes on it
    run_id: str
    status: str  # its run's
    finished_at: datetime | None
    state: TrialState
    value: float | None  # the objective of a complete trial
    intermediate: dict[int, float]  # evaluation index (1, 2, …) → objective
    study: str = ""  # a comparison's optimizer ("" for any other search)
    final: bool = False  # a comparison's re-run of its optimizer's best config on a fresh seed


class _OwnedTrialsStorage(InMemoryStorage):
    """Optuna's in-memory storage for a study rebuilt from frozen trials made for it alone:
    they are taken as they are instead of deep-copied one by one (at 1,000 trials the copies
    were most of an ask's time). The body is InMemoryStorage.create_new_trial's (Optuna 5,
    which pyproject pins) without the copy."""

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        if template_trial is None:
            return super().create_new_trial(study_id)
        with self._lock:
            self._check_study_id(study_id)
            self._max_trial_id += 1
            trial_id = self._max_trial_id
            template_trial.number = len(self._studies[study_id].trials)
            template_trial._trial_id = trial_id
            self._trial_id_to_study_id_and_number[trial_id] = (study_id, template_trial.number)
            self._studies[study_id].trials.append(template_trial)
            self._update_cache(trial_id, study_id)
            return trial_id


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


def frozen(view: TrialView, dists: dict[str, BaseDistribution]) -> FrozenTrial:
    params = {k: v for k, v in view.params.items() if k in dists}
    return create_trial(state=view.state, value=view.value, params=params,
                        distributions={k: dists[k] for k in params},
                        intermediate_values=view.intermediate,
                        system_attrs=view.system_attrs or {})


def ask(name: str, spec: SearchSpec, trials: list[TrialView], state: dict[str, Any]
        ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The next trial's parameters, the sampler's notes on it, and the study's notes after
    it (``state`` before) — of the study ``name`` whose trials so far are ``trials``."""
    dists = distributions(spec.space)
    study = optuna.create_study(storage=_OwnedTrialsStorage(), study_name=f"optrack-{name}",
                                sampler=make_sampler(spec, len(trials)),
                                direction=spec.objective.direction)
    storage = study._storage
    for key, value in state.items():
        storage.set_study_system_attr(study._study_id, key, value)
    for view in trials:
        study.add_trial(frozen(view, dists))
    asked = study.ask(fixed_distributions=dists)
    return (dict(asked.params), dict(storage.get_trial_system_attrs(asked._trial_id)),
            dict(storage.get_study_system_attrs(study._study_id)))
