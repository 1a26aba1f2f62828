"""Early stopping: after a trial of a search with a pruner reports its objective, ask the
pruner (pruners.py: Optuna's own, fed the stored trials) whether to stop it now. Decisions of
one search are taken one at a time, under the lock on its experiment's row, so every decision
sees every report committed before it — as a single Optuna process would."""

from __future__ import annotations

from collections.abc import Iterable

from optuna.trial import TrialState
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..models import Metric, Run, Trial
from .pruners import TrialRecord, should_prune
from .trials import load_trials, lock, search_of, spec_for

_RECORD_STATES = {TrialState.RUNNING: "running", TrialState.COMPLETE: "complete",
                  TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}


def reported_before(session: Session, run: Run) -> int:
    """How many objective reports the run had before the batch being stored (call before the
    ingest): the evaluations after it are the ones to judge."""
    spec = spec_for(session, run.experiment_id)
    if spec is None or not spec.prunes:
        return 0
    return session.scalar(select(func.count()).select_from(Metric).where(
        Metric.run_id == run.id, Metric.key == spec.objective.metric))


def judge(session: Session, run: Run, keys: Iterable[str], before: int) -> bool:
    """True when ``run``'s search prunes it at one of the reports just stored (its metrics
    ``keys`` included the objective; it had ``before`` reports until now). A batch may carry
    several evaluations: each is judged in turn, as if it had come alone, since Optuna's pruner
    is asked after every report."""
    spec = spec_for(session, run.experiment_id)
    if spec is None or not spec.prunes or spec.objective.metric not in set(keys):
        return False
    experiment = lock(session, run.experiment_id)
    study = session.execute(select(Trial.study, Trial.final)
                            .where(Trial.run_id == run.id)).first()
    if study is None or study.final:  # not a trial, or a comparison's final run
        return False
    trials = load_trials(session, experiment, search_of(experiment), study.study)
    at = next((i for i, t in enumerate(trials) if t.run_id == run.id), None)
    if at is None or trials[at].state != TrialState.RUNNING:
        return False
    # numbered within the study, as in the Optuna study of this search alone
    current = trials[at]
    others = [TrialRecord(i, _RECORD_STATES[t.state], t.intermediate)
              for i, t in enumerate(trials) if i != at]
    for evaluation in range(before + 1, len(current.intermediate) + 1):
        so_far = {i: v for i, v in current.intermediate.items() if i <= evaluation}
        records = [*others, TrialRecord(at, "running", so_far)]
        if should_prune(spec.pruner, spec.objective.direction, records, at):
            return True
    return False
