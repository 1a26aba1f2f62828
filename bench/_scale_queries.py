"""What bench/scale.py measures on the loaded database: the API's own endpoints over HTTP
(httpx, one keep-alive client), and the experiment page in Chromium."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import httpx
from sqlalchemy import text

from bench._dashboard_probes import READY_SCRIPT
from bench._stats import Samples
from tests.harness import make_engine

from ._scale_load import RUNS_PER_EXPERIMENT, SEEDS_PER_EXPERIMENT

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 120_000
HISTORY_RUNS, HISTORY_POINTS = 100, 400  # what a compare chart asks for (the dashboard's)
LISTED = ("optimizer.name = 'adam' and metrics.val_loss < 0.3", "metrics.val_loss")
# (label, target ms)
FIGURES = (("runs: filtered, ordered by a metric, first page", 100),
           ("runs: config-path filter (training.seed = s)", 200),
           ("histories: 100 runs x val_loss, max_points 400", 300),
           ("experiment page, 1,000 runs, Chromium cold", 2000),
           ("experiment page, 1,000 runs, Chromium warm", 2000))


@dataclass
class Figure(Samples):
    label: str
    target: float
    samples: list[float] = field(default_factory=list)
    note: str = ""

    def line(self) -> str:
        flag = "meets" if self.median <= self.target else "MISSES"
        return (f"  {self.label:<50} median {self.median:7.1f} ms  p10–p90 "
                f"{self.quantile(0.1):.1f}–{self.quantile(0.9):.1f}  min–max "
                f"{self.min:.1f}–{self.max:.1f}  (n={len(self.samples)}; target ≤ "
                f"{self.target:.0f} ms: {flag}){self.note}")


def sample_run_ids(url: str, n: int, seed: int = 0) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ids = list(conn.scalars(text("SELECT id FROM runs ORDER BY id")))
    finally:
        engine.dispose()
    return random.Random(seed).sample(ids, min(n, len(ids)))


def experiment_id(url: str, name: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.scalar(text("SELECT id FROM experiments WHERE name = :n"), {"n": name})
    finally:
        engine.dispose()


def _timed(call) -> tuple[float, httpx.Response]:
    t0 = time.perf_counter()
    r = call()
    ms = (time.perf_counter() - t0) * 1000
    r.raise_for_status()
    return ms, r


def api_figures(client: httpx.Client, url: str, runs: int, repeats: int,
                warmup: int = 3) -> list[Figure]:
    """The three API figures, interleaved: each round runs each query once, in a rotating
    order; seeds and run ids are drawn afresh every round."""
    figures = [Figure(label, target) for label, target in FIGURES[:3]]
    pool = sample_run_ids(url, HISTORY_RUNS * (repeats + warmup))
    rng = random.Random(1)
    seeds = runs // RUNS_PER_EXPERIMENT * SEEDS_PER_EXPERIMENT
    matched = []

    def listed():
        return client.get("/api/v1/runs", params={"filter": LISTED[0], "order_by": LISTED[1],
                                                  "limit": 50})

    def by_seed():
        return client.get("/api/v1/runs", params={
            "filter": f"training.seed = {rng.randrange(seeds)}", "limit": 50})

    def histories(i: int):
        ids = pool[i * HISTORY_RUNS:(i + 1) * HISTORY_RUNS]
        return client.post("/api/v1/metrics/query", json={
            "run_ids": ids, "keys": ["val_loss"], "max_points": HISTORY_POINTS})

    for i in range(repeats + warmup):
        calls = [listed, by_seed, lambda: histories(i)]
        order = [(i + k) % 3 for k in range(3)]
        for k in order:
            ms, r = _timed(calls[k])
            if i >= warmup:
                figures[k].samples.append(ms)
            if k < 2:
                matched.append((k, len(r.json()["runs"])))
    for k in range(2):
        got = [n for j, n in matched if j == k]
        figures[k].note = f"; {min(got)}–{max(got)} runs on the page"
    return figures


def browser_figures(base: str, token: str, exp_id: str, repeats: int) -> list[Figure]:
    """Time to interactive of /experiments/{id} (navigation start → body[data-ready], read in
    the page, as bench/dashboard.py): ``repeats`` cold loads (fresh contexts) after one
    unmeasured load, then ``repeats`` warm loads in one context."""
    from playwright.sync_api import sync_playwright

    from bench.dashboard import load, sign_in

    cold, warm = (Figure(label, target) for label, target in FIGURES[3:])
    page_url = f"{base}/experiments/{exp_id}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        try:
            cookies = sign_in(browser, base, token)

            def context():
                ctx = browser.new_context(viewport=VIEWPORT)
                ctx.add_cookies(cookies)
                ctx.add_init_script(READY_SCRIPT)
                return ctx, ctx.new_page()

            for i in range(repeats + 1):
                ctx, page = context()
                page.set_default_timeout(TIMEOUT_MS)
                ready, _wall = load(page, page_url)
                if i:
                    cold.samples.append(ready)
                ctx.close()
            ctx, page = context()
            page.set_default_timeout(TIMEOUT_MS)
            load(page, page_url)
            for _ in range(repeats):
                warm.samples.append(load(page, page_url)[0])
            ctx.close()
        finally:
            browser.close()
    return [cold, warm]
