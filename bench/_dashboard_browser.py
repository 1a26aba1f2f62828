"""The browser part of ``bench.dashboard``: Chromium under Playwright signs in once, loads the
experiment page cold and warm, switches the charted metric, breaks a load down from in-page
probes, and takes the README's screenshots."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bench._dashboard_probes import BREAKDOWN_SCRIPT, READY_SCRIPT, SWITCH_SCRIPT, TIMINGS_SCRIPT
from bench._format import fmt_bytes, say
from tests.harness import REPO

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 1000}
COLD_SWITCHES = 2
TIMEOUT_MS = 60_000
IMG_DIR = REPO / "docs" / "img"


# Installed before any page script: performance.now() at the moment body[data-ready] is set.


@dataclass
class Browser:
    tti_cold: list[float] = field(default_factory=list)  # in-page ms
    wall_cold: list[float] = field(default_factory=list)
    tti_warm: list[float] = field(default_factory=list)
    wall_warm: list[float] = field(default_factory=list)
    switch_cold: list[float] = field(default_factory=list)
    switch_warm: list[float] = field(default_factory=list)
    switch_queries: list[float] = field(default_factory=list)  # ms of the query in a switch
    errors: list[str] = field(default_factory=list)


def watch(page, errors: list[str]) -> None:
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
    page.on("console", lambda msg: errors.append(f"console {msg.type}: {msg.text}")
            if msg.type == "error" else None)


def sign_in(browser, base: str, token: str | None) -> list[dict]:
    """The cookies of a dashboard session opened with ``token`` (none without a token); every
    context gets them, so no measured load goes through the sign-in page."""
    if token is None:
        return []
    ctx = browser.new_context()
    try:
        r = ctx.request.post(f"{base}/login", form={"token": token, "next": "/"},
                             max_redirects=0)
        if r.status != 303:
            raise RuntimeError(f"POST /login: HTTP {r.status} {r.text()[:200]}")
        return ctx.cookies()
    finally:
        ctx.close()


def new_page(browser, cookies: list[dict], res: "Browser", script: str | None = None):
    ctx = browser.new_context(viewport=VIEWPORT)
    if cookies:
        ctx.add_cookies(cookies)
    if script:
        ctx.add_init_script(script)
    page = ctx.new_page()
    watch(page, res.errors)
    return ctx, page


def load(page, url: str) -> tuple[float, float]:
    """Navigate; return (in-page ms from navigation start to body[data-ready], wall ms around
    goto + wait_for_selector)."""
    t0 = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("body[data-ready]", state="attached", timeout=TIMEOUT_MS)
    wall = (time.perf_counter() - t0) * 1000
    ready = page.evaluate("window.__bench.ready")
    return ready, wall


def to_charts(page) -> None:
    """Scroll to the charts (as someone switching metrics is) and wait until the parallel
    coordinates, drawn only while on screen, are there."""
    page.eval_on_selector("#curves", "node => node.scrollIntoView()")
    page.wait_for_function("() => (document.getElementById('parcoords').data || []).length > 0",
                           timeout=TIMEOUT_MS)


def switch(page, metric: str, res: Browser, into: list[float]) -> dict:
    out = page.evaluate(SWITCH_SCRIPT, [metric, TIMEOUT_MS])
    into.append(out["ms"])
    if out["query"]:
        res.switch_queries.append(out["query"]["end"] - out["query"]["start"])
    return out


def other_metrics(current: str):
    """train_loss, lr, val_loss, train_loss, ... never the one shown."""
    cycle = ["train_loss", "lr", "val_loss"]
    i = cycle.index(current) if current in cycle else -1
    while True:
        i = (i + 1) % len(cycle)
        yield cycle[i]


def short(name: str, base: str) -> str:
    path = name[len(base):] if name.startswith(base) else name
    return path.split("?")[0]


def breakdown(t: dict, base: str) -> list[str]:
    """Lines describing one instrumented load."""
    lines = [f"HTML response end {t['responseEnd']:.0f} ms, DOMContentLoaded "
             f"{t['domContentLoaded']:.0f} ms, load {t['load']:.0f} ms, ready "
             f"{t['ready']:.0f} ms"]
    for r in sorted(t["resources"], key=lambda r: r["start"]):
        lines.append(f"  {short(r['name'], base):<44} {r['start']:6.0f} -> {r['end']:6.0f} ms "
                     f"({r['end'] - r['start']:4.0f} ms, first byte after "
                     f"{r['responseStart'] - r['start']:3.0f} ms, {fmt_bytes(r['size'])})")
    plotly = next((r for r in t["resources"] if "plotly.min.js" in r["name"]), None)
    if plotly and t["plotlyAt"]:
        lines.append(f"plotly.min.js evaluated at {t['plotlyAt']:.0f} ms: "
                     f"{t['plotlyAt'] - plotly['end']:.0f} ms of compile + run after its download")
    if t["react"]:
        lines.append("Plotly.react (synchronous part): " + ", ".join(
            f"#{c['id']} at {c['start']:.0f} ms took {c['ms']:.0f} ms" for c in t["react"]))
    if t["longtasks"]:
        lines.append("long tasks (> 50 ms): " + ", ".join(
            f"{lt['start']:.0f}+{lt['ms']:.0f}" for lt in t["longtasks"]) + " ms")
    return lines


def browser_figures(base: str, experiment_id: str, token: str | None, args,
                    res: Browser) -> list[str]:
    from playwright.sync_api import sync_playwright

    url = f"{base}/experiments/{experiment_id}"
    notes: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            cookies = sign_in(browser, base, token)
            say(f"  Chromium {browser.version}, headless, viewport "
                f"{VIEWPORT['width']}x{VIEWPORT['height']}"
                + ("; signed in with the bench token (session cookie in every context)"
                   if cookies else ""))

            def context(script: str = READY_SCRIPT):
                return new_page(browser, cookies, res, script)

            # warm the server and the browser process; not counted
            ctx, page = context()
            ready, wall = load(page, url)
            ctx.close()
            say(f"  first load (not counted): {ready:.0f} ms in page, {wall:.0f} ms wall")

            for i in range(args.cold):
                ctx, page = context()
                ready, wall = load(page, url)
                res.tti_cold.append(ready)
                res.wall_cold.append(wall)
                metric = page.eval_on_selector("#metric-select", "s => s.value")
                picks = other_metrics(metric)
                to_charts(page)
                switches = [switch(page, next(picks), res, res.switch_cold)
                            for _ in range(COLD_SWITCHES)]
                ctx.close()
                took = ", ".join(f"{s['ms']:.0f}" for s in switches)
                say(f"  cold load {i + 1}: ready {ready:.0f} ms in page ({wall:.0f} ms wall); "
                    f"switches {took} ms")

            ctx, page = context()
            try:
                load(page, url)  # fills the cache
                for i in range(args.warm):
                    ready, wall = load(page, url)
                    res.tti_warm.append(ready)
                    res.wall_warm.append(wall)
                say(f"  warm loads: ready {', '.join(f'{t:.0f}' for t in res.tti_warm)} ms in "
                    f"page ({', '.join(f'{t:.0f}' for t in res.wall_warm)} ms wall)")
                metric = page.eval_on_selector("#metric-select", "s => s.value")
                picks = other_metrics(metric)
                to_charts(page)
                details = []
                for _ in range(args.switches):
                    m = next(picks)
                    out = switch(page, m, res, res.switch_warm)
                    q = out["query"]
                    react = ", ".join(f"#{gd} {ms:.0f}" for gd, ms in out["react"])
                    details.append(f"{m}: {out['ms']:.0f} ms, next frame {out['painted']:.0f} ms" + (
                        f" (metrics/query {q['start']:.0f} -> {q['end']:.0f} ms" if q
                        else " (no metrics/query") + f"; Plotly.react {react})")
                say("  warm switches, from the change event to the last chart's plotly_afterplot:")
                for d in details:
                    say(f"    {d}")
                if not args.no_screenshots:
                    page.goto(url)
                    page.wait_for_selector("body[data-ready]", state="attached",
                                           timeout=TIMEOUT_MS)
                    to_charts(page)
                    page.wait_for_timeout(500)
                    IMG_DIR.mkdir(parents=True, exist_ok=True)
                    charts = page.locator("section", has=page.locator("#curves"))
                    charts.screenshot(path=str(IMG_DIR / "experiment-view.png"))
                    traces = page.evaluate("document.getElementById('curves').data.length")
                    notes.append(f"docs/img/experiment-view.png: the charts section, "
                                 f"{traces} curves")
            finally:
                ctx.close()

            for kind in ("cold", "warm"):
                ctx, page = context(READY_SCRIPT + BREAKDOWN_SCRIPT)
                try:
                    if kind == "warm":
                        load(page, url)
                    load(page, url)
                    page.wait_for_timeout(300)
                    t = page.evaluate(TIMINGS_SCRIPT)
                finally:
                    ctx.close()
                say(f"  one more {kind} load, instrumented (not counted):")
                for line in breakdown(t, base):
                    say(f"    {line}")
        finally:
            browser.close()
    return notes


def screenshot_trajectories(base: str, experiment_id: str, token: str | None,
                            res: Browser) -> str:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            ctx, page = new_page(browser, sign_in(browser, base, token), res)
            page.goto(f"{base}/trajectories?experiment={experiment_id}")
            page.wait_for_selector("body[data-ready]", state="attached", timeout=TIMEOUT_MS)
            page.wait_for_timeout(500)
            IMG_DIR.mkdir(parents=True, exist_ok=True)
            page.locator("main").screenshot(path=str(IMG_DIR / "trajectories.png"))
            n = page.evaluate("[...document.querySelectorAll('.trajectory-plot')]"
                              ".reduce((n, gd) => n + gd.data.length, 0)")
            ctx.close()
        finally:
            browser.close()
    return f"docs/img/trajectories.png: {n} traces (contour, paths, minimum)"
