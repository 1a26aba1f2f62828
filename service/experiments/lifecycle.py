"""An experiment's life after creation: reading it (confined to the caller's projects), soft
deletion, restoring and purging — each an admin's act, recorded in the audit log."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from .. import audit
from ..queue import checkpoints, leases
from ..auth.principal import Principal
from ..errors import Conflict, NotFound
from ..models import Experiment, Run, RunStatus, utcnow

ACTIVE = (RunStatus.queued.value, RunStatus.running.value)


def get_experiment(session, user: Principal, experiment_id: str, min_role: str = "viewer",
                   deleted: bool = False, for_update: bool = False) -> Experiment:
    """The experiment if the caller may see it (404 otherwise, as if it did not exist)."""
    stmt = select(Experiment).where(Experiment.id == experiment_id)
    if for_update:
        stmt = stmt.with_for_update()
    experiment = session.scalar(stmt)
    what = f"experiment {experiment_id!r}"
    if experiment is None or (experiment.deleted_at is not None) != deleted:
        raise NotFound(f"{what} not found")
    user.check(experiment.project_id, "viewer", what)
    if min_role != "viewer":
        user.check(experiment.project_id, min_role, what)
    return experiment


def soft_delete(session, user: Principal, experiment_id: str) -> Experiment:
    user.require_scope("admin")
    experiment = get_experiment(session, user, experiment_id, "admin")
    now = utcnow()
    # runs before their experiment, the order every worker call takes its locks in
    active = session.scalars(select(Run).where(Run.experiment_id == experiment.id,
                                               Run.status.in_(ACTIVE)).with_for_update()).all()
    experiment = get_experiment(session, user, experiment_id, "admin", for_update=True)
    for run in active:  # a running run's worker stops at its next heartbeat
        leases.cancel(session, run, now)
    experiment.deleted_at = now
    session.execute(update(Run).where(Run.experiment_id == experiment.id).values(deleted_at=now))
    audit.record(session, user, "experiment.delete", experiment.project_id, experiment.id,
                 name=experiment.name, cancelled_runs=len(active))
    return experiment


def restore(session, user: Principal, experiment_id: str) -> Experiment:
    user.require_scope("admin")
    experiment = get_experiment(session, user, experiment_id, "admin", deleted=True,
                                for_update=True)
    experiment.deleted_at = None
    session.execute(update(Run).where(Run.experiment_id == experiment.id).values(deleted_at=None))
    audit.record(session, user, "experiment.restore", experiment.project_id, experiment.id,
                 name=experiment.name)
    return experiment


def purge(session, user: Principal, experiment_id: str) -> set[str]:
    """Delete the experiment, its runs and their metrics; returns the checkpoint blobs no run
    uses any more, for the caller to remove once the deletion is committed."""
    user.require_scope("admin")
    experiment = session.get(Experiment, experiment_id)
    if experiment is not None and experiment.deleted_at is None:
        user.check(experiment.project_id, "admin", f"experiment {experiment_id!r}")
        raise Conflict(f"experiment {experiment_id!r} is not deleted; delete it before purging")
    experiment = get_experiment(session, user, experiment_id, "admin", deleted=True)
    rows = session.execute(select(Run.id, Run.checkpoint_sha)
                           .where(Run.experiment_id == experiment.id)).all()
    session.execute(delete(Run).where(Run.experiment_id == experiment.id))
    session.delete(experiment)
    session.flush()
    audit.record(session, user, "experiment.purge", experiment.project_id, experiment.id,
                 name=experiment.name, runs=len(rows))
    return checkpoints.orphaned(session, {sha for _, sha in rows if sha})
