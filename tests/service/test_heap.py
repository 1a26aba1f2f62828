"""The API server's and the worker's processes settle their heap once started (optrack/heap.py):
what was alive is frozen out of the collector's passes and the youngest generation is larger.
Each is checked in a process of its own, started as uvicorn and ``python -m worker`` start
them, since the settings are the process's."""

from __future__ import annotations

import gc
import json
import subprocess
import sys

from optrack import heap

from ..harness import Settings, create_app
from ..harness.processes import child_env

REPORT = "import gc, json; print(json.dumps([gc.get_freeze_count(), list(gc.get_threshold())]))"


def _report(code: str, env: dict[str, str]) -> tuple[int, list[int]]:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=child_env(env), timeout=120, check=True)
    frozen, threshold = json.loads(done.stdout.strip().splitlines()[-1])
    return frozen, threshold


def test_the_server_factory_settles_the_heap(tmp_path):
    frozen, threshold = _report(
        "from service.app import app_from_env; app_from_env(); " + REPORT,
        {"OPTRACK_DATA_DIR": str(tmp_path)})
    assert frozen > 10_000  # modules, classes, the app
    assert threshold == [heap.YOUNGEST, heap.OLDER, heap.OLDER]


def test_the_worker_settles_the_heap_before_it_leases():
    # run_forever replaced by the report: what the loop would start with
    frozen, threshold = _report(
        "import worker.__main__ as m; m.Worker.run_forever = lambda self, max_runs=None: "
        f"exec({REPORT!r}); m.main(['--server', 'http://127.0.0.1:9', '--token', 'x'])", {})
    assert frozen > 10_000
    assert threshold == [heap.YOUNGEST, heap.OLDER, heap.OLDER]


def test_create_app_alone_leaves_the_collector_as_it_was(tmp_path):
    # TestClient apps and tools build the app in a process that is not the server's
    before = (gc.get_threshold(), gc.get_freeze_count())
    app = create_app(Settings(data_dir=tmp_path))
    app.state.engine.dispose()
    assert (gc.get_threshold(), gc.get_freeze_count()) == before
