"""Reading experiments: the caller's experiments newest first, a page at a time (keyset page
tokens, as for runs), their run counts per status, and one experiment's runs."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..auth.principal import Principal
from ..models import Experiment, ExperimentTag, Project, Run
from ..query.compiler import SortKey
from ..query.pagination import Keyset, fingerprint
from ..tracking.latest import latest_values
from ..search.analysis import summarise_search
from ..search.comparison import comparison
from .lifecycle import get_experiment
from .summary import summarise

NEWEST_FIRST = (SortKey(Experiment.created_at, descending=True, kind="datetime", nullable=False),
                SortKey(Experiment.id, descending=True, kind="string", nullable=False))


def list_experiments(session: Session, user: Principal, project: str | None, tag: str | None,
                     name_contains: str | None, deleted: bool, limit: int,
                     page_token: str | None) -> tuple[list[Experiment], str | None]:
    """One page of the experiments the caller may see (with ``deleted``: the soft-deleted ones
    of projects they administer) and the next page's token. A token only continues the listing
    with the same filters; QueryError (field ``page_token``) otherwise."""
    stmt = select(Experiment).where(
        user.where(Experiment.project_id, "admin" if deleted else "viewer"),
        Experiment.deleted_at.is_not(None) if deleted else Experiment.deleted_at.is_(None))
    if project is not None:
        stmt = stmt.join(Project).where(Project.name == project)
    if tag is not None:
        stmt = stmt.where(select(ExperimentTag).where(ExperimentTag.experiment_id == Experiment.id,
                                                      ExperimentTag.tag == tag).exists())
    if name_contains:
        stmt = stmt.where(Experiment.name.contains(name_contains, autoescape=True))
    keyset = Keyset(NEWEST_FIRST, fingerprint("experiments", project, tag, name_contains, deleted))
    rows = session.scalars(keyset.select(stmt, page_token, limit)).all()
    return keyset.page(rows, limit, lambda e: (e.created_at, e.id))


def status_counts(session: Session, experiment_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    """experiment id → {run status: number of runs}, in one query."""
    counts: dict[str, dict[str, int]] = {i: {} for i in experiment_ids}
    if experiment_ids:
        for eid, status, n in session.execute(
                select(Run.experiment_id, Run.status, func.count())
                .where(Run.experiment_id.in_(experiment_ids))
                .group_by(Run.experiment_id, Run.status)):
            counts[eid][status] = n
    return counts


def experiment_detail(session: Session, user: Principal, experiment_id: str
                      ) -> tuple[Experiment, list[Run], list[dict], dict | None, dict | None]:
    """The experiment if the caller may see it, its runs by name (``<name> #<n>``: the order
    of the request; trials by number), its summary table (summary.py), its adaptive
    search's progress (None for a grid) and a comparison's result (None for the rest)."""
    experiment = get_experiment(session, user, experiment_id)
    runs = list(session.scalars(select(Run).where(Run.experiment_id == experiment_id)
                                .order_by(Run.created_at, Run.name)))
    return (experiment, runs, summarise(runs, latest_values(session, [r.id for r in runs])),
            summarise_search(session, experiment), comparison(session, experiment))
