"""Experiments that hold runs trained elsewhere (the SDK's ``optrack.init(experiment=…)``):
found by name in a project, made when missing — one per name, however many clients race."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import audit
from ..auth.principal import Principal
from ..models import Experiment, Project, utcnow


def experiment_named(session: Session, user: Principal, project_id: str,
                     name: str) -> Experiment:
    """The project's live experiment called ``name`` (the oldest, if several were submitted
    under it), or a new one without a request of its own. The project's row is locked first,
    so two clients naming a new experiment at once make it once."""
    session.execute(select(Project.id).where(Project.id == project_id).with_for_update())
    found = session.scalar(select(Experiment).where(
        Experiment.project_id == project_id, Experiment.name == name,
        Experiment.deleted_at.is_(None)).order_by(Experiment.created_at).limit(1))
    if found is not None:
        return found
    experiment = Experiment(project_id=project_id, name=name, tags=[], request={},
                            created_at=utcnow())
    session.add(experiment)
    session.flush()
    audit.record(session, user, "experiment.create", project_id, experiment.id, runs=0)
    return experiment
