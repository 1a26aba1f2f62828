"""Operating real server processes: ``/metrics`` under ``optrack serve`` (one uvicorn process
and two over one database — each counts into its own file, any of them answers the sum), JSON
logs without secrets, and ``optrack db backup`` taken while a client ingests."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session

from service.auth import accounts, tokens
from service.models import User

from ..harness import REPO, Server, make_engine, superuser_token, wait_until
from ..harness.processes import child_env
from .metrics_text import samples, value
from .test_serve import serving

ME = {"method": "GET", "route": "/api/v1/me", "status": "200"}
BATCH = 200  # points per metrics request of the ingesting client
MAX_BATCHES = 3000  # the ingesting client's bound, whatever happens


def bearer(secret: str) -> dict[str, str]:
    return {"authorization": f"Bearer {secret}"}


def served_by(directory: Path) -> dict[str, float]:
    """Process id → GET /api/v1/me requests it answered, from its own counter file."""
    served = {}
    for path in directory.glob("counter_*.db"):
        for metric in MultiProcessCollector.merge([str(path)], accumulate=False):
            served[path.stem] = sum(s.value for s in metric.samples
                                    if s.name == "optrack_http_requests_total"
                                    and s.labels == ME) + served.get(path.stem, 0)
    return {pid: n for pid, n in served.items() if n}


def scraped_count(url: str, headers: dict, **labels: str) -> float:
    response = httpx.get(f"{url}/metrics", headers=headers)  # a new connection each time
    assert response.status_code == 200, response.text
    return value(samples(response.text), "optrack_http_requests_total", **labels)


def test_serve_with_two_processes_answers_the_sum_of_both(tmp_path):
    with serving(tmp_path, "--workers", "2") as (url, _, _, _):
        headers = bearer(superuser_token(f"sqlite:///{tmp_path}/data/optrack.db",
                                         ("read", "metrics")))
        [directory] = (tmp_path / "data").glob("metrics-*")
        sent = 0
        while len(served_by(directory)) < 2:
            assert sent < 400, "every request went to one process"
            assert httpx.get(f"{url}/api/v1/me", headers=headers).status_code == 200
            sent += 1
        assert sum(served_by(directory).values()) == sent
        for scrapes in range(6):  # whichever process answers, it counts every process's
            assert scraped_count(url, headers, **ME) == sent
            assert scraped_count(url, headers, method="GET", route="/metrics",
                                 status="200") == 2 * scrapes + 1
    assert not list((tmp_path / "data").glob("metrics-*")), "the metrics files outlived serve"


def test_serve_with_one_process_counts_into_its_metrics_directory(tmp_path):
    with serving(tmp_path) as (url, _, _, _):
        headers = bearer(superuser_token(f"sqlite:///{tmp_path}/data/optrack.db",
                                         ("read", "metrics")))
        assert httpx.get(f"{url}/api/v1/me", headers=headers).status_code == 200
        [directory] = (tmp_path / "data").glob("metrics-*")
        assert list(served_by(directory).values()) == [1]
        assert scraped_count(url, headers, **ME) == 1


def test_json_logs_have_a_line_per_request_and_no_secret(tmp_path):
    db = f"sqlite:///{tmp_path}/optrack.db"
    with Server(db, tmp_path, settings={"log_format": "json"}) as server:
        reader, garbage = superuser_token(db, ("read",)), "otk_" + "Z" * 43
        assert server.api.get("/api/v1/runs/" + "0" * 32).status_code == 404
        assert httpx.get(f"{server.url}/metrics", headers=bearer(reader)).status_code == 403
        assert httpx.get(f"{server.url}/api/v1/me", headers=bearer(garbage)).status_code == 401
        code = login_code(db)  # a one-time secret in the query string, then in a form
        assert httpx.get(f"{server.url}/login", params={"code": code}).status_code == 200
        signed_in = httpx.post(f"{server.url}/login", data={"code": code})
        session = signed_in.cookies["optrack_session"]
        assert httpx.get(f"{server.url}/api/v1/me",
                         cookies={"optrack_session": session}).status_code == 200
        text = server.log()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "msg"} <= set(line) for line in lines)
    requests = [r for r in lines if r["logger"] == "optrack.access"]
    assert {r["route"] for r in requests[:-6]} == {"/healthz"}  # the harness waiting for it
    requests = requests[-6:]
    assert all(isinstance(r["duration_ms"], float) and r["duration_ms"] >= 0 for r in requests)
    assert [(r["method"], r["route"], r["path"], r["status"], r["token"])
            for r in requests] == [
        ("GET", "/api/v1/runs/{run_id}", "/api/v1/runs/" + "0" * 32, 404, server.token[:12]),
        ("GET", "/metrics", "/metrics", 403, reader[:12]),
        ("GET", "/api/v1/me", "/api/v1/me", 401, garbage[:12]),
        ("GET", "/login", "/login", 200, None),
        ("POST", "/login", "/login", 303, None),
        ("GET", "/api/v1/me", "/api/v1/me", 200, session[:12])]
    assert [r["user"] is not None for r in requests] == [True, True, False, False, False, True]
    assert requests[-1]["user"] == "json-logger"
    for secret in (server.token, server.worker_token, reader, garbage, code, session):
        assert secret not in text


def test_the_text_access_log_shows_no_secret_of_a_query_string(tmp_path):
    db = f"sqlite:///{tmp_path}/optrack.db"
    with Server(db, tmp_path) as server:  # uvicorn's own access log, as `optrack serve` has it
        code = login_code(db)
        assert httpx.get(f"{server.url}/login", params={"code": code}).status_code == 200
        assert httpx.get(f"{server.url}/api/v1/me?token={server.token}",
                         headers=server.headers).status_code == 200
        lines = server.access_log(r"GET /(login|api/v1/me)\?")
    assert len(lines) == 2, lines
    assert f"code={code[:12]}…" in lines[0] and f"token={server.token[:12]}…" in lines[1]
    assert code not in "".join(lines) and server.token not in "".join(lines)


def login_code(db: str) -> str:
    """A one-time sign-in code for a new user, ``json-logger``."""
    engine = make_engine(db)
    try:
        with Session(engine) as session, session.begin():
            user = accounts.add_user(session, "cli", "json-logger")
            return tokens.login_code(session, session.get(User, user.id))
    finally:
        engine.dispose()


def test_a_backup_taken_while_ingesting_holds_every_acknowledged_point(tmp_path):
    db, copy = f"sqlite:///{tmp_path}/optrack.db", tmp_path / "backups" / "copy.db"
    with Server(db, tmp_path, quiet=True) as server:
        created = server.api.post("/api/v1/runs", json={"name": "ingesting", "config": {}})
        assert created.status_code == 201, created.text
        run_id, acknowledged, stop = created.json()["id"], [], threading.Event()
        ingesting = threading.Thread(target=ingest, args=(server, run_id, acknowledged, stop))
        ingesting.start()
        try:
            wait_until(lambda: len(acknowledged) >= 3, 30, "three acknowledged batches")
            before = list(acknowledged)  # every batch answered 2xx before the backup starts
            done = subprocess.run([sys.executable, "-m", "service.cli", "db", "backup",
                                   str(copy), "--database-url", db], cwd=REPO,
                                  env=child_env({}), capture_output=True, text=True,
                                  timeout=120)
            during = len(acknowledged)
        finally:
            stop.set()
            ingesting.join(60)
    assert done.returncode == 0, done.stderr
    assert "integrity ok" in done.stdout
    assert during > len(before), "the ingesting client stalled during the backup"
    with sqlite3.connect(copy) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        steps = {step for (step,) in conn.execute("SELECT step FROM metrics WHERE run_id = ?",
                                                  (run_id,))}
    expected = {batch * BATCH + i for batch in before for i in range(BATCH)}
    assert expected <= steps
    assert [p.name for p in copy.parent.iterdir()] == ["copy.db"]  # no temp file, no WAL


def ingest(server: Server, run_id: str, acknowledged: list[int], stop: threading.Event) -> None:
    """Post batches of new points until told to stop, noting each batch answered 2xx."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=30) as http:
        for batch in range(MAX_BATCHES):
            if stop.is_set():
                return
            points = [{"key": "loss", "step": batch * BATCH + i, "value": 1.0 / (i + 1)}
                      for i in range(BATCH)]
            if http.post(f"/api/v1/runs/{run_id}/metrics", json={"metrics": points}).is_success:
                acknowledged.append(batch)
