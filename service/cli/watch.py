"""``optrack watch EXPERIMENT`` (and ``optrack submit FILE --watch``): follow an experiment over
the REST API until it ends.

Every ``--interval`` seconds it reads the experiment (counts per state, an adaptive search's or
a comparison's progress), its running runs (step of ``total_steps``, the objective's latest
value) and the best run so far. The experiment has ended when no run is queued or running and
no more are to come: an adaptive search has all its trials done, a comparison every optimizer
settled (its final runs are made after its search). The objective is the search's
``objective`` if it has one, else the metric the experiment's summary ranks runs by
(``val_accuracy``, higher is better, else ``val_loss``, …, lower is better).

Exit status: 0, or ``EXIT_RUN_FAILED`` when a run of the experiment failed (diverged, pruned
and cancelled runs are results, not failures), 1 on an error, 130 when interrupted (the
experiment goes on)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import typer

from optrack import Client

from .common import JSON, SERVER, TOKEN, connected
from .watch_view import JsonView, LiveView

INTERVAL = typer.Option(1.0, "--interval", min=0.05, help="seconds between polls")
WATCH_GIVE_UP_AFTER = 120.0  # seconds: a watch rides out a server restart
EXIT_RUN_FAILED = 3
SETTLED = ("done", "no complete trial")  # a comparison's optimizer with nothing more to come


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: str  # "min" or "max"


@dataclass
class Snapshot:
    """What one poll saw."""

    detail: dict[str, Any]  # GET /experiments/{id}
    objective: Objective
    running: list[dict[str, Any]]  # the running runs' views, oldest first
    best: dict[str, Any] | None  # {"run_id", "name", "value"}
    failed: list[dict[str, Any]] = field(default_factory=list)  # at the end: failed runs

    @property
    def ended(self) -> bool:
        return experiment_ended(self.detail)


def experiment_ended(detail: dict[str, Any]) -> bool:
    """No run queued or running, and none to come."""
    counts = detail["status_counts"]
    if counts.get("queued") or counts.get("running"):
        return False
    search = detail.get("search")
    if search is not None and search["done"] < search["trials"]:
        return False
    compared = detail.get("comparison")
    return compared is None or all(o["status"] in SETTLED for o in compared["optimizers"])


def objective_of(detail: dict[str, Any]) -> Objective:
    objective = (detail["request"].get("search") or {}).get("objective")
    if objective:
        return Objective(objective["metric"], objective.get("mode", "min"))
    metric = next((row["best_by"] for row in detail["summary"] if row["best_by"]), "val_loss")
    return Objective(metric, "max" if metric.endswith("accuracy") else "min")


class Poller:
    """Reads an experiment's state; remembers run names it looked up."""

    def __init__(self, client: Client, experiment_id: str):
        self.client, self.experiment_id = client, experiment_id
        self.names: dict[str, str] = {}

    def poll(self) -> Snapshot:
        detail = self.client.experiment(self.experiment_id)
        objective = objective_of(detail)
        running = list(self.client.iter_runs(experiment=self.experiment_id,
                                             filter="status = 'running'", order_by="created"))
        return Snapshot(detail, objective, running, self.best(detail, objective))

    def best(self, detail: dict[str, Any], objective: Objective) -> dict[str, Any] | None:
        """An adaptive search's best trial (as the search judges it); else the succeeded run
        with the best latest objective."""
        search = detail.get("search")
        if search is not None:
            run_id = search["best_run_id"]
            if run_id is None:
                return None
            if run_id not in self.names:
                self.names[run_id] = self.client.get_run(run_id)["name"]
            return {"run_id": run_id, "name": self.names[run_id], "value": search["best_value"]}
        key = f"metrics.{objective.metric}"
        page = self.client.runs(experiment=self.experiment_id, limit=1,
                                filter=f"status = 'succeeded' and {key} != null",
                                order_by=f"{key} {'desc' if objective.mode == 'max' else 'asc'}")
        if not page["runs"]:
            return None
        run = page["runs"][0]
        return {"run_id": run["id"], "name": run["name"],
                "value": run["metrics"][objective.metric]}

    def failed_runs(self) -> list[dict[str, Any]]:
        return list(self.client.iter_runs(experiment=self.experiment_id,
                                          filter="status = 'failed'", order_by="created"))


def watch_experiment(server: str | None, token: str | None, experiment_id: str,
                     json_out: bool, interval: float) -> int:
    """Follow the experiment until it ends; the exit status."""
    with connected(server, token, WATCH_GIVE_UP_AFTER) as client:
        poller = Poller(client, experiment_id)
        view = JsonView() if json_out else LiveView()
        try:
            with view:
                snapshot = poller.poll()
                while not snapshot.ended:
                    view.show(snapshot)
                    time.sleep(interval)
                    snapshot = poller.poll()
            snapshot.failed = poller.failed_runs()
        except KeyboardInterrupt:
            typer.echo("stopped watching; the experiment goes on", err=True)
            return 130
        status = EXIT_RUN_FAILED if snapshot.failed else 0
        view.end(snapshot, status)
        return status


def watch(experiment_id: str, interval: float = INTERVAL, server: str = SERVER,
          token: str = TOKEN, json_out: bool = JSON) -> None:
    """Live progress of an experiment's runs until it ends (exit status 3 if a run failed).
    --json: a JSON line per change, then one with "event": "end"."""
    raise typer.Exit(watch_experiment(server, token, experiment_id, json_out, interval))


def register(app: typer.Typer) -> None:
    app.command()(watch)
