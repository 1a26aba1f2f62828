"""Loading bench/scale.py's database: runs created over HTTP by experiments expanding grids,
their metrics stored by the service's own ingest function from several processes.

Runs: ``POST /api/v1/experiments`` of a 1,000-run grid (4 optimizers x 25 learning rates x 10
seeds, the point model), from two client threads; experiment ``e`` uses the seeds
``10e .. 10e+9``, so a seed names 100 runs of one experiment (the selective config filter).
Metrics: every run gets ``points / runs`` points, half ``train_loss`` and half ``val_loss``
(steps 0, 1, …; a noisy decaying curve whose floor depends on the optimizer and lr), through
``service.tracking.ingest.record_metrics`` — the function the metrics routes call, rollups and
latest values included — called in-process by ``PROCESSES`` processes, ``RUNS_PER_COMMIT`` runs
per transaction. The HTTP request around it (parsing, auth, one commit per request) is the part
left out. Last, one UPDATE marks every run succeeded (leasing and finishing 1,000,000 runs over
the worker API is not what is measured here), and ANALYZE.
"""

from __future__ import annotations

import math
import multiprocessing
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from sqlalchemy import text

from tests.harness import make_engine, record_many_runs

PROJECT = "scale"
OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")
LRS = [float(f"{10 ** (-4 + 4 * i / 24):.3g}") for i in range(25)]
SEEDS_PER_EXPERIMENT = 10
RUNS_PER_EXPERIMENT = len(OPTIMIZERS) * len(LRS) * SEEDS_PER_EXPERIMENT  # 1,000
SUBMITTERS = 2  # client threads submitting experiments
PROCESSES = 3  # processes storing metrics
RUNS_PER_COMMIT = 100
KEYS = ("train_loss", "val_loss")


@dataclass
class Loaded:
    runs: int
    points: int
    seconds_runs: float = 0.0
    seconds_points: float = 0.0
    skipped: bool = False


def experiment_body(e: int) -> dict:
    seeds = list(range(e * SEEDS_PER_EXPERIMENT, (e + 1) * SEEDS_PER_EXPERIMENT))
    return {"name": f"scale {e}", "project": PROJECT, "model": {"kind": "point"},
            "optimizer": [{"name": name, "lr": LRS} for name in OPTIMIZERS],
            "training": {"steps": 5, "seed": seeds}}


def counts(url: str) -> tuple[int, int]:
    """(runs of the project, metric points) in the database; (0, 0) before migration."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not conn.scalar(text("SELECT to_regclass('runs') IS NOT NULL")):
                return 0, 0
            runs = conn.scalar(text("SELECT count(*) FROM runs JOIN projects p ON p.id = "
                                    "runs.project_id WHERE p.name = :p"), {"p": PROJECT})
            return runs, conn.scalar(text("SELECT count(*) FROM metrics"))
    finally:
        engine.dispose()


def create_runs(base_url: str, headers: dict, experiments: int) -> None:
    """``experiments`` grids over HTTP, ``SUBMITTERS`` at a time."""
    with httpx.Client(base_url=base_url, headers=headers, timeout=300) as client:
        def submit(e: int) -> None:
            r = client.post("/api/v1/experiments", json=experiment_body(e))
            if r.status_code != 201:
                raise RuntimeError(f"submitting grid {e}: HTTP {r.status_code} {r.text[:300]}")
        submit(0)  # alone: a superuser's first write creates the project
        with ThreadPoolExecutor(SUBMITTERS) as pool:
            list(pool.map(submit, range(1, experiments)))


def curve(config: dict, n: int) -> dict[str, list[tuple[str, int, float, float]]]:
    """Plausible points: loss falls to a floor lowest near the optimizer's best lr."""
    opt = config["optimizer"]
    rng = random.Random(config["training"]["seed"] * 131 + LRS.index(opt["lr"]))
    best = {"sgd": -0.5, "momentum": -1.5, "adagrad": -1.0, "adam": -2.5}[opt["name"]]
    d = math.log10(opt["lr"]) - best
    floor = 0.04 + 0.09 * d * d
    now = time.time()
    out = []
    for k, key in enumerate(KEYS):
        steps = n // len(KEYS) + (1 if k < n % len(KEYS) else 0)
        for s in range(steps):
            clean = floor + (1.1 - floor) * math.exp(-3 * s / max(steps, 1))
            out.append((key, s, clean * (1 + 0.08 * k) * math.exp(0.05 * rng.gauss(0, 1)), now))
    return out


def _store(url: str, jobs: list[tuple[str, dict]], per_run: int) -> int:
    engine = make_engine(url)
    stored = 0
    try:
        for i in range(0, len(jobs), RUNS_PER_COMMIT):
            stored += record_many_runs(engine, {rid: curve(cfg, per_run)
                                                for rid, cfg in jobs[i:i + RUNS_PER_COMMIT]})
    finally:
        engine.dispose()
    return stored


def store_points(url: str, per_run: int) -> int:
    """Every run of the project gets its points, ``PROCESSES`` processes at once."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            jobs = [(rid, cfg) for rid, cfg in conn.execute(text(
                "SELECT r.id, r.config FROM runs r JOIN projects p ON p.id = r.project_id "
                "WHERE p.name = :p ORDER BY r.id"), {"p": PROJECT})]
    finally:
        engine.dispose()
    slices = [(url, jobs[i::PROCESSES], per_run) for i in range(PROCESSES)]
    with multiprocessing.get_context("spawn").Pool(PROCESSES) as pool:
        return sum(pool.starmap(_store, slices))


def mark_succeeded(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE runs SET status = 'succeeded', attempt = 1, "
                              "started_at = created_at, finished_at = created_at"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    finally:
        engine.dispose()


def load(url: str, base_url: str, headers: dict, runs: int, points: int,
         say=print) -> Loaded:
    """Load ``runs`` runs (a multiple of 1,000) and ``points`` points, unless the database
    holds exactly that already."""
    have = counts(url)
    if have == (runs, points):
        return Loaded(runs, points, skipped=True)
    if have != (0, 0):
        raise RuntimeError(f"the database holds {have[0]} runs and {have[1]} points, not "
                           f"{runs} and {points}: drop it first (or give its own figures)")
    out = Loaded(runs, points)
    t0 = time.perf_counter()
    create_runs(base_url, headers, runs // RUNS_PER_EXPERIMENT)
    out.seconds_runs = time.perf_counter() - t0
    say(f"  {runs:,} runs over HTTP in {out.seconds_runs:.0f} s "
        f"({runs / out.seconds_runs:,.0f} runs/s)")
    t0 = time.perf_counter()
    stored = store_points(url, points // runs)
    mark_succeeded(url)
    out.seconds_points = time.perf_counter() - t0
    out.points = stored
    say(f"  {stored:,} points through the ingest function in {out.seconds_points:.0f} s "
        f"({stored / out.seconds_points:,.0f} points/s), runs marked succeeded, ANALYZE")
    return out
