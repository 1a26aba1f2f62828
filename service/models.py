"""ORM models: the tables. API schemas live apart, in schemas.py."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, CheckConstraint, DateTime, Float, ForeignKey,
                        Index, Integer, MetaData, String, Text, TypeDecorator, UniqueConstraint,
                        false)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both engines (SQLite keeps no zone: we add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def new_id() -> str:
    """Random, unguessable ids (122 bits)."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RunStatus(str, enum.Enum):
    queued = "queued"        # waiting for a worker
    running = "running"      # leased by a worker, or an external run being logged
    succeeded = "succeeded"  # finished normally
    failed = "failed"        # crashed, or ran out of attempts
    diverged = "diverged"    # the loss went non-finite: a result, not a crash
    pruned = "pruned"        # stopped early by its search's pruner: a result, not a crash
    cancelled = "cancelled"  # stopped by a user

    @property
    def finished(self) -> bool:
        return self not in (RunStatus.queued, RunStatus.running)


STATUS_VALUES = tuple(s.value for s in RunStatus)


class AttemptOutcome(str, enum.Enum):
    """How one lease of a run ended (NULL while it runs)."""

    succeeded = "succeeded"  # the worker finished the run
    failed = "failed"        # the run crashed on the worker: counts against max_attempts
    diverged = "diverged"    # the loss went non-finite: the run's result
    expired = "expired"      # the worker stopped heartbeating: counts against max_attempts
    released = "released"    # the worker shut down and handed the run back (not counted)
    pruned = "pruned"        # the search's pruner stopped the run
    cancelled = "cancelled"  # a user cancelled the run, or deleted its experiment


OUTCOME_VALUES = tuple(o.value for o in AttemptOutcome)


class Project(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Experiment(Base):
    __tablename__ = "experiments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            index=True)
    name: Mapped[str] = mapped_column(String(200))
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    request: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow,
                                                 index=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # soft delete
    # an adaptive search's sampler state between asks (Optuna's study system attributes)
    search_state: Mapped[dict[str, Any] | None] = mapped_column(JSONType)

    project: Mapped[Project] = relationship()
    tag_rows: Mapped[list["ExperimentTag"]] = relationship(cascade="all, delete-orphan",
                                                           lazy="selectin")


class ExperimentTag(Base):
    """One row per (experiment, tag), for filtering experiments by tag."""

    __tablename__ = "experiment_tags"

    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"),
                                               primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUS_VALUES!r}", name="status"),
        Index("ix_runs_project_id_created_at", "project_id", "created_at"),
        Index("ix_runs_status_priority_created_at", "status", "priority", "created_at"),
        # config-path equality filters on PostgreSQL (service/query/compiler.py, containment)
        Index("ix_runs_config", "config", postgresql_using="gin",
              postgresql_ops={"config": "jsonb_path_ops"}).ddl_if(dialect="postgresql"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    experiment_id: Mapped[str | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.queued.value)
    external: Mapped[bool] = mapped_column(Boolean, default=False)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the queue: who holds the lease, until when, and when a retry may start
    worker_id: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checkpoint_sha: Mapped[str | None] = mapped_column(String(64))
    checkpoint_step: Mapped[int | None] = mapped_column(BigInteger)
    # optimizer steps the run will take, known when an experiment is expanded (NULL: external)
    total_steps: Mapped[int | None] = mapped_column(BigInteger)
    # the worker token whose lease this is: only it may touch the run while it runs
    lease_token_id: Mapped[str | None] = mapped_column(String(32))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # its experiment's

    tags: Mapped[list["RunTag"]] = relationship(cascade="all, delete-orphan",
                                                order_by="RunTag.tag", lazy="selectin")


class RunAttempt(Base):
    """One lease of a run by a worker, and how it ended."""

    __tablename__ = "run_attempts"
    __table_args__ = (CheckConstraint(f"outcome IN {OUTCOME_VALUES!r}", name="outcome"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker_id: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(32))  # an AttemptOutcome
    error: Mapped[str | None] = mapped_column(Text)


class Trial(Base):
    """One trial of an adaptive search: its number (0, 1, …; the primary key makes a doubled
    number impossible), its run, the parameters the sampler suggested (also those a sampled
    optimizer does not have, which its run's config leaves out) and the sampler's notes on it
    (Optuna's trial system attributes)."""

    __tablename__ = "trials"

    experiment_id: Mapped[str] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"),
                                               primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), unique=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType)
    system_attrs: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # a comparison's: the optimizer whose search the trial is ("" for any other search), and
    # whether it is a final run (the best config on a fresh seed) rather than a search trial
    study: Mapped[str] = mapped_column(String(40), default="", server_default="")
    final: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class RunTag(Base):
    """One row per (run, tag): ``tags contains 'x'`` is an indexed EXISTS. Up to 500
    characters: MLflow's tags are stored as ``key=value`` (optrack's API takes 100)."""

    __tablename__ = "run_tags"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    tag: Mapped[str] = mapped_column(String(500), primary_key=True, index=True)


