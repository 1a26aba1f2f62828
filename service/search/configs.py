"""Configs of runs: sections with parameters applied, validated and resolved by optim_core,
errors named by the request's own paths."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import optim_core
from optim_core.training import flatten, load_dataset, resolve, sectioned

from ..errors import InvalidInput


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


def validate_config(config: dict[str, Any], origin: dict[str, str]) -> ExpandedRun:
    """The run of a sectioned config, resolved by optim_core; InvalidInput names the field as
    the request spells it (``origin``: section → request path)."""
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
