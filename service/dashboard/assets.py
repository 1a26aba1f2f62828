"""Static assets: ``/static/*`` from this package, ``/static/vendor/plotly.min.js`` among them (a
partial plotly.js bundle, built by ``scripts/plotly-bundle/build``), all cacheable and public
(they hold no data)."""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY_JS = STATIC_DIR / "vendor" / "plotly.min.js"
CACHE = "public, max-age=86400"


@lru_cache(maxsize=1)
def _plotly_gzip() -> bytes:
    """plotly.min.js compressed once (1.4 MiB → about 470 KiB on the wire)."""
    return gzip.compress(PLOTLY_JS.read_bytes(), compresslevel=6, mtime=0)


@lru_cache(maxsize=1)
def _plotly_etag() -> str:
    stat = PLOTLY_JS.stat()
    return '"' + hashlib.sha256(f"{stat.st_size}-{stat.st_mtime_ns}".encode()).hexdigest()[:16] + '"'


@lru_cache(maxsize=None)
def url(name: str) -> str:
    """``/static/<name>?v=<digest>``: a changed file gets a new URL, so caches never serve a
    stale script."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def mount(app: FastAPI) -> None:
    @app.get("/static/vendor/plotly.min.js", include_in_schema=False)
    def plotly_js(request: Request) -> Response:
        etag = _plotly_etag()
        headers = {"cache-control": CACHE, "etag": etag, "vary": "accept-encoding"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(_plotly_gzip(), media_type="text/javascript",
                            headers={**headers, "content-encoding": "gzip"})
        return FileResponse(PLOTLY_JS, media_type="text/javascript", headers=headers)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
