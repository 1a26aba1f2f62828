"""The ``search`` section of an experiment request, parsed and validated.

    {"method": "tpe", "trials": 60, "parallelism": 4, "seed": 0,
     "objective": {"metric": "val_loss", "mode": "min", "at": "last"},
     "space": {"optimizer.lr": {"log_uniform": [1e-5, 1.0]},
               "optimizer.name": {"choice": ["sgd", "adam"]}},
     "pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 3}}

``random`` without an objective or pruner is today's random search, expanded at submission
(expansion.py); every other search is adaptive: its trials are asked of an Optuna sampler one at
a time, at most ``parallelism`` queued or running at once (search.py).
"""

from __future__ import annotations

import importlib.util
import math
import re
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidInput
from .pruners import validate_pruner

METHODS = ("random", "tpe", "cmaes", "gp", "qmc")
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

    @property
    def adaptive(self) -> bool:
        """Trials asked one at a time (today's random search expands them all at once)."""
        return (self.method != "random" or self.objective is not None
                or self.pruner["name"] != "none" or self.external)

    @property
    def prunes(self) -> bool:
        return self.pruner["name"] != "none"


def parse_search(search: Any) -> SearchSpec | None:
    """The validated search of a request (None: a grid); InvalidInput names the field."""
    if search is None:
        return None
    if not isinstance(search, dict):
        raise InvalidInput.field("search", "must be an object")
    known = {"method", "trials", "parallelism", "seed", "space", "objective", "pruner",
             "external"}
    for key in search:
        if key not in known:
            raise InvalidInput.field(f"search.{key}", f"is not a search field "
                                                      f"({', '.join(sorted(known))})")
    method = search.get("method", "random")
    if method not in METHODS:
        raise InvalidInput.field("search.method", f"must be one of {', '.join(METHODS)}, "
                                                  f"got {method!r}")
    if method == "gp" and importlib.util.find_spec("torch") is None:
        raise InvalidInput.field("search.method", "gp needs PyTorch, which optrack does not "
                                                  "install; use tpe, cmaes, qmc or random")
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


def _space(space: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(space, dict) or not space:
        raise InvalidInput.field("search.space", "must be an object of path → distribution")
    for path, dist in space.items():
        section, _, key = path.partition(".")
        if section not in SECTIONS or not key or "." in key:
            raise InvalidInput.field(f"search.space.{path}", "must be <section>.<field>, e.g. "
                                                             "optimizer.lr")
        check_distribution(f"search.space.{path}", dist)
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
