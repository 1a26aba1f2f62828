"""Browser tests of the dashboard: a real server and real workers per engine, driven by a real
(headless) Chromium through Playwright.

``dashboard`` (module-scoped, parametrized over SQLite and PostgreSQL through
``module_db_url``) starts ``uvicorn service.app:app_from_env`` and two ``python -m worker``
processes (the harness's ``Server`` makes a superuser's token for the API and a worker token
for the workers), submits a few small experiments — the book's trajectory
experiment on a point model, a 2 × 2 learning-rate grid of MLPs on a tiny spiral, and an
external run that failed — and waits for every run to end before the first test.

``browser`` is one headless Chromium for the session (Debian's, at ``/usr/bin/chromium``; never
downloaded). ``page`` is a fresh context (empty localStorage) per test, signed in with the
module's one browser session (opened with the superuser's token through ``POST /login``); its
console errors and uncaught page errors fail the test, and ``console.allow(pattern)`` admits
an error the test provokes on purpose (a 422 it asks for). ``shot(page, dashboard, view)``
saves a full-page screenshot as ``test-output/dashboard/<engine>/<view>.png``."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from ..harness import REPO, Server, Workers
from ..worker.conftest import DEFAULT_SETTINGS, SPIRAL

CHROMIUM = os.environ.get("OPTRACK_TEST_CHROMIUM", "/usr/bin/chromium")
OUTPUT = REPO / "test-output" / "dashboard"
READY = "body[data-ready]"
TIMEOUT_MS = 15_000   # a page's own loads and re-renders
LIVE_TIMEOUT_MS = 60_000  # a run trained by a worker while the page watches

expect.set_options(timeout=TIMEOUT_MS)

# the experiments every module starts with
PATHS = {"name": "paths", "tags": ["ch6", "trajectory"],
         "model": {"kind": "point", "function": "anisotropic"},
         "optimizer": [{"name": "sgd", "lr": 0.95, "convention": "book"},
                       {"name": "momentum", "lr": 0.1, "convention": "book"},
                       {"name": "adagrad", "lr": 1.5, "convention": "book"},
                       {"name": "adam", "lr": 0.3, "convention": "book"}],
         "training": {"steps": 30}}
GRID = {"name": "spiral grid", "tags": ["small"], "dataset": SPIRAL,
        "model": {"kind": "mlp", "hidden": [16]},
        "optimizer": [{"name": "sgd", "lr": [0.1, 0.01]}, {"name": "adam", "lr": [0.01, 0.001]}],
        "training": {"epochs": 2}}
FAILED_ERROR = "RuntimeError: CUDA out of memory (an external trainer's own words)"

# Chromium's software WebGL (plotly's parcoords) reports performance notes on the console
BENIGN_CONSOLE = [re.compile(r"GPU stall due to ReadPixels")]


@dataclass
class Dashboard:
    """The module's server with its finished experiments."""

    server: Server
    engine: str
    experiments: dict[str, str]            # name → experiment id
    runs: dict[str, list[dict[str, Any]]]  # experiment name → its runs (API objects), in order
    failed_run: dict[str, Any]

    @property
    def url(self) -> str:
        return self.server.url

    def run_named(self, experiment: str, optimizer: str, lr: float) -> dict[str, Any]:
        found = [r for r in self.runs[experiment]
                 if r["config"]["optimizer"]["name"] == optimizer
                 and r["config"]["optimizer"]["lr"] == lr]
        assert len(found) == 1, (experiment, optimizer, lr, found)
        return found[0]


@pytest.fixture(scope="module")
def dashboard(module_db_url, tmp_path_factory) -> Iterator[Dashboard]:
    engine = "sqlite" if module_db_url.startswith("sqlite") else "postgresql"
    data_dir = tmp_path_factory.mktemp(f"dashboard-{engine}")
    srv = Server(module_db_url, data_dir, dict(DEFAULT_SETTINGS), name="server", shared=True)
    pool = Workers(data_dir)
    try:
        srv.start(wait=False)
        pool(srv, 2)  # the workers import while the API starts (they retry until it answers)
        srv.wait_ready()
        paths = srv.submit(PATHS)
        grid = srv.submit(GRID)
        failed = _failed_external_run(srv)
        ended = srv.wait_ended(paths + grid, timeout=120)
        bad = {k: (r["status"], r["error"]) for k, r in ended.items() if r["status"] != "succeeded"}
        assert not bad, f"set-up runs did not succeed: {bad}\n{srv.log()[-3000:]}"
        experiments = {PATHS["name"]: ended[paths[0]]["experiment_id"],
                       GRID["name"]: ended[grid[0]]["experiment_id"]}
        yield Dashboard(srv, engine, experiments,
                        {PATHS["name"]: [ended[r] for r in paths],
                         GRID["name"]: [ended[r] for r in grid]}, failed)
    finally:
        pool.stop()  # SIGTERM first: no lease call is left pending in the server
        srv.stop()


