"""End-to-end fixtures for the queue and the workers: real processes, real databases.

``server(**settings)`` starts the API as its own process (``uvicorn --factory
service.app:app_from_env`` on a free port) over the test's database (``db_url``: a SQLite file
or a fresh PostgreSQL schema), with short leases; the returned ``Server`` can be killed with
SIGKILL and restarted on the same port and database. ``workers(server, n)`` starts ``python -m
worker`` processes whose log lines ("lease run=… attempt=…", "finish run=… outcome=…") the tests
read. Everything started is stopped at teardown, workers before the server (``shared_server``:
one server for a whole module, on a database of its own from ``module_db_url``).

Helpers: ``submit`` an experiment over HTTP, ``wait_ended`` until its runs have ended, and
``assert_matches_reference``: a run's stored metrics equal, value for value and step for step,
an uninterrupted in-process ``optim_core.train`` of the run's own config (only ``step_time``,
a wall-clock measurement, is left out)."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

import optim_core
from service import migrate
from service.db import make_engine
from optim_core.training import flatten

from ..conftest import (ENGINES, PG_ADMIN_URL, assert_error,  # noqa: F401 (re-exported)
                        superuser_token)

REPO = Path(__file__).resolve().parents[2]
ENDED = {"succeeded", "failed", "diverged", "cancelled"}

# settings of every test server unless a test says otherwise: short leases, quick retries, and
# lease calls that long-poll for at most a second (a killed worker's pending lease call could
# otherwise still claim a run for up to 10 s; see test_crash_recovery)
DEFAULT_SETTINGS = {"lease_seconds": 2, "retry_backoff_seconds": 0.1, "max_attempts": 3,
                    "lease_wait_seconds": 1}

# small configs (seconds on this machine)
SPIRAL = {"name": "spiral", "samples": 100}
FOUR_OPTIMIZERS = [{"name": "sgd", "lr": 0.1}, {"name": "momentum", "lr": 0.05},
                   {"name": "adagrad", "lr": 0.5}, {"name": "adam", "lr": 0.01}]


def long_run(epochs: int = 30, **training: Any) -> dict[str, Any]:
    """A run of ~3 s of training (360 steps of 8 ms), checkpointed every 25 steps: long enough
    to interrupt it after its first checkpoints while it still trains (the worker uploads in a
    thread of its own, so training is not slowed down by the uploads)."""
    return {"name": "long", "dataset": "digits",
            "model": {"kind": "mlp", "hidden": [512, 512]},
            "optimizer": {"name": "sgd", "lr": 0.05},
            "training": {"epochs": epochs, "batch_size": 128, "checkpoint_every": 25,
                         **training}}


def small_run(name: str = "small", **training: Any) -> dict[str, Any]:
    return {"name": name, "dataset": SPIRAL, "model": {"kind": "mlp", "hidden": [16]},
            "optimizer": {"name": "adam", "lr": 0.01}, "training": {"epochs": 3, **training}}


# -- polling ---------------------------------------------------------------------------------

def wait_until(predicate: Callable[[], Any], timeout: float, what: str,
               interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTRACK_")}
    env.update(PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1")
    env.update(extra)
    return env


def _stop(proc: subprocess.Popen, sig: int = signal.SIGKILL, timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# -- the API server process --------------------------------------------------------------------

class Server:
    """``uvicorn --factory service.app:app_from_env`` on a fixed port over one database."""

    def __init__(self, db_url: str, data_dir: Path, settings: dict[str, Any], name: str,
                 shared: bool = False, factory: str = "service.app:app_from_env"):
        self.db_url, self.data_dir, self.settings = db_url, data_dir, settings
        self.factory = factory  # the app factory uvicorn calls
        self.shared = shared  # outlives the test: its workers are stopped gracefully
        # where the server and its workers find "file" datasets (relative paths only)
        self.datasets_dir = data_dir / "datasets"
        self.datasets_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.api = httpx.Client(base_url=self.url, timeout=30)
        self.starts = 0
        # credentials, made once the server has migrated its database: a superuser's token
        # for the API helpers (self.api, self.headers) and a worker-only token for workers
        self.token: str | None = None
        self.worker_token: str | None = None

    def start(self, wait: bool = True) -> "Server":
        """Spawn the process; with ``wait``, return once /healthz answers."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self._sign_in()
        env = _env({"OPTRACK_DATABASE_URL": self.db_url, "OPTRACK_DATA_DIR": str(self.data_dir),
                    "OPTRACK_DATASETS_DIR": str(self.datasets_dir),
                    **{f"OPTRACK_{k.upper()}": str(v) for k, v in self.settings.items()}})
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", self.factory,
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.starts += 1
        return self.wait_ready() if wait else self

    def wait_ready(self, timeout: float = 60) -> "Server":
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"the API exited with {self.proc.returncode}:\n"
                                     f"{self.log()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the API did not come up:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def _sign_in(self) -> "Server":
        """Migrate the database (as the server would) and make the tokens, once."""
        if self.token is None:
            engine = make_engine(self.db_url)
            migrate.upgrade(engine)
            engine.dispose()
            self.token = superuser_token(self.db_url, ("read", "write", "worker", "admin"))
            self.worker_token = superuser_token(self.db_url, ("worker",))
            self.api.headers["authorization"] = f"Bearer {self.token}"
        return self

    @property
    def headers(self) -> dict[str, str]:
        """Authorization headers for raw httpx calls (a token with every scope)."""
        return {"authorization": f"Bearer {self.token}"}

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash."""
        if self.proc is not None:
            _stop(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc, signal.SIGKILL)  # a graceful stop waits for long-polling leases
        self.api.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    # -- API helpers ---------------------------------------------------------------------------

    def submit(self, body: dict[str, Any]) -> list[str]:
        """Submit an experiment; its run ids."""
        response = self.api.post("/api/v1/experiments", json=body)
        assert response.status_code == 201, response.text
        return response.json()["run_ids"]

    def run(self, run_id: str) -> dict[str, Any]:
        response = self.api.get(f"/api/v1/runs/{run_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def cancel(self, run_id: str) -> httpx.Response:
        return self.api.post(f"/api/v1/runs/{run_id}/cancel")

    def wait_ended(self, run_ids: list[str], timeout: float = 90) -> dict[str, dict]:
        """Poll until every run has ended; run id → run."""
        ended: dict[str, dict] = {}

        def check():
            for run_id in run_ids:
                if run_id not in ended:
                    run = self.run(run_id)
                    if run["status"] in ENDED:
                        ended[run_id] = run
            return len(ended) == len(run_ids)
        wait_until(check, timeout, f"{len(run_ids) - len(ended)} of {len(run_ids)} runs to end",
                   interval=0.1)
        return ended

    def history(self, run_id: str, keys: list[str]) -> dict[str, dict[str, Any]]:
        """key → series (steps, values, total_points, downsampled), every point."""
        response = self.api.get(f"/api/v1/runs/{run_id}/metrics",
                                params={"keys": keys, "max_points": 10000})
        assert response.status_code == 200, response.text
        return {s["key"]: s for s in response.json()["series"]}

    def points(self, run_id: str, key: str = "train_loss") -> int:
        return self.history(run_id, [key])[key]["total_points"]

    def max_step(self, run_id: str, key: str = "train_loss") -> int:
        steps = self.history(run_id, [key])[key]["steps"]
        return steps[-1] if steps else -1

    def access_log(self, pattern: str) -> list[str]:
        return [line for line in self.log().splitlines() if re.search(pattern, line)]


@pytest.fixture
def server(db_url, tmp_path) -> Iterator[Callable[..., Server]]:
    """Factory: ``server(lease_seconds=60)`` → a running Server over the test's database.
    ``server(wait=False)`` returns at once (start the workers, then ``srv.wait_ready()``): the
    processes import in parallel, which is most of a test's time on a small machine."""
    started: list[Server] = []

    def make(wait: bool = True, factory: str = "service.app:app_from_env",
             **settings: Any) -> Server:
        srv = Server(db_url, tmp_path, {**DEFAULT_SETTINGS, **settings},
                     name=f"server-{len(started)}", factory=factory)
        started.append(srv)
        return srv.start(wait=wait)

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture(scope="module", params=ENGINES)
def module_db_url(request, tmp_path_factory) -> Iterator[str]:
    """A database of its own for a whole module (a server shared by the module's tests):
    SQLite in a temporary directory, or a PostgreSQL database created here and dropped after."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'optrack.db'}"
        return
    base = request.getfixturevalue("pg_server_url")  # skips or fails as tests/conftest says
    name = f"{base.rsplit('/', 1)[1]}_w{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def shared_server(db_url: str, data_dir: Path, **settings: Any) -> Iterator[Server]:
    """Body of a module-scoped server fixture: ``yield from shared_server(…)``."""
    srv = Server(db_url, data_dir, {**DEFAULT_SETTINGS, **settings}, name="server",
                 shared=True)
    try:
        yield srv.start()
    finally:
        srv.stop()


# -- worker processes --------------------------------------------------------------------------

LEASE_LINE = re.compile(r"lease run=(\w+) attempt=(\d+) worker=(\S+)")
FINISH_LINE = re.compile(r"finish run=(\w+) attempt=(\d+) outcome=(\w+)")


class WorkerProc:
    """One ``python -m worker --server URL`` process, logging to a file."""

    def __init__(self, srv: Server, log_path: Path):
        self.srv, self.log_path = srv, log_path
        log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "worker", "--server", srv.url,
                                      "--token", srv.worker_token],
                                     cwd=REPO, env=_env({"OPTRACK_DATASETS_DIR":
                                                         str(srv.datasets_dir)}),
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def leases(self) -> list[tuple[str, int]]:
        return [(m[0], int(m[1])) for m in LEASE_LINE.findall(self.log())]

    def finishes(self) -> list[tuple[str, int, str]]:
        return [(m[0], int(m[1]), m[2]) for m in FINISH_LINE.findall(self.log())]

    def holds(self, run_id: str, attempt: int | None = None) -> bool:
        return any(r == run_id and (attempt is None or a == attempt) for r, a in self.leases())

    def finished(self, run_id: str, attempt: int | None = None) -> str | None:
        """The logged outcome of ``run_id`` (of ``attempt``), None if not finished."""
        for r, a, outcome in self.finishes():
            if r == run_id and (attempt is None or a == attempt):
                return outcome
        return None

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL)

    def terminate(self) -> None:
        self.proc.send_signal(signal.SIGTERM)


class Workers:
    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.started: list[WorkerProc] = []

    def __call__(self, srv: Server, n: int = 1) -> list[WorkerProc]:
        made = []
        for _ in range(n):
            path = self.tmp_path / f"worker-{len(self.started)}.log"
            made.append(WorkerProc(srv, path))
            self.started.append(made[-1])
        return made

    def stop(self, graceful: Callable[[WorkerProc], bool] = lambda w: True) -> None:
        """SIGTERM once to the ``graceful`` ones still alive (a second SIGTERM makes a worker
        exit at once) and wait for them, then SIGKILL whatever is left."""
        polite = [w for w in self.started if graceful(w) and w.alive]
        for worker in polite:
            worker.terminate()
        for worker in polite:
            try:
                worker.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
        for worker in self.started:
            worker.kill()

    def holder(self, run_id: str, attempt: int | None = None) -> WorkerProc | None:
        for worker in self.started:
            if worker.holds(run_id, attempt):
                return worker
        return None


@pytest.fixture
def workers(tmp_path) -> Iterator[Workers]:
    """Factory: ``workers(srv, 2)`` → two worker processes, stopped at teardown (tests ask for
    ``server`` first, so its teardown, which runs last, finds no worker left). Workers of a
    server that outlives the test get SIGTERM, so that no lease call of theirs is left pending
    in the server (it would hand the next test's run to a dead worker); the others SIGKILL."""
    pool = Workers(tmp_path)
    yield pool
    pool.stop(graceful=lambda w: w.srv.shared)


# -- the reference: the same config trained in-process, uninterrupted --------------------------

def encode(value: float) -> float | str:
    """As the API reports values: NaN and ±inf as strings."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _train_reference(config: dict[str, Any]) -> tuple[dict[str, tuple[list, list]], dict]:
    series: dict[str, tuple[list, list]] = {}
    summary: dict[str, Any] = {}
    for event in optim_core.train(flatten(config)):
        if isinstance(event, optim_core.Metrics):
            for key, value in event.values.items():
                if key != "step_time":
                    steps, values = series.setdefault(key, ([], []))
                    steps.append(event.step)
                    values.append(encode(value))
        elif isinstance(event, optim_core.Finished):
            summary = event.summary
    return series, summary


_REFERENCES: dict[str, Future] = {}
_REFERENCE_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference")
_REFERENCE_LOCK = threading.Lock()


def _reference_future(run_config: dict[str, Any]) -> Future:
    key = json.dumps(run_config, sort_keys=True)
    with _REFERENCE_LOCK:
        if key not in _REFERENCES:
            _REFERENCES[key] = _REFERENCE_POOL.submit(_train_reference, json.loads(key))
        return _REFERENCES[key]


def prefetch_reference(srv: "Server", run_id: str) -> None:
    """Start training the run's reference in a thread now (while the workers train it)."""
    _reference_future(srv.run(run_id)["config"])


def reference(run_config: dict[str, Any]) -> tuple[dict[str, tuple[list, list]], dict]:
    """(key → (steps, values), summary) of an uninterrupted in-process training of the run's
    stored (sectioned) config; computed once per config."""
    series, summary = _reference_future(run_config).result(timeout=300)
    return {k: (list(s), list(v)) for k, (s, v) in series.items()}, json.loads(
        json.dumps(summary))


def assert_matches_reference(srv: Server, run_id: str, check_summary: bool = True) -> dict:
    """Every stored metric of the run equals the reference, value for value at the same steps,
    with no point missing, extra or duplicated; the run's summary equals the reference's."""
    run = srv.run(run_id)
    expected, summary = reference(run["config"])
    keys = sorted(expected)
    assert keys, "the reference logged no metrics"
    assert set(run["metrics"]) == set(keys) | {"step_time"}, (sorted(run["metrics"]), keys)
    got = srv.history(run_id, keys + ["step_time"])
    for key in keys:
        steps, values = expected[key]
        series = got[key]
        assert series["downsampled"] is False and series["total_points"] == len(series["steps"])
        assert series["steps"] == sorted(set(series["steps"])), f"{key}: steps not unique"
        assert series["steps"] == steps, (key, _diff(series["steps"], steps))
        mismatches = [(s, a, b) for s, a, b in zip(steps, series["values"], values) if a != b]
        assert not mismatches, (key, mismatches[:5], len(mismatches))
    # step_time is logged with train_loss (log_every); only its values are wall-clock
    assert got["step_time"]["steps"] == expected["train_loss"][0]
    if check_summary:
        assert _numbers_as_floats(run["summary"]) == _numbers_as_floats(summary), \
            (run["summary"], summary)
    return run


def _numbers_as_floats(value: Any) -> Any:
    """JSON numbers compared as floats: PostgreSQL's JSONB gives a float such as 2.5e+17 back
    as the integer 250000000000000000 (the same number, another JSON spelling)."""
    if isinstance(value, dict):
        return {k: _numbers_as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers_as_floats(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def _diff(got: list[int], want: list[int]) -> str:
    missing, extra = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    return f"{len(got)} vs {len(want)} points; missing {missing[:10]}, extra {extra[:10]}"


# -- direct database reads (the attempts history has no API) -----------------------------------

def attempts(db_url: str, run_id: str) -> list[dict[str, Any]]:
    """The run's rows of run_attempts, in order."""
    from service.models import RunAttempt

    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(RunAttempt.attempt, RunAttempt.worker_id,
                                       RunAttempt.outcome, RunAttempt.ended_at,
                                       RunAttempt.error)
                                .where(RunAttempt.run_id == run_id)
                                .order_by(RunAttempt.attempt)).all()
    finally:
        engine.dispose()
    return [dict(r._mapping) for r in rows]


def run_row(db_url: str, run_id: str) -> dict[str, Any]:
    from service.models import Run

    engine = create_engine(db_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            row = conn.execute(select(Run.__table__).where(Run.id == run_id)).one()
    finally:
        engine.dispose()
    return dict(row._mapping)
