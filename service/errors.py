"""Domain errors: what a client can get wrong, raised by domain code and turned into HTTP
responses in one place (``handlers.py``); the CLI prints them.

    OptrackError             base; every failure a client can cause
    ├── Unauthenticated      401  no credentials, or ones that are unknown, revoked or expired
    ├── Forbidden            403  valid credentials without the scope, role or CSRF token
    ├── NotFound             404  an id that does not exist (or is not visible)
    ├── Conflict             409  the object is in a state that forbids the action
    │   ├── AlreadyExists         a name that must be unique is taken (MLflow experiments)
    │   ├── LeaseLost             a worker's attempt no longer holds the run (queue.py)
    │   └── (from the database)   ``from_integrity``: a unique, check or foreign-key
    │                             constraint refused a write, named by the constraint
    ├── InvalidInput         422  a value broke a rule; ``details`` name each field
    │   └── QueryError            a filter, order_by or page token (query/syntax.py)
    ├── TooLarge             413  a body or batch over its limit
    ├── RateLimited          429  too many sign-ins or token creations from one address
    └── NotSupported         501  a part of a foreign API optrack does not implement (MLflow's
                                  artifacts)

Every error response has the shape ``{"error": {"code", "message", "details"}}``, except under
the MLflow-compatible API, which answers in MLflow's (``mlflow/errors.py``).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.exc import IntegrityError


class OptrackError(Exception):
    """A failure the client caused; ``status`` and ``code`` say which."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


class Unauthenticated(OptrackError):
    """No valid credentials: a missing, unknown, revoked or expired token."""

    status, code = 401, "unauthenticated"
    headers = {"www-authenticate": "Bearer"}


class Forbidden(OptrackError):
    """The caller is known but may not do this (scope, role or CSRF)."""

    status, code = 403, "forbidden"


class NotFound(OptrackError):
    """No such object (or not one the caller may see)."""

    status, code = 404, "not_found"


class Conflict(OptrackError):
    """The object's state forbids the action (finishing a finished run)."""

    status, code = 409, "conflict"


class AlreadyExists(Conflict):
    """A name that must be unique is taken."""

    code = "already_exists"


class InvalidInput(OptrackError):
    """A value broke a rule; each detail names the field (``loc``) and the rule (``msg``)."""

    status, code = 422, "invalid_input"

    @classmethod
    def field(cls, loc: str, msg: str) -> "InvalidInput":
        return cls(f"{loc}: {msg}", [{"loc": loc, "msg": msg}])


class TooLarge(OptrackError):
    """A request body or batch over its limit."""

    status, code = 413, "too_large"


class RateLimited(OptrackError):
    """Too many attempts from one client address; ``Retry-After`` says when to come back."""

    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.headers = {"retry-after": str(retry_after)}


class NotSupported(OptrackError):
    """A part of a foreign API that optrack does not implement."""

    status, code = 501, "not_supported"


def error_body(code: str, message: str, details: list | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


# -- database integrity errors, translated once by constraint name ----------------------------

# what a refused write means to the client, by the constraint's name (models.NAMING)
CONSTRAINT_MESSAGES = {
    "uq_projects_name": "a project with this name already exists",
    "uq_users_name": "a user with this name already exists",
    "pk_memberships": "this user already has a role in the project",
    "uq_api_tokens_hash": "this token already exists",
    "uq_datasets_project_id_name": "the project already has a dataset with this name",
    "uq_datasets_project_id_sha256": "the project already has a dataset with this content",
}
# SQLite names only CHECK constraints; UNIQUE ones come as their columns, foreign keys unnamed
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)")
_SQLITE_CHECK = re.compile(r"CHECK constraint failed: (\w+)")


def constraint_name(exc: IntegrityError, metadata: MetaData) -> str | None:
    """The name of the constraint that refused the write, on either engine (None if the
    database does not say: SQLite's foreign keys)."""
    diag = getattr(exc.orig, "diag", None)
    if diag is not None:  # psycopg
        return diag.constraint_name
    message = str(exc.orig)
    if found := _SQLITE_CHECK.search(message):
        return found.group(1)
    if found := _SQLITE_UNIQUE.search(message):
        columns = [c.strip().split(".") for c in found.group(1).split(",")]
        table = metadata.tables.get(columns[0][0])
        wanted = {name for _, name in columns}
        if table is None:
            return None
        for constraint in (*table.constraints, *table.indexes):
            if {c.name for c in constraint.columns} == wanted and constraint.name:
                return constraint.name
    return None


def from_integrity(exc: IntegrityError, metadata: MetaData) -> Conflict:
    """The domain error for a write the database refused: 409, never a 500."""
    name = constraint_name(exc, metadata)
    message = CONSTRAINT_MESSAGES.get(name or "", "the change conflicts with stored data"
                                      + (f" ({name})" if name else ""))
    return Conflict(message, [{"loc": "body", "msg": message, "constraint": name}])
