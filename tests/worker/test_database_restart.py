"""PostgreSQL restarted under load: the server and its workers recover without manual action,
and the run still ends ``succeeded`` with exactly the metrics of an uninterrupted training.

Restarting is done to the local cluster this machine runs (pg_ctlcluster, as root); where that
command is not available the test cannot restart anything and says so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ..harness import wait_until
from .conftest import long_run
from .reference import assert_matches_reference, prefetch_reference


def _restart_postgres() -> None:
    versions = sorted(p.name for p in Path("/etc/postgresql").iterdir())
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main",
                    "restart", "--mode", "fast"], check=True, capture_output=True, timeout=60)
    subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", "5432", "-t", "30"], check=True,
                   capture_output=True, timeout=60)


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_server_and_workers_ride_out_a_postgresql_restart(server, workers, db_url):
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir():
        pytest.fail("this test restarts the local PostgreSQL cluster with pg_ctlcluster, "
                    "which is not installed here")
    srv = server(wait=False, lease_seconds=5)
    workers(srv, 1)
    srv.wait_ready()
    (run_id,) = srv.submit(long_run(epochs=40))
    prefetch_reference(srv, run_id)
    wait_until(lambda: srv.points(run_id) > 50, 60, "metrics to stream in")

    _restart_postgres()  # every open connection of server and workers' server is cut

    run = srv.wait_ended([run_id], timeout=180)[run_id]
    assert run["status"] == "succeeded", (run["status"], run["error"])
    assert_matches_reference(srv, run_id)
    # the API answers normally afterwards: its pool replaced the dead connections
    assert srv.run(run_id)["id"] == run_id
