"""MLflow runs: external optrack runs in an MLflow experiment. Creating, finishing and changing
one goes through optrack's own run actions (runs.py), logging through its metric ingest, so a
run logged over MLflow is the same as one logged over optrack's API.

Where the two disagree, optrack's rules hold and say so: metrics are logged to running runs;
a metric has one value per step (a point sent again is ignored, as a retried request must be;
a different value at a logged step is refused, so that a loop of ``log_metric`` calls without
``step`` fails loudly instead of keeping only the first value); runs of optrack's queue take
their config from their experiment; a deleted run is gone from every view."""

from __future__ import annotations

import math
import time as clock
from typing import NamedTuple, Sequence

from sqlalchemy import select

from .. import audit, runs
from ..errors import Conflict, InvalidInput
from ..models import Metric, Run, RunStatus, RunTag, new_id, utcnow
from ..query.compiler import SortKey
from ..query.pagination import Keyset, fingerprint
from . import experiments
from .caller import DEFAULT_EXPERIMENT_ID, Caller
from .entities import MLFLOW_STATUS, metric_entity
from .values import NOTE_TAG, RUN_NAME_TAG, with_params, with_tags

MAX_ENTITIES_PER_BATCH = 1000  # metrics, params and tags of one log-batch, as MLflow's server
MAX_HISTORY_PAGE = 25_000  # points of one metrics/get-history page (MLflow's client asks this)
NAME_LENGTH = Run.__table__.c.name.type.length
_FINAL = {"FINISHED": RunStatus.succeeded.value, "FAILED": RunStatus.failed.value}


class Point(NamedTuple):
    """A metric point as optrack's ingest takes it (time in seconds)."""

    key: str
    step: int
    value: float | str
    time: float | None


def point(key: str, value: float | str, timestamp: int | None, step: int) -> Point:
    """A point of an MLflow metric (``timestamp`` in milliseconds; None: now)."""
    return Point(key, step, value, None if timestamp is None else timestamp / 1000)


def create(caller: Caller, experiment_id: str | None, name: str | None,
           tags: dict[str, str]) -> Run:
    """A running external run in the experiment ("0" when none is named), the member role
    there; ``mlflow.runName`` names it when ``name`` does not, ``mlflow.note.content`` is its
    notes."""
    experiment = experiments.for_new_run(caller, experiment_id or DEFAULT_EXPERIMENT_ID)
    tags = dict(tags)
    name = name or tags.get(RUN_NAME_TAG) or f"run-{new_id()[:8]}"
    tags.pop(RUN_NAME_TAG, None)
    notes = tags.pop(NOTE_TAG, "")
    run = runs.create_external(caller.session, caller.user, experiment.project.name,
                               _name(name), {}, with_tags([], tags), notes,
                               experiment_id=experiment.id)
    caller.session.flush()
    return run


def get(caller: Caller, run_id: str) -> Run:
    return runs.get_run(caller.session, caller.user, run_id)


def update(caller: Caller, run_id: str, status: str | None, name: str | None) -> Run:
    """Rename the run, and end it as MLflow's status says (FINISHED: succeeded, FAILED:
    failed, KILLED: cancelled). Asking for the status it has is no change (a retried
    request); a run that ended is not started again."""
    run = runs.get_run(caller.session, caller.user, run_id, "member", for_update=True)
    if name is not None:
        run.name = _name(name)
    if status is None or MLFLOW_STATUS[run.status] == status:
        return run
    if status == "KILLED":
        return runs.cancel(caller.session, caller.user, run_id)
    if status not in _FINAL:
        raise Conflict(f"run {run_id!r} is {run.status}; optrack does not set a run back to "
                       f"{status}")
    return runs.finish_external(caller.session, caller.user, run_id, _FINAL[status], None,
                                None)


def delete(caller: Caller, run_id: str) -> None:
    """Delete an external run (cancelled first if it still runs): it disappears from every
    view, as the runs of a deleted experiment do. Audited."""
    run = runs.get_run(caller.session, caller.user, run_id, "member", for_update=True)
    if not run.external:
        raise Conflict(f"run {run_id!r} is run by optrack's workers; such runs are deleted "
                       f"with their experiment")
    if not RunStatus(run.status).finished:
        runs.cancel(caller.session, caller.user, run_id)
    run.deleted_at = utcnow()
    audit.record(caller.session, caller.user, "run.delete", run.project_id, run.id)


