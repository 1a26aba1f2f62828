"""A run's full-resolution history, streamed: every stored point, never downsampled, in order
of key and step. Each series is read by step in batches (keyset on the primary key), so
neither the server nor the client ever holds a whole series."""

from __future__ import annotations

import csv
import io
import json
from typing import Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from optrack.wire import encode_value

from ..models import LatestMetric, Metric

BATCH = 5000  # points fetched per query while streaming
COLUMNS = ("key", "step", "value", "time")


def _batches(session: Session, run_id: str, keys: Sequence[str] | None
             ) -> Iterator[list[tuple[str, int, float | None, float]]]:
    """(key, step, value, time) rows of the run's ``keys`` (every key it has when None), a
    batch at a time."""
    if keys is None:
        keys = session.scalars(select(LatestMetric.key).where(LatestMetric.run_id == run_id)
                               .order_by(LatestMetric.key)).all()
    for key in sorted(set(keys)):
        after = -1  # steps are >= 0
        while True:
            rows = session.execute(
                select(Metric.key, Metric.step, Metric.value, Metric.time)
                .where(Metric.run_id == run_id, Metric.key == key, Metric.step > after)
                .order_by(Metric.step).limit(BATCH)).all()
            if not rows:
                break
            yield [tuple(row) for row in rows]
            after = rows[-1][1]


def _point(row: tuple) -> dict:
    """A stored row as the API spells a point (NaN stored as NULL comes back as "NaN")."""
    key, step, value, time = row
    return {"key": key, "step": step, "value": encode_value(float("nan") if value is None
                                                            else value), "time": time}


def points_json(session: Session, run_id: str, keys: Sequence[str] | None) -> Iterator[str]:
    """A JSON array of points {key, step, value, time}: the body ``POST /runs/{id}/metrics``
    takes under ``metrics``."""
    yield "["
    first = True
    for batch in _batches(session, run_id, keys):
        yield ("" if first else ",") + ",".join(json.dumps(_point(row)) for row in batch)
        first = False
    yield "]\n"


def points_csv(session: Session, run_id: str, keys: Sequence[str] | None) -> Iterator[str]:
    """CSV with the header key,step,value,time; non-finite values spelled NaN, Infinity."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    yield buf.getvalue()
    for batch in _batches(session, run_id, keys):
        buf.seek(0)
        buf.truncate()
        writer.writerows(_point(row).values() for row in batch)
        yield buf.getvalue()
