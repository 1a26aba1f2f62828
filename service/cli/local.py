"""The one-machine start's credentials: what ``optrack up`` needs to be secure with zero
configuration. The first start creates a local superuser ``admin`` with the ``default`` project
and an API token saved where the CLI looks (no default password exists anywhere); each start
mints a worker token and a demo token for this start only (revoked when it stops) and a
one-time dashboard sign-in link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..auth import accounts, tokens
from ..models import ApiToken, User
from ..projects import create_project
from optrack import credentials

ADMIN_SCOPES = ["read", "write", "admin"]


@dataclass
class LocalCredentials:
    worker_token: str
    demo_token: str
    login_link: str
    message: str
    temporary: list[str]  # token ids revoked at shutdown

    def revoke(self, engine) -> None:
        with Session(engine) as session:
            for token_id in self.temporary:
                row = session.get(ApiToken, token_id)
                if row is not None:
                    tokens.revoke(row)
            session.commit()


def local_credentials(engine, url: str) -> LocalCredentials:
    with Session(engine) as session:
        user, secret = ensure_admin(session)
        if secret is not None:
            saved = credentials.save(url, secret)
            message = (f"created the superuser '{user.name}'; its API token is saved in {saved} "
                       f"(the optrack command uses it for {url})")
        else:
            message = f"signed in as the superuser '{user.name}'"
        worker, worker_secret = tokens.issue(session, user, ["worker"], name="optrack up workers")
        demo, demo_secret = tokens.issue(session, user, ["read", "write"], name="optrack up",
                                         ttl=timedelta(hours=1))
        code = tokens.login_code(session, user)
        session.commit()
        return LocalCredentials(worker_secret, demo_secret, f"{url}/login?code={code}", message,
                                [worker.id, demo.id])


def ensure_admin(session: Session, name: str = "admin") -> tuple[User, str | None]:
    """The first superuser, created with the ``default`` project and an API token when there is
    no superuser yet. Returns the user and the new token's secret (None if it existed)."""
    existing = session.scalar(select(User).where(User.superuser.is_(True))
                              .order_by(User.created_at).limit(1))
    if existing is not None:
        return existing, None
    taken = set(session.scalars(select(User.name).where(User.name.startswith(name))))
    name = next(n for n in [name, *(f"{name}-{i}" for i in range(1, len(taken) + 2))]
                if n not in taken)  # "admin", or "admin-1" if a plain user is called admin
    user = accounts.add_user(session, "cli", name, superuser=True)
    project = create_project(session, "cli", "default", exist_ok=True)
    accounts.set_member(session, "cli", project, user, "admin")
    _, secret = accounts.create_token(session, "cli", user, "local admin (optrack up)",
                                      ADMIN_SCOPES)
    return user, secret
