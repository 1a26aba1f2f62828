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
from typing import Any

import numpy as np

import optim_core

from ..errors import InvalidInput
from ..search.configs import DatasetLoader, ExpandedRun, apply_params, validate_config
from ..search.spec import SECTIONS, SearchSpec, check_distribution, parse_search

LIST_TYPES = ("float_pair", "int_list")


def expand(request: dict[str, Any], max_runs: int,
           load_dataset: DatasetLoader) -> list[ExpandedRun]:
    """All runs of an experiment request, validated with the project's datasets
    (``load_dataset``); InvalidInput names the first bad field."""
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
    trials = _random_trials(parse_search(request.get("search")), len(combos), max_runs)
    runs = [(apply_params(config, trial), origin) for config, origin in combos
            for trial in trials]
    if len(runs) > max_runs:
        raise _too_many(max_runs)
    return [validate_config(config, origin, load_dataset) for config, origin in runs]


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


def _random_trials(search: SearchSpec | None, grid_size: int,
                   max_runs: int) -> list[dict[str, Any]]:
    """Today's random search: every trial drawn at submission, reproducibly from the seed."""
    if search is None:
        return [{}]
    if search.trials * grid_size > max_runs:
        raise InvalidInput.field("search.trials", f"{search.trials} trials × {grid_size} grid "
                                                  f"points is more than {max_runs} runs (the "
                                                  f"limit)")
    rng = np.random.default_rng(search.seed)
    return [{path: _draw(rng, f"search.space.{path}", dist)
             for path, dist in search.space.items()} for _ in range(search.trials)]


def _draw(rng: np.random.Generator, loc: str, dist: Any) -> Any:
    kind, args = check_distribution(loc, dist)
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    low, high = args
    if kind == "uniform":
        return float(rng.uniform(low, high))
    if kind == "int_uniform":
        return int(rng.integers(math.ceil(low), math.floor(high) + 1))
    return float(math.exp(rng.uniform(math.log(low), math.log(high))))
