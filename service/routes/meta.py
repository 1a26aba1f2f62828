"""Catalog and function surfaces (authenticated); health and readiness (public)."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

import optim_core
from optim_core import functions

from ..deps import scope
from ..errors import NotFound, error_body
from ..migrate import at_head
from ..schemas.meta import SurfaceOut

router = APIRouter(tags=["meta"])


@router.get("/api/v1/catalog", dependencies=[scope("read")])
def catalog() -> dict:
    """Every optimizer, schedule, model and dataset with defaults, bounds and meanings."""
    return optim_core.catalog()


@router.get("/api/v1/functions/{name}/surface", response_model=SurfaceOut,
            dependencies=[scope("read")])
def function_surface(name: str, points: int = Query(80, ge=10, le=400,
                                                    description="grid points per axis")
                     ) -> SurfaceOut:
    """A 2-D test function on a ``points`` × ``points`` grid over its plot window, for a
    contour plot: ``z[i][j] = f(x[j], y[i])`` (one row per y); null where f is not finite."""
    try:
        fn = functions.get(name)
    except optim_core.ConfigError as exc:
        raise NotFound(exc.rule, [{"loc": "name", "msg": exc.rule}]) from None
    x, y, z = surface(fn, points)
    described = fn.describe()
    return SurfaceOut(name=fn.name, formula=fn.formula, x=x, y=y, z=z,
                      start=described["start"], minimum=described["minimum"])


def surface(fn: functions.TestFunction, points: int
            ) -> tuple[list[float], list[float], list[list[float | None]]]:
    """x and y (``points`` values each over the plot window) and f on their grid, by rows of
    y; non-finite values (JSON has none) become None."""
    x = np.linspace(*fn.x_range, points, dtype=np.float64)
    y = np.linspace(*fn.y_range, points, dtype=np.float64)
    xx, yy = np.meshgrid(x, y)  # xx[i, j] = x[j], yy[i, j] = y[i]
    with np.errstate(all="ignore"):
        z = np.broadcast_to(np.asarray(fn.f(xx, yy), dtype=np.float64), xx.shape)
    cells = z.astype(object)
    cells[~np.isfinite(z)] = None
    return x.tolist(), y.tolist(), cells.tolist()


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
