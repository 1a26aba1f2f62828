"""The ``search`` section of an experiment request, parsed and validated.

    {"method": "tpe", "trials": 60, "parallelism": 4, "seed": 0,
     "objective": {"metric": "val_loss", "mode": "min", "at": "last"},
     "space": {"optimizer.lr": {"log_uniform": [1e-5, 1.0]},
               "optimizer.name": {"choice": ["sgd", "adam"]}},
     "pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 3}}

``random`` without an objective or pruner is today's random search, expanded at submission
(expansion.py); every other search is adaptive: its trials are asked of an Optuna sampler one at
a time, at most ``parallelism`` queued or running at once (trials.py).

``compare`` is a fair comparison of optimizers: one search per optimizer, each with the same
``budget``, sampler and pruner, then its best config re-run on ``final_seeds`` fresh seeds
(studies.py runs it, comparison.py reports it):

    {"method": "compare", "optimizers": ["sgd", "momentum", "adagrad", "adam"],
     "tune": {"optimizer.lr": {"log_uniform": [1e-5, 1.0]}}, "budget": 20, "sampler": "tpe",
     "final_seeds": 5, "seed": 0, "objective": {"metric": "val_loss", "mode": "min"},
     "pruner": {"name": "asha"}}
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass
from typing import Any

import optim_core

from ..errors import InvalidInput
from .pruners import validate_pruner

METHODS = ("random", "tpe", "cmaes", "gp", "qmc", "compare")
SAMPLERS = ("random", "tpe", "cmaes", "gp", "qmc")  # what each search of a comparison uses
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")
SECTIONS = ("dataset", "model", "optimizer", "schedule", "training")
ADAPTIVE_PARALLELISM = 4  # runs of an adaptive search queued or running at once, by default
METRIC_KEY = re.compile(r"^[A-Za-z0-9_.\-/]{1,200}$")


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: str  # "min" or "max"
    at: str  # "last" value of the finished run, or its "best"

    @property
    def direction(self) -> str:
        return "minimize" if self.mode == "min" else "maximize"

    @property
    def worst(self) -> float:
        """What a diverged run scores."""
        return math.inf if self.mode == "min" else -math.inf


@dataclass(frozen=True)
class SearchSpec:
    method: str
    trials: int
    parallelism: int
    seed: int
    space: dict[str, dict[str, Any]]  # config path → {distribution: arguments}
    objective: Objective | None
    pruner: dict[str, Any]  # validated, {"name": "none"} for no pruning
    external: bool  # trials only through POST /experiments/{id}/trials (ask and tell)
    compare: Comparison | None = None  # method "compare": the optimizers and their searches

    @property
    def adaptive(self) -> bool:
        """Trials asked one at a time (today's random search expands them all at once)."""
        return (self.method != "random" or self.objective is not None
                or self.pruner["name"] != "none" or self.external)

    @property
    def prunes(self) -> bool:
        return self.pruner["name"] != "none"


# An optimizer's fields that make it another optimizer of the chapter: "sgd" with momentum is
# Momentum, so a comparison tunes neither into plain SGD.
NOT_TUNED = {"sgd": {"momentum", "dampening", "nesterov"}}


@dataclass(frozen=True)
class Comparison:
    """What ``compare`` adds to a search: every optimizer gets ``budget`` trials of the
    search's sampler over the ``tune`` fields it has, then ``final_seeds`` runs of its best."""

    optimizers: tuple[str, ...]
    tune: dict[str, dict[str, Any]]  # config path → distribution
    budget: int
    final_seeds: int
    sampler: str  # each optimizer's search's method

    def tuned(self, optimizer: str) -> list[str]:
        """The tune fields that apply to ``optimizer`` (other sections' apply to every one)."""
        return [path for path in self.tune if applies(path, optimizer)]

    def trials_of(self, optimizer: str) -> int:
        """An optimizer's search trials: ``budget``, or one when nothing is tuned for it (its
        runs would all be the same run: training is deterministic)."""
        return self.budget if self.tuned(optimizer) else 1


def applies(path: str, optimizer: str) -> bool:
    """Whether the config field ``path`` is one a comparison tunes for ``optimizer``."""
    section, _, key = path.partition(".")
    if section != "optimizer":
        return True
    fields = optim_core.catalog()["optimizers"][optimizer]["hyperparameters"]
    return key in fields and key not in NOT_TUNED.get(optimizer, ())


def parse_search(search: Any) -> SearchSpec | None:
    """The validated search of a request (None: a grid); InvalidInput names the field."""
    if search is None:
        return None
    if not isinstance(search, dict):
        raise InvalidInput.field("search", "must be an object")
    if search.get("method") == "compare":
        return _comparison(search)
    _only(search, SEARCH_FIELDS, "a search field")
    method = _one_of(search.get("method", "random"), METHODS, "search.method")
    _check_gp(method, "search.method")
    trials = _integer(search.get("trials"), "search.trials", 1)
    objective = _objective(search.get("objective"))
    pruner = validate_pruner(search.get("pruner"))
    external = search.get("external", False)
    if not isinstance(external, bool):
        raise InvalidInput.field("search.external", "must be true or false")
    spec = SearchSpec(method, trials, 0, _integer(search.get("seed", 0), "search.seed", 0),
                      _space(search.get("space")), objective, pruner, external)
    if spec.adaptive and objective is None:
        raise InvalidInput.field("search.objective", f"is required by the {method} search "
                                                     f"(and by a pruner): which metric to "
                                                     f"minimise or maximise")
    default = ADAPTIVE_PARALLELISM if spec.adaptive else trials
    parallelism = _integer(search.get("parallelism", default), "search.parallelism", 1)
    return SearchSpec(method, trials, parallelism, spec.seed, spec.space, objective, pruner,
                      external)


def _check_gp(method: str, loc: str) -> None:
    if method == "gp" and importlib.util.find_spec("torch") is None:
        raise InvalidInput.field(loc, "gp needs PyTorch, which optrack does not install; use "
                                      "tpe, cmaes, qmc or random")


SEARCH_FIELDS = ("method", "trials", "parallelism", "seed", "space", "objective", "pruner",
                 "external")
COMPARE_FIELDS = ("method", "optimizers", "tune", "budget", "sampler", "final_seeds", "seed",
                  "objective", "pruner", "parallelism")


def _comparison(search: dict[str, Any]) -> SearchSpec:
    _only(search, COMPARE_FIELDS, "a field of a comparison")
    optimizers = _optimizers(search.get("optimizers"))
    tune = _space(search.get("tune"), "search.tune")
    for path in tune:
        if path in ("optimizer.name", "training.seed"):
            raise InvalidInput.field(f"search.tune.{path}", "is not tunable in a comparison "
                                                            "(the optimizers are "
                                                            "search.optimizers; the final runs "
                                                            "take fresh seeds)")
        if not any(applies(path, name) for name in optimizers):
            raise InvalidInput.field(f"search.tune.{path}", f"no optimizer of the comparison "
                                                            f"({', '.join(optimizers)}) has "
                                                            f"{path.partition('.')[2]}")
    sampler = _one_of(search.get("sampler", "tpe"), SAMPLERS, "search.sampler")
    _check_gp(sampler, "search.sampler")
    compare = Comparison(optimizers, tune, _integer(search.get("budget", 20), "search.budget", 1),
                         _integer(search.get("final_seeds", 5), "search.final_seeds", 2), sampler)
    objective = _objective(search.get("objective"))
    if objective is None:
        raise InvalidInput.field("search.objective", "is required by a comparison: which "
                                                     "metric to minimise or maximise")
    return SearchSpec("compare", sum(compare.trials_of(o) for o in optimizers),
                      _integer(search.get("parallelism", ADAPTIVE_PARALLELISM),
                               "search.parallelism", 1),
                      _integer(search.get("seed", 0), "search.seed", 0), tune, objective,
                      validate_pruner(search.get("pruner")), False, compare)


def _optimizers(optimizers: Any) -> tuple[str, ...]:
    known = optim_core.catalog()["optimizers"]
    if not isinstance(optimizers, list) or len(optimizers) < 2:
        raise InvalidInput.field("search.optimizers", "must list at least two optimizers to "
                                                      "compare")
    for i, name in enumerate(optimizers):
        if not isinstance(name, str) or name not in known:
            raise InvalidInput.field(f"search.optimizers[{i}]", f"must be one of "
                                                                f"{', '.join(known)}, got "
                                                                f"{name!r}")
    if len(set(optimizers)) != len(optimizers):
        raise InvalidInput.field("search.optimizers", "lists an optimizer twice")
    return tuple(optimizers)


def _only(search: dict[str, Any], fields: tuple[str, ...], what: str) -> None:
    for key in search:
        if key not in fields:
            raise InvalidInput.field(f"search.{key}", f"is not {what} "
                                                      f"({', '.join(sorted(fields))})")


def _one_of(value: Any, choices: tuple[str, ...], loc: str) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInput.field(loc, f"must be one of {', '.join(choices)}, got {value!r}")
    return value


def _integer(value: Any, loc: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInput.field(loc, f"must be an integer >= {low}, got {value!r}")
    return value


def _objective(objective: Any) -> Objective | None:
    if objective is None:
        return None
    if not isinstance(objective, dict):
        raise InvalidInput.field("search.objective", "must be an object {metric, mode, at}")
    for key in objective:
        if key not in ("metric", "mode", "at"):
            raise InvalidInput.field(f"search.objective.{key}", "is not an objective field "
                                                                "(metric, mode, at)")
    metric = objective.get("metric")
    if not isinstance(metric, str) or not METRIC_KEY.match(metric):
        raise InvalidInput.field("search.objective.metric", f"must be a metric key such as "
                                                            f"val_loss, got {metric!r}")
    mode, at = objective.get("mode", "min"), objective.get("at", "last")
    if mode not in ("min", "max"):
        raise InvalidInput.field("search.objective.mode", f"must be min or max, got {mode!r}")
    if at not in ("last", "best"):
        raise InvalidInput.field("search.objective.at", f"must be last or best, got {at!r}")
    return Objective(metric, mode, at)


def _space(space: Any, loc: str = "search.space") -> dict[str, dict[str, Any]]:
    if not isinstance(space, dict) or not space:
        raise InvalidInput.field(loc, "must be an object of path → distribution")
    for path, dist in space.items():
        section, _, key = path.partition(".")
        if section not in SECTIONS or not key or "." in key:
            raise InvalidInput.field(f"{loc}.{path}", "must be <section>.<field>, e.g. "
                                                      "optimizer.lr")
        check_distribution(f"{loc}.{path}", dist)
    return space


def check_distribution(loc: str, dist: Any) -> tuple[str, Any]:
    """(kind, arguments) of ``{kind: arguments}``; InvalidInput naming ``loc`` otherwise."""
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise InvalidInput.field(loc, f"must be one of {{{', '.join(DISTRIBUTIONS)}: …}}")
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise InvalidInput.field(f"{loc}.choice", "must be a non-empty list")
        return kind, args
    if (not isinstance(args, list) or len(args) != 2
            or not all(isinstance(a, (int, float)) and not isinstance(a, bool)
                       and math.isfinite(a) for a in args) or args[0] > args[1]):
        raise InvalidInput.field(f"{loc}.{kind}", "must be [low, high] with finite low <= high")
    low, high = args
    if kind == "uniform" and not math.isfinite(high - low):
        raise InvalidInput.field(f"{loc}.uniform", "the range is too wide")
    if kind == "int_uniform":
        first, last = math.ceil(low), math.floor(high)
        if first > last or not (-2**62 <= first and last < 2**62):
            raise InvalidInput.field(f"{loc}.int_uniform", "needs an integer between low and "
                                                           "high, within ±2^62")
    if kind == "log_uniform" and low <= 0:
        raise InvalidInput.field(f"{loc}.log_uniform", "needs low > 0")
    return kind, args
