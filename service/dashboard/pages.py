"""The dashboard's pages. Each is a shell: the server names the object and the script; the
script fetches what it shows from the JSON API, so every view reads the same downsampled data
the API serves and nothing is rendered twice."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from .. import runs
from ..auth.principal import Principal
from ..deps import ReadSession, identify
from ..errors import NotFound, Unauthenticated
from ..experiments import lifecycle
from . import assets, session
from .templating import templates

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _viewer(request: Request, db) -> Principal | None:
    """The signed-in user (session cookie or bearer token) if allowed to read, or None."""
    try:
        user = identify(request, db)
    except Unauthenticated:
        return None
    return user if user is not None and "read" in user.scopes else None


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def _page(request: Request, template: str, user: Principal, status_code: int = 200,
          **context) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"user": user, **context},
                                      status_code=status_code)


def _simple(template: str, title: str):
    def page(request: Request, db: ReadSession) -> Response:
        user = _viewer(request, db)
        if user is None:
            return _to_login(request)
        return _page(request, template, user, title=title)
    return page


for _path, _template, _title in (("/", "experiments.html", "Experiments"),
                                 ("/compare", "compare.html", "Compare runs"),
                                 ("/trajectories", "trajectories.html", "Optimizer trajectories"),
                                 ("/new", "new.html", "New experiment"),
                                 ("/settings", "settings.html", "Settings")):
    router.add_api_route(_path, _simple(_template, _title), methods=["GET"])


@router.get("/experiments/{experiment_id}")
def experiment_page(experiment_id: str, request: Request, db: ReadSession) -> Response:
    user = _viewer(request, db)
    if user is None:
        return _to_login(request)
    try:  # another project's experiment is as missing as one that never existed
        experiment = lifecycle.get_experiment(db, user, experiment_id)
    except NotFound:
        return _page(request, "missing.html", user, status_code=404, what="experiment",
                     title="Not found")
    return _page(request, "experiment.html", user, title=experiment.name, experiment=experiment)


@router.get("/runs/{run_id}")
def run_page(run_id: str, request: Request, db: ReadSession) -> Response:
    user = _viewer(request, db)
    if user is None:
        return _to_login(request)
    try:
        run = runs.get_run(db, user, run_id)
    except NotFound:
        return _page(request, "missing.html", user, status_code=404, what="run",
                     title="Not found")
    return _page(request, "run.html", user, title=run.name, run=run)


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: pages at ``/``, sign-in at ``/login``, assets at
    ``/static``."""
    assets.mount(app)
    app.include_router(session.router)
    app.include_router(router)
