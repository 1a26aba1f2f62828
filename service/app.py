"""The FastAPI application, built by ``create_app(settings)``: no engine or settings exist at
import time, so tests and tools configure their own."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from optrack import heap

from . import dashboard, migrate
from .auth.ratelimit import RateLimiter
from .db import for_reading, make_engine, session_makers
from .deps import scope
from .handlers import install_handlers
from .middleware import BodyLimit, SecurityHeaders
from .ops import logs
from .ops.access import RequestObserver
from .queue.signal import QueueSignal
from .routes import (audit, datasets, experiments, meta, metrics, mlflow, projects, runs, tokens,
                     users, worker)
from .routes import monitoring
from .schemas.common import ERROR_RESPONSES
from .settings import Settings, get_settings

log = logging.getLogger("optrack")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings.log_format)
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_max_overflow)
    if settings.migrate_on_start:
        migrate.upgrade(engine)
    app = FastAPI(title="optrack", version="0.1.0", openapi_url=None, docs_url=None,
                  redoc_url=None,
                  description="Hyperparameter experiment tracking: experiments, runs, metrics.")
    app.state.settings = settings
    app.state.engine = engine
    app.state.writer, app.state.reader = session_makers(engine)
    app.state.read_engine = for_reading(engine)  # each request's caller is read on it
    app.state.queue_signal = QueueSignal()  # wakes long-polling lease calls
    app.state.login_limiter = RateLimiter(settings.auth_rate_per_minute)
    app.state.token_limiter = RateLimiter(settings.auth_rate_per_minute)
    install_handlers(app)
    for module in (experiments, runs, metrics, worker, datasets, users, projects, tokens, audit,
                   meta):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    app.include_router(mlflow.router)  # MLflow's API: MLflow's error shape, not in the schema
    app.include_router(mlflow.artifacts)
    app.include_router(monitoring.router, responses=ERROR_RESPONSES)

    @app.get("/openapi.json", include_in_schema=False, dependencies=[scope("read")])
    def openapi_schema() -> dict:
        """The API's OpenAPI schema (for signed-in clients, like every route)."""
        return app.openapi()

    dashboard.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, overrides=(
        ("PUT", r"/api/v1/worker/runs/[^/]+/checkpoint", settings.max_checkpoint_bytes),
        ("POST", r"/api/v1/datasets", settings.max_dataset_bytes),
        ("POST", r"/login|/logout", 4096)))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestObserver, log_requests=settings.log_format == "json")
    return app


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory service.app:app_from_env`` (settings from OPTRACK_*):
    the server's process, whose heap is then settled (optrack/heap.py)."""
    app = create_app()
    heap.settle()
    return app
