"""bench/sdk.py's third part: the training loop logging through the ``mlflow`` client, to
optrack's MLflow-compatible API and, when ``MLFLOW_BIN`` names an ``mlflow`` executable, to an
MLflow tracking server of its own on the same machine."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator

from tests.harness import free_port, wait_until


def _loop_through_mlflow(uri: str, steps: int, loop_seconds: Callable, token: str | None
                         ) -> float:
    """Seconds of ``steps`` loop iterations logging 4 keys per step with mlflow.log_metrics."""
    import mlflow

    if token:
        os.environ["MLFLOW_TRACKING_TOKEN"] = token
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench sdk")

    class Logger:  # loop_seconds logs through ``run.log(metrics, step=)``
        def log(self, metrics: dict, step: int) -> None:
            mlflow.log_metrics(metrics, step=step)

    with mlflow.start_run():
        return loop_seconds(steps, Logger())


def _mlflow_server(tmp: str) -> Iterator[str]:
    port = free_port()
    store = Path(tmp) / "mlflow"
    proc = subprocess.Popen([os.environ["MLFLOW_BIN"], "server", "--host", "127.0.0.1",
                             "--port", str(port), "--backend-store-uri", f"sqlite:///{store}.db"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        import httpx
        wait_until(lambda: _answers(httpx, url), 120, "the MLflow server")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def _answers(httpx, url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def mlflow_rows(srv, steps: int, tmp: str, bare_step: float, loop_seconds: Callable
                ) -> list[str]:
    """The lines bench/sdk.py prints for the mlflow client (``bare_step``: seconds per step of
    the loop logging nothing)."""
    if importlib.util.find_spec("mlflow") is None:  # the dev extra's mlflow-skinny
        return ["\n3. mlflow client: not installed (pip install mlflow-skinny): skipped"]
    lines = [f"\n3. the same loop logging through the mlflow client (mlflow.log_metrics, one "
             f"request per step), {steps} steps"]
    targets = [("optrack's MLflow API", srv.url, srv.token)]
    own = None
    if os.environ.get("MLFLOW_BIN"):
        own = _mlflow_server(tmp)
        targets.append(("an MLflow server (same machine, SQLite store)", next(own), None))
    try:
        figures = {}
        for label, uri, token in targets:
            started = time.perf_counter()
            seconds = _loop_through_mlflow(uri, steps, loop_seconds, token)
            figures[label] = seconds / steps
            lines.append(f"  {label}: {seconds / steps * 1e3:.2f} ms/step = "
                         f"{seconds / steps / bare_step:.1f}× the loop without logging "
                         f"(wall {time.perf_counter() - started:.1f} s)")
        if len(figures) == 2:
            a, b = figures.values()
            lines.append(f"  optrack / MLflow per step: {a / b:.2f}×")
        else:
            lines.append("  MLflow's own server: MLFLOW_BIN not set: not measured")
    finally:
        if own is not None:
            own.close()
    return lines
