"""Experiment export: one row per run, configs flattened to columns, final metrics; streamed.
A comparison of optimizers exports its result instead, one row per optimizer (``table``)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from optrack.wire import encode_value

from ..models import Experiment, Run
from ..search.comparison import comparison
from ..tracking.latest import latest_values

BATCH = 500  # runs fetched per query while streaming


def flatten(prefix: str, value: Any, out: dict[str, Any]) -> dict[str, Any]:
    """{"optimizer": {"lr": 0.1}} → {"config.optimizer.lr": 0.1}; lists stay JSON."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out[prefix] = json.dumps(value) if isinstance(value, list) else value
    return out


def _comparison_rows(session: Session, experiment_id: str) -> Iterator[dict[str, Any]]:
    """One row per optimizer: the fields of GET /experiments/{id}'s comparison, flattened."""
    result = comparison(session, session.get(Experiment, experiment_id)) or {"optimizers": []}
    for entry in result["optimizers"]:
        entry = dict(entry)
        final = entry.pop("final") or {}
        interval = final.pop("ci95", None) or [None, None]
        row = {key: entry.pop(key) for key in ("optimizer", "rank", "status", "budget",
                                               "trials", "pruned", "best_run_id",
                                               "best_value")}
        row.update({f"final.{k}": final.get(k) for k in ("mean", "std", "n", "diverged",
                                                          "failed")})
        row["final.ci95_low"], row["final.ci95_high"] = interval
        row["tuned"] = json.dumps(entry.pop("tuned"))
        row["final_run_ids"] = json.dumps(entry.pop("final_run_ids"))
        flatten("best_params", entry.pop("best_params") or {}, row)
        flatten("best_config", entry.pop("best_config") or {}, row)
        yield row


def _rows(session: Session, experiment_id: str) -> Iterator[dict[str, Any]]:
    last = ""
    while True:
        runs = session.scalars(select(Run).where(Run.experiment_id == experiment_id,
                                                 Run.id > last)
                               .order_by(Run.id).limit(BATCH)).all()
        if not runs:
            return
        latest = latest_values(session, [r.id for r in runs])
        for run in runs:
            row = {"run_id": run.id, "name": run.name, "status": run.status,
                   "created_at": run.created_at.isoformat()}
            flatten("config", run.config, row)
            for key, value in sorted(latest[run.id].items()):
                row[f"metrics.{key}"] = encode_value(value)
            yield row
        last = runs[-1].id


TABLES = {"runs": _rows, "comparison": _comparison_rows}


def export_json(session: Session, experiment_id: str, table: str = "runs") -> Iterator[str]:
    yield "["
    for i, row in enumerate(TABLES[table](session, experiment_id)):
        yield ("," if i else "") + json.dumps(row)
    yield "]\n"


def export_csv(session: Session, experiment_id: str, table: str = "runs") -> Iterator[str]:
    """CSV needs its columns first: one pass for the header over the column names, then
    the rows (both streamed in batches)."""
    rows = TABLES[table]
    columns: dict[str, None] = {}
    for row in rows(session, experiment_id):
        columns.update(dict.fromkeys(row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore")
    writer.writeheader()
    yield buf.getvalue()
    for row in rows(session, experiment_id):
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        yield buf.getvalue()
