"""Running a fair comparison of optimizers (``"method": "compare"``): one study per optimizer —
its own search with the same budget, sampler, seed and pruner, over the tuned fields it has —
and, once an optimizer's search has ended, its best config re-run on ``final_seeds`` fresh
seeds, unpruned. Every optimizer's trials and final runs are rows of ``trials`` (``study`` the
optimizer, ``final`` for the re-runs), created under the experiment's lock like any search's.

The searches advance together: each free slot goes to a final run of an optimizer whose search
has ended, else to the optimizer with the fewest trials asked so far. The final runs' seeds are
the base config's seed + 1, + 2, …: no search trial used them (a comparison cannot tune the
seed), and every optimizer's final runs share them, so the comparison is paired by seed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..errors import InvalidInput
from ..models import Experiment, Run, RunStatus, Trial
from .configs import base_config, check_space
from .spec import SearchSpec, applies
from .trials import best_trial, create_trials, load_trials, next_number, trial_run

ENDED = (RunStatus.succeeded.value, RunStatus.failed.value, RunStatus.diverged.value,
         RunStatus.pruned.value, RunStatus.cancelled.value)
MAX_SEED = 2**63 - 1  # optim_core's training.seed


def study_spec(spec: SearchSpec, optimizer: str) -> SearchSpec:
    """The search one optimizer of the comparison gets."""
    compare = spec.compare
    return SearchSpec(compare.sampler, compare.trials_of(optimizer), spec.parallelism,
                      spec.seed, {p: spec.space[p] for p in compare.tuned(optimizer)},
                      spec.objective, spec.pruner, False)


def study_base(request: dict[str, Any], optimizer: str) -> dict[str, Any]:
    """The config an optimizer's trials start from: the request's sections, its optimizer
    section (settings shared by the optimizers) kept to the fields this optimizer has."""
    base = base_config(request)
    shared = request.get("optimizer") or {}
    base["optimizer"] = {**{k: v for k, v in shared.items()
                            if k == "convention" or applies(f"optimizer.{k}", optimizer)},
                         "name": optimizer}
    return base


def final_seeds(request: dict[str, Any], spec: SearchSpec) -> list[int]:
    """The final runs' seeds: the ones after the search trials' seed."""
    seed = (request.get("training") or {}).get("seed", 0)
    return [seed + k for k in range(1, spec.compare.final_seeds + 1)]


def check(request: dict[str, Any], spec: SearchSpec, max_runs: int, expand,
          load_dataset) -> None:
    """InvalidInput naming the field when the comparison cannot run as asked: a shared
    optimizer setting no optimizer has, a name in the optimizer section, an invalid config of
    any optimizer's space, more runs than an experiment may have. ``expand`` validates a
    request's sections (experiments/expansion.py) with the project's datasets
    (``load_dataset``)."""
    compare = spec.compare
    shared = request.get("optimizer")
    if shared is not None and not isinstance(shared, dict):
        raise InvalidInput.field("optimizer", "must be an object of settings the compared "
                                              "optimizers share (or left out)")
    for key in shared or {}:
        if key == "name":
            raise InvalidInput.field("optimizer.name", "a comparison's optimizers are "
                                                       "search.optimizers")
        if key != "convention" and not any(applies(f"optimizer.{key}", name)
                                           for name in compare.optimizers):
            raise InvalidInput.field(f"optimizer.{key}", f"no optimizer of the comparison "
                                                         f"({', '.join(compare.optimizers)}) "
                                                         f"has {key}")
    runs = spec.trials + len(compare.optimizers) * compare.final_seeds
    if runs > max_runs:
        raise InvalidInput.field("search.budget", f"the comparison makes {runs} runs, more "
                                                  f"than the {max_runs} an experiment may have")
    for optimizer in compare.optimizers:
        base = study_base(request, optimizer)
        if len(expand(base, max_runs, load_dataset)) != 1:
            raise InvalidInput.field("search.method", "a comparison starts from one base "
                                                      "config; put the alternatives in "
                                                      "search.tune")
        check_space(base, study_spec(spec, optimizer), load_dataset, "search.tune")
    if final_seeds(request, spec)[-1] > MAX_SEED:
        raise InvalidInput.field("training.seed", f"leaves no room for "
                                                  f"{compare.final_seeds} fresh final seeds")


def top_up(session: Session, experiment: Experiment, spec: SearchSpec, slots: int) -> list[Run]:
    """Fill ``slots`` with the comparison's next runs (call under the experiment's lock)."""
    made: list[Run] = []
    no_best: set[str] = set()  # optimizers whose search ended with no complete trial
    while slots > 0:
        pick = _next(spec, _progress(session, experiment.id), no_best)
        if pick is None:
            return made
        optimizer, final = pick
        if final:
            run = _final_run(session, experiment, spec, optimizer)
            if run is None:
                no_best.add(optimizer)
                continue
            new = [run]
        else:
            new = create_trials(session, experiment, study_spec(spec, optimizer), 1,
                                study=optimizer, base=study_base(experiment.request, optimizer))
        made += new
        slots -= sum(r.status == RunStatus.queued.value for r in new)
    return made


def _progress(session: Session, experiment_id: str) -> dict[tuple[str, bool], Counter]:
    """(optimizer, final) → {"asked": n, "ended": n}."""
    out: dict[tuple[str, bool], Counter] = {}
    for study, final, status in session.execute(
            select(Trial.study, Trial.final, Run.status).join(Run, Run.id == Trial.run_id)
            .where(Trial.experiment_id == experiment_id)):
        counts = out.setdefault((study, bool(final)), Counter())
        counts["asked"] += 1
        counts["ended"] += status in ENDED
    return out


def _next(spec: SearchSpec, progress: dict[tuple[str, bool], Counter],
          no_best: set[str]) -> tuple[str, bool] | None:
    """(optimizer, True) for a final run to make, (optimizer, False) for a search trial, or
    None when every search is asked and every ended one has its final runs."""
    compare, searching = spec.compare, []
    for optimizer in compare.optimizers:
        trials = progress.get((optimizer, False), Counter())
        if trials["asked"] < compare.trials_of(optimizer):
            searching.append((trials["asked"], optimizer))
        elif (trials["ended"] == trials["asked"] and optimizer not in no_best
              and progress.get((optimizer, True), Counter())["asked"] < compare.final_seeds):
            return optimizer, True
    return (min(searching)[1], False) if searching else None


def _final_run(session: Session, experiment: Experiment, spec: SearchSpec,
               optimizer: str) -> Run | None:
    """The optimizer's next final run: its best trial's config on the next fresh seed (None
    when its search has no complete trial)."""
    best = best_trial(load_trials(session, experiment, spec, optimizer), spec.objective.mode)
    if best is None:
        return None
    made = load_trials(session, experiment, spec, optimizer, final=True)
    seed = final_seeds(experiment.request, spec)[len(made)]
    config = session.scalar(select(Run.config).where(Run.id == best.run_id))
    params = {"training.seed": seed}
    run = trial_run(experiment, config, params, f"{optimizer} final seed {seed}")
    session.add(run)
    session.flush()
    session.add(Trial(experiment_id=experiment.id, number=next_number(session, experiment.id),
                      run_id=run.id, params=params, study=optimizer, final=True,
                      system_attrs={"optrack:final_of": best.number}))
    return run
