"""API schemas of the catalog's companions: 2-D test function surfaces."""

from __future__ import annotations

from pydantic import BaseModel, Field


class SurfaceOut(BaseModel):
    """A 2-D test function sampled on a grid, as plotly's contour takes it."""

    name: str
    formula: str
    x: list[float]
    y: list[float]
    z: list[list[float | None]] = Field(description="z[i][j] = f(x[j], y[i]): one row per y; "
                                                    "null where f is not finite")
    start: list[float]
    minimum: list[float] | None
