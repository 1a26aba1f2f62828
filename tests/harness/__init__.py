"""What tests and benchmarks start for real: temporary databases, a superuser's token, the API
server as a process, worker processes. One implementation for both, so that a benchmark
measures the set-up the tests check.

    with temp_database("postgresql") as url, Server(url, data_dir) as srv:
        Workers(data_dir)(srv, 2)
        srv.wait_ended(srv.submit(experiment))

Only ``internals`` imports the service's modules; the rest of tests/ and bench/ (but the test
files) take what they need of the service from here."""

from .databases import ENGINES, PG_ADMIN_URL, DatabaseUnavailable, database_bytes, temp_database
from .internals import (ALL_SCOPES, TRAJECTORIES, Settings, create_app, engine_with_tables,
                        make_engine, models, record_many_runs, record_metrics,
                        superuser_token)
from .processes import REPO, free_port, run_async, wait_until
from .server import ENDED, Server
from .workers import WorkerProc, Workers

__all__ = ["ALL_SCOPES", "ENDED", "ENGINES", "PG_ADMIN_URL", "REPO", "TRAJECTORIES",
           "DatabaseUnavailable", "Server", "Settings", "WorkerProc", "Workers", "create_app",
           "database_bytes", "engine_with_tables", "free_port", "make_engine", "models",
           "record_many_runs", "record_metrics", "run_async", "superuser_token", "temp_database",
           "wait_until"]
