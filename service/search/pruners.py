"""Early stopping for adaptive search: should a running trial stop at its latest evaluation?

The service keeps no Optuna study between requests (several API processes, restarts); its
database is the only record of a search. Each time a running trial reports its objective, the
caller rebuilds every trial of the search as a ``TrialRecord`` and asks ``should_prune``. Here
that state is turned back into the in-memory study Optuna's pruner would have been looking at,
had it been asked after every report, and the real pruner decides.

Optuna keeps part of a pruner's memory on the trials: SuccessiveHalvingPruner (and Hyperband's
brackets, which are SuccessiveHalvingPruners) writes ``completed_rung_{k}`` system attrs while it
decides, and Hyperband assigns a trial to a bracket from the study's name and the trial's
number. Optuna has no public API for either, so the few private names used below are pinned by
tests/service/test_pruners.py against a live, incrementally driven study.

Evaluation indices (1, 2, 3, …) are Optuna's steps unchanged: they are the resource that
``min_resource``, ``max_resource`` and ``n_warmup_steps`` count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.pruners import BasePruner, HyperbandPruner, MedianPruner, SuccessiveHalvingPruner
from optuna.pruners._successive_halving import _completed_rung_key
from optuna.trial import FrozenTrial, TrialState

from ..errors import InvalidInput

PRUNERS = ("none", "median", "asha", "successive_halving", "hyperband")
STUDY_NAME = "optrack-search"  # Hyperband hashes it into bracket ids: never change it
DIRECTIONS = ("minimize", "maximize")
STATES = {"running": TrialState.RUNNING, "complete": TrialState.COMPLETE,
          "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}

REQUIRED = None  # as a default: the key must be given
_SHA_PARAMS = {"min_resource": (1, 1), "reduction_factor": (2, 3),
               "min_early_stopping_rate": (0, 0)}
PARAMS: dict[str, dict[str, tuple[int, int | None]]] = {  # key -> (minimum, default)
    "none": {},
    "median": {"n_startup_trials": (0, 5), "n_warmup_steps": (0, 0), "interval_steps": (1, 1)},
    "asha": _SHA_PARAMS,
    "successive_halving": _SHA_PARAMS,
    "hyperband": {"min_resource": (1, 1), "max_resource": (1, REQUIRED),
                  "reduction_factor": (2, 3)},
}


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a search as the service's database has it.

    ``state`` is "running", "complete", "pruned" or "failed"; a run whose final objective is
    NaN is "failed" (Optuna refuses a NaN objective and records the trial as FAIL).
    ``intermediate`` maps evaluation index (1, 2, 3, …) to the objective there (may be NaN).
    """

    number: int
    state: str
    intermediate: dict[int, float]


def validate_pruner(spec: dict | None, loc: str = "search.pruner") -> dict:
    """The spec with every default filled in ({"name": "none"} for None); InvalidInput names the
    first bad field. Parameters are integers (never bools) at or above their minimum; unknown
    names and keys are refused; hyperband needs max_resource >= min_resource."""
    if spec is None:
        return {"name": "none"}
    if not isinstance(spec, dict):
        raise InvalidInput.field(loc, f"must be an object, got {type(spec).__name__}")
    name = spec.get("name")
    if name not in PRUNERS:
        expected = ", ".join(PRUNERS)
        raise InvalidInput.field(f"{loc}.name", f"must be one of {expected}, got {name!r}")
    params = PARAMS[name]
    for key in spec:
        if key != "name" and key not in params:
            allowed = ", ".join(params) or "no parameters"
            raise InvalidInput.field(f"{loc}.{key}",
                                     f"is not a parameter of {name} (it takes {allowed})")
    normalised: dict[str, Any] = {"name": name}
    for key, (minimum, default) in params.items():
        normalised[key] = _int_at_least(spec, key, minimum, default, loc)
    if name == "hyperband" and normalised["max_resource"] < normalised["min_resource"]:
        raise InvalidInput.field(
            f"{loc}.max_resource",
            f"must be >= min_resource ({normalised['min_resource']}), "
            f"got {normalised['max_resource']}")
    return normalised


def _int_at_least(spec: dict, key: str, minimum: int, default: int | None, loc: str) -> int:
    """spec[key] (or its default) if it is an int >= minimum; a bool is not an int here."""
    if key not in spec:
        if default is REQUIRED:
            raise InvalidInput.field(f"{loc}.{key}",
                                     "is required: the number of evaluations a full run makes")
        return default
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidInput.field(f"{loc}.{key}", f"must be an integer >= {minimum}, got {value!r}")
    return value


