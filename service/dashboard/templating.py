"""The dashboard's Jinja templates, with ``asset(name)`` for cache-busting static URLs."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from . import assets

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["asset"] = assets.url
