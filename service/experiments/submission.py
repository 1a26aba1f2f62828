"""Submitting an experiment: expand the request into runs, validate every one, and store the
experiment with its runs queued — all or nothing, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .. import audit
from ..auth.principal import Principal
from ..models import Experiment, ExperimentTag, Run, RunTag, utcnow
from ..projects import writable_project
from .expansion import expand

NAME_LENGTH = 200  # of runs.name


def submit_experiment(session: Session, user: Principal, name: str, project: str,
                      tags: list[str], spec: dict[str, Any],
                      max_runs: int) -> tuple[Experiment, list[Run]]:
    """The stored experiment and its runs (``queued``), named ``<name> #<n>``. Needs the member
    role in the project; InvalidInput names the first bad field of ``spec``."""
    pid = writable_project(session, user, project)
    expanded = expand(spec, max_runs)
    tags = sorted(set(tags))
    now = utcnow()
    experiment = Experiment(project_id=pid, name=name, tags=tags, request=spec, created_at=now,
                            tag_rows=[ExperimentTag(tag=t) for t in tags])
    session.add(experiment)
    session.flush()
    width = len(str(len(expanded)))
    stem = name[:NAME_LENGTH - width - 2]  # "<name> #<n>" must fit the column
    runs = [Run(project_id=pid, experiment_id=experiment.id, config=r.config, created_at=now,
                total_steps=r.total_steps, name=f"{stem} #{i:0{width}d}",
                tags=[RunTag(tag=t) for t in tags])
            for i, r in enumerate(expanded, start=1)]
    session.add_all(runs)
    audit.record(session, user, "experiment.create", pid, experiment.id, runs=len(runs))
    return experiment, runs
