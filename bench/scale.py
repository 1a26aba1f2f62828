"""Scale on PostgreSQL (issue 15): query latency over a database of many runs and points.

    python -m bench.scale [--runs 1000000] [--points 20000000] [--repeats 30] [--keep]
                          [--database optrack_scale] [--no-browser]

1. Load (bench/_scale_load.py says exactly how): ``--runs`` runs created over HTTP by a real
   server, as experiments expanding 1,000-run grids (4 optimizers x 25 lrs x 10 seeds of the
   point model); ``--points`` points, ``points / runs`` per run, half train_loss and half
   val_loss, stored by the service's own ingest function (``record_metrics``: points, rollups,
   latest values) called in-process by 3 processes, 100 runs per transaction; then one UPDATE
   marks every run succeeded, and VACUUM ANALYZE. The database is ``--database`` on the
   PostgreSQL server of OPTRACK_TEST_PG_URL; ``--keep`` leaves it there, and a later run
   finding it loaded with the same figures skips the load (without ``--keep`` it is dropped).
2. API, over HTTP against a real server process (uvicorn, the app factory, quiet), one
   keep-alive httpx client; ``--repeats`` rounds after 3 warm-up rounds, each round the three
   queries once in a rotating order:
   - ``GET /api/v1/runs?filter=optimizer.name = 'adam' and metrics.val_loss < 0.3
     &order_by=metrics.val_loss&limit=50`` — target ≤ 100 ms;
   - ``GET /api/v1/runs?filter=training.seed = <a random seed>&limit=50`` (100 runs of 1 M
     match) — target ≤ 200 ms;
   - ``POST /api/v1/metrics/query`` of 100 random runs x val_loss at max_points 400 (what the
     dashboard's compare charts ask for) — target ≤ 300 ms.
3. Browser: /experiments/{id} of a 1,000-run experiment in Debian's Chromium (Playwright),
   time to interactive read in the page (navigation start → ``body[data-ready]``, as
   bench/dashboard.py); cold loads in fresh contexts after one unmeasured load, then warm
   loads in one context — target ≤ 2,000 ms.
Client-side ms: median, p10–p90 and min–max. A benchmark, not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.harness import Server

from ._format import say
from ._pg import database
from ._scale_load import load
from ._scale_queries import api_figures, browser_figures, experiment_id


def sizes(url: str) -> str:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relname IN "
                "('runs', 'metrics', 'latest_metrics', 'metric_rollups') ORDER BY relname"))
            parts = [f"{name} {size / 2**20:,.0f} MiB" for name, size in rows]
            total = conn.scalar(text("SELECT pg_database_size(current_database())"))
    finally:
        engine.dispose()
    return f"{total / 2**20:,.0f} MiB ({', '.join(parts)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="a multiple of 1,000")
    parser.add_argument("--points", type=int, default=20_000_000)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--database", default="optrack_scale")
    parser.add_argument("--keep", action="store_true", help="keep the loaded database")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)
    if args.runs % 1000 or args.runs <= 0 or args.points < 2 * args.runs:
        parser.error("--runs must be a positive multiple of 1,000 and --points >= 2 x --runs")
    say(f"optrack scale benchmark — python {platform.python_version()}, {os.cpu_count()} "
        f"CPUs, load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    say("command: python -m bench.scale " + " ".join(sys.argv[1:] if argv is None else argv))
    with tempfile.TemporaryDirectory(prefix="scale-") as tmp, \
            database(args.database, args.keep) as url, Server(url, tmp, quiet=True) as srv:
        say(f"\nload ({args.database}):")
        t0 = time.perf_counter()
        loaded = load(url, srv.url, srv.headers, args.runs, args.points, say)
        if loaded.skipped:
            say(f"  already loaded: {loaded.runs:,} runs, {loaded.points:,} points (skipped)")
        else:
            say(f"  load total {time.perf_counter() - t0:.0f} s")
        say(f"  database size {sizes(url)}")
        say(f"\nAPI, {args.repeats} rounds, interleaved:")
        figures = api_figures(srv.api, url, args.runs, args.repeats)
        for figure in figures:
            say(figure.line())
        if not args.no_browser:
            say("\nbrowser (Chromium, headless, 1400x1000):")
            exp = experiment_id(url, "scale 0")
            for figure in browser_figures(srv.url, srv.token, exp, min(args.repeats, 5)):
                say(figure.line())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
