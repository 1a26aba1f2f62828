"""Benchmark the dashboard in a real browser: a real server, 100 runs x 10,000 steps, Chromium.

    python -m bench.dashboard [--cold 5] [--warm 5] [--switches 10] [--no-screenshots]

1. Data — a real server on a temporary SQLite database; one experiment of 100 runs (spiral
   dataset, MLP 100; sgd / momentum / adagrad / adam x 25 learning rates from 1e-4 to 1), each
   leased over the worker API (POST /api/v1/worker/lease) by 4 client threads, given 10,000
   steps of train_loss, val_loss and lr (noisy decaying curves from NumPy, one 10,000-point batch
   per key) and finished: 3,000,000 points. A small point-model experiment (the book's sgd /
   momentum / adagrad / adam on the anisotropic function, 30 steps) is trained by a real worker
   (``python -m worker``) for the trajectories screenshot.
2. API alone (httpx, median of 5 after a warm-up call) — what the experiment view asks for:
   GET /api/v1/experiments/{id}, GET /api/v1/runs?experiment={id}&limit=1000, and
   POST /api/v1/metrics/query for 100 runs x 1 key at max_points=400.
3. Browser — Debian's Chromium (headless, through Playwright), viewport 1400x1000:
   time to interactive of /experiments/{id}: from navigation start until the page sets
   ``body[data-ready]`` (after its first full render: tables, the curves and the lr plot; the
   parallel coordinates are drawn only once scrolled into view, as they are here before the
   metric switches), read with
   performance.now() in the page by a MutationObserver installed before any page script runs;
   the wall clock around page.goto + wait_for_selector is printed beside it. ``--cold`` loads in
   fresh browser contexts (empty HTTP cache: plotly.min.js is downloaded and compiled each time),
   after one unmeasured load that warms the server and the browser process; ``--warm`` loads in
   one context after a first load (plotly.min.js from the memory cache). Target <= 1,500 ms.
   Metric switch: choose another option of ``#metric-select``; the page fetches the new series
   (POST /api/v1/metrics/query) and redraws its three charts. Measured in the page from the
   change event until each of #curves, #lr-plot and #parcoords has emitted plotly_afterplot
   with the new metric in its title; 2 switches on every cold page, ``--switches`` on the warm
   one (each Plotly.react call's synchronous time is printed too). Target <= 500 ms. One
   more cold and one more warm load, instrumented (resource timing, when plotly.min.js has
   run, Plotly.react wrapped, long tasks), break the load time down; they are not counted.
4. Screenshots for the README: the experiment view's charts (docs/img/experiment-view.png)
   and the trajectories view (docs/img/trajectories.png).

The server (the harness's, tests/harness) adds a superuser with a token of every scope to the
database, as for the tests; the browser signs in once with its token (POST /login) and every
context gets the session's cookies, so no measured load passes through the sign-in page. Chromium here renders WebGL (the parallel-coordinates chart)
with SwiftShader, on the CPU.
A benchmark, not a test: it prints figures and exits 0 (1 if the set-up itself fails).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench._dashboard_browser import (COLD_SWITCHES, Browser, browser_figures,
                                      screenshot_trajectories)
from bench._dashboard_data import CLIENTS, KEYS, LRS, OPTIMIZERS, STEPS, fill_sweep, train_paths
from bench._format import say
from bench._stats import Samples
from tests.harness import Server, temp_database

MAX_POINTS = 400  # what the page asks for (Charts.MAX_POINTS in service/dashboard/static)
REPEATS = 5

TARGET_TTI_MS = 1500  # at most
TARGET_SWITCH_MS = 500  # at most


# -- 1: data ----------------------------------------------------------------------------------

def timed(fn, repeats: int = REPEATS) -> tuple[float, list[float], httpx.Response]:
    """Median ms of ``repeats`` calls after one warm-up call; the last response."""
    last = fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        last = fn()
        times.append((time.perf_counter() - t0) * 1000)
        last.raise_for_status()
    return statistics.median(times), times, last


@dataclass
class Figure(Samples):
    label: str
    samples: list[float]  # ms
    target: float | None = None
    note: str = ""


def api_figures(client: httpx.Client, experiment_id: str) -> list[Figure]:
    figures = []
    _, times, r = timed(lambda: client.get(f"/api/v1/experiments/{experiment_id}"))
    figures.append(Figure(f"API GET /experiments/{{id}} ({len(r.content) / 1024:.0f} KiB)",
                          times))
    _, times, r = timed(lambda: client.get("/api/v1/runs", params={
        "experiment": experiment_id, "limit": 1000}))
    runs = r.json()["runs"]
    figures.append(Figure(f"API GET /runs?experiment, {len(runs)} runs "
                          f"({len(r.content) / 1024:.0f} KiB)", times))
    payload = {"run_ids": [run["id"] for run in runs], "keys": ["val_loss"],
               "max_points": MAX_POINTS}
    _, times, r = timed(lambda: client.post("/api/v1/metrics/query", json=payload))
    series = r.json()["series"]
    sizes = [len(s["steps"]) for s in series]
    note = ("" if len(series) == len(runs) and max(sizes) <= MAX_POINTS
            and {s["total_points"] for s in series} == {STEPS}
            else f"unexpected series: {len(series)}, {min(sizes)}..{max(sizes)} points")
    figures.append(Figure(f"API POST /metrics/query {len(runs)}x1 key, {MAX_POINTS} pts "
                          f"({len(r.content) / 1024:.0f} KiB)", times, note=note))
    for f in figures:
        say(f"  {f.label}: median {f.median:.0f} ms of "
            f"{', '.join(f'{t:.0f}' for t in f.samples)}" + (f" — {f.note}" if f.note else ""))
    return figures


# -- report -----------------------------------------------------------------------------------

def verdict(value: float, target: float | None) -> str:
    return "-" if target is None else ("PASS" if value <= target else "MISS")


def table(figures: list[Figure]) -> None:
    say("\n== summary ==")
    width = max(len(f.label) for f in figures)
    say(f"{'measure':<{width}}  {'n':>3} {'median ms':>9} {'max ms':>7} {'target':>8}  verdict "
        f"(median / max)")
    for f in figures:
        target = f"<= {f.target:,.0f}" if f.target is not None else ""
        v = (f"{verdict(f.median, f.target)} / {verdict(f.max, f.target)}"
             if f.target is not None else "-")
        say(f"{f.label:<{width}}  {len(f.samples):>3} {f.median:>9.0f} {f.max:>7.0f} "
            f"{target:>8}  {v}" + (f"  ({f.note})" if f.note else ""))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cold", type=int, default=5, help="cold page loads (default 5)")
    p.add_argument("--warm", type=int, default=5, help="warm page loads (default 5)")
    p.add_argument("--switches", type=int, default=10,
                   help="metric switches on the warm page (default 10)")
    p.add_argument("--no-screenshots", action="store_true",
                   help="leave docs/img alone")
    args = p.parse_args(argv)
    if min(args.cold, args.warm, args.switches) < 1:
        p.error("--cold, --warm and --switches must be >= 1")

    t_start = time.perf_counter()
    say(f"optrack dashboard benchmark: {len(OPTIMIZERS) * len(LRS)} runs x {STEPS:,} steps x "
        f"{len(KEYS)} keys; Python {platform.python_version()}, {os.cpu_count()} CPUs, load "
        f"average {os.getloadavg()[0]:.1f}")
    figures: list[Figure] = []
    res = Browser()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="optrack-bench-dashboard-") as tmp, \
            temp_database("sqlite", tmp) as url:
        tmp = Path(tmp)
        server = Server(url, tmp, quiet=True)
        t0 = time.perf_counter()
        with server:
            say(f"  server pid {server.pid} on {server.url}, healthy after "
                f"{time.perf_counter() - t0:.1f} s")
            with httpx.Client(base_url=server.url, timeout=300.0,
                              headers=server.headers) as client:
                try:
                    token = server.token  # a superuser's, every scope
                    sweep_id, took, points = fill_sweep(server.url, client)
                    say(f"  set-up: 100 runs leased, {points:,} points uploaded in batches of "
                        f"{STEPS:,} by {CLIENTS} clients, finished: {took:.1f} s "
                        f"({points / took:,.0f} points/s)")
                    paths_id, took = train_paths(server, client, tmp)
                    say(f"  set-up: the paths experiment (4 runs x 30 steps) trained by a worker "
                        f"in {took:.1f} s")
                except Exception as exc:  # noqa: BLE001 — nothing to measure without data
                    say(f"  set-up FAILED: {type(exc).__name__}: {exc}")
                    say(server.log()[-3000:])
                    return 1
                say(f"  set-up total {time.perf_counter() - t_start:.1f} s; experiment view "
                    f"{server.url}/experiments/{sweep_id}")
                figures += api_figures(client, sweep_id)
            try:
                notes += browser_figures(server.url, sweep_id, token, args, res)
                if not args.no_screenshots:
                    notes.append(screenshot_trajectories(server.url, paths_id, token, res))
            except Exception as exc:  # noqa: BLE001 — report what was measured
                res.errors.append(f"browser run aborted: {type(exc).__name__}: {exc}")
    figures += [f for f in (
        Figure("time to interactive, cold (in page)", res.tti_cold, TARGET_TTI_MS),
        Figure("time to interactive, cold (wall clock)", res.wall_cold, TARGET_TTI_MS),
        Figure("time to interactive, warm (in page)", res.tti_warm, TARGET_TTI_MS),
        Figure("time to interactive, warm (wall clock)", res.wall_warm, TARGET_TTI_MS),
        Figure(f"metric switch, first {COLD_SWITCHES} on each cold page", res.switch_cold,
               TARGET_SWITCH_MS),
        Figure("metric switch, warm page", res.switch_warm, TARGET_SWITCH_MS),
        Figure("  of which POST /metrics/query (resource timing)", res.switch_queries),
    ) if f.samples]
    table(figures)
    for note in notes:
        say(f"  {note}")
    seen = set()
    for err in res.errors:
        if err not in seen:
            seen.add(err)
            say(f"  ! {err}")
    say(f"\ntotal {time.perf_counter() - t_start:.0f} s (load average at the end "
        f"{os.getloadavg()[0]:.1f}: other work on this machine's {os.cpu_count()} CPUs slows "
        f"every figure)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
