"""Pushed datasets: pushing (checked, content-addressed, idempotent), looking up by name or
sha256, listing, and deleting.

    (none) -> stored   push: the file is read (never with pickle) and its facts kept; its blob
                       is staged, and renamed into ``<data_dir>/dataset-blobs/<sha256>`` only
                       once the row is written, so a refused push leaves nothing behind
    stored -> (none)   delete: refused (409) while a queued or running run's config pins it

A name never changes its content: pushing other content under a taken name is 409 (push under
a new name, or delete the old dataset first), and pushing the same content again answers with
the stored dataset. A project holds each content once, under one name."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

import optim_core
from optim_core.datasets.pushed import SHA256, FileFacts, inspect, parse_ref, pinned_ref

from .. import audit
from ..blobs import write_temp
from ..db import insert_for
from ..errors import Conflict, InvalidInput, NotFound, TooLarge
from ..models import PushedDataset, Run, RunStatus, new_id, utcnow
from ..projects import visible_project, writable_project
from ..query.compiler import SortKey
from ..query.pagination import Keyset, fingerprint

BLOBS = "dataset-blobs"
ACTIVE = (RunStatus.queued.value, RunStatus.running.value)
BY_NAME = (SortKey(PushedDataset.name, descending=False, kind="string", nullable=False),
           SortKey(PushedDataset.id, descending=False, kind="string", nullable=False))


def blob_path(data_dir: Path, sha256: str) -> Path:
    return data_dir / BLOBS / sha256


def facts_of(record: PushedDataset) -> FileFacts:
    return FileFacts(record.format, record.rows, record.features, record.label, record.classes)


def ref_of(record: PushedDataset) -> str:
    """The pinned reference runs store: ``name@sha256``."""
    return pinned_ref(record.name, record.sha256)


def push(session: Session, user, project: str, name: str, label: str | None, data: bytes,
         max_bytes: int, data_dir: Path) -> tuple[PushedDataset, bool]:
    """The stored dataset and whether this push created it (needs the member role). The file
    is read before the first statement, so SQLite's write lock is not held meanwhile."""
    if len(data) > max_bytes:
        raise TooLarge(f"dataset: at most {max_bytes} bytes, got {len(data)}")
    if SHA256.fullmatch(name):
        raise InvalidInput.field("name", "must not look like a sha256 (runs name datasets by "
                                         "either)")
    try:
        facts = inspect(data, label)
    except optim_core.ConfigError as exc:
        loc = "body" if exc.field == "file" else exc.field
        raise InvalidInput(f"the file {exc.rule}" if loc == "body" else str(exc),
                           [{"loc": loc, "msg": exc.rule}]) from None
    sha = hashlib.sha256(data).hexdigest()
    staged = write_temp(data_dir / BLOBS, data)
    try:
        record, created = _store(session, user, project, name, label, sha, len(data), facts)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    os.replace(staged, blob_path(data_dir, sha))
    return record, created


def _store(session: Session, user, project: str, name: str, label: str | None, sha: str,
           size: int, facts: FileFacts) -> tuple[PushedDataset, bool]:
    pid = writable_project(session, user, project)
    existing = _repeated(session, pid, project, name, label, sha)
    if existing is not None:
        return existing, False
    created = session.scalar(
        insert_for(session)(PushedDataset).values(
            id=new_id(), project_id=pid, name=name, sha256=sha, format=facts.format,
            bytes=size, rows=facts.rows, features=facts.features, classes=facts.classes,
            label=facts.label, created_at=utcnow(), created_by=user.name)
        .on_conflict_do_nothing().returning(PushedDataset.id))
    if created is None:  # a concurrent push took the name or the content first
        existing = _repeated(session, pid, project, name, label, sha)
        if existing is None:
            raise Conflict(f"dataset {name!r} changed while it was pushed; push it again")
        return existing, False
    audit.record(session, user, "dataset.push", pid, name, sha256=sha, bytes=size)
    return session.get(PushedDataset, created), True


def _repeated(session: Session, pid: str, project: str, name: str, label: str | None,
              sha: str) -> PushedDataset | None:
    """The stored dataset this push repeats (None: the push is new); Conflict when the name
    holds other content, or the content has another name."""
    for found in session.scalars(select(PushedDataset).where(
            PushedDataset.project_id == pid,
            or_(PushedDataset.name == name, PushedDataset.sha256 == sha))):
        if found.name != name:
            raise Conflict(f"this content is already dataset {found.name!r} of project "
                           f"{project!r}: name it so (or by its sha256)")
        if found.sha256 != sha:
            raise Conflict(f"dataset {name!r} of project {project!r} holds other content "
                           f"(sha256 {found.sha256[:12]}…), and a name never changes its "
                           f"content: push under a new name, or delete {name!r} first")
        if label is not None and label != found.label:
            raise Conflict(f"dataset {name!r} was pushed with the label column "
                           f"{found.label!r}; push it under a new name to use {label!r}")
        return found
    return None


