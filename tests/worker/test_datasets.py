"""Datasets shared through the server, with real processes on both engines: a file pushed with
the ``optrack datasets`` command (itself a process) is trained on by three workers — two of them
sharing a cache as on one machine, the third with its own as on another: each machine downloads
the file once (a damaged cache entry is fetched again), every other run is a cache hit, and
every run trains on exactly the pushed content. The command's refusals (422 naming the
problem, 413 over the limit, 409 deleting a dataset that queued runs use) come from the
server."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from collections import Counter

import numpy as np

from optim_core import datasets

from ..harness import wait_until
from ..harness.processes import REPO, child_env

LIMIT = 32 * 1024  # the server's max_dataset_bytes here
OPTIMIZERS = [{"name": "sgd", "lr": 0.1}, {"name": "adam", "lr": 0.01},
              {"name": "momentum", "lr": 0.05}]


def points_csv(rows: int, seed: int = 0) -> str:
    """Three separable classes in four features; the label column first (not the default)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, rows)
    x = rng.standard_normal((rows, 4)) + labels[:, None]
    lines = ["label,a,b,c,d"] + [f"{y}," + ",".join(f"{v:.4f}" for v in row)
                                 for y, row in zip(labels, x)]
    return "\n".join(lines) + "\n"


def cli(srv, tmp_path, *commands: list[str]) -> list[subprocess.CompletedProcess]:
    """``python -m service.cli datasets …`` for each command, side by side."""
    env = child_env({"OPTRACK_SERVER": srv.url, "OPTRACK_TOKEN": srv.token,
                     "OPTRACK_CONFIG_DIR": str(tmp_path / "config")})
    started = [subprocess.Popen([sys.executable, "-m", "service.cli", "datasets", *c],
                                cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for c in commands]
    done = []
    for command, process in zip(commands, started):
        out, err = process.communicate(timeout=60)
        done.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return done


def refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 1 and message in result.stderr, result


def submit(srv, optimizers: list[dict], seeds: list[int]) -> list[str]:
    return srv.submit({"name": "pushed", "project": "vision",
                       "dataset": {"name": "file", "dataset": "points.csv"},
                       "model": {"kind": "mlp", "hidden": [8]}, "optimizer": optimizers,
                       "training": {"epochs": 3, "batch_size": 16, "seed": seeds}})


def test_a_pushed_dataset_is_downloaded_once_per_machine_and_trained_on(server, workers,
                                                                       tmp_path):
    srv = server(max_dataset_bytes=LIMIT)
    data = tmp_path / "points.csv"
    data.write_text(points_csv(120))
    sha = hashlib.sha256(data.read_bytes()).hexdigest()
    (pushed,) = cli(srv, tmp_path, ["push", str(data), "--project", "vision", "--label",
                                    "label"])
    assert pushed.returncode == 0, pushed
    assert pushed.stdout.startswith(f"pushed vision/points.csv sha256 {sha} (csv, 120 rows, "
                                    f"4 features, 3 classes)"), pushed.stdout
    first = submit(srv, OPTIMIZERS[:2], [0])
    _refusals_come_from_the_server(srv, tmp_path, sha)

    damaged = tmp_path / "worker-1-cache" / sha  # the cache beside worker-1.log, damaged
    damaged.parent.mkdir()
    damaged.write_text("not the pushed file")
    pool = workers(srv, 2) + workers(srv, 1, cache_dir=tmp_path / "worker-0-cache")
    srv.wait_ended(first, timeout=90)
    # every worker idle in a lease call: the next runs wake them all at once, so each leases
    since = len(srv.log())
    wait_until(lambda: len(_polling(srv, since)) >= len(pool), 30, "every worker polling")
    runs = srv.wait_ended(first + submit(srv, OPTIMIZERS, [1, 2]), timeout=90)

    assert {r["status"] for r in runs.values()} == {"succeeded"}, \
        {k: (r["status"], r["error"]) for k, r in runs.items()}
    ref = f"points.csv@{sha}"
    expected = datasets.load("file", dataset=ref, label="label", cache_dir=pool[0].cache_dir)
    for run in runs.values():
        assert run["config"]["dataset"] == {"name": "file", "dataset": ref, "label": "label",
                                            "seed": 0}
        assert run["summary"]["dataset_hash"] == expected.content_hash
    _each_machine_downloaded_once(srv, pool, sha, len(runs))

    (deleted,) = cli(srv, tmp_path, ["delete", "points.csv", "-p", "vision"])
    assert deleted.returncode == 0 and deleted.stdout == "deleted vision/points.csv\n", deleted
    assert srv.api.get(f"/api/v1/datasets/vision/{sha}").status_code == 404
    assert not list((srv.data_dir / "dataset-blobs").iterdir())


def _refusals_come_from_the_server(srv, tmp_path, sha: str) -> None:
    """Bad pushes (422, 413) and a deletion while runs are queued (409) exit 1 with the
    server's message and store nothing."""
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,4\n")
    (tmp_path / "big.csv").write_text(points_csv(1200))  # ~37 KB
    bad, big, in_use, listed = cli(srv, tmp_path,
                                   ["push", str(tmp_path / "bad.csv"), "-p", "vision",
                                    "--label", "y"],
                                   ["push", str(tmp_path / "big.csv"), "-p", "vision"],
                                   ["delete", "points.csv", "-p", "vision"],
                                   ["list", "-p", "vision"])
    refused(bad, "label: no column 'y' in the header ['a', 'b']")
    refused(big, f"request body over {LIMIT} bytes")
    refused(in_use, "dataset 'points.csv' is used by queued or running runs")
    assert listed.returncode == 0 and listed.stdout.startswith(
        f"vision/points.csv  sha256 {sha[:12]}  csv  120 rows  4 features  3 classes  "), listed
    assert len(listed.stdout.splitlines()) == 1  # the refused pushes stored nothing


def _polling(srv, since: int) -> set[str]:
    """The client ports of the lease calls the server answered with no run after ``since``
    (an offset in its log): one per idle worker."""
    return set(re.findall(r'127\.0\.0\.1:(\d+) - "POST /api/v1/worker/lease HTTP/1\.1" 204',
                          srv.log()[since:]))


def _each_machine_downloaded_once(srv, pool, sha: str, runs: int) -> None:
    """Every worker trained runs; the workers of each cache directory (a machine) fetched the
    file once between them — their logs and the server's access log agree — and served every
    other run from the cache."""
    leased = {w.log_path.name: len(w.leases()) for w in pool}
    assert all(leased.values()) and sum(leased.values()) == runs, leased
    machines: dict = {}
    for worker in pool:
        machines.setdefault(worker.cache_dir, []).append(worker)
    for cache_dir, members in machines.items():
        lines = Counter(line for w in members for line in
                        re.findall(rf"dataset sha={sha} (downloaded|cached)", w.log()))
        runs_here = sum(len(w.leases()) for w in members)
        assert lines == Counter(downloaded=1, cached=runs_here - 1), (cache_dir, lines)
        assert hashlib.sha256((cache_dir / sha).read_bytes()).hexdigest() == sha
    assert len(srv.access_log(r'"GET /api/v1/worker/runs/\w+/dataset\?attempt=1 HTTP/1.1" '
                              r'200')) == len(machines) == 2
