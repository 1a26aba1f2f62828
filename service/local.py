"""What ``optrack up`` needs to be secure with zero configuration: the local superuser (made on
the first start, its token saved where the CLI looks), a worker token and a demo token for this
start only (revoked when it stops), and a one-time dashboard sign-in link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from . import credentials
from .auth import bootstrap, tokens
from .models import ApiToken, utcnow


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
                if row is not None and row.revoked_at is None:
                    row.revoked_at = utcnow()
            session.commit()


def local_credentials(engine, url: str) -> LocalCredentials:
    with Session(engine) as session:
        user, secret = bootstrap.ensure_admin(session)
        if secret is not None:
            saved = credentials.save(url, secret)
            message = (f"created the superuser '{user.name}'; its API token is saved in {saved} "
                       f"(the optrack command uses it for {url})")
        else:
            message = f"signed in as the superuser '{user.name}'"
        worker, worker_secret = tokens.issue(session, user, ["worker"], name="optrack up workers")
        demo, demo_secret = tokens.issue(session, user, ["read", "write"], name="optrack up",
                                         ttl=timedelta(hours=1))
        code = bootstrap.login_code(session, user)
        session.commit()
        return LocalCredentials(worker_secret, demo_secret, f"{url}/login?code={code}", message,
                                [worker.id, demo.id])
