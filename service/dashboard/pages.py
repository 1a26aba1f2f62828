"""The dashboard's pages. Each is a shell: the server names the object and the script; the
script fetches what it shows from the JSON API, so every view reads the same downsampled data
the API serves and nothing is rendered twice."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from ..deps import ReadSession
from ..models import Experiment, Run
from . import assets

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals["asset"] = assets.url
router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _page(request: Request, template: str, status_code: int = 200, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _missing(request: Request, what: str) -> HTMLResponse:
    return _page(request, "missing.html", status_code=404, what=what)


@router.get("/")
def experiments_page(request: Request) -> HTMLResponse:
    return _page(request, "experiments.html", title="Experiments")


@router.get("/experiments/{experiment_id}")
def experiment_page(experiment_id: str, request: Request, session: ReadSession) -> HTMLResponse:
    experiment = session.get(Experiment, experiment_id)
    if experiment is None:
        return _missing(request, "experiment")
    return _page(request, "experiment.html", title=experiment.name, experiment=experiment)


@router.get("/runs/{run_id}")
def run_page(run_id: str, request: Request, session: ReadSession) -> HTMLResponse:
    run = session.get(Run, run_id)
    if run is None:
        return _missing(request, "run")
    return _page(request, "run.html", title=run.name, run=run)


@router.get("/compare")
def compare_page(request: Request) -> HTMLResponse:
    return _page(request, "compare.html", title="Compare runs")


@router.get("/trajectories")
def trajectories_page(request: Request) -> HTMLResponse:
    return _page(request, "trajectories.html", title="Optimizer trajectories")


@router.get("/new")
def new_experiment_page(request: Request) -> HTMLResponse:
    return _page(request, "new.html", title="New experiment")


def install(app: FastAPI) -> None:
    """Serve the dashboard from ``app``: pages at ``/``, assets at ``/static``."""
    assets.mount(app)
    app.include_router(router)
