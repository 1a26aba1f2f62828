"""What the MLflow tests share: the server as a process of its own on the module's database
(SQLite or PostgreSQL), with MLflow's own client pointed at it; and small helpers. The
client's retries are off (MLFLOW_HTTP_REQUEST_MAX_RETRIES=0), so a server error fails a test at
once instead of being retried."""

from __future__ import annotations

import uuid

import mlflow
import pytest
from mlflow.exceptions import MlflowException

from ..harness import Server

MLFLOW = "/api/2.0/mlflow"
T0 = 1_700_000_000_000  # a timestamp in milliseconds


@pytest.fixture(scope="module")
def server(module_db_url, tmp_path_factory):
    """The API over the module's database, MLflow's client pointed at it with a superuser's
    token (its default project is ``default``)."""
    with Server(module_db_url, tmp_path_factory.mktemp("mlflow")) as srv, \
            pytest.MonkeyPatch.context() as env:
        for name, value in {"MLFLOW_TRACKING_URI": srv.url, "MLFLOW_TRACKING_TOKEN": srv.token,
                            "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
                            "MLFLOW_DISABLE_TELEMETRY": "true"}.items():
            env.setenv(name, value)
        mlflow.set_tracking_uri(srv.url)
        yield srv


@pytest.fixture
def active_experiment(server):
    """A new experiment made the fluent API's active one (``mlflow.set_experiment``), and
    experiment "0" (Default) active again afterwards."""
    yield mlflow.set_experiment(unique("active")).experiment_id
    mlflow.set_experiment("Default")


def fails(call, code: str) -> str:
    """``call()`` raises MLflow's exception with ``code``; its message."""
    with pytest.raises(MlflowException) as caught:
        call()
    assert caught.value.error_code == code, caught.value.message
    return caught.value.message


def unique(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"
