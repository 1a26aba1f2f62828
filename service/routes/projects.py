"""/api/v1/projects: the caller's projects, creating one, and its members."""

from __future__ import annotations

from fastapi import APIRouter

from .. import projects
from ..auth import accounts
from ..deps import CurrentUser, ReadSession, WriteSession, scope
from ..schemas.teams import MemberOut, MemberSet, ProjectCreate, ProjectOut

router = APIRouter(prefix="/api/v1/projects", tags=["teams"])


@router.get("", response_model=list[ProjectOut], dependencies=[scope("read")])
def list_projects(session: ReadSession, user: CurrentUser) -> list[ProjectOut]:
    """The projects the caller can see, with the caller's role."""
    return [ProjectOut(name=p.name, role=user.role(p.id), created_at=p.created_at)
            for p in projects.list_projects(session, user)]


@router.post("", status_code=201, response_model=ProjectOut, dependencies=[scope("write")])
def create_project(body: ProjectCreate, session: WriteSession, user: CurrentUser) -> ProjectOut:
    """A new project; its creator becomes its admin. 409 if the name is taken (also when two
    requests race for it: one wins)."""
    project = projects.create_own_project(session, user, body.name)
    session.commit()
    return ProjectOut(name=project.name, role="admin", created_at=project.created_at)


@router.get("/{name}/members", response_model=list[MemberOut], dependencies=[scope("read")])
def list_members(name: str, session: ReadSession, user: CurrentUser) -> list[MemberOut]:
    project = projects.visible_project(session, user, name)
    return [MemberOut(user=u, role=r) for u, r in accounts.members(session, project)]


@router.put("/{name}/members/{user_name}", response_model=MemberOut,
            dependencies=[scope("admin")])
def set_member(name: str, user_name: str, body: MemberSet, session: WriteSession,
               user: CurrentUser) -> MemberOut:
    """Grant ``user_name`` a role in the project (project admins)."""
    project = projects.visible_project(session, user, name, "admin")
    member = accounts.set_member(session, user, project, accounts.get_user(session, user_name),
                                 body.role)
    session.commit()
    return MemberOut(user=user_name, role=member.role)


@router.delete("/{name}/members/{user_name}", status_code=204, dependencies=[scope("admin")])
def remove_member(name: str, user_name: str, session: WriteSession, user: CurrentUser) -> None:
    project = projects.visible_project(session, user, name, "admin")
    accounts.remove_member(session, user, project, accounts.get_user(session, user_name))
    session.commit()
