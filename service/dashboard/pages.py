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
        user = identify(request, db.connection())
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


def _object_page(request: Request, db, load, template: str, what: str,
                 key: str | None = None) -> Response:
    """``template`` of ``load(db, user)``, in the context as ``key`` (``what`` by default), or
    the page saying there is no such ``what`` when it raises NotFound."""
    user = _viewer(request, db)
    if user is None:
        return _to_login(request)
    try:  # another project's object is as missing as one that never existed
        found = load(db, user)
    except NotFound:
        return _page(request, "missing.html", user, status_code=404, what=what,
                     title="Not found")
    return _page(request, template, user, title=found.name, **{key or what: found})


def _comparison(db, user: Principal, experiment_id: str):
    """The experiment if it is a fair comparison of optimizers; NotFound otherwise."""
    experiment = lifecycle.get_experiment(db, user, experiment_id)
    if ((experiment.request or {}).get("search") or {}).get("method") != "compare":
        raise NotFound(f"experiment {experiment_id!r} is not a comparison of optimizers")
    return experiment


@router.get("/experiments/{experiment_id}")
def experiment_page(experiment_id: str, request: Request, db: ReadSession) -> Response:
    return _object_page(request, db, lambda db, user: lifecycle.get_experiment(
        db, user, experiment_id), "experiment.html", "experiment")


@router.get("/experiments/{experiment_id}/comparison")
def comparison_page(experiment_id: str, request: Request, db: ReadSession) -> Response:
    """A comparison of optimizers: sensitivity, final curves, ranking and significance."""
    return _object_page(request, db, lambda db, user: _comparison(db, user, experiment_id),
                        "comparison.html", "comparison", key="experiment")


@router.get("/runs/{run_id}")
def run_page(run_id: str, request: Request, db: ReadSession) -> Response:
    return _object_page(request, db, lambda db, user: runs.get_run(db, user, run_id),
                        "run.html", "run")


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: pages at ``/``, sign-in at ``/login``, assets at
    ``/static``."""
    assets.mount(app)
    app.include_router(session.router)
    app.include_router(router)