def find(session: Session, project_id: str, ref: str,
         lock: str | None = None) -> PushedDataset | None:
    """The project's dataset named by ``ref`` (name, sha256 or name@sha256). ``lock`` its row
    until the transaction ends (PostgreSQL; SQLite's writers take turns anyway): "share" while
    runs are validated on it, "update" to delete it, which so waits for those runs' commit
    before it looks for runs that use the dataset."""
    try:
        name, sha = parse_ref(ref)
    except optim_core.ConfigError:
        return None
    stmt = select(PushedDataset).where(PushedDataset.project_id == project_id)
    stmt = stmt.where(PushedDataset.sha256 == sha) if sha else stmt
    stmt = stmt.where(PushedDataset.name == name) if name else stmt
    return session.scalar(stmt.with_for_update(read=lock == "share") if lock else stmt)


def get(session: Session, user, project: str, ref: str, min_role: str = "viewer",
        lock: str | None = None) -> PushedDataset:
    """A dataset of a project the caller sees (NotFound otherwise, as for a missing one)."""
    found = find(session, visible_project(session, user, project, min_role).id, ref, lock)
    if found is None:
        raise NotFound(f"dataset {ref!r} not found in project {project!r}")
    return found


def listing(session: Session, user, project: str | None, limit: int,
            page_token: str | None) -> tuple[list[PushedDataset], str | None]:
    """One page of the datasets the caller can see (of one project, if given), by name."""
    stmt = select(PushedDataset).where(user.where(PushedDataset.project_id))
    if project is not None:
        stmt = stmt.where(PushedDataset.project_id
                          == visible_project(session, user, project).id)
    keyset = Keyset(BY_NAME, fingerprint("datasets", project))
    rows = session.scalars(keyset.select(stmt, page_token, limit)).all()
    return keyset.page(rows, limit, lambda row: (row.name, row.id))


def delete(session: Session, user, project: str, ref: str) -> set[str]:
    """Delete a dataset (project admins), refused while a queued or running run pins it; the
    blobs no dataset uses any more, for the caller to remove once the deletion is committed."""
    user.require_scope("admin")
    record = get(session, user, project, ref, "admin", lock="update")
    using = session.scalars(select(Run.id).where(
        Run.project_id == record.project_id, Run.status.in_(ACTIVE),
        Run.config["dataset"]["dataset"].as_string() == ref_of(record)).limit(3)).all()
    if using:
        message = (f"dataset {record.name!r} is used by queued or running runs "
                   f"({', '.join(using)}{', …' if len(using) == 3 else ''}): cancel them or "
                   f"wait until they end")
        raise Conflict(message, [{"loc": "dataset", "msg": message, "runs": list(using)}])
    session.delete(record)
    session.flush()
    audit.record(session, user, "dataset.delete", record.project_id, record.name,
                 sha256=record.sha256)
    others = session.scalar(select(func.count()).select_from(PushedDataset)
                            .where(PushedDataset.sha256 == record.sha256))
    return set() if others else {record.sha256}


def run_blob(session: Session, run: Run, data_dir: Path) -> Path:
    """The blob of the pushed dataset ``run`` trains on: one of its own project's."""
    section = run.config.get("dataset")
    ref = section.get("dataset") if isinstance(section, dict) else None
    record = find(session, run.project_id, ref) if isinstance(ref, str) else None
    if record is None:
        raise NotFound(f"run {run.id!r} trains on no dataset pushed to its project")
    return blob(record, data_dir)


def blob(record: PushedDataset, data_dir: Path) -> Path:
    """The dataset's file (NotFound if it went missing from the data directory)."""
    path = blob_path(data_dir, record.sha256)
    if not path.is_file():
        raise NotFound(f"the file of dataset {record.name!r} is missing from the data "
                       f"directory")
    return path


def remove_blobs(data_dir: Path, shas: set[str]) -> None:
    """Delete blobs (call after the commit that removed their last datasets)."""
    for sha in shas:
        blob_path(data_dir, sha).unlink(missing_ok=True)