def should_prune(spec: dict, direction: str, trials: list[TrialRecord], current: int) -> bool:
    """Optuna's decision for the running trial number ``current`` at its latest evaluation,
    given every trial of the search as it stands now: the answer its pruner gives when it has
    been asked after every earlier report of every trial, in the study ``STUDY_NAME``."""
    spec = validate_pruner(spec)
    if spec["name"] == "none":
        return False
    by_number = _check(direction, trials, current)
    pruner = _make_pruner(spec)
    study = optuna.create_study(study_name=STUDY_NAME, direction=direction, pruner=pruner)
    if isinstance(pruner, HyperbandPruner):
        # brackets exist only after initialisation, and attrs depend on the bracket
        pruner._try_initialization(study)
    for number in range(max(by_number) + 1):
        record = by_number.get(number, TrialRecord(number, "running", {}))
        study.add_trial(_frozen(record, pruner, study, record.number == current))
    return bool(pruner.prune(study, study.get_trials(deepcopy=False)[current]))


def _check(direction: str, trials: list[TrialRecord], current: int) -> dict[int, TrialRecord]:
    """The records by number; ValueError for a call that breaks the contract: an unknown
    direction or state, a repeated or negative number, a current trial absent or not running."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    by_number: dict[int, TrialRecord] = {}
    for record in trials:
        if record.state not in STATES:
            raise ValueError(f"trial {record.number}: unknown state {record.state!r}")
        if record.number < 0 or record.number in by_number:
            raise ValueError(f"trial number {record.number} is negative or repeated")
        by_number[record.number] = record
    if current not in by_number or by_number[current].state != "running":
        raise ValueError(f"trial {current} is not a running trial of this search")
    return by_number


def _make_pruner(spec: dict) -> BasePruner:
    """The Optuna pruner for a validated spec, every parameter explicit (never "auto")."""
    params = {key: value for key, value in spec.items() if key != "name"}
    if spec["name"] == "median":
        return MedianPruner(**params)
    if spec["name"] == "hyperband":
        return HyperbandPruner(**params)
    return SuccessiveHalvingPruner(**params)


def _frozen(record: TrialRecord, pruner: BasePruner, study: optuna.Study,
            is_current: bool) -> FrozenTrial:
    """The trial as Optuna would hold it, with the rung attrs its pruner would have written.
    The current trial's latest report has not been judged yet: prune() writes its attrs."""
    state = STATES[record.state]
    trial = optuna.trial.create_trial(
        state=state,
        # pruners read intermediate values only; a complete trial just needs some objective
        value=0.0 if state == TrialState.COMPLETE else None,
        intermediate_values=dict(record.intermediate))
    trial.number = record.number  # add_trial gives the same number; Hyperband hashes it first
    sha = _halving_pruner_of(pruner, study, trial)
    if sha is not None:
        judged = dict(record.intermediate)
        if is_current and judged:
            del judged[max(judged)]
        trial.system_attrs = _rung_attrs(sha, judged)
    return trial


def _halving_pruner_of(pruner: BasePruner, study: optuna.Study,
                       trial: FrozenTrial) -> SuccessiveHalvingPruner | None:
    """The SuccessiveHalvingPruner that judges this trial: the pruner itself, or for Hyperband
    the one of the trial's bracket (fixed by study name and trial number); None for median."""
    if isinstance(pruner, HyperbandPruner):
        return pruner._pruners[pruner._get_bracket_id(study, trial)]
    if isinstance(pruner, SuccessiveHalvingPruner):
        return pruner
    return None


def _rung_attrs(sha: SuccessiveHalvingPruner, values: dict[int, float]) -> dict[str, float]:
    """The ``completed_rung_{k}`` attrs SuccessiveHalvingPruner.prune writes when asked after each
    of these reports in step order: at the first step at or past rung k's promotion step
    (min_resource * reduction_factor ** (min_early_stopping_rate + k)) whose value is not NaN,
    rung k records that value. A NaN there is pruned with nothing written; a trial that went on
    reporting anyway writes the rung at its next finite value. The record does not depend on
    the competition, since a trial is pruned at a rung only after writing it. One call crosses
    two rungs only after a skipped step or an ignored prune; the later rung is then taken as
    written too, as for a promoted trial."""
    attrs: dict[str, float] = {}
    rung = 0
    for step in sorted(values):
        value = values[step]
        while not math.isnan(value) and step >= _promotion_step(sha, rung):
            attrs[_completed_rung_key(rung)] = value
            rung += 1
    return attrs


def _promotion_step(sha: SuccessiveHalvingPruner, rung: int) -> int:
    """The step at which a trial completes ``rung`` (SuccessiveHalvingPruner's docstring)."""
    return sha._min_resource * sha._reduction_factor ** (sha._min_early_stopping_rate + rung)
