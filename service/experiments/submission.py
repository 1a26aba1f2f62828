"""Submitting an experiment: expand the request into runs, validate every one, and store the
experiment with its runs queued — all or nothing, in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from .. import audit
from ..auth.principal import Principal
from ..datasets.validation import ProjectDatasets
from ..errors import InvalidInput
from ..models import Experiment, ExperimentTag, Run, RunTag, utcnow
from ..projects import writable_project
from ..search import schedule, studies
from ..search.spec import parse_search
from ..search.configs import base_config, check_space
from ..search.trials import ask_external
from .expansion import expand
from .lifecycle import get_experiment

NAME_LENGTH = 200  # of runs.name


def submit_experiment(session: Session, user: Principal, name: str, project: str,
                      tags: list[str], spec: dict[str, Any],
                      max_runs: int) -> tuple[Experiment, list[Run]]:
    """The stored experiment and its runs (``queued``), named ``<name> #<n>`` — or, for an
    adaptive search, its first trials. Needs the member role in the project; InvalidInput names
    the first bad field of ``spec``. A pushed dataset is pinned to its content in the stored
    request and runs."""
    pid = writable_project(session, user, project)
    datasets = ProjectDatasets(session, pid)
    spec = datasets.pin(spec)
    search = parse_search(spec.get("search"))
    adaptive = search is not None and search.adaptive
    expanded = (_adaptive_base(spec, search, max_runs, datasets.load) if adaptive
                else expand(spec, max_runs, datasets.load))
    tags = sorted(set(tags))
    now = utcnow()
    experiment = Experiment(project_id=pid, name=name, tags=tags, request=spec, created_at=now,
                            tag_rows=[ExperimentTag(tag=t) for t in tags])
    session.add(experiment)
    session.flush()
    if adaptive:  # the first trials now; each one that ends asks for its successors
        runs = schedule.top_up(session, experiment.id)
    else:
        width = len(str(len(expanded)))
        stem = name[:NAME_LENGTH - width - 2]  # "<name> #<n>" must fit the column
        runs = [Run(project_id=pid, experiment_id=experiment.id, config=r.config,
                    created_at=now, total_steps=r.total_steps, name=f"{stem} #{i:0{width}d}",
                    tags=[RunTag(tag=t) for t in tags])
                for i, r in enumerate(expanded, start=1)]
        session.add_all(runs)
    audit.record(session, user, "experiment.create", pid, experiment.id, runs=len(runs))
    return experiment, runs


def _adaptive_base(spec: dict[str, Any], search, max_runs: int, load_dataset) -> list:
    """An adaptive search's one base config, validated with its space (a comparison's: one
    per optimizer)."""
    if search.compare is not None:
        return studies.check(spec, search, max_runs, expand, load_dataset)
    if search.trials > max_runs:
        raise InvalidInput.field("search.trials", f"must be <= {max_runs} (the limit of runs "
                                                  f"per experiment)")
    base = expand({k: v for k, v in spec.items() if k != "search"}, max_runs, load_dataset)
    if len(base) != 1:
        raise InvalidInput.field("search.method", f"an adaptive search starts from one base "
                                                  f"config, not {len(base)}; put the "
                                                  f"alternatives in search.space")
    check_space(base_config(spec), search, load_dataset)
    return base


def ask_trial_run(session: Session, user: Principal, experiment_id: str) -> Run:
    """The next trial of the experiment's ask-and-tell search, for a member of its project."""
    return ask_external(session, get_experiment(session, user, experiment_id, "member"))
