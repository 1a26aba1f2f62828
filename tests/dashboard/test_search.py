"""An adaptive search in the dashboard, on SQLite and PostgreSQL: a TPE search with ASHA early
stopping submitted through the form is watched running on its experiment page (the progress line
and the optimisation history grow without a reload), and once done the page shows one history
point per finished trial with the best-so-far line, a slice plot per searched parameter on its
space's axis (log for a log-uniform one, categories for a choice), the parameter importance (or
the number of complete trials it needs), pruned runs drawn dotted in the curves chart and styled
and counted as pruned. A pruner's bad parameter is shown next to its field and stores nothing.
Screenshots: new-search, new-search-error, experiment-search-live, experiment-search."""

from __future__ import annotations

import math
import re
from datetime import datetime
from urllib.parse import urlparse

from playwright.sync_api import Page, expect

from .conftest import LIVE_TIMEOUT_MS, open_view, shot, traces

TRIALS = 8
SPACE = [("optimizer.lr", "log_uniform", "0.0001, 1"), ("optimizer.name", "choice", "sgd, adam")]
RUN_ROWS = "#runs-table tbody tr[data-run-id]"
PRUNED_COLOR = "rgb(181, 71, 8)"  # optrack.css: .status.pruned is var(--warn)

# what the page shows, recorded every 50 ms from the first script of every page on
SAMPLER = """
window.samples = [];
setInterval(() => {
  const progress = document.getElementById('search-progress');
  const history = document.getElementById('search-history');
  if (!progress || !progress.dataset.done) return;
  const points = (history && history.data || []).filter(t => t.mode === 'markers')
    .reduce((n, t) => n + t.x.length, 0);
  window.samples.push({ done: Number(progress.dataset.done),
                        inFlight: Number(progress.dataset.inFlight), points });
}, 50);
"""


def fill_spiral(page: Page, name: str) -> None:
    """The form's experiment ``name`` on the tiny spiral MLP (about 0.5 s a full run)."""
    page.fill('[data-path="name"]', name)
    page.select_option('[data-path="dataset.name"]', "spiral")
    page.fill('[data-path="dataset.samples"]', "1000")
    page.fill('[data-path="model.hidden"]', "16")
    page.fill('[data-path="training.epochs"]', "4")
    page.fill('[data-path="training.batch_size"]', "2")


def fill_search(page: Page, name: str, pruner: dict[str, str]) -> None:
    """The form of a small TPE search on the tiny spiral MLP."""
    fill_spiral(page, name)
    expect(page.locator("#search-fields")).to_be_hidden()
    page.check('[name="search-method"][value="tpe"]')
    expect(page.locator("#search-fields")).to_be_visible()
    expect(page.locator('[data-path="search.objective.metric"]')).to_have_value("val_loss")
    page.fill('[data-path="search.trials"]', str(TRIALS))
    page.fill('[data-path="search.parallelism"]', "2")
    page.select_option('[data-path="search.objective.mode"]', "min")
    page.select_option('[data-path="search.pruner.name"]', pruner["name"])
    for key, value in pruner.items():
        if key != "name":
            page.fill(f'[data-path="search.pruner.{key}"]', value)
    for i, (path, kind, values) in enumerate(SPACE):
        row = page.locator(f'.space-row[data-row="{i}"]')
        row.locator(".space-path").fill(path)
        row.locator(".space-kind").select_option(kind)
        row.locator(".space-values").fill(values)


def named(dashboard, name: str) -> list[dict]:
    return dashboard.server.api.get("/api/v1/experiments", params={"q": name}).json()[
        "experiments"]


