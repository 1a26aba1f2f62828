"""Early stopping: after a trial of a search with a pruner reports its objective, ask the
pruner (pruners.py: Optuna's own, fed the stored trials) whether to stop it now. Decisions of
one search are taken one at a time, under the lock on its experiment's row, so every decision
sees every report committed before it — as a single Optuna process would."""

from __future__ import annotations

from collections.abc import Iterable

from optuna.trial import TrialState
from sqlalchemy.orm import Session

from ..models import Run
from .pruners import TrialRecord, should_prune
from .trials import load_trials, lock, search_of, spec_for

_RECORD_STATES = {TrialState.RUNNING: "running", TrialState.COMPLETE: "complete",
                  TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}


def judge(session: Session, run: Run, keys: Iterable[str]) -> bool:
    """True when ``run``'s search prunes it at the report just stored (its metrics ``keys``
    included the objective)."""
    spec = spec_for(session, run.experiment_id)
    if spec is None or not spec.prunes or spec.objective.metric not in set(keys):
        return False
    experiment = lock(session, run.experiment_id)
    trials = load_trials(session, experiment, search_of(experiment))
    current = next((t for t in trials if t.run.id == run.id), None)
    if current is None or current.state != TrialState.RUNNING or not current.intermediate:
        return False
    records = [TrialRecord(t.row.number, _RECORD_STATES[t.state], t.intermediate)
               for t in trials]
    return should_prune(spec.pruner, spec.objective.direction, records, current.row.number)
