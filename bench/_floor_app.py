"""The bare reference for ``bench.request_floor``: a minimal FastAPI app with optrack's JSON
shapes — a sha256-hashed bearer token looked up per request, one row selected by id, points
inserted with one ``executemany`` in one transaction (SQLite: WAL, synchronous=FULL,
``BEGIN IMMEDIATE``; PostgreSQL: psycopg). What the stack itself can do.

    uvicorn --factory bench._floor_app:app_from_env   (FLOOR_DATABASE: a file or a postgresql:// URL)
"""

# no "from __future__ import annotations": FastAPI must resolve the closures' User alias
import hashlib
import os
import sqlite3
import threading
import time
import uuid
from typing import Annotated

from fastapi import Depends, FastAPI, Header, HTTPException
from pydantic import BaseModel, ConfigDict, Field

SCHEMA = ("CREATE TABLE IF NOT EXISTS tokens (hash TEXT PRIMARY KEY, user_name TEXT NOT NULL)",
          "CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
          "state TEXT NOT NULL, created REAL NOT NULL)",
          "CREATE TABLE IF NOT EXISTS points (run_id TEXT NOT NULL, key TEXT NOT NULL, "
          "step BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL, time DOUBLE PRECISION "
          "NOT NULL, PRIMARY KEY (run_id, key, step))")


class Point(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=250)
    step: int = Field(ge=0, le=2**62)
    value: Annotated[float, Field(strict=True)]
    time: float | None = None


class Batch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    metrics: list[Point] = Field(max_length=10_000)


class RunIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Db:
    """One connection per thread (FastAPI runs ``def`` endpoints in its thread pool)."""

    def __init__(self, target: str):
        self.target, self.pg = target, target.startswith("postgresql")
        self.local = threading.local()
        self.mark = "%s" if self.pg else "?"

    def conn(self):
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = self._connect()
        return conn

    def _connect(self):
        if self.pg:
            import psycopg
            return psycopg.connect(self.target.replace("postgresql+psycopg", "postgresql"))
        conn = sqlite3.connect(self.target, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def one(self, sql: str, args: tuple):
        conn = self.conn()
        row = conn.execute(sql.replace("?", self.mark), args).fetchone()
        if self.pg:
            conn.rollback()  # end the read's implicit transaction, as a session would
        return row

    def write(self, sql: str, rows: list[tuple]) -> int:
        """``executemany`` in one transaction; the rows it inserted."""
        conn = self.conn()
        sql = sql.replace("?", self.mark)
        if self.pg:
            with conn.cursor() as cur:
                cur.executemany(sql, rows)
                inserted = cur.rowcount
            conn.commit()
            return inserted
        conn.execute("BEGIN IMMEDIATE")
        try:
            before = conn.total_changes
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
            return conn.total_changes - before
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def setup(target: str, token: str) -> None:
    """The schema and one token (run by the benchmark before it starts the server)."""
    db = Db(target)
    conn = db.conn()
    for stmt in SCHEMA:
        conn.execute(stmt)
    conn.execute(f"INSERT INTO tokens VALUES ({db.mark}, {db.mark}) ON CONFLICT DO NOTHING",
                 (token_hash(token), "bench"))
    if db.pg:
        conn.commit()
    conn.close()


def app_from_env() -> FastAPI:
    return make_app(Db(os.environ["FLOOR_DATABASE"]))


def make_app(db: Db) -> FastAPI:
    app = FastAPI()

    def user(authorization: Annotated[str, Header()] = "") -> str:
        scheme, _, token = authorization.partition(" ")
        row = db.one("SELECT user_name FROM tokens WHERE hash = ?", (token_hash(token),))
        if scheme.lower() != "bearer" or row is None:
            raise HTTPException(401, "invalid token")
        return row[0]

    User = Annotated[str, Depends(user)]

    @app.get("/healthz")
    def healthz() -> dict:
        return {"ok": True}

    @app.get("/api/v1/me")
    def me(name: User) -> dict:
        return {"name": name}

    @app.post("/api/v1/runs", status_code=201)
    def create_run(body: RunIn, name: User) -> dict:
        run = {"id": uuid.uuid4().hex, "name": body.name, "state": "running",
               "created": time.time()}
        db.write("INSERT INTO runs VALUES (?, ?, ?, ?)", [tuple(run.values())])
        return run

    @app.get("/api/v1/runs/{run_id}")
    def get_run(run_id: str, name: User) -> dict:
        row = db.one("SELECT id, name, state, created FROM runs WHERE id = ?", (run_id,))
        if row is None:
            raise HTTPException(404, "no such run")
        return dict(zip(("id", "name", "state", "created"), row))

    @app.post("/api/v1/runs/{run_id}/metrics")
    def log_metrics(run_id: str, body: Batch, name: User) -> dict:
        now = time.time()
        rows = [(run_id, p.key, p.step, p.value, p.time if p.time is not None else now)
                for p in body.metrics]
        inserted = db.write("INSERT INTO points VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                            rows)
        return {"received": len(rows), "inserted": inserted, "pruned": False}

    return app