class Metric(Base):
    """One value per (run, key, step): a replayed point changes nothing. NaN is stored as NULL
    (SQLite cannot hold NaN) and reported as NaN; ±inf are stored as they are."""

    __tablename__ = "metrics"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    time: Mapped[float] = mapped_column(Float)


class LatestMetric(Base):
    """The value at the highest step of each (run, key), for filtering and sorting runs."""

    __tablename__ = "latest_metrics"
    __table_args__ = (Index("ix_latest_metrics_key_value", "key", "value"),)

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float | None] = mapped_column(Float)


class MetricRollup(Base):
    """Pre-aggregated histories: for each (run, key) and bucket width (64, 256, 1024, … steps;
    width 0 is the whole series), the first, last, minimum and maximum point of each bucket."""

    __tablename__ = "metric_rollups"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    width: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    first_step: Mapped[int] = mapped_column(BigInteger)
    first_value: Mapped[float | None] = mapped_column(Float)
    last_step: Mapped[int] = mapped_column(BigInteger)
    last_value: Mapped[float | None] = mapped_column(Float)
    min_step: Mapped[int] = mapped_column(BigInteger)
    min_value: Mapped[float | None] = mapped_column(Float)
    max_step: Mapped[int] = mapped_column(BigInteger)
    max_value: Mapped[float | None] = mapped_column(Float)


class PushedDataset(Base):
    """A dataset file pushed to the server (.npz or .csv), by name and by content in its
    project: both are unique there, and a name never comes to mean other content. The blob is
    ``<data_dir>/dataset-blobs/<sha256>``; these facts validate runs without reading it."""

    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),
                      UniqueConstraint("project_id", "sha256"),
                      CheckConstraint("format IN ('npz', 'csv')", name="format"))

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(8))
    bytes: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)
    features: Mapped[int] = mapped_column(Integer)
    classes: Mapped[int | None] = mapped_column(Integer)  # None: labels not whole numbers
    label: Mapped[str | None] = mapped_column(String(200))  # a .csv file's label column
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100))


# -- teams and security ----------------------------------------------------------------------

ROLES = ("viewer", "member", "admin")  # each includes the ones before it
# metrics: GET /metrics, server-wide figures (only a superuser or the CLI grants it)
SCOPES = ("read", "write", "worker", "admin", "metrics")
TOKEN_KINDS = ("api", "session", "login")  # API token · browser session · one-time login code


class User(Base):
    """A person (or a service account). ``superuser``: every project, as admin."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (CheckConstraint(f"role IN {ROLES!r}", name="role"),)

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"),
                                            primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    """A credential. Only its SHA-256 is stored (tokens are 256 random bits: a fast hash is
    enough and lets every request find its token by index); ``prefix`` is for display."""

    __tablename__ = "api_tokens"
    __table_args__ = (CheckConstraint(f"kind IN {TOKEN_KINDS!r}", name="kind"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="api")
    name: Mapped[str] = mapped_column(String(200), default="")
    prefix: Mapped[str] = mapped_column(String(16))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    # project ids the token is limited to (None: every project of its user)
    projects: Mapped[list[str] | None] = mapped_column(JSONType)
    csrf: Mapped[str | None] = mapped_column(String(64))  # browser sessions: the CSRF token
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AuditEntry(Base):
    """Who did what, to what, when: creations, cancellations, deletions, grants."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_project_id_at", "project_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))  # a user's name, or "cli"
    token_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))  # experiment.create, token.revoke, …
    project_id: Mapped[str | None] = mapped_column(String(32))
    target: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