def test_a_bad_pruner_field_is_shown_next_to_it_and_stores_nothing(page, dashboard, console):
    console.allow(r"status of 422")  # the API's answers to the invalid requests
    open_view(page, "/new")
    fill_search(page, "bad pruner", {"name": "asha", "min_resource": "1", "reduction_factor": "1"})
    page.click("#submit-experiment")
    error = page.locator('.field-error[data-for="search.pruner.reduction_factor"]')
    expect(error).to_contain_text("must be an integer >= 2, got 1")
    invalid = page.locator('#pruner-fields .field.invalid [data-key="reduction_factor"]')
    expect(invalid).to_have_count(1)
    expect(page.locator("#form-error")).to_have_text("")
    expect(page.locator("#submit-experiment")).to_be_enabled()
    assert urlparse(page.url).path == "/new"
    assert named(dashboard, "bad pruner") == []
    shot(page, dashboard, "new-search-error")

    # another pruner has other fields: hyperband's required max_resource is asked for
    page.select_option('[data-path="search.pruner.name"]', "hyperband")
    expect(page.locator('[data-path="search.pruner.min_early_stopping_rate"]')).to_have_count(0)
    page.click("#submit-experiment")
    expect(page.locator('.field-error[data-for="search.pruner.max_resource"]')).to_contain_text(
        "is required")
    assert named(dashboard, "bad pruner") == []


