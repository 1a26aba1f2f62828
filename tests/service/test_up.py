"""``optrack up`` — the one-machine start — is secure with zero configuration: the first start
creates the superuser and saves its token (owner-only) where the command line finds it; the
command line then submits and reads without being given a token; the printed sign-in link works
once; the workers' token of that start is revoked when it stops; a second start reuses the
superuser and saves nothing new."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from service.models import ApiToken, User

from ..harness import REPO, free_port

POINT = {"name": "zero-config", "model": {"kind": "point"},
         "optimizer": {"name": "adam", "lr": 0.1}, "training": {"steps": 20}}
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/login\?code=\S+)")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPTRACK_")}
    return {**env, "OPTRACK_CONFIG_DIR": str(tmp_path / "config")}


def _start(tmp_path: Path, port: int) -> tuple[subprocess.Popen, Path]:
    log = tmp_path / f"up-{time.monotonic_ns()}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "up", "--port", str(port), "--workers", "1",
         "--data-dir", str(tmp_path / "data")],
        cwd=REPO, env=_env(tmp_path), stdout=open(log, "wb"), stderr=subprocess.STDOUT,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while not LINK.search(log.read_text()):
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return proc, log


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "service.cli", *args], cwd=REPO,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120)


def test_up_is_secure_with_zero_configuration(tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc, log = _start(tmp_path, port)
    try:
        saved = tmp_path / "config" / "credentials.json"
        assert stat.S_IMODE(saved.stat().st_mode) == 0o600
        token = json.loads(saved.read_text())[url]
        assert "created the superuser 'admin'" in log.read_text()
        assert httpx.get(f"{url}/api/v1/experiments").status_code == 401  # on by default

        request = tmp_path / "experiment.json"
        request.write_text(json.dumps(POINT))
        submitted = _cli(tmp_path, "submit", str(request), "--server", url)
        assert submitted.returncode == 0, submitted.stderr
        experiment_id = submitted.stdout.strip()
        deadline = time.monotonic() + 60
        while True:  # the start's own worker (with its own token) trains it
            status = _cli(tmp_path, "status", experiment_id, "--server", url)
            assert status.returncode == 0, status.stderr
            if "succeeded" in status.stdout:
                break
            assert time.monotonic() < deadline, status.stdout
            time.sleep(0.5)

        link = LINK.search(log.read_text()).group(1)
        code = link.split("code=")[1]
        with httpx.Client(base_url=url) as browser:
            first = browser.post("/login", data={"code": code})
            assert first.status_code == 303 and "optrack_session" in browser.cookies
            assert browser.get("/api/v1/me").json()["name"] == "admin"
        assert httpx.post(f"{url}/login", data={"code": code}).status_code == 401  # once
        assert httpx.get(f"{url}/api/v1/me",
                         headers={"authorization": f"Bearer {token}"}).status_code == 200
    finally:
        _stop(proc)

    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'optrack.db'}")
    try:
        with Session(engine) as session:
            assert session.scalars(select(User.name)).all() == ["admin"]
            workers = session.scalars(select(ApiToken).where(
                ApiToken.name == "optrack up workers")).all()
            assert len(workers) == 1 and workers[0].revoked_at is not None  # stopped: revoked
    finally:
        engine.dispose()

    again, log = _start(tmp_path, port)  # a second start: the same superuser, nothing saved
    try:
        assert "signed in as the superuser 'admin'" in log.read_text()
        assert json.loads((tmp_path / "config" / "credentials.json").read_text())[url] == token
    finally:
        _stop(again)
