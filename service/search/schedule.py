"""Keeping adaptive searches going: when a trial ends (or a search is submitted), top the search
up to ``parallelism`` queued or running runs — the next trials of one search (trials.py), or a
comparison's next trials and final runs (studies.py) — in the same transaction."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Run, RunStatus
from . import studies
from .trials import create_trials, lock, note_missing_objective, spec_for


def trial_ended(session: Session, run: Run) -> list[Run]:
    """A run reached its final state: if it is a trial, note an objective it never logged (the
    trial counts as failed) and queue its successors."""
    spec = spec_for(session, run.experiment_id)
    if spec is None or not spec.adaptive:
        return []
    note_missing_objective(session, run, spec)
    return top_up(session, run.experiment_id)


def top_up(session: Session, experiment_id: str) -> list[Run]:
    """Queue new runs of the experiment's adaptive search until ``parallelism`` are queued or
    running (none for an ask-and-tell search, a deleted experiment, or no search)."""
    spec = spec_for(session, experiment_id)
    if spec is None or not spec.adaptive or spec.external:
        return []
    experiment = lock(session, experiment_id)
    if experiment is None or experiment.deleted_at is not None:
        return []
    in_flight = session.scalar(select(func.count()).select_from(Run).where(
        Run.experiment_id == experiment_id,
        Run.status.in_((RunStatus.queued.value, RunStatus.running.value))))
    slots = spec.parallelism - in_flight
    if spec.compare is not None:
        return studies.top_up(session, experiment, spec, slots)
    return create_trials(session, experiment, spec, slots)