def test_a_search_from_the_form_runs_live_and_shows_its_trials(page, dashboard):
    page.add_init_script(SAMPLER)
    open_view(page, "/new")
    fill_search(page, "tpe asha search", {"name": "asha", "min_resource": "1",
                                          "reduction_factor": "2"})
    shot(page, dashboard, "new-search")
    page.click("#submit-experiment")
    page.wait_for_url(re.compile(r"/experiments/[0-9a-f]+$"))
    page.wait_for_selector("body[data-ready]", state="attached")
    eid = urlparse(page.url).path.rsplit("/", 1)[1]
    page.evaluate("window.liveMarker = 'same document'")
    request = dashboard.server.api.get(f"/api/v1/experiments/{eid}").json()["request"]
    assert request["search"] == {
        "method": "tpe", "trials": TRIALS, "parallelism": 2,
        "objective": {"metric": "val_loss", "mode": "min"},
        "pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 2},
        "space": {"optimizer.lr": {"log_uniform": [0.0001, 1]},
                  "optimizer.name": {"choice": ["sgd", "adam"]}}}
    assert request["optimizer"]["name"] == "sgd"  # one base config (an object), not a grid

    progress = page.locator("#search-progress")
    expect(progress).to_be_visible()
    expect(progress.locator("strong").first).to_have_text("tpe")
    page.wait_for_function("n => Number(document.getElementById('search-progress').dataset.done)"
                           " >= n", arg=TRIALS // 2, timeout=LIVE_TIMEOUT_MS)
    if int(progress.get_attribute("data-done")) < TRIALS:
        shot(page, dashboard, "experiment-search-live")
    expect(progress).to_have_attribute("data-done", str(TRIALS), timeout=LIVE_TIMEOUT_MS)
    expect(progress).to_have_attribute("data-in-flight", "0")
    assert page.evaluate("window.liveMarker") == "same document", "the page was reloaded"

    # seen live: the trials done and the history's points grew while the page watched
    samples = page.evaluate("window.samples")
    done = [s["done"] for s in samples]
    assert done == sorted(done), "trials done went backwards"
    assert any(s["done"] < TRIALS and s["inFlight"] > 0 for s in samples), \
        f"the search was never seen running: {samples[:3]} … {samples[-3:]}"
    assert len({s["points"] for s in samples}) >= 2, "the history did not grow while live"

    api = dashboard.server.api
    detail = api.get(f"/api/v1/experiments/{eid}").json()
    search, counts = detail["search"], detail["status_counts"]
    listing = api.get(f"/api/v1/experiments/{eid}/trials").json()
    trials = sorted(listing["trials"], key=lambda t: (datetime.fromisoformat(
        t["finished_at"].replace("Z", "+00:00")), t["number"]))
    assert listing["objective"] == {"metric": "val_loss", "mode": "min"}
    assert len(trials) == TRIALS and set(counts) <= {"succeeded", "pruned", "diverged"}, counts
    expect(progress).to_contain_text(f"{TRIALS}/{TRIALS} trials done")
    expect(progress).to_contain_text(f"{search['pruned']} pruned")
    best = next((t for t in trials if t["run_id"] == search["best_run_id"]), None)
    if best is None:  # every trial pruned (ASHA keeps the best at each rung: unlikely)
        expect(page.locator("#search-best")).to_have_text("no complete trial yet")
    else:
        expect(page.locator("#search-best-run")).to_have_attribute("href",
                                                                   f"/runs/{best['run_id']}")
        expect(page.locator("#search-best-run")).to_have_text(f"trial {best['number']}")

    # the history: one point per finished trial, in order of completion (a pruned trial at its
    # last reported val_loss), and the best-so-far line over the complete ones
    def last_report(trial):
        return dashboard.server.history(trial["run_id"], ["val_loss"])["val_loss"]["values"][-1]

    expected = {t["number"]: (i + 1, last_report(t) if t["status"] == "pruned" else t["value"])
                for i, t in enumerate(trials)}
    drawn = {k: v for k, v in expected.items() if isinstance(v[1], float) and math.isfinite(v[1])}
    history = {t["name"]: t for t in traces(page, "#search-history")}
    complete = [t for t in trials if t["status"] != "pruned" and t["number"] in drawn]
    pruned = [t for t in trials if t["status"] == "pruned" and t["number"] in drawn]
    assert history["complete"]["x"] == [drawn[t["number"]][0] for t in complete]
    assert history["complete"]["y"] == [drawn[t["number"]][1] for t in complete]
    running_best = [min(history["complete"]["y"][:i + 1]) for i in range(len(complete))]
    assert history["best so far (min)"]["y"] == running_best
    assert history["best so far (min)"]["x"] == history["complete"]["x"]
    if pruned:
        assert history["pruned (last report)"]["x"] == [drawn[t["number"]][0] for t in pruned]
        assert history["pruned (last report)"]["y"] == [drawn[t["number"]][1] for t in pruned]
    assert len(complete) + len(pruned) == len(drawn)
    if len(drawn) < TRIALS:  # a diverged trial has no finite objective to draw
        expect(page.locator("#search-history")).to_contain_text("not drawn")

    # a slice plot per searched parameter, on its space's axis
    slices = page.locator("#search-slices .slice-plot[data-param]")
    expect(slices).to_have_count(len(SPACE))
    axes = page.eval_on_selector_all("#search-slices .slice-plot[data-param]", """nodes =>
        nodes.map(n => [n.dataset.param, n.layout.xaxis.type,
                        n.data.reduce((k, t) => k + t.x.length, 0)])""")
    assert axes == [["optimizer.lr", "log", len(drawn)], ["optimizer.name", "category", len(drawn)]]
    names = traces(page, '.slice-plot[data-param="optimizer.name"]')[0]["x"]
    assert set(names) <= {"sgd", "adam"}

    # the parameter importance, or how many complete trials it needs
    importance = api.get(f"/api/v1/experiments/{eid}/importance").json()
    if importance["importances"]:
        page.wait_for_function("() => (document.getElementById('search-importance').data || [])"
                               ".some(t => t.type === 'bar')")
        bars = traces(page, "#search-importance")[0]
        assert set(bars["y"]) == set(importance["importances"])
        assert bars["x"] == sorted(bars["x"])  # the largest on top
        expect(page.locator("#search-importance-note")).to_be_hidden()
    else:
        expect(page.locator("#search-importance-note")).to_contain_text(
            f"needs {importance['needed']} complete trials")

    # the curves chart shows the objective first; pruned runs are dotted there, with a legend
    # entry saying so, styled in the runs table and counted in the experiments list
    expect(page.locator("#metric-select")).to_have_value("val_loss")
    expect(page.locator(RUN_ROWS)).to_have_count(TRIALS)
    pruned_runs = {t["run_id"] for t in trials if t["status"] == "pruned"}
    page.wait_for_function("n => (document.getElementById('curves').data || []).filter("
                           "t => t.customdata && t.line.dash === 'dot').length === n",
                           arg=len(pruned_runs))
    styles = page.eval_on_selector("#curves", """n => n.data.map(t => ({
        run: t.customdata ? t.customdata[0] : null, name: t.name,
        dash: t.line.dash || 'solid'}))""")
    assert len([s for s in styles if s["run"]]) == TRIALS
    assert {s["run"] for s in styles if s["dash"] == "dot" and s["run"]} == pruned_runs
    hint = [s for s in styles if s["run"] is None]
    assert [h["name"] for h in hint] == (["pruned (dotted, ×: stopped)"] if pruned_runs else [])
    if pruned_runs:
        cell = page.locator(f'{RUN_ROWS}[data-status="pruned"] .status.pruned').first
        expect(cell).to_have_css("color", PRUNED_COLOR)
        expect(page.locator("#status-counts .status.pruned")).to_have_text(
            f"{len(pruned_runs)} pruned")
    shot(page, dashboard, "experiment-search")

    open_view(page, "/")
    row = page.locator(f'#experiments-table tr[data-experiment-id="{eid}"]')
    for status, n in counts.items():
        expect(row.locator(f".status.{status}")).to_have_text(f"{n} {status}")


ASK_AND_TELL = {"name": "ask and tell", "dataset": {"name": "spiral", "samples": 100},
                "model": {"kind": "mlp", "hidden": [16]}, "optimizer": {"name": "adam"},
                "training": {"epochs": 2},
                "search": {"method": "random", "trials": 6, "seed": 1, "external": True,
                           "objective": {"metric": "score", "mode": "max"},
                           "space": {"optimizer.lr": {"log_uniform": [1e-4, 1.0]},
                                     "training.batch_size": {"choice": [32, 64, 128]}}}}


def test_an_ask_and_tell_search_shows_its_importance(page, dashboard):
    """Trials told by an external trainer (ask and tell), a metric to maximise: the history's
    best-so-far line climbs, the choice of batch sizes is a category axis in the space's order,
    and with six complete trials the importance is a bar per parameter."""
    api = dashboard.server.api
    created = api.post("/api/v1/experiments", json=ASK_AND_TELL)
    assert created.status_code == 201, created.text
    eid = created.json()["id"]
    scores = []
    for _ in range(6):
        run = api.post(f"/api/v1/experiments/{eid}/trials")
        assert run.status_code == 201, run.text
        run = run.json()
        lr, batch = run["config"]["optimizer"]["lr"], run["config"]["training"]["batch_size"]
        score = -(math.log10(lr) + 2) ** 2 + batch / 128  # the last of three reports
        points = [{"key": "score", "step": s, "value": score / (4 - s)} for s in (1, 2, 3)]
        scores.append(points[-1]["value"])
        assert api.post(f"/api/v1/runs/{run['id']}/metrics",
                        json={"metrics": points}).status_code < 300
        assert api.post(f"/api/v1/runs/{run['id']}/finish",
                        json={"status": "succeeded"}).status_code == 200
    open_view(page, f"/experiments/{eid}")
    expect(page.locator("#search-progress")).to_have_attribute("data-done", "6")
    expect(page.locator("#search-progress")).to_contain_text("best score (max)")

    history = {t["name"]: t for t in traces(page, "#search-history")}
    assert sorted(history["complete"]["y"]) == sorted(scores)
    ys = history["complete"]["y"]
    assert history["best so far (max)"]["y"] == [max(ys[:i + 1]) for i in range(len(ys))]
    assert "pruned (last report)" not in history
    axis = page.eval_on_selector('.slice-plot[data-param="training.batch_size"]',
                                 "n => [n.layout.xaxis.type, n.layout.xaxis.categoryarray]")
    assert axis == ["category", ["32", "64", "128"]]

    page.wait_for_function("() => (document.getElementById('search-importance').data || [])"
                           ".some(t => t.type === 'bar')")
    bars = traces(page, "#search-importance")[0]
    importance = api.get(f"/api/v1/experiments/{eid}/importance").json()["importances"]
    assert dict(zip(bars["y"], bars["x"])) == importance
    expect(page.locator("#search-importance")).to_be_visible()
    expect(page.locator("#search-importance-note")).to_be_hidden()
    shot(page, dashboard, "experiment-search-importance")
