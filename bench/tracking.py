"""Benchmark the tracking service end to end: a real server subprocess, real HTTP, a real database.

    python -m bench.tracking [--engines sqlite,postgresql] [--points 1000000] [--skip-runs-query]
                             [--server-processes N]

For each engine (SQLite in a temporary directory; PostgreSQL in a fresh database
``optrack_bench_<random>`` created on the server OPTRACK_TEST_PG_URL names, by default
127.0.0.1:5432, and dropped afterwards) it starts
``python -m uvicorn --factory service.app:app_from_env`` and measures:

1. ingest — 4 client threads (one httpx.Client each) POST /api/v1/runs/{id}/metrics with
   10,000-point batches, pre-serialised, to external runs; points/s = points stored / wall
   time. Target >= 100,000 points/s. No batch starts after --ingest-seconds (default 30), so a
   slow server cannot blow the time budget; the rate is over what was stored.
2. server memory — VmRSS of the server process every 0.2 s during ingestion: start (after one
   warm-up round of concurrent batches), max, end; flat if max - start < 50 MB.
3. history — POST /api/v1/metrics/query for 100 runs x 10,000 steps of one key with
   max_points=1000 (the ingest runs are reused; the rest go through the API too, unless that
   would take more than --fill-seconds at the measured ingest rate, when this process stores
   them through the service's own ingest function, rollups included, and the output says
   so): median of 5 calls, target <= 300 ms; each series must come back with <= 1000 points
   and total_points 10,000.
4. runs query — 100,000 runs bulk-inserted with SQLAlchemy Core (varied configs, a
   val_accuracy for most), ANALYZE, then GET /api/v1/runs?filter=optimizer = 'adam' and
   metrics.val_accuracy >= 0.5&order_by=metrics.val_accuracy desc&limit=50: median of 5 calls,
   target <= 100 ms. Reported "not available" if service.query is missing or the route errors.

Also printed: the server's CPU use during ingestion, the database size. Around 4-5 minutes for
both engines on 2 cores. A benchmark, not a test: it prints figures, asserts nothing and exits 0.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx

from tests.harness import (DatabaseUnavailable, Server, database_bytes, make_engine,
                           record_metrics, temp_database)

from ._bulk_runs import bulk_insert_runs
from ._format import say
from ._tracking_load import KEY, RssSampler, create_runs, metric_bodies, post_batches

BATCH = 10_000
CLIENTS = 4
HISTORY_RUNS = 100
HISTORY_STEPS = BATCH  # the ingest runs are reused for the history
HISTORY_MAX_POINTS = 1000
RUNS_QUERY_RUNS = 100_000
REPEATS = 5
RUNS_FILTER = "optimizer = 'adam' and metrics.val_accuracy >= 0.5"
RUNS_ORDER = "metrics.val_accuracy desc"

TARGET_INGEST = 100_000  # points/s, at least
TARGET_RSS_GROWTH_MB = 50  # at most, after warm-up
TARGET_HISTORY_MS = 300  # at most
TARGET_RUNS_QUERY_MS = 100  # at most

MB = 1024 * 1024


@dataclass
class Result:
    engine: str
    ingest_pps: float | None = None
    ingest_note: str = ""
    rss: tuple[float, float, float] | None = None  # start, max, end (MB)
    history_ms: float | None = None
    history_note: str = ""
    runs_query_ms: float | None = None
    runs_query_note: str = ""
    notes: list[str] = field(default_factory=list)


# -- 1 + 2: ingest under a memory sampler -----------------------------------------------------

def ingest(server: Server, client: httpx.Client, args, res: Result) -> list[str]:
    """Measure ingestion of ``args.points`` points (or as many as fit in
    ``args.ingest_seconds``); return the ids of the runs that got steps 0..BATCH-1 of KEY
    (reused for the history)."""
    points = args.points
    n_full, rest = divmod(points, BATCH)
    bodies = metric_bodies(BATCH)
    tail = metric_bodies(rest, variants=1)[0] if rest else None
    warm_ids = create_runs(client, CLIENTS, "bench-warmup", "warm-up")
    run_ids = create_runs(client, n_full + (1 if rest else 0), "bench", "ingest")
    jobs = [(rid, bodies[i % len(bodies)], BATCH) for i, rid in enumerate(run_ids[:n_full])]
    if tail is not None:
        jobs.append((run_ids[-1], tail, rest))

    sampler = RssSampler(server)
    sampler.start()
    idle = server.rss_bytes()
    # warm-up: one concurrent round, so the allocator and the pool reach their working size
    warm_s, _, _, warm_err = post_batches(server, [(r, bodies[0], BATCH) for r in warm_ids],
                                          CLIENTS)
    time.sleep(0.3)
    t_start = time.perf_counter()
    start = server.rss_bytes()
    cpu0 = server.cpu_seconds()
    wall, stored, done_ids, errors = post_batches(server, jobs, CLIENTS, args.ingest_seconds)
    cpu1 = server.cpu_seconds()
    sampler.stop()
    end = server.rss_bytes()

    during = [rss for t, rss in sampler.samples if t >= t_start]
    peak = max(during + [start or 0, end or 0])
    res.rss = ((start or 0) / MB, peak / MB, (end or 0) / MB)
    say(f"  warm-up: {CLIENTS} x {BATCH:,} points in {warm_s:.2f} s"
        + (f" ({len(warm_err)} errors: {warm_err[0]})" if warm_err else ""))
    if errors or not stored:
        res.ingest_note = (f"{len(errors)} of {len(jobs)} batches failed: "
                           f"{errors[0] if errors else 'nothing stored'}")
        say(f"  ingest: FAILED — {res.ingest_note}")
    else:
        res.ingest_pps = stored / wall
        capped = (f" (stopped at the {args.ingest_seconds:.0f} s cap: {stored:,} of {points:,} "
                  f"points)" if stored < points else "")
        say(f"  ingest: {stored:,} points in {len(done_ids)} batches of <= {BATCH:,}, {CLIENTS} "
            f"clients: {wall:.2f} s = {stored / wall:,.0f} points/s "
            f"({wall / len(done_ids) * CLIENTS * 1000:.0f} ms per batch per client){capped}")
        if cpu0 is not None and cpu1 is not None:
            say(f"  server CPU during ingest: {cpu1 - cpu0:.1f} s = {(cpu1 - cpu0) / wall:.0%} "
                f"of one core ({(cpu1 - cpu0) / stored * 1e6:.1f} us per point)")
    growth = (peak - (start or 0)) / MB
    say(f"  server RSS: idle {(idle or 0) / MB:.1f} MB, after warm-up {res.rss[0]:.1f} MB, "
        f"max {res.rss[1]:.1f} MB, end {res.rss[2]:.1f} MB ({len(during)} samples); growth "
        f"after warm-up {growth:+.1f} MB -> "
        f"{'flat' if growth < TARGET_RSS_GROWTH_MB else 'NOT flat'} "
        f"(< {TARGET_RSS_GROWTH_MB} MB)")
    full = set(run_ids[:n_full])
    return [rid for rid in done_ids if rid in full]


# -- 3: history -------------------------------------------------------------------------------

def timed(fn, repeats: int = REPEATS) -> tuple[float, list[float], object]:
    """Median ms of ``repeats`` calls after a warm-up call (caches, prepared statements, the
    first connection); a warm-up slower than 1 s counts as the first sample, as warming cannot
    matter at that scale and the budget is short."""
    t0 = time.perf_counter()
    last = fn()
    first = (time.perf_counter() - t0) * 1000
    times = [first] if first > 1000 else []
    while len(times) < repeats:
        t0 = time.perf_counter()
        last = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), times, last


def load_history_in_process(database_url: str, run_ids: list[str], body: bytes) -> float:
    """Store ``body``'s points for each run as the API would (metrics, latest values and the
    rollups the history is read from), without the HTTP round trips; return the seconds
    taken."""
    points = [(p["key"], p["step"], p["value"], p["time"]) for p in json.loads(body)["metrics"]]
    engine = make_engine(database_url)
    t0 = time.perf_counter()
    try:
        for run_id in run_ids:
            record_metrics(engine, run_id, points)
    finally:
        engine.dispose()
    return time.perf_counter() - t0


def history(server: Server, client: httpx.Client, database_url: str, full_runs: list[str],
            ingest_pps: float | None, args, res: Result) -> None:
    run_ids = full_runs[:HISTORY_RUNS]  # BATCH == HISTORY_STEPS: each got steps 0..9,999
    if len(run_ids) < HISTORY_RUNS:
        missing = HISTORY_RUNS - len(run_ids)
        new = create_runs(client, missing, "bench-history", "history")
        body = metric_bodies(HISTORY_STEPS, variants=1)[0]
        estimate = missing * HISTORY_STEPS / ingest_pps if ingest_pps else math.inf
        if estimate <= args.fill_seconds:
            wall, _, _, errors = post_batches(server, [(r, body, HISTORY_STEPS) for r in new],
                                              CLIENTS)
            if errors:
                res.history_note = f"insert failed: {errors[0]}"
                say(f"  history: not measured — {res.history_note}")
                return
            say(f"  history: {len(run_ids)} ingest runs reused, {missing} more x "
                f"{HISTORY_STEPS:,} steps inserted through the API in {wall:.1f} s")
        else:
            # the API is too slow to load the rest within the time budget; the same ingest
            # function stores the same rows either way
            took = load_history_in_process(database_url, new, body)
            note = (f"{missing} of {HISTORY_RUNS} history runs stored by this process through "
                    f"the service's ingest function ({took:.1f} s): the API at "
                    f"{ingest_pps or 0:,.0f} points/s "
                    f"would need ~{estimate:.0f} s (> --fill-seconds {args.fill_seconds:.0f})")
            res.notes.append(note)
            say(f"  history: {note}")
        run_ids += new
    else:
        say(f"  history: reusing {HISTORY_RUNS} ingest runs x {HISTORY_STEPS:,} steps of {KEY!r}")
    payload = {"run_ids": run_ids, "keys": [KEY], "max_points": HISTORY_MAX_POINTS}

    def call():
        return client.post("/api/v1/metrics/query", json=payload)

    median, times, r = timed(call)
    if r.status_code != 200:
        res.history_note = f"HTTP {r.status_code}: {r.text[:200]}"
        say(f"  history: FAILED — {res.history_note}")
        return
    series = r.json()["series"]
    sizes = [len(s["steps"]) for s in series] or [0]
    totals = sorted({s["total_points"] for s in series})
    ok = (len(series) == HISTORY_RUNS and max(sizes) <= HISTORY_MAX_POINTS
          and min(sizes) > 0 and totals == [HISTORY_STEPS])
    res.history_ms = median
    if not ok:
        res.history_note = (f"unexpected series: {len(series)} series, {min(sizes)}.."
                            f"{max(sizes)} points, total_points {totals}")
    say(f"  history: {len(series)} series, {min(sizes)}..{max(sizes)} points each "
        f"(<= {HISTORY_MAX_POINTS}: {'yes' if max(sizes) <= HISTORY_MAX_POINTS else 'NO'}), "
        f"total_points {totals}, {len(r.content) / 1024:.0f} KiB; "
        f"median {median:.0f} ms of {', '.join(f'{t:.0f}' for t in times)}")


# -- 4: runs query over 100,000 runs ----------------------------------------------------------

def runs_query(server: Server, client: httpx.Client, database_url: str, res: Result) -> None:
    t_insert, t_analyze, expected = bulk_insert_runs(database_url, RUNS_QUERY_RUNS)
    say(f"  runs query: {RUNS_QUERY_RUNS:,} runs bulk-inserted in {t_insert:.1f} s, "
        f"ANALYZE {t_analyze:.1f} s; {expected:,} adam runs have val_accuracy >= 0.5")
    params = {"filter": RUNS_FILTER, "order_by": RUNS_ORDER, "limit": 50}

    def call():
        return client.get("/api/v1/runs", params=params)

    try:
        median, times, r = timed(call)
    except httpx.HTTPError as exc:
        res.runs_query_note = f"{type(exc).__name__}: {exc}"
        say(f"  runs query: not available ({res.runs_query_note})")
        return
    if r.status_code != 200:
        try:
            msg = r.json()["error"]["message"]
        except Exception:  # noqa: BLE001
            msg = r.text[:200]
        res.runs_query_note = f"HTTP {r.status_code}: {msg}"
        say(f"  runs query: not available ({res.runs_query_note})")
        return
    page = r.json()
    runs = page["runs"]
    accs = [run["metrics"].get("val_accuracy") for run in runs]
    good = (len(runs) == min(50, expected)
            and all(run["config"]["optimizer"]["name"] == "adam" for run in runs)
            and all(isinstance(a, (int, float)) and a >= 0.5 for a in accs)
            and accs == sorted(accs, reverse=True))
    if not good:
        res.runs_query_note = "the page does not match the filter/order"
    res.runs_query_ms = median
    say(f"  runs query: GET /api/v1/runs?filter={RUNS_FILTER}&order_by={RUNS_ORDER}&limit=50 "
        f"-> {len(runs)} runs (adam, val_accuracy "
        f"{f'{accs[0]:.3f}..{accs[-1]:.3f}' if good and accs else accs[:3]}, "
        f"{'consistent' if good else 'INCONSISTENT'}), next_page_token "
        f"{'yes' if page.get('next_page_token') else 'no'}; median {median:.0f} ms of "
        f"{', '.join(f'{t:.0f}' for t in times)}")


# -- engines ----------------------------------------------------------------------------------

def bench_engine(engine: str, args) -> Result:
    res = Result(engine)
    say(f"\n== {engine} ==")
    with ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="optrack-bench-"))
        try:
            url = stack.enter_context(temp_database(engine, tmp, prefix="optrack_bench"))
        except DatabaseUnavailable as exc:  # no PostgreSQL here is a result, not a crash
            res.notes.append(f"database unavailable: {exc}")
            say(f"  {engine}: not available ({res.notes[-1]})")
            return res
        try:
            t0 = time.perf_counter()
            server = stack.enter_context(Server(url, tmp, quiet=True,
                                                processes=args.server_processes))
            say(f"  server pid {server.pid} ({args.server_processes} API process(es)) on "
                f"{server.url}, healthy after {time.perf_counter() - t0:.1f} s ({url})")
            with httpx.Client(base_url=server.url, headers=server.headers,
                              timeout=300.0) as client:
                full_runs = ingest(server, client, args, res)
                history(server, client, url, full_runs, res.ingest_pps, args, res)
                if args.skip_runs_query:
                    res.runs_query_note = "skipped (--skip-runs-query)"
                    say("  runs query: skipped (--skip-runs-query)")
                else:
                    runs_query(server, client, url, res)
            say(f"  database size: {database_bytes(url) / MB:.0f} MB")
        except Exception as exc:  # noqa: BLE001 — report and go on with the next engine
            res.notes.append(f"{type(exc).__name__}: {exc}")
            say(f"  {engine}: aborted — {res.notes[-1]}")
    return res


# -- report -----------------------------------------------------------------------------------

def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("PASS" if ok else "MISS")


def table(results: list[Result]) -> None:
    say("\n== summary ==")
    head = (f"{'engine':<11} {'ingest pts/s':>13} {'':4}  {'RSS start/max/end MB':>21} "
            f"{'':4}  {'history ms':>10} {'':4}  {'runs-query ms':>13} {'':4}")
    say(head)
    say(f"{'target':<11} {'>= ' + format(TARGET_INGEST, ','):>13} {'':4}  "
        f"{'growth < ' + str(TARGET_RSS_GROWTH_MB):>21} {'':4}  "
        f"{'<= ' + str(TARGET_HISTORY_MS):>10} {'':4}  {'<= ' + str(TARGET_RUNS_QUERY_MS):>13}")
    for r in results:
        ingest = f"{r.ingest_pps:,.0f}" if r.ingest_pps is not None else "n/a"
        ingest_v = verdict(None if r.ingest_pps is None else r.ingest_pps >= TARGET_INGEST)
        if r.rss:
            rss = f"{r.rss[0]:.0f}/{r.rss[1]:.0f}/{r.rss[2]:.0f}"
            rss_v = verdict(r.rss[1] - r.rss[0] < TARGET_RSS_GROWTH_MB)
        else:
            rss, rss_v = "n/a", "-"
        hist = f"{r.history_ms:.0f}" if r.history_ms is not None else "n/a"
        hist_v = verdict(None if r.history_ms is None
                         else r.history_ms <= TARGET_HISTORY_MS and not r.history_note)
        rq = f"{r.runs_query_ms:.0f}" if r.runs_query_ms is not None else "n/a"
        rq_v = verdict(None if r.runs_query_ms is None
                       else r.runs_query_ms <= TARGET_RUNS_QUERY_MS and not r.runs_query_note)
        say(f"{r.engine:<11} {ingest:>13} {ingest_v:4}  {rss:>21} {rss_v:4}  {hist:>10} "
            f"{hist_v:4}  {rq:>13} {rq_v:4}")
    for r in results:
        for note in [r.ingest_note, r.history_note, r.runs_query_note, *r.notes]:
            if note:
                say(f"  {r.engine}: {note}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--points", type=int, default=1_000_000,
                   help="metric points to ingest per engine (default 1,000,000)")
    p.add_argument("--engines", default="sqlite,postgresql",
                   help="comma-separated: sqlite, postgresql (default both)")
    p.add_argument("--server-processes", type=int, default=1,
                   help="API processes (uvicorn --workers, as `optrack serve --workers N`); "
                        "with more than one, the RSS figures are the parent's alone")
    p.add_argument("--skip-runs-query", action="store_true",
                   help="skip the 100,000-run query benchmark")
    p.add_argument("--ingest-seconds", type=float, default=30.0,
                   help="stop starting ingest batches after this long (default 30); the rate "
                        "is measured over the points stored")
    p.add_argument("--fill-seconds", type=float, default=40.0,
                   help="history runs the ingest did not create are inserted through the API "
                        "if that should take at most this long at the measured ingest rate "
                        "(default 40), else loaded straight into the database")
    args = p.parse_args(argv)
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [e for e in engines if e not in ("sqlite", "postgresql")]
    if unknown or args.points < 1:
        p.error(f"unknown engine(s) {unknown}" if unknown else "--points must be >= 1")

    t0 = time.perf_counter()
    say(f"optrack tracking benchmark: {args.points:,} points, batches of {BATCH:,}, {CLIENTS} "
        f"clients; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    results = [bench_engine(e, args) for e in engines]
    table(results)
    say(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
