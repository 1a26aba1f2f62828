"""A real optrack server in a subprocess, for benchmarks: start it on a free port, wait for
/healthz, read its resident memory, stop it.

    with Server(database_url, data_dir) as server:
        httpx.get(server.url + "/healthz")
        server.rss_bytes()

The server is ``python -m uvicorn --factory service.app:app_from_env`` with OPTRACK_DATABASE_URL
and OPTRACK_DATA_DIR set.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
FACTORY = "service.app:app_from_env"


def auth_headers() -> dict[str, str]:
    """The Authorization header of the token the last started Server made."""
    token = os.environ.get("OPTRACK_TOKEN")
    return {"authorization": f"Bearer {token}"} if token else {}


PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def temp_database(engine: str, tmp: Path):
    """(URL, drop) of a new empty database: a SQLite file in ``tmp`` (drop is None), or a
    fresh database on the local PostgreSQL server that ``drop()`` removes."""
    if engine == "sqlite":
        return f"sqlite:///{Path(tmp) / 'optrack.db'}", None
    import uuid

    from sqlalchemy import create_engine, text
    name = f"optrack_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, database_url: str, data_dir: str | os.PathLike, *,
                 startup_timeout: float = 60.0):
        self.database_url, self.data_dir = database_url, str(data_dir)
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log = tempfile.NamedTemporaryFile("w+b", prefix="optrack-bench-server-",
                                                suffix=".log", delete=False)

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        env = dict(os.environ, OPTRACK_DATABASE_URL=self.database_url,
                   OPTRACK_DATA_DIR=self.data_dir, PYTHONUNBUFFERED="1")
        # the repository root first, so ``service`` and ``bench`` import from this checkout
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        cmd = [sys.executable, "-m", "uvicorn", "--factory",
               FACTORY,
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
               "--no-access-log"]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self.proc.poll() is not None:
                    tail = self.log_tail()
                    self.stop()
                    raise RuntimeError(f"server exited with status {self.proc.returncode}:\n"
                                       f"{tail}")
                try:
                    if client.get(self.url + "/healthz").status_code == 200:
                        return self._sign_in()
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    self.stop()
                    raise RuntimeError(f"server not healthy after {self.startup_timeout:.0f} s:\n"
                                       f"{tail}")
                time.sleep(0.1)

    def _sign_in(self) -> None:
        """A superuser token with every scope, made on the (migrated) database, exported as
        OPTRACK_TOKEN so that workers this process starts use it, and in ``headers``."""
        sys.path.insert(0, str(ROOT))
        from sqlalchemy.orm import Session

        from service.auth import accounts as admin
        from service.db import make_engine
        from service.models import SCOPES

        engine = make_engine(self.database_url)
        with Session(engine) as session:
            user = admin.add_user(session, "cli", f"bench-{self.port}", superuser=True)
            _, self.token = admin.create_token(session, "cli", user, "bench", list(SCOPES))
            session.commit()
        engine.dispose()
        os.environ["OPTRACK_TOKEN"] = self.token

    @property
    def headers(self) -> dict[str, str]:
        return auth_headers()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)

    def rss_bytes(self) -> int | None:
        """VmRSS of the server process, from /proc/<pid>/status (None if unreadable)."""
        try:
            with open(f"/proc/{self.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def cpu_seconds(self) -> float | None:
        """User + system CPU time the server process has used so far (/proc/<pid>/stat)."""
        try:
            with open(f"/proc/{self.pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = Path(self._log.name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
