"""API schemas of the teams-and-security routes: users, projects, members, tokens, audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .common import Page, ProjectName, Strict, Tag

UserName = ProjectName  # same rule: letters, digits, '_', '.', '-'
Role = Literal["viewer", "member", "admin"]
Scope = Literal["read", "write", "worker", "admin", "metrics"]


class UserCreate(Strict):
    name: UserName
    superuser: bool = False


class UserOut(BaseModel):
    name: str
    superuser: bool
    created_at: datetime


class Me(BaseModel):
    name: str
    superuser: bool
    scopes: list[str]
    projects: dict[str, str] = Field(description="project name → your role")


class ProjectCreate(Strict):
    name: ProjectName


class ProjectOut(BaseModel):
    name: str
    role: str | None
    created_at: datetime


class MemberSet(Strict):
    role: Role


class MemberOut(BaseModel):
    user: str
    role: str


class TokenCreate(Strict):
    name: Tag = "token"
    scopes: list[Scope] = Field(min_length=1, max_length=5)
    projects: list[ProjectName] | None = Field(None, max_length=100,
                                               description="limit the token to these projects")
    expires_in_days: float | None = Field(None, gt=0, le=3650)
    user: UserName | None = Field(None, description="mint for another user (superusers)")


class TokenOut(BaseModel):
    id: str
    name: str
    prefix: str
    user: str
    scopes: list[str]
    projects: list[str] | None
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenOut):
    token: str = Field(description="the secret: shown this once, never stored")


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    project: str | None
    target: str | None
    detail: dict[str, Any]


class AuditPage(Page):
    entries: list[AuditOut]
