"""``bench.tracking``'s runs-query fixture: many varied runs (tags, latest metrics, a
validation accuracy for most) inserted straight into the database with SQLAlchemy Core."""

from __future__ import annotations

import math
import random
import time
import uuid
from datetime import datetime, timedelta, timezone

from tests.harness import make_engine, models

OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")


def bulk_insert_runs(database_url: str, n: int) -> tuple[float, float, int]:
    """Insert ``n`` runs (with tags and latest metrics) straight into the database; return
    (seconds inserting, seconds analysing, how many adam runs have val_accuracy >= 0.5)."""
    from sqlalchemy import insert, text

    rng = random.Random(42)
    engine = make_engine(database_url)
    t0 = time.perf_counter()
    base = datetime.now(timezone.utc) - timedelta(days=30)
    expected = 0
    try:
        with engine.begin() as conn:
            pid = models.new_id()
            conn.execute(insert(models.Project.__table__), [{"id": pid, "name": "bench-runs",
                                                             "created_at": base}])
        chunk = 10_000
        for lo in range(0, n, chunk):
            runs, tags, latest = [], [], []
            for i in range(lo, min(n, lo + chunk)):
                rid = uuid.uuid4().hex
                opt = OPTIMIZERS[i % 4] if i % 7 else rng.choice(OPTIMIZERS)
                lr = 10 ** rng.uniform(-4, 0)
                created = base + timedelta(seconds=i * 20)
                status = "succeeded" if i % 20 else rng.choice(("failed", "diverged",
                                                               "cancelled"))
                runs.append({
                    "id": rid, "project_id": pid, "experiment_id": None,
                    "name": f"digits {opt} lr={lr:.2e} #{i}", "status": status, "external": True,
                    "config": {"dataset": {"name": "digits"},
                               "model": {"kind": "mlp", "hidden": [100]},
                               "optimizer": {"name": opt, "lr": lr},
                               "training": {"batch_size": rng.choice((32, 64, 128)),
                                            "epochs": 10, "seed": i % 3}},
                    "summary": None, "error": None, "notes": "", "priority": 0, "attempt": 0,
                    "created_at": created, "started_at": created,
                    "finished_at": created + timedelta(seconds=15)})
                if i % 10 == 0:
                    tags.append({"run_id": rid, "tag": "baseline"})
                if i % 3 == 0:
                    tags.append({"run_id": rid, "tag": f"sweep-{i // 1000}"})
                if i % 10 != 9:  # 90% of the runs have a validation accuracy
                    # best near lr 1e-2 (adam) / 1e-1 (others), noisy
                    best = -2.0 if opt == "adam" else -1.0
                    acc = max(0.05, min(0.999, 0.92 - 0.25 * (math.log10(lr) - best) ** 2
                                        + rng.gauss(0, 0.015)))
                    latest.append({"run_id": rid, "key": "val_accuracy", "step": 9,
                                   "value": acc})
                    expected += opt == "adam" and acc >= 0.5
                latest.append({"run_id": rid, "key": "train_loss", "step": 9,
                               "value": rng.uniform(0.01, 2.5)})
            with engine.begin() as conn:
                conn.execute(insert(models.Run.__table__), runs)
                conn.execute(insert(models.RunTag.__table__), tags)
                conn.execute(insert(models.LatestMetric.__table__), latest)
        t_insert = time.perf_counter() - t0
        t1 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        return t_insert, time.perf_counter() - t1, expected
    finally:
        engine.dispose()
