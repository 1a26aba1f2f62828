"""How ``optrack watch`` shows what it polled (a ``watch.Snapshot``): live progress bars in a
terminal, or JSON lines for scripts.

JSON lines: ``{"event": "progress", …}`` whenever what was seen changed, then exactly one
``{"event": "end", …}`` with the final counts, the best run, the failed runs and the exit
status — a script may read only the last line."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn,
                           TimeRemainingColumn)
from rich.text import Text

from .common import print_json
from .runs import number

STATES = ("queued", "running", "succeeded", "failed", "diverged", "pruned", "cancelled")


def counts_text(counts: dict[str, int]) -> str:
    """"2 running · 4 succeeded", states in the order a run passes them."""
    known = [s for s in STATES if counts.get(s)] + sorted(set(counts) - set(STATES))
    return " · ".join(f"{counts[s]} {s}" for s in known) or "no runs"


def best_text(snapshot) -> str:
    best = snapshot.best
    if best is None:
        return "best: none yet"
    return (f"best: {best['name']} ({best['run_id']}) "
            f"{snapshot.objective.metric} {number(best['value'])}")


def search_text(detail: dict[str, Any]) -> str | None:
    """An adaptive search's trials done; a comparison's status per optimizer."""
    parts = []
    if detail.get("search"):
        search = detail["search"]
        parts.append(f"{search['method']}: {search['done']}/{search['trials']} trials done, "
                     f"{search['pruned']} pruned")
    if detail.get("comparison"):
        parts.append(" · ".join(f"{o['optimizer']} {o['status']}"
                                for o in detail["comparison"]["optimizers"]))
    return "; ".join(parts) or None


class LiveView:
    """A header (counts, search, best) over one progress bar per running run."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeRemainingColumn(),
                                 TextColumn("{task.fields[value]}"), console=self.console)
        self.tasks: dict[str, TaskID] = {}
        self.live = Live(console=self.console, refresh_per_second=4, transient=True)

    def __enter__(self) -> "LiveView":
        self.live.start()
        return self

    def __exit__(self, *exc) -> None:
        self.live.stop()

    def show(self, snapshot) -> None:
        self._bars(snapshot)
        detail = snapshot.detail
        lines = [f"{detail['name']} ({detail['id']}): {counts_text(detail['status_counts'])}",
                 search_text(detail), best_text(snapshot)]
        self.live.update(Group(*(Text(line) for line in lines if line), self.progress))

    def _bars(self, snapshot) -> None:
        """A bar per running run, added when it starts and removed when it ends."""
        metric = snapshot.objective.metric
        seen = set()
        for run in snapshot.running:
            seen.add(run["id"])
            value = run["metrics"].get(metric)
            fields = {"completed": run["step"] or 0, "total": run["total_steps"],
                      "value": "" if value is None else f"{metric} {number(value)}"}
            if run["id"] in self.tasks:
                self.progress.update(self.tasks[run["id"]], **fields)
            else:
                self.tasks[run["id"]] = self.progress.add_task(run["name"][:40], **fields)
        for run_id in set(self.tasks) - seen:
            self.progress.remove_task(self.tasks.pop(run_id))

    def end(self, snapshot, status: int) -> None:
        detail = snapshot.detail
        self.console.print(f"{detail['name']} ({detail['id']}) ended: "
                           f"{counts_text(detail['status_counts'])}", highlight=False)
        self.console.print(best_text(snapshot), highlight=False)
        for run in snapshot.failed:
            reason = (run["error"] or "").splitlines()[:1]
            self.console.print(f"failed: {run['name']} ({run['id']})"
                               + (f": {reason[0]}" if reason else ""), highlight=False)


class JsonView:
    """A JSON line per change, then the end's."""

    def __init__(self):
        self.last: dict[str, Any] | None = None

    def __enter__(self) -> "JsonView":
        return self

    def __exit__(self, *exc) -> None:
        pass

    def show(self, snapshot) -> None:
        record = {"event": "progress", **_common(snapshot),
                  "running": [{"run_id": r["id"], "name": r["name"], "step": r["step"],
                               "total_steps": r["total_steps"],
                               "value": r["metrics"].get(snapshot.objective.metric)}
                              for r in snapshot.running]}
        if record != self.last:
            print_json(record)
            self.last = record

    def end(self, snapshot, status: int) -> None:
        print_json({"event": "end", **_common(snapshot), "name": snapshot.detail["name"],
                    "failed": [{"run_id": r["id"], "name": r["name"], "error": r["error"]}
                               for r in snapshot.failed],
                    "exit_status": status})


def _common(snapshot) -> dict[str, Any]:
    detail = snapshot.detail
    search = detail.get("search")
    return {"experiment_id": detail["id"], "status_counts": detail["status_counts"],
            "objective": {"metric": snapshot.objective.metric,
                          "mode": snapshot.objective.mode},
            "best": snapshot.best,
            "search": None if search is None else {k: search[k] for k in
                                                   ("method", "trials", "done", "pruned")}}
