"""Response shapes shared by several routes: runs and experiments as the API shows them, each
list built in a fixed number of queries whatever its length; streamed downloads."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection, Row
from sqlalchemy.orm import Session

from optrack.wire import encode_value

from ..auth.principal import Principal
from ..experiments.listing import status_counts
from ..models import Experiment, Run, RunAttempt
from ..projects import project_names
from ..runs import read_run
from ..schemas.experiments import ExperimentOut
from ..schemas.runs import AttemptOut, RunOut
from ..tracking.latest import latest


def run_views(session: Session, runs: Sequence[Run]) -> list[RunOut]:
    """API views of ``runs`` with project names, latest metric values and the highest step
    logged, in two queries."""
    names = project_names(session, {r.project_id for r in runs})
    values, steps = latest(session, [r.id for r in runs])
    return [_run_out(r, [t.tag for t in r.tags], names, values, steps) for r in runs]


def run_view(session: Session, run: Run) -> RunOut:
    return run_views(session, [run])[0]


def read_run_view(conn: Connection, user: Principal, run_id: str) -> RunOut:
    """``GET /runs/{id}``: the run's view read by Core statements on one connection (the run,
    its tags, its latest values; the project's name is cached)."""
    row, tags = read_run(conn, user, run_id)
    values, steps = latest(conn, [row.id])
    return _run_out(row, tags, project_names(conn, {row.project_id}), values, steps)


def _run_out(r: Run | Row, tags: list[str], names: dict[str, str],
             values: dict[str, dict[str, float]], steps: dict[str, int]) -> RunOut:
    """A run (an ORM object or a row of the runs table: the same names) as the API shows it."""
    return RunOut(id=r.id, name=r.name, project=names.get(r.project_id, ""),
                  experiment_id=r.experiment_id, status=r.status, external=r.external,
                  config=r.config, tags=tags, notes=r.notes, summary=r.summary, error=r.error,
                  attempt=r.attempt, created_at=r.created_at, started_at=r.started_at,
                  finished_at=r.finished_at,
                  metrics={k: encode_value(v) for k, v in values[r.id].items()},
                  total_steps=r.total_steps, step=steps.get(r.id))


def attempt_view(a: RunAttempt) -> AttemptOut:
    return AttemptOut(attempt=a.attempt, worker_id=a.worker_id, started_at=a.started_at,
                      ended_at=a.ended_at, outcome=a.outcome, error=a.error)


def experiment_views(session: Session, experiments: Sequence[Experiment]) -> list[ExperimentOut]:
    """API views of ``experiments`` with project names and run counts per status."""
    counts = status_counts(session, [e.id for e in experiments])
    names = project_names(session, {e.project_id for e in experiments})
    return [ExperimentOut(id=e.id, name=e.name, project=names.get(e.project_id, ""),
                          tags=list(e.tags), created_at=e.created_at, status_counts=counts[e.id])
            for e in experiments]


def download(request: Request, write: Callable[[Session], Iterator[str]], format: str,
             filename: str) -> StreamingResponse:
    """``write(session)``'s text streamed as ``filename`` (csv or json), read in a session of
    its own, opened when the body starts (the request's own session closes only after the
    response is sent: FastAPI ends yield dependencies then)."""
    def body():
        with request.app.state.reader() as own_session:
            yield from write(own_session)

    media = "text/csv" if format == "csv" else "application/json"
    return StreamingResponse(body(), media_type=media, headers={
        "content-disposition": f'attachment; filename="{filename}"'})
