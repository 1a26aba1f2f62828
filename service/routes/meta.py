"""Catalog and health."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

import optim_core

from ..errors import error_body
from ..migrate import at_head

router = APIRouter(tags=["meta"])


@router.get("/api/v1/catalog")
def catalog() -> dict:
    """Every optimizer, schedule, model and dataset with defaults, bounds and meanings."""
    return optim_core.catalog()


@router.get("/healthz")
def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request):
    """The database answers and its schema is at the latest migration."""
    try:
        with request.app.state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            ready = at_head(conn)
    except Exception as exc:  # an unreachable database is the answer, not a crash
        return JSONResponse(error_body("unavailable", f"database unreachable: "
                                                      f"{type(exc).__name__}"), status_code=503)
    if not ready:
        return JSONResponse(error_body("unavailable", "database schema is not at the latest "
                                                      "migration"), status_code=503)
    return {"status": "ready"}
