"""Experiment requests → fully resolved run configs.

A request has sections ``dataset``, ``model``, ``optimizer``, ``schedule`` and ``training``.
Any section given as a list, and any field given as a list, is a grid axis; the experiment is
the cartesian product. Fields whose own type is a list (``model.hidden``, ``optimizer.betas``)
are axes only when given as a list of lists. ``search`` adds random trials on top:

    {"method": "random", "trials": 20, "seed": 0,
     "space": {"optimizer.lr": {"log_uniform": [1e-4, 1e-1]},
               "training.batch_size": {"choice": [32, 128]}}}

Every resolved config is validated with optim_core before anything is stored; one bad run
rejects the whole request with the field path of the request (``optimizer[2].lr``).
"""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import optim_core
from optim_core.training import flatten, load_dataset, resolve, sectioned

from ..errors import InvalidInput

SECTIONS = ("dataset", "model", "optimizer", "schedule", "training")
LIST_TYPES = ("float_pair", "int_list")
DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")


@dataclass(frozen=True)
class ExpandedRun:
    """One run: its validated config and where each section came from in the request."""

    config: dict[str, Any]
    origin: dict[str, str]  # section → request path, e.g. "optimizer" → "optimizer[2]"
    total_steps: int  # optimizer steps the run will take (epochs × steps per epoch, or steps)


def expand(request: dict[str, Any], max_runs: int) -> list[ExpandedRun]:
    """All runs of an experiment request, validated; InvalidInput names the first bad field."""
    sections = {s: request[s] for s in SECTIONS if request.get(s) is not None}
    for required in ("optimizer",):
        if required not in sections:
            raise InvalidInput.field(required, "is required")
    axes = []  # one list of (origin path, value) per section
    for name, value in sections.items():
        elements = value if isinstance(value, list) else [value]
        if not elements:
            raise InvalidInput.field(name, "an empty list expands to no runs")
        axes.append([(f"{name}[{i}]" if isinstance(value, list) else name, name, element)
                     for i, element in enumerate(elements)])
    combos = []
    for choice in itertools.product(*axes):
        combos.extend(_field_grid({sec: (path, el) for path, sec, el in choice},
                                  budget=max_runs - len(combos), max_runs=max_runs))
    trials = _random_trials(request.get("search"), len(combos), max_runs)
    runs = [(_apply(config, trial), origin) for config, origin in combos for trial in trials]
    if len(runs) > max_runs:
        raise _too_many(max_runs)
    return [_validate(config, origin) for config, origin in runs]


def _too_many(max_runs: int) -> InvalidInput:
    # the grid is a product of every axis: no single field is to blame, so name the request's
    # central section
    return InvalidInput.field("optimizer", f"the experiment expands to more than {max_runs} "
                                           f"runs (the limit per experiment)")


def _field_grid(chosen: dict[str, tuple[str, Any]], budget: int,
                max_runs: int) -> list[tuple[dict, dict]]:
    """The grid over list-valued fields inside the chosen section elements; its size is
    checked against ``budget`` before anything is enumerated."""
    origin = {sec: path for sec, (path, _) in chosen.items()}
    base: dict[str, Any] = {}
    axes: list[tuple[str, str, list]] = []
    for sec, (path, element) in chosen.items():
        if isinstance(element, str) and sec in ("dataset", "optimizer", "schedule", "model"):
            element = {"kind" if sec == "model" else "name": element}
        if not isinstance(element, dict):
            raise InvalidInput.field(path, f"must be an object or a name, got {element!r}")
        base[sec] = dict(element)
        for key, value in element.items():
            if isinstance(value, list) and _is_axis(sec, element, key, value):
                if not value:
                    raise InvalidInput.field(f"{path}.{key}", "an empty list expands to no runs")
                axes.append((sec, key, value))
    if math.prod(len(v) for _, _, v in axes) > budget:
        raise _too_many(max_runs)
    out = []
    for values in itertools.product(*(v for _, _, v in axes)):
        config = copy.deepcopy(base)
        for (sec, key, _), value in zip(axes, values):
            config[sec][key] = value
        out.append((config, origin))
    return out


