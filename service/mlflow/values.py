"""MLflow's params and tags as optrack stores them, and back.

- A param is a path in the run's config: ``optimizer.lr = "0.01"`` is stored as
  ``{"optimizer": {"lr": "0.01"}}``, its value the string MLflow sent. Read back, every leaf of
  a config is a param: strings as they are, other values as JSON (``0.01``, ``true``,
  ``[16, 16]``), so optrack's own runs show their config to MLflow clients too. As in MLflow, a
  param once logged keeps its value; a path cannot be both a value and a section (``a`` and
  ``a.b``).
- A tag is the run tag ``key=value`` (MLflow keys hold no ``=``); a tag without ``=`` (one
  set over optrack's API) reads as a key with an empty value. Two tags are the run's own
  fields instead: ``mlflow.runName`` is its name, ``mlflow.note.content`` its notes.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterable

from ..errors import InvalidInput
from ..models import RunTag
from ..query.parser import MAX_PATH_DEPTH

RUN_NAME_TAG = "mlflow.runName"
NOTE_TAG = "mlflow.note.content"
USER_TAG = "mlflow.user"
# MLflow's key characters (letters, digits, _ - . / : and space), in non-empty names between dots
KEY = re.compile(r"[\w\-/: ]+(?:\.[\w\-/: ]+)*")
TAG_LENGTH = RunTag.__table__.c.tag.type.length  # of "key=value"


def check_key(what: str, key: str) -> str:
    """``key`` if it is a valid MLflow param or tag key, else InvalidInput naming the rule."""
    if not KEY.fullmatch(key):
        raise InvalidInput.field(what, f"invalid key {key!r}: keys are letters, digits and "
                                       f"_ - . / : or spaces, with no empty name between dots")
    return key


def param_path(what: str, key: str) -> tuple[str, ...]:
    """The config path of a param key; InvalidInput for a bad key or one nested too deep."""
    path = tuple(check_key(what, key).split("."))
    if len(path) > MAX_PATH_DEPTH:
        raise InvalidInput.field(what, f"param {key!r} is nested deeper than "
                                       f"{MAX_PATH_DEPTH} levels")
    return path


def param_text(value: Any) -> str:
    """A config value as an MLflow param value."""
    return value if isinstance(value, str) else json.dumps(value)


def params_of(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Every leaf of ``config`` by its dotted path."""
    out: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            out.update(params_of(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = param_text(value)
    return out


def with_params(config: dict[str, Any], params: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """A copy of ``config`` with each (key, value) param set at its path. InvalidInput when a
    param would change a logged value or turn a value into a section (or back)."""
    out = copy.deepcopy(config)
    for key, value in params:
        path = param_path("params", key)
        node = out
        for depth, name in enumerate(path[:-1]):
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise _clash(key, ".".join(path[:depth + 1]))
        old = node.get(path[-1])
        if isinstance(old, dict) and old:
            raise InvalidInput.field("params", f"param {key!r} cannot be logged: it holds "
                                               f"params of its own, such as "
                                               f"{next(iter(params_of(old, key + '.')))!r}")
        if old is not None and old != {} and param_text(old) != value:
            raise InvalidInput.field("params", f"param {key!r} was logged as "
                                               f"{param_text(old)!r}; a param's value cannot "
                                               f"change (log it under another key)")
        node[path[-1]] = value
    return out


def _clash(key: str, prefix: str) -> InvalidInput:
    return InvalidInput.field("params", f"param {key!r} cannot be logged: {prefix!r} is a "
                                        f"param of its own (params are paths in the run's "
                                        f"config)")


def tag_text(key: str, value: str) -> str:
    """The run tag for an MLflow tag."""
    text = f"{check_key('tags', key)}={value}"
    if len(text) > TAG_LENGTH:
        raise InvalidInput.field("tags", f"tag {key!r} is too long: optrack keeps tags of up "
                                         f"to {TAG_LENGTH} characters as key=value")
    return text


def tag_pair(tag: str) -> tuple[str, str]:
    """(key, value) of a stored run tag."""
    key, _, value = tag.partition("=")
    return key, value


def with_tags(tags: Iterable[str], new: dict[str, str]) -> list[str]:
    """``tags`` with the tags for ``new`` (key → value) replacing any of the same keys."""
    kept = [t for t in tags if tag_pair(t)[0] not in new]
    return sorted({*kept, *(tag_text(k, v) for k, v in new.items())})
