"""The reference a worker-trained run is held to: the same config trained in this process,
uninterrupted. ``assert_matches_reference``: the run's stored metrics equal it value for value
and step for step (only ``step_time``, a wall-clock measurement, is left out)."""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import optim_core
from optim_core.training import flatten

from ..harness import Server


def encode(value: float) -> float | str:
    """As the API reports values: NaN and ±inf as strings."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _train_reference(config: dict[str, Any]) -> tuple[dict[str, tuple[list, list]], dict]:
    series: dict[str, tuple[list, list]] = {}
    summary: dict[str, Any] = {}
    for event in optim_core.train(flatten(config)):
        if isinstance(event, optim_core.Metrics):
            for key, value in event.values.items():
                if key != "step_time":
                    steps, values = series.setdefault(key, ([], []))
                    steps.append(event.step)
                    values.append(encode(value))
        elif isinstance(event, optim_core.Finished):
            summary = event.summary
    return series, summary


_REFERENCES: dict[str, Future] = {}
_REFERENCE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference")
_REFERENCE_LOCK = threading.Lock()


def _reference_future(run_config: dict[str, Any]) -> Future:
    key = json.dumps(run_config, sort_keys=True)
    with _REFERENCE_LOCK:
        if key not in _REFERENCES:
            _REFERENCES[key] = _REFERENCE_POOL.submit(_train_reference, json.loads(key))
        return _REFERENCES[key]


def prefetch_reference(srv: Server, run_id: str) -> None:
    """Start training the run's reference in a thread now (while the workers train it)."""
    _reference_future(srv.run(run_id)["config"])


def reference(run_config: dict[str, Any]) -> tuple[dict[str, tuple[list, list]], dict]:
    """(key → (steps, values), summary) of an uninterrupted in-process training of the run's
    stored (sectioned) config; computed once per config."""
    series, summary = _reference_future(run_config).result(timeout=300)
    return {k: (list(s), list(v)) for k, (s, v) in series.items()}, json.loads(
        json.dumps(summary))


def assert_matches_reference(srv: Server, run_id: str, check_summary: bool = True) -> dict:
    """Every stored metric of the run equals the reference, value for value at the same steps,
    with no point missing, extra or duplicated; the run's summary equals the reference's."""
    run = srv.run(run_id)
    expected, summary = reference(run["config"])
    keys = sorted(expected)
    assert keys, "the reference logged no metrics"
    assert set(run["metrics"]) == set(keys) | {"step_time"}, (sorted(run["metrics"]), keys)
    got = srv.history(run_id, keys + ["step_time"])
    for key in keys:
        steps, values = expected[key]
        series = got[key]
        assert series["downsampled"] is False and series["total_points"] == len(series["steps"])
        assert series["steps"] == sorted(set(series["steps"])), f"{key}: steps not unique"
        assert series["steps"] == steps, (key, _diff(series["steps"], steps))
        mismatches = [(s, a, b) for s, a, b in zip(steps, series["values"], values) if a != b]
        assert not mismatches, (key, mismatches[:5], len(mismatches))
    # step_time is logged with train_loss (log_every); only its values are wall-clock
    assert got["step_time"]["steps"] == expected["train_loss"][0]
    if check_summary:
        assert _numbers_as_floats(run["summary"]) == _numbers_as_floats(summary), \
            (run["summary"], summary)
    return run


def _numbers_as_floats(value: Any) -> Any:
    """JSON numbers compared as floats: PostgreSQL's JSONB gives a float such as 2.5e+17 back
    as the integer 250000000000000000 (the same number, another JSON spelling)."""
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _diff(got: list[int], want: list[int]) -> str:
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    return f"{len(got)} vs {len(want)} points; missing {missing[:10]}, extra {extra[:10]}"
