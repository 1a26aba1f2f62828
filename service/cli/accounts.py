"""``optrack users|projects|members|tokens|login-link``: administration on the server's machine,
straight on its database (the same operations and audit entries as the API; the actor
recorded is "cli")."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import migrate
from ..auth import accounts, tokens
from ..db import make_engine
from ..errors import OptrackError, from_integrity
from ..models import ApiToken, Base, Project, User
from ..projects import create_project, get_project
from ..settings import Settings

users_app = typer.Typer(help="People and service accounts.", no_args_is_help=True)
projects_app = typer.Typer(help="Projects.", no_args_is_help=True)
members_app = typer.Typer(help="Who may do what in a project.", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens (shown once, stored only as a hash).",
                         no_args_is_help=True)

DB = typer.Option("", "--database-url", envvar="OPTRACK_DATABASE_URL")
DATA = typer.Option(".optrack", "--data-dir", envvar="OPTRACK_DATA_DIR")


@contextmanager
def _session(database_url: str, data_dir: str) -> Iterator[Session]:
    """A migrated database's session, committed on success; domain errors exit with 1."""
    settings = Settings(database_url=database_url, data_dir=data_dir)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine)
    try:
        with Session(engine) as session:
            try:
                yield session
                session.commit()
            except IntegrityError as exc:
                raise from_integrity(exc, Base.metadata) from None
    except OptrackError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        engine.dispose()


@users_app.command("add")
def users_add(name: str, superuser: bool = typer.Option(False, help="every project, as admin"),
              database_url: str = DB, data_dir: str = DATA) -> None:
    with _session(database_url, data_dir) as session:
        accounts.add_user(session, "cli", name, superuser)
    typer.echo(f"user {name} added")


@users_app.command("list")
def users_list(database_url: str = DB, data_dir: str = DATA) -> None:
    with _session(database_url, data_dir) as session:
        table = Table("user", "superuser", "created")
        for u in session.scalars(select(User).order_by(User.name)):
            table.add_row(u.name, "yes" if u.superuser else "", f"{u.created_at:%Y-%m-%d %H:%M}")
    _print(table)


@projects_app.command("add")
def projects_add(name: str, owner: str = typer.Option(None, help="user who becomes its admin"),
                 database_url: str = DB, data_dir: str = DATA) -> None:
    with _session(database_url, data_dir) as session:
        create_project(session, "cli", name, accounts.get_user(session, owner) if owner else None)
    typer.echo(f"project {name} added")


@members_app.command("add")
def members_add(project: str, user: str,
                role: str = typer.Option("member", help="viewer, member or admin"),
                database_url: str = DB, data_dir: str = DATA) -> None:
    with _session(database_url, data_dir) as session:
        accounts.set_member(session, "cli", get_project(session, project),
                         accounts.get_user(session, user), role)
    typer.echo(f"{user} is {role} of {project}")


@members_app.command("remove")
def members_remove(project: str, user: str, database_url: str = DB, data_dir: str = DATA) -> None:
    with _session(database_url, data_dir) as session:
        accounts.remove_member(session, "cli", get_project(session, project),
                            accounts.get_user(session, user))
    typer.echo(f"{user} removed from {project}")


@tokens_app.command("create")
def tokens_create(user: str,
                  scope: list[str] = typer.Option(["read", "write"], help="read, write, "
                                                  "worker, admin, metrics (repeat the option)"),
                  project: list[str] = typer.Option(None, help="limit to these projects"),
                  expires_days: float = typer.Option(None, help="expire after N days"),
                  name: str = typer.Option("token", help="what it is for"),
                  database_url: str = DB, data_dir: str = DATA) -> None:
    """Print a new token's secret: the only time it is shown."""
    with _session(database_url, data_dir) as session:
        projects = [get_project(session, p) for p in project] if project else None
        row, secret = accounts.create_token(session, "cli", accounts.get_user(session, user), name,
                                         scope, projects, expires_days)
        prefix = row.prefix
    typer.echo(f"token {prefix}… for {user} ({', '.join(sorted(scope))}); keep it now, "
               f"it is not stored:", err=True)
    typer.echo(secret)


@tokens_app.command("list")
def tokens_list(user: str = typer.Option(None), database_url: str = DB,
                data_dir: str = DATA) -> None:
    with _session(database_url, data_dir) as session:
        stmt = select(ApiToken, User.name).join(User).where(ApiToken.kind == "api")
        if user:
            stmt = stmt.where(User.name == user)
        names = dict(session.execute(select(Project.id, Project.name)).all())
        table = Table("id", "prefix", "user", "name", "scopes", "projects", "expires", "revoked")
        for t, owner in session.execute(stmt.order_by(ApiToken.created_at)):
            table.add_row(t.id, t.prefix, owner, t.name, ",".join(t.scopes),
                          "all" if t.projects is None else ",".join(names.get(p, p)
                                                                    for p in t.projects),
                          f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "",
                          f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "")
    _print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: str = typer.Argument(..., help="id or displayed prefix"),
                  database_url: str = DB, data_dir: str = DATA) -> None:
    with _session(database_url, data_dir) as session:
        accounts.revoke_token(session, "cli", accounts.find_token(session, token_id))
    typer.echo(f"token {token_id} revoked")


def login_link(user: str = typer.Argument("admin"),
               url: str = typer.Option("http://127.0.0.1:8000", envvar="OPTRACK_SERVER"),
               database_url: str = DB, data_dir: str = DATA) -> None:
    """Print a one-time dashboard sign-in link for ``user`` (valid 15 minutes)."""
    with _session(database_url, data_dir) as session:
        code = tokens.login_code(session, accounts.get_user(session, user))
    typer.echo(f"{url.rstrip('/')}/login?code={code}")


def _print(table: Table) -> None:
    """Whole cells even when piped (ids must survive to be pasted into ``tokens revoke``)."""
    console = Console()
    if not console.is_terminal:
        console = Console(width=250)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
    app.add_typer(projects_app, name="projects")
    app.add_typer(members_app, name="members")
    app.add_typer(tokens_app, name="tokens")
    app.command("login-link")(login_link)