def log(caller: Caller, run_id: str, metrics: Sequence[Point],
        params: Sequence[tuple[str, str]], tags: dict[str, str], max_batch: int) -> None:
    """Log-batch: params, tags and metrics of one run, all or nothing."""
    if len(metrics) + len(params) + len(tags) > MAX_ENTITIES_PER_BATCH:
        raise InvalidInput.field("body", f"at most {MAX_ENTITIES_PER_BATCH} metrics, params "
                                         f"and tags together in one batch")
    run = runs.get_run(caller.session, caller.user, run_id, "member", for_update=True)
    if params:
        if not run.external:
            raise Conflict(f"run {run_id!r} is run by optrack's workers; its config (its "
                           f"params) is its experiment's")
        run.config = with_params(run.config, params)
    if tags:
        _set_tags(run, dict(tags))
    if metrics:
        _log_metrics(caller, run_id, metrics, max_batch)


def _set_tags(run: Run, tags: dict[str, str]) -> None:
    if RUN_NAME_TAG in tags:
        run.name = _name(tags.pop(RUN_NAME_TAG))
    if NOTE_TAG in tags:
        run.notes = tags.pop(NOTE_TAG)
    if tags:
        run.tags = [RunTag(tag=t) for t in with_tags([t.tag for t in run.tags], tags)]


def _log_metrics(caller: Caller, run_id: str, metrics: Sequence[Point], max_batch: int) -> None:
    now = clock.time()
    points = [p._replace(time=now if p.time is None else p.time) for p in metrics]
    sent = _one_value_per_step(points)
    inserted, _ = runs.log_external_metrics(caller.session, caller.user, run_id, points,
                                            max_batch)
    if inserted < len(sent):  # some were logged before: the same values, or refused
        keys, steps = {k for k, _ in sent}, {s for _, s in sent}
        for key, step, value in caller.session.execute(
                select(Metric.key, Metric.step, Metric.value).where(
                    Metric.run_id == run_id, Metric.key.in_(keys), Metric.step.in_(steps))):
            if (key, step) in sent and not _same(sent[key, step], value):
                raise _second_value(key, step, value)


def _one_value_per_step(points: Sequence[Point]) -> dict[tuple[str, int], float]:
    """(key, step) → value of the batch; InvalidInput when one step gets two values."""
    sent: dict[tuple[str, int], float] = {}
    for point in points:
        value = _float(point.value)
        old = sent.setdefault((point.key, point.step), value)
        if not _same(old, value):
            raise _second_value(point.key, point.step, old)
    return sent


def _second_value(key: str, step: int, old: float | None) -> InvalidInput:
    return InvalidInput.field("metrics", f"metric {key!r} has the value {old} at step {step} "
                                         f"already; optrack keeps one value per step (log it "
                                         f"with another step)")


def _float(value: float | str) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(value, value)


def _same(a: float | None, b: float | None) -> bool:
    """Equal values, NaN (NULL in the database) equal to NaN."""
    a_nan, b_nan = a is None or math.isnan(a), b is None or math.isnan(b)
    return a_nan and b_nan or (not a_nan and not b_nan and a == b)


def history(caller: Caller, run_id: str, key: str, limit: int | None,
            page_token: str | None) -> tuple[list[dict], str | None]:
    """A page of every point of one metric, by step, with MLflow's timestamps."""
    runs.get_run(caller.session, caller.user, run_id)
    limit = min(limit or MAX_HISTORY_PAGE, MAX_HISTORY_PAGE)
    keyset = Keyset([SortKey(Metric.step, False, "integer", nullable=False)],
                    fingerprint("mlflow history", run_id, key))
    stmt = select(Metric.step, Metric.value, Metric.time).where(Metric.run_id == run_id,
                                                                Metric.key == key)
    rows = caller.session.execute(keyset.select(stmt, page_token, limit)).all()
    page, token = keyset.page(rows, limit, lambda row: (row.step,))
    return [metric_entity(key, step, value, time) for step, value, time in page], token


def _name(name: str) -> str:
    if not name or len(name) > NAME_LENGTH:
        raise InvalidInput.field("run_name", f"must be 1 to {NAME_LENGTH} characters")
    return name