def _failed_external_run(srv: Server) -> dict[str, Any]:
    """An external run that logged a few points and then failed with an error text."""
    response = srv.api.post("/api/v1/runs", json={
        "name": "external trainer", "tags": ["external"],
        "config": {"optimizer": {"name": "adam", "lr": 0.001}, "note": "trained elsewhere"}})
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    points = [{"key": "train_loss", "step": s, "value": 2.0 / (s + 1)} for s in range(10)]
    response = srv.api.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points})
    assert response.status_code < 300, response.text
    response = srv.api.post(f"/api/v1/runs/{run_id}/finish",
                            json={"status": "failed", "error": FAILED_ERROR})
    assert response.status_code == 200, response.text
    return response.json()


# -- the browser -------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"no Chromium at {CHROMIUM}: the dashboard tests drive Debian's Chromium "
                    f"(`apt-get install chromium`), or set OPTRACK_TEST_CHROMIUM to another "
                    f"Chromium executable. Do not run `playwright install`.", pytrace=False)
    with sync_playwright() as p:
        try:
            chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        except Exception as exc:
            pytest.fail(f"Chromium at {CHROMIUM} did not start: {exc}", pytrace=False)
        yield chromium
        chromium.close()


@dataclass
class Console:
    """Console errors and uncaught exceptions of one page; a test may allow expected ones."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture(scope="module")
def session_cookies(browser, dashboard) -> list[dict[str, Any]]:
    """The cookies of one dashboard session, opened with the superuser's API token as the
    sign-in page's form would (once per module: sign-ins are rate-limited per address)."""
    context = browser.new_context(base_url=dashboard.url)
    try:
        response = context.request.post("/login", form={"token": dashboard.server.token,
                                                        "next": "/"}, max_redirects=0)
        assert response.status == 303, (response.status, response.text()[:500])
        cookies = context.cookies()
    finally:
        context.close()
    assert {c["name"] for c in cookies} >= {"optrack_session", "optrack_csrf"}, cookies
    return cookies


def new_context(browser: Browser, dashboard: Dashboard, cookies: list[dict[str, Any]] = ()):
    context = browser.new_context(base_url=dashboard.url, viewport={"width": 1280, "height": 900})
    if cookies:
        context.add_cookies(list(cookies))
    return context


def watch(pg: Page, console: Console) -> Page:
    """Collect ``pg``'s console errors and uncaught exceptions into ``console``."""
    def on_console(message):
        if message.type == "error" and not any(p.search(message.text) for p in BENIGN_CONSOLE):
            where = message.location or {}
            console.errors.append(f"console.error at {pg.url} ({where.get('url', '')}:"
                                  f"{where.get('lineNumber', '')}): {message.text}")

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: console.errors.append(f"page error at {pg.url}: {exc}"))
    pg.set_default_timeout(TIMEOUT_MS)
    return pg


@pytest.fixture
def page(browser, dashboard, session_cookies, console) -> Iterator[Page]:
    """A fresh, signed-in browser context on the module's server (``page.goto("/")`` works)."""
    context = new_context(browser, dashboard, session_cookies)
    pg = watch(context.new_page(), console)
    try:
        yield pg
    finally:
        context.close()
    unexpected = console.unexpected()
    assert not unexpected, "the page logged errors:\n" + "\n".join(unexpected)


def open_view(page: Page, path: str) -> Page:
    """Navigate to ``path`` and wait until the view has rendered its first load."""
    response = page.goto(path)
    assert response is not None and response.ok, (path, response and response.status)
    page.wait_for_selector(READY, state="attached")
    return page


def shot(page: Page, dashboard: Dashboard, view: str) -> Path:
    """A full-page screenshot of the current view for a person to look at."""
    path = OUTPUT / dashboard.engine / f"{view}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000, f"{path} looks empty"
    return path


def traces(page: Page, selector: str) -> list[dict[str, Any]]:
    """The plotly traces drawn in the chart ``selector`` (only the fields tests look at).

    Each must have been drawn as its own type: plotly turns a trace whose type its bundle lacks
    (``scripts/plotly-bundle/entry.js`` registers the dashboard's) into an invisible scatter."""
    found = page.eval_on_selector(selector, """node => (node.data || []).map((t, i) => ({
        type: t.type || 'scatter', name: t.name === undefined ? null : t.name,
        x: t.x ? Array.from(t.x) : [], y: t.y ? Array.from(t.y) : [],
        run: t.customdata ? t.customdata[0] : null,
        drawn_as: node._fullData && node._fullData[i] && node._fullData[i].visible !== false
            ? node._fullData[i].type : null }))""")
    for trace in found:
        assert trace.pop("drawn_as") == trace["type"], f"{selector}: a {trace['type']} trace not drawn"
    return found


def wait_for_traces(page: Page, selector: str, count: int) -> list[dict[str, Any]]:
    """Wait until the chart has exactly ``count`` traces; return them."""
    page.wait_for_function("([sel, n]) => { const node = document.querySelector(sel);"
                           " return !!node && Array.isArray(node.data)"
                           " && node.data.length === n; }", arg=[selector, count])
    return traces(page, selector)


def row_ids(page: Page, selector: str, attribute: str) -> list[str]:
    return page.eval_on_selector_all(selector,
                                     "(rows, name) => rows.map(r => r.getAttribute(name))",
                                     attribute)


