"""MLflow experiments: optrack experiments of the default project (caller.py). One created over
MLflow stores the request ``{"mlflow": true}`` and has no queued runs: runs are logged to it.
Its name is unique among the project's live experiments, which MLflow requires of every
experiment (creations lock the project's row, so two racing for one name cannot both win).
optrack's submitted experiments are MLflow experiments too, to read and search, not to log to."""

from __future__ import annotations

import operator

from sqlalchemy import ColumnElement, select

from ..errors import AlreadyExists, InvalidInput, NotFound
from ..experiments.lifecycle import get_experiment
from ..experiments.named import create_logged, lock_names
from ..models import Experiment, ExperimentTag
from ..query.compiler import SortKey, like
from ..query.pagination import Keyset, fingerprint
from .caller import DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT_NAME, Caller, is_mlflow
from .filters import Clause, parse_filter, parse_order_item
from .search import like_pattern, moment, tag_condition
from .values import tag_text

EXPERIMENT_TAG_LENGTH = ExperimentTag.__table__.c.tag.type.length
_SORTS = {"name": (Experiment.name, "string"), "creation_time": (Experiment.created_at,
          "datetime"), "last_update_time": (Experiment.created_at, "datetime"),
          "experiment_id": (Experiment.id, "string")}
_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


def create(caller: Caller, name: str, tags: list[tuple[str, str]],
           artifact_location: str | None, exist_ok: bool = False) -> Experiment:
    """A new MLflow experiment in the default project (the member role there);
    AlreadyExists when a live experiment of the project has that name (with ``exist_ok``, an
    MLflow experiment of that name is the answer)."""
    if artifact_location:
        raise InvalidInput.field("artifact_location", "optrack stores no artifacts; leave "
                                                      "artifact_location out")
    texts = sorted({_experiment_tag(k, v) for k, v in tags})
    project_id = caller.project_id("member")
    lock_names(caller.session, project_id)
    taken = caller.experiment_named(name, project_id)
    if taken is not None and exist_ok and is_mlflow(taken):
        return taken  # made meanwhile by a request that held the lock before this one
    if taken is not None:
        raise AlreadyExists(f"experiment {name!r} already exists (id "
                            f"{caller.mlflow_id(taken.id)})")
    experiment = create_logged(caller.session, caller.user, project_id, name, texts,
                               mlflow=True)
    if name == DEFAULT_EXPERIMENT_NAME:
        caller.made_default(experiment)
    return experiment


def get(caller: Caller, mlflow_id: str, min_role: str = "viewer") -> Experiment:
    """The experiment an MLflow id names, if the caller may see it."""
    optrack_id = caller.optrack_id(mlflow_id)
    if optrack_id is None:
        raise NotFound(f"experiment {DEFAULT_EXPERIMENT_ID!r} ({DEFAULT_EXPERIMENT_NAME}) does "
                       f"not exist yet; it is created with the first run logged to it")
    return get_experiment(caller.session, caller.user, optrack_id, min_role)


def get_by_name(caller: Caller, name: str) -> Experiment:
    found = caller.experiment_named(name)
    if found is None:
        raise NotFound(f"experiment {name!r} not found in project {caller.project_name!r}")
    return found


def for_new_run(caller: Caller, mlflow_id: str) -> Experiment:
    """The experiment a new run goes to (the member role there): "0" is made on first use;
    optrack's submitted experiments take no logged runs."""
    if mlflow_id == DEFAULT_EXPERIMENT_ID and caller.default_experiment_id is None:
        experiment = create(caller, DEFAULT_EXPERIMENT_NAME, [], None, exist_ok=True)
        caller.made_default(experiment)  # made by a racing request, perhaps
        return experiment
    experiment = get(caller, mlflow_id, "member")
    if not is_mlflow(experiment):
        raise InvalidInput.field("experiment_id", f"experiment {mlflow_id!r} was submitted to "
                                                  f"optrack's queue; runs are logged to "
                                                  f"experiments created over MLflow")
    return experiment


def search(caller: Caller, filter_text: str | None, order_by: list[str], limit: int,
           page_token: str | None) -> tuple[list[Experiment], str | None]:
    """One page of the default project's live experiments matching the MLflow filter (on
    ``name``, ``creation_time`` and tags), in the MLflow order (default: newest first)."""
    dialect = caller.session.get_bind().dialect.name
    conditions = [_condition(c, dialect) for c in parse_filter(filter_text)]
    keys = [_sort_key(text) for text in order_by] or [_sort_key("creation_time DESC")]
    if len({id(k.expr) for k in keys}) < len(keys):
        raise InvalidInput.field("order_by", "a field is listed twice")
    if keys[-1].expr is not Experiment.id:
        keys.append(SortKey(Experiment.id, False, "string", nullable=False))
    stmt = select(Experiment).where(Experiment.project_id == caller.project_id(),
                                    Experiment.deleted_at.is_(None), *conditions)
    keyset = Keyset(keys, fingerprint("mlflow experiments", filter_text, order_by))
    rows = caller.session.scalars(keyset.select(stmt, page_token, limit)).all()
    return keyset.page(rows, limit, lambda e: tuple(getattr(e, k.expr.key) for k in keys))


def _condition(clause: Clause, dialect: str) -> ColumnElement[bool]:
    if clause.entity == "tag":
        return tag_condition(ExperimentTag.tag, ExperimentTag.experiment_id == Experiment.id,
                             clause, dialect)
    if clause.entity == "attribute" and clause.key == "name" and isinstance(clause.value, str):
        if clause.op in ("LIKE", "ILIKE"):
            return like(Experiment.name, like_pattern(clause.value), clause.op == "LIKE",
                        dialect)
        if clause.op in ("=", "!="):
            return (Experiment.name == clause.value) if clause.op == "=" else (
                Experiment.name != clause.value)
    if (clause.entity == "attribute" and clause.key in ("creation_time", "last_update_time")
            and isinstance(clause.value, float) and clause.op in _OPS):
        return _OPS[clause.op](Experiment.created_at, moment(clause.value))
    raise InvalidInput.field("filter", f"cannot filter experiments by {clause.entity} "
                                       f"{clause.key!r} {clause.op}; optrack filters them by "
                                       f"name (=, !=, LIKE, ILIKE), creation_time and tags")


def _sort_key(text: str) -> SortKey:
    entity, key, descending = parse_order_item(text)
    if entity != "attribute" or key not in _SORTS:
        raise InvalidInput.field("order_by", f"cannot sort experiments by {text!r}; by "
                                             + ", ".join(_SORTS))
    expr, kind = _SORTS[key]
    return SortKey(expr, descending, kind, nullable=False)


def _experiment_tag(key: str, value: str) -> str:
    text = tag_text(key, value)
    if len(text) > EXPERIMENT_TAG_LENGTH:
        raise InvalidInput.field("tags", f"tag {key!r} is too long: optrack keeps experiment "
                                         f"tags of up to {EXPERIMENT_TAG_LENGTH} characters "
                                         f"as key=value")
    return text
