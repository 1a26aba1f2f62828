"""Request dependencies: sessions and settings, as Annotated aliases."""

from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from .settings import Settings


def _writer(request: Request) -> Iterator[Session]:
    """A session for a write; the route commits before it returns (the request owns the
    transaction), anything uncommitted is rolled back here."""
    with request.app.state.writer() as session:
        yield session


def _reader(request: Request) -> Iterator[Session]:
    with request.app.state.reader() as session:
        yield session


def _settings(request: Request) -> Settings:
    return request.app.state.settings


WriteSession = Annotated[Session, Depends(_writer)]
ReadSession = Annotated[Session, Depends(_reader)]
SettingsDep = Annotated[Settings, Depends(_settings)]
