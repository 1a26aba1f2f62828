"""/api/v1/tokens: the caller's API tokens (never their secrets), minting and revoking."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request, Response

from ..auth import accounts
from ..deps import CurrentUser, ReadSession, WriteSession, scope
from ..models import ApiToken
from ..projects import project_names, visible_project
from ..schemas.teams import TokenCreate, TokenCreated, TokenOut

router = APIRouter(prefix="/api/v1/tokens", tags=["teams"], dependencies=[scope("admin")])


def _token_view(token: ApiToken, owner: str, names: dict[str, str]) -> dict:
    return dict(id=token.id, name=token.name, prefix=token.prefix, user=owner,
                scopes=token.scopes, created_at=token.created_at, expires_at=token.expires_at,
                revoked_at=token.revoked_at,
                projects=None if token.projects is None else [names.get(p, p)
                                                               for p in token.projects])


@router.get("", response_model=list[TokenOut])
def list_tokens(session: ReadSession, user: CurrentUser,
                all: bool = Query(False, description="every user's tokens (superusers)")
                ) -> list[TokenOut]:
    """API tokens (never their secrets): yours, or everyone's for a superuser with ``all``."""
    rows = accounts.list_tokens(session, user, everyone=all)
    names = project_names(session, {p for t, _ in rows for p in t.projects or []})
    return [TokenOut(**_token_view(t, owner, names)) for t, owner in rows]


@router.post("", status_code=201, response_model=TokenCreated)
def create_token(body: TokenCreate, request: Request, session: WriteSession,
                 user: CurrentUser) -> TokenCreated:
    """A new API token; its secret is in this response only. Rate-limited."""
    request.app.state.token_limiter.check(request.client.host if request.client else "unknown",
                                          "token creation")
    limit = None if body.projects is None else [visible_project(session, user, p)
                                                for p in body.projects]
    row, secret, owner = accounts.mint_token(session, user, body.name, list(body.scopes),
                                             body.user, limit, body.expires_in_days)
    session.commit()
    names = {p.id: p.name for p in limit or []}
    return TokenCreated(token=secret, **_token_view(row, owner.name, names))


@router.delete("/{token_id}", status_code=204)
def revoke_token(token_id: str, session: WriteSession, user: CurrentUser) -> Response:
    """Revoke a token at once (yours; any for a superuser)."""
    accounts.revoke_own_token(session, user, token_id)
    session.commit()
    return Response(status_code=204)
