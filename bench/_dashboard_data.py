"""The data bench/dashboard.py measures the dashboard on: 100 runs of 10,000 steps uploaded
over the worker API (plausible NumPy curves), and the book's trajectory experiment trained by a
real worker."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from tests.harness import TRAJECTORIES, Server, Workers

OPTIMIZERS = ("sgd", "momentum", "adagrad", "adam")
LRS = [float(f"{lr:.3g}") for lr in np.logspace(-4, 0, 25)]
STEPS = 10_000  # per key and run; one batch each (the API's limit is 10,000 points)
KEYS = ("train_loss", "val_loss", "lr")
CLIENTS = 4
SWEEP = {
    "name": "dashboard bench", "project": "bench", "tags": ["bench"],
    "dataset": {"name": "spiral"}, "model": {"kind": "mlp", "hidden": [100]},
    "optimizer": [{"name": name, "lr": LRS} for name in OPTIMIZERS],
    "training": {"steps": STEPS, "batch_size": 32, "seed": 0},
}
PATHS = {**TRAJECTORIES, "name": "paths", "project": "bench"}  # the book's figure
JSON = {"content-type": "application/json"}


def curves(name: str, lr: float, seed: int) -> dict[str, np.ndarray]:
    """Plausible histories for a run: the loss falls fastest and lowest near the optimizer's
    best learning rate, noisier above it; validation a little above training, creeping up late
    for the best runs; the learning rate on a cosine schedule down to 1 %."""
    rng = np.random.default_rng(seed)
    best = {"sgd": -0.5, "momentum": -1.5, "adagrad": -1.0, "adam": -2.5}[name]
    d = np.log10(lr) - best
    steps = np.arange(STEPS, dtype=np.float64)
    start, floor = 1.1, 0.04 + 0.09 * d * d
    tau = min(3e4, 250.0 * 10 ** max(0.0, -d))
    clean = floor + (start - floor) * np.exp(-steps / tau)
    noise = 0.03 + 0.04 * max(0.0, d)
    train = clean * np.exp(noise * rng.standard_normal(STEPS))
    overfit = 0.06 * np.clip(steps / STEPS - 0.5, 0, None) / (1 + 10 * d * d)
    val = (clean * 1.08 + 0.02 + overfit) * np.exp(0.3 * noise * rng.standard_normal(STEPS))
    sched = lr * (0.01 + 0.99 * 0.5 * (1 + np.cos(np.pi * steps / STEPS)))
    return {"train_loss": train, "val_loss": val, "lr": sched}


def metric_bodies(config: dict, attempt: int, seed: int) -> list[bytes]:
    """One pre-serialised worker batch per key (10,000 points each)."""
    opt = config["optimizer"]
    out = []
    for key, values in curves(opt["name"], opt["lr"], seed).items():
        if key != "lr":
            values = np.round(values, 7)  # shorter JSON; losses are >= 0.01
        points = ",".join(f'{{"key":"{key}","step":{s},"value":{v!r}}}'
                          for s, v in enumerate(values.tolist()))
        out.append(f'{{"attempt":{attempt},"metrics":[{points}]}}'.encode())
    return out


def submit(client: httpx.Client, body: dict) -> dict:
    r = client.post("/api/v1/experiments", json=body)
    if r.status_code not in (200, 201):
        raise RuntimeError(f"POST /api/v1/experiments: HTTP {r.status_code} {r.text[:300]}")
    return r.json()


def experiment_runs(client: httpx.Client, experiment_id: str) -> list[dict]:
    r = client.get("/api/v1/runs", params={"experiment": experiment_id, "limit": 1000})
    r.raise_for_status()
    return r.json()["runs"]


def fill_sweep(url: str, client: httpx.Client) -> tuple[str, float, int]:
    """Create the 100-run experiment and give every run its histories over the worker API;
    return (experiment id, seconds, points stored)."""
    t0 = time.perf_counter()
    exp = submit(client, SWEEP)
    configs = {run["id"]: run["config"] for run in experiment_runs(client, exp["id"])}
    seeds = {run_id: i for i, run_id in enumerate(sorted(configs))}
    errors: list[str] = []
    stored = [0]
    lock = threading.Lock()

    def worker(n: int) -> None:
        with httpx.Client(base_url=url, timeout=300.0, headers=client.headers) as c:
            while not errors:
                r = c.post("/api/v1/worker/lease", json={"worker_id": f"bench-{n}"})
                if r.status_code == 204:
                    return
                if r.status_code != 200:
                    errors.append(f"lease: HTTP {r.status_code} {r.text[:200]}")
                    return
                lease = r.json()
                run_id, attempt = lease["run_id"], lease["attempt"]
                if run_id not in configs:
                    errors.append(f"leased {run_id}, not a run of the sweep")
                    return
                for body in metric_bodies(configs[run_id], attempt, seeds[run_id]):
                    r = c.post(f"/api/v1/worker/runs/{run_id}/metrics", content=body,
                               headers=JSON)
                    if r.status_code != 200:
                        errors.append(f"metrics: HTTP {r.status_code} {r.text[:200]}")
                        return
                    with lock:
                        stored[0] += r.json()["inserted"]
                r = c.post(f"/api/v1/worker/runs/{run_id}/finish",
                           json={"attempt": attempt, "status": "succeeded"})
                if r.status_code != 200:
                    errors.append(f"finish: HTTP {r.status_code} {r.text[:200]}")
                    return

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"filling the sweep failed: {errors[0]}")
    counts = client.get(f"/api/v1/experiments/{exp['id']}").json()["status_counts"]
    if counts != {"succeeded": len(configs)}:
        raise RuntimeError(f"the sweep's runs did not all succeed: {counts}")
    return exp["id"], time.perf_counter() - t0, stored[0]


def train_paths(server: Server, client: httpx.Client, log_dir: Path) -> tuple[str, float]:
    """The book's four optimizers on the anisotropic function, trained by a real worker."""
    t0 = time.perf_counter()
    exp = submit(client, PATHS)
    pool = Workers(log_dir)
    (worker,) = pool(server)
    try:
        runs = server.wait_ended(exp["run_ids"], timeout=120)
    except AssertionError as exc:
        raise RuntimeError(f"the paths experiment did not finish ({exc}):\n"
                           f"{worker.log()[-2000:]}") from exc
    finally:
        pool.stop()
    counts = Counter(run["status"] for run in runs.values())
    if counts != {"succeeded": len(PATHS["optimizer"])}:
        raise RuntimeError(f"the paths experiment's runs did not all succeed: {dict(counts)}")
    return exp["id"], time.perf_counter() - t0


# -- 2: the API alone -------------------------------------------------------------------------
