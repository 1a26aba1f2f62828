"""Experiments that hold runs trained elsewhere — logged with the SDK
(``optrack.init(experiment=…)``) or an MLflow client — rather than submitted to the queue:
found by name in a project, made when missing, one per name however many clients race."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..auth.principal import Principal
from ..errors import InvalidInput
from ..models import Experiment, ExperimentTag, Project, utcnow

LOGGED_REQUEST = {"mlflow": True}  # the request of an experiment that takes logged runs


def is_logged(experiment: Experiment) -> bool:
    """Made for logged runs (SDK, MLflow) rather than submitted (its runs are queued)."""
    return isinstance(experiment.request, dict) and experiment.request.get("mlflow") is True


def lock_names(session: Session, project_id: str) -> None:
    """Serialise the creation of named experiments in the project (SQLite: the write lock
    does the same)."""
    session.execute(select(Project.id).where(Project.id == project_id).with_for_update())


def find_named(session: Session, project_id: str, name: str) -> Experiment | None:
    """The project's live experiment of that name: a logged one if there is one, else the
    oldest."""
    candidates = list(session.scalars(select(Experiment).where(
        Experiment.project_id == project_id, Experiment.name == name,
        Experiment.deleted_at.is_(None)).order_by(Experiment.created_at, Experiment.id)))
    return next((e for e in candidates if is_logged(e)), candidates[0] if candidates else None)


def create_logged(session: Session, user: Principal, project_id: str, name: str,
                  tags: list[str] = (), **audit_details) -> Experiment:
    """A new logged experiment (call under ``lock_names``)."""
    experiment = Experiment(project_id=project_id, name=name, tags=list(tags),
                            request=dict(LOGGED_REQUEST), created_at=utcnow(),
                            tag_rows=[ExperimentTag(tag=t) for t in tags])
    session.add(experiment)
    session.flush()
    audit.record(session, user, "experiment.create", project_id, experiment.id, runs=0,
                 **audit_details)
    return experiment


def experiment_named(session: Session, user: Principal, project_id: str,
                     name: str) -> Experiment:
    """The project's logged experiment called ``name``, made if missing; InvalidInput when
    the name is a submitted experiment's (its runs come from the queue)."""
    lock_names(session, project_id)
    found = find_named(session, project_id, name)
    if found is None:
        return create_logged(session, user, project_id, name)
    if not is_logged(found):
        raise InvalidInput.field("experiment", f"{name!r} is an experiment submitted to "
                                               f"optrack's queue; log to another name")
    return found
