"""Configs of runs: sections with parameters applied, validated and resolved by optim_core,
errors named by the request's own paths; an adaptive search's trial configs and the check of
its space at submission."""

from __future__ import annotations

import copy
import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import optim_core
from optim_core.training import flatten, resolve, sectioned

from ..errors import InvalidInput
from .spec import SECTIONS, SearchSpec


@dataclass(frozen=True)
class ExpandedRun:
    """One run: its validated config and where each section came from in the request."""

    config: dict[str, Any]
    origin: dict[str, str]  # section → request path, e.g. "optimizer" → "optimizer[2]"
    total_steps: int  # optimizer steps the run will take (epochs × steps per epoch, or steps)


def apply_params(config: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A copy of the sectioned ``config`` with each ``section.field`` of ``params`` set."""
    config = copy.deepcopy(config)
    for path, value in params.items():
        section, _, key = path.partition(".")
        given = config.get(section)
        if isinstance(given, str):  # a section given by its name alone
            given = {"kind" if section == "model" else "name": given}
        config[section] = {**(given or {}), key: value}
    return config


DatasetLoader = Callable[..., Any]  # training.resolve's load_dataset: a project's datasets


def validate_config(config: dict[str, Any], origin: dict[str, str],
                    load_dataset: DatasetLoader) -> ExpandedRun:
    """The run of a sectioned config, resolved by optim_core with the project's datasets
    (``load_dataset``: datasets.validation.ProjectDatasets.load); InvalidInput names the field
    as the request spells it (``origin``: section → request path)."""
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


def base_config(request: dict[str, Any]) -> dict[str, Any]:
    """The sections of an adaptive search's request: the config every trial starts from."""
    return {s: request[s] for s in SECTIONS if request.get(s) is not None}


def trial_config(base: dict[str, Any], params: dict[str, Any],
                 load_dataset: DatasetLoader) -> ExpandedRun:
    """The validated run of one trial: ``params`` applied to the base config, leaving out an
    optimizer's hyperparameter that the sampled optimizer does not have."""
    config = apply_params(base, params)
    optimizer = config.get("optimizer")
    known = optimizer_fields(_optimizer_name(config))
    if known is not None and isinstance(optimizer, dict):
        config["optimizer"] = {k: v for k, v in optimizer.items()
                               if k in known or f"optimizer.{k}" not in params}
    return validate_config(config, {s: s for s in SECTIONS}, load_dataset)


def optimizer_fields(name: Any) -> set[str] | None:
    """The fields an optimizer's config may have (None for an unknown name)."""
    found = optim_core.catalog()["optimizers"].get(name) if isinstance(name, str) else None
    return None if found is None else {"name", "convention", *found["hyperparameters"]}


CORNERS = 256  # sampled-config corners validated at submission, at most


def check_space(base: dict[str, Any], spec: SearchSpec, load_dataset: DatasetLoader,
                loc: str = "search.space") -> None:
    """InvalidInput, naming the space's field (under ``loc``), when the space can produce a
    config optim_core refuses: every optimizer hyperparameter must belong to an optimizer of the search, and the
    corners of the space (each range's ends, every choice) must validate."""
    space = spec.space
    names = space.get("optimizer.name", {}).get("choice") or [_optimizer_name(base)]
    for path in space:
        section, _, key = path.partition(".")
        fields = [optimizer_fields(n) or set() for n in names]
        if section == "optimizer" and not any(key in f for f in fields):
            raise InvalidInput.field(f"{loc}.{path}", f"no optimizer of this search "
                                                      f"({', '.join(map(str, names))}) "
                                                      f"has {key}")
    axes = [[(path, v) for v in _corners(dist)] for path, dist in space.items()]
    for combo in itertools.islice(itertools.product(*axes), CORNERS):
        params = dict(combo)
        try:
            trial_config(base, params, load_dataset)
        except InvalidInput as exc:
            bad = exc.details[0]["loc"] if exc.details else ""
            field = f"{loc}.{bad}" if bad in space else bad or loc
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