def _is_axis(section: str, element: dict, key: str, value: list) -> bool:
    if _declared_type(section, element, key) in LIST_TYPES:
        return all(isinstance(v, list) for v in value)
    return True


def _declared_type(section: str, element: dict, key: str) -> str | None:
    cat = optim_core.catalog()
    table = {
        "optimizer": lambda: cat["optimizers"][element.get("name")]["hyperparameters"],
        "model": lambda: cat["models"][element.get("kind")]["options"],
        "dataset": lambda: cat["datasets"][element.get("name")]["options"],
    }.get(section)
    try:
        return table()[key]["type"] if table else None
    except (KeyError, TypeError):
        return None  # unknown names are reported by validation, with the field


def _random_trials(search: Any, grid_size: int, max_runs: int) -> list[dict[str, Any]]:
    if search is None:
        return [{}]
    if not isinstance(search, dict) or search.get("method", "random") != "random":
        raise InvalidInput.field("search.method", "must be 'random'")
    trials = search.get("trials")
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise InvalidInput.field("search.trials", f"must be an integer >= 1, got {trials!r}")
    if trials * grid_size > max_runs:
        raise InvalidInput.field("search.trials", f"{trials} trials × {grid_size} grid points is "
                                                  f"more than {max_runs} runs (the limit)")
    seed = search.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InvalidInput.field("search.seed", f"must be an integer >= 0, got {seed!r}")
    space = search.get("space")
    if not isinstance(space, dict) or not space:
        raise InvalidInput.field("search.space", "must be an object of path → distribution")
    rng = np.random.default_rng(seed)
    return [{path: _draw(rng, f"search.space.{path}", dist) for path, dist in space.items()}
            for _ in range(trials)]


def _draw(rng: np.random.Generator, loc: str, dist: Any) -> Any:
    if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        raise InvalidInput.field(loc, f"must be one of {{{', '.join(DISTRIBUTIONS)}: …}}")
    kind, args = next(iter(dist.items()))
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise InvalidInput.field(f"{loc}.choice", "must be a non-empty list")
        return args[int(rng.integers(len(args)))]
    if (not isinstance(args, list) or len(args) != 2
            or not all(isinstance(a, (int, float)) and not isinstance(a, bool)
                       and math.isfinite(a) for a in args) or args[0] > args[1]):
        raise InvalidInput.field(f"{loc}.{kind}", "must be [low, high] with finite low <= high")
    low, high = args
    if kind == "uniform":
        if not math.isfinite(high - low):
            raise InvalidInput.field(f"{loc}.uniform", "the range is too wide")
        return float(rng.uniform(low, high))
    if kind == "int_uniform":
        first, last = math.ceil(low), math.floor(high)
        if first > last or not (-2**62 <= first and last < 2**62):
            raise InvalidInput.field(f"{loc}.int_uniform", "needs an integer between low and "
                                                           "high, within ±2^62")
        return int(rng.integers(first, last + 1))
    if low <= 0:
        raise InvalidInput.field(f"{loc}.log_uniform", "needs low > 0")
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))


def _apply(config: dict[str, Any], trial: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    for path, value in trial.items():
        section, _, key = path.partition(".")
        if section not in SECTIONS or not key or "." in key:
            raise InvalidInput.field(f"search.space.{path}", "must be <section>.<field>, e.g. "
                                                             "optimizer.lr")
        config.setdefault(section, {})[key] = value
    return config


def _validate(config: dict[str, Any], origin: dict[str, str]) -> ExpandedRun:
    try:
        resolved = resolve(flatten(config), load_dataset=load_dataset)
    except optim_core.ConfigError as exc:
        raise InvalidInput.field(_request_path(exc.field, origin), exc.rule) from None
    return ExpandedRun(sectioned(resolved.config), origin, resolved.total_steps)


def _request_path(field: str, origin: dict[str, str]) -> str:
    """optim_core's field (``optimizer.lr``, ``batch_size``) as the request's path."""
    head, _, rest = field.partition(".")
    if head in origin:
        return origin[head] + (f".{rest}" if rest else "")
    if head.split("[")[0] in optim_core.training.config.TOP_LEVEL:
        return f"training.{field}"
    return field
