"""The dashboard in a real browser against a real server and workers, on SQLite and PostgreSQL:
every view opens and renders what the API holds; filters change the runs table and the charts;
the curves chart has one trace per run shown; two selected runs are compared field by field;
the new-experiment form shows the API's validation error next to the field; a submitted
experiment's run is seen running with a progress bar and then succeeding, without a reload;
without a session every view leads to the sign-in page. Each view's screenshot is saved under
test-output/dashboard/<engine>/."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page, expect

from .conftest import (FAILED_ERROR, GRID, LIVE_TIMEOUT_MS, PATHS, READY, new_context,
                       open_view, row_ids, shot, traces, wait_for_traces, watch)

RUN_ROWS = "#runs-table tbody tr[data-run-id]"


def query(page: Page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def experiment_rows(page: Page) -> list[str]:
    return row_ids(page, "#experiments-table tbody tr[data-experiment-id]", "data-experiment-id")


def grid_ids(dashboard, *picks: tuple[str, float]) -> set[str]:
    return {dashboard.run_named(GRID["name"], opt, lr)["id"] for opt, lr in picks}


# -- signing in ---------------------------------------------------------------------------------

def test_sign_in_keeps_the_view_and_sign_out_ends_the_session(browser, dashboard, console):
    """Without a session every view leads to the sign-in page; an API token pasted there opens
    the view asked for (query string included); signing out ends the session."""
    console.allow(r"status of 401")  # the wrong token's answer, and the API after signing out
    eid = dashboard.experiments[GRID["name"]]
    context = new_context(browser, dashboard)  # no cookies
    page = watch(context.new_page(), console)
    try:
        page.goto(f"/experiments/{eid}?metric=train_loss")
        page.wait_for_url("**/login?**")
        assert query(page) == {"next": f"/experiments/{eid}?metric=train_loss"}
        expect(page.locator("#nav-experiments")).to_have_count(0)
        page.fill("#token", "not-a-token")
        page.click("#sign-in")
        expect(page.locator("#login-error")).to_contain_text("unknown")
        shot(page, dashboard, "login")

        page.fill("#token", dashboard.server.token)
        page.click("#sign-in")
        page.wait_for_url(f"**/experiments/{eid}?metric=train_loss")
        page.wait_for_selector(READY, state="attached")
        me = dashboard.server.api.get("/api/v1/me")
        assert me.status_code == 200, me.text
        expect(page.locator("#user-name")).to_have_text(me.json()["name"])
        expect(page.locator("#metric-select")).to_have_value("train_loss")
        expect(page.locator(RUN_ROWS)).to_have_count(4)
        assert page.request.get("/api/v1/experiments").status == 200  # the session's cookie

        page.click("#logout")
        page.wait_for_url("**/login")
        assert page.request.get("/api/v1/experiments").status == 401
        page.goto("/")
        page.wait_for_url("**/login?next=%2F")
    finally:
        context.close()
    assert not console.unexpected(), console.unexpected()


def test_forged_state_changing_requests_are_refused(page: Page, dashboard, console):
    """CSRF: the session cookie alone does not authorise a write. A script of the page that
    leaves out the CSRF token is refused (403) and changes nothing; a form on another site
    posting to optrack arrives without the SameSite=Strict cookie and cannot sign the user out;
    the page's own requests (which echo the token) still work."""
    console.allow(r"status of 403")
    open_view(page, "/")
    body = {"name": "forged", "model": {"kind": "point"}, "optimizer": {"name": "sgd", "lr": 0.1},
            "training": {"steps": 5}}
    forged = page.evaluate("""body => fetch('/api/v1/experiments', {method: 'POST',
        headers: {'content-type': 'application/json'}, body: JSON.stringify(body)})
        .then(r => r.status)""", body)
    assert forged == 403
    names = [e["name"] for e in dashboard.server.api.get("/api/v1/experiments").json()[
        "experiments"]]
    assert "forged" not in names
    assert page.evaluate("fetch('/logout', {method: 'POST'}).then(r => r.status)") == 403

    # another site (localhost is not the same site as 127.0.0.1) posts a sign-out form
    other = page.context.new_page()
    other.goto(dashboard.url.replace("127.0.0.1", "localhost") + "/login")
    other.set_content(f'<form id="f" method="post" action="{dashboard.url}/logout"></form>')
    with other.expect_navigation():
        other.eval_on_selector("#f", "f => f.submit()")
    other.close()
    assert page.evaluate("fetch('/api/v1/me').then(r => r.status)") == 200  # still signed in

    # the page's own write, with the token from the CSRF cookie, goes through
    allowed = page.evaluate("""body => OT.api('/api/v1/experiments', {json: body})
        .then(e => e.name)""", {**body, "name": "signed"})
    assert allowed == "signed"


# -- experiments -------------------------------------------------------------------------------

def test_experiments_view_searches_by_name_and_tag(page, dashboard):
    paths, grid = dashboard.experiments[PATHS["name"]], dashboard.experiments[GRID["name"]]
    open_view(page, "/")
    expect(page.locator(f'#experiments-table tr[data-experiment-id="{grid}"]')).to_be_visible()
    assert {paths, grid} <= set(experiment_rows(page))
    row = page.locator(f'#experiments-table tr[data-experiment-id="{grid}"]')
    expect(row).to_contain_text(GRID["name"])
    expect(row).to_contain_text("4 succeeded")
    expect(row.locator("a.tag")).to_have_text(["small"])
    shot(page, dashboard, "experiments")

    page.fill("#experiment-search", "path")
    expect(page.locator("#experiments-table tbody tr")).to_have_count(1)
    assert experiment_rows(page) == [paths]
    assert query(page) == {"q": "path"}

    page.fill("#experiment-search", "no such experiment")
    expect(page.locator("#experiments-table tbody tr")).to_have_count(0)
    expect(page.locator("#experiments-empty")).to_be_visible()

    page.fill("#experiment-search", "")
    page.fill("#tag-filter", "small")
    expect(page.locator("#experiments-table tbody tr")).to_have_count(1)
    assert experiment_rows(page) == [grid]
    assert query(page) == {"tag": "small"}

    # the state is in the URL: opening it shows the same list, with the inputs filled in
    open_view(page, "/?tag=trajectory")
    expect(page.locator("#tag-filter")).to_have_value("trajectory")
    expect(page.locator("#experiments-table tbody tr")).to_have_count(1)
    assert experiment_rows(page) == [paths]
    # a tag link filters by its tag
    open_view(page, "/")
    page.locator(f'#experiments-table tr[data-experiment-id="{paths}"] a.tag',
                 has_text="ch6").click()
    expect(page.locator("#tag-filter")).to_have_value("ch6")
    expect(page.locator("#experiments-table tbody tr")).to_have_count(1)
    # and the name opens the experiment
    page.locator(f'#experiments-table tr[data-experiment-id="{paths}"] a',
                 has_text=PATHS["name"]).click()
    page.wait_for_url(f"**/experiments/{paths}")
    expect(page.locator("#experiment-name")).to_have_text(PATHS["name"])


def test_unknown_ids_show_not_found(page, dashboard, console):
    console.allow(r"status of 404")  # the page itself is a 404
    for path in ["/experiments/0123456789abcdef", "/runs/0123456789abcdef"]:
        response = page.goto(path)
        assert response.status == 404
        expect(page.locator("#not-found")).to_be_visible()


# -- one experiment ----------------------------------------------------------------------------

def test_experiment_view_shows_runs_summary_and_charts(page, dashboard):
    runs = dashboard.runs[GRID["name"]]
    open_view(page, f"/experiments/{dashboard.experiments[GRID['name']]}")
    expect(page.locator(RUN_ROWS)).to_have_count(4)
    assert set(row_ids(page, RUN_ROWS, "data-run-id")) == {r["id"] for r in runs}
    assert set(row_ids(page, RUN_ROWS, "data-status")) == {"succeeded"}
    expect(page.locator(f"{RUN_ROWS} input.select-run")).to_have_count(4)
    expect(page.locator("#runs-count")).to_have_text("4 shown")
    expect(page.locator("#status-counts")).to_contain_text("4 succeeded")
    # one summary row per config (one seed each), with the final metrics
    expect(page.locator("#summary-table tbody tr")).to_have_count(4)
    expect(page.locator("#summary-table thead")).to_contain_text("val_accuracy")
    # the default metric is the validation loss; one curve per run, each with its points
    expect(page.locator("#metric-select")).to_have_value("val_loss")
    curves = wait_for_traces(page, "#curves", 4)
    assert {t["run"] for t in curves} == {r["id"] for r in runs}
    assert all(t["x"] == [2, 4] and len(t["y"]) == 2 for t in curves), curves  # 2 epochs of 2 steps
    # final val_loss against the learning rate: a trace per optimizer, a point per run
    lr_plot = traces(page, "#lr-plot")
    assert sorted((t["name"], sorted(t["x"])) for t in lr_plot) == [
        ("adam", [0.001, 0.01]), ("sgd", [0.01, 0.1])]
    # the parallel coordinates are drawn once they are on screen
    page.locator("#parcoords").scroll_into_view_if_needed()
    assert [t["type"] for t in wait_for_traces(page, "#parcoords", 1)] == ["parcoords"]
    expect(page.locator("#trajectories-link")).to_be_hidden()  # no point-model runs here
    shot(page, dashboard, "experiment")


def test_filtering_runs_changes_table_and_curves(page, dashboard, console):
    console.allow(r"status of 422")  # the invalid filter below is answered with a 422
    open_view(page, f"/experiments/{dashboard.experiments[GRID['name']]}")
    expect(page.locator(RUN_ROWS)).to_have_count(4)

    page.fill("#run-filter", "optimizer = 'adam'")
    page.press("#run-filter", "Enter")
    expect(page.locator(RUN_ROWS)).to_have_count(2)
    adam = grid_ids(dashboard, ("adam", 0.01), ("adam", 0.001))
    assert set(row_ids(page, RUN_ROWS, "data-run-id")) == adam
    assert {t["run"] for t in wait_for_traces(page, "#curves", 2)} == adam
    assert query(page)["filter"] == "optimizer = 'adam'"
    expect(page.locator("#runs-count")).to_have_text("2 shown")

    page.fill("#run-filter", "optimizer.lr < 0.05 and metrics.val_loss > 0")
    page.locator("#filter-form button[type=submit]").click()
    expect(page.locator(RUN_ROWS)).to_have_count(3)
    small_lr = grid_ids(dashboard, ("sgd", 0.01), ("adam", 0.01), ("adam", 0.001))
    assert set(row_ids(page, RUN_ROWS, "data-run-id")) == small_lr
    assert {t["run"] for t in wait_for_traces(page, "#curves", 3)} == small_lr
    shot(page, dashboard, "experiment-filtered")

    # the filter is in the URL: a reload shows the same runs
    open_view(page, page.url)
    expect(page.locator("#run-filter")).to_have_value(
        "optimizer.lr < 0.05 and metrics.val_loss > 0")
    expect(page.locator(RUN_ROWS)).to_have_count(3)

    # an invalid filter: the query language's message, no runs
    page.fill("#run-filter", "foo = 1")
    page.press("#run-filter", "Enter")
    expect(page.locator("#filter-error")).to_contain_text("unknown field 'foo' at position 0")
    expect(page.locator(RUN_ROWS)).to_have_count(0)
    wait_for_traces(page, "#curves", 0)

    page.fill("#run-filter", "")
    page.press("#run-filter", "Enter")
    expect(page.locator(RUN_ROWS)).to_have_count(4)
    expect(page.locator("#filter-error")).to_have_text("")
    wait_for_traces(page, "#curves", 4)
    assert "filter" not in query(page)


def test_metric_log_scale_and_sort_are_kept_in_the_url(page, dashboard):
    eid = dashboard.experiments[GRID["name"]]
    open_view(page, f"/experiments/{eid}")
    wait_for_traces(page, "#curves", 4)

    page.select_option("#metric-select", "train_loss")
    page.wait_for_function(
        "document.getElementById('curves').layout.yaxis.title.text === 'train_loss'")
    # train_loss is logged every step: steps 1..4 for every run
    assert all(t["x"] == [1, 2, 3, 4] for t in traces(page, "#curves"))
    # smoothing: a debiased moving average (the first value is kept), undone at 0
    raw = {t["run"]: t["y"] for t in traces(page, "#curves")}
    last_is = "([raw, same]) => (document.getElementById('curves').data[0].y[3] === raw) === same"
    first = traces(page, "#curves")[0]["run"]
    page.fill("#smoothing", "0.6")
    expect(page.locator("#smoothing-value")).to_have_text("0.6")
    assert query(page)["smooth"] == "0.6"
    page.wait_for_function(last_is, arg=[raw[first][3], False])
    for t in traces(page, "#curves"):
        assert t["y"][0] == raw[t["run"]][0] and t["y"][1:] != raw[t["run"]][1:], (t, raw)
    page.fill("#smoothing", "0")
    page.wait_for_function(last_is, arg=[raw[first][3], True])
    assert {t["run"]: t["y"] for t in traces(page, "#curves")} == raw
    page.check("#log-scale")
    page.wait_for_function("document.getElementById('curves').layout.yaxis.type === 'log'")
    page.locator('#runs-table thead th[data-key="config:optimizer.lr"]').click()
    expect(page.locator('#runs-table thead th[data-key="config:optimizer.lr"]')).to_have_attribute(
        "data-sort", "asc")
    assert query(page) == {"metric": "train_loss", "log": "1", "sort": "config:optimizer.lr"}
    by_lr = [r["id"] for r in sorted(dashboard.runs[GRID["name"]],
                                     key=lambda r: r["config"]["optimizer"]["lr"])]
    assert row_ids(page, RUN_ROWS, "data-run-id")[0] == by_lr[0]
    assert row_ids(page, RUN_ROWS, "data-run-id")[-1] == by_lr[-1]

    # a fresh page on that URL restores every choice
    open_view(page, page.url)
    expect(page.locator("#metric-select")).to_have_value("train_loss")
    expect(page.locator("#log-scale")).to_be_checked()
    expect(page.locator('#runs-table thead th[data-key="config:optimizer.lr"]')).to_have_attribute(
        "data-sort", "asc")
    assert row_ids(page, RUN_ROWS, "data-run-id")[0] == by_lr[0]
    layout = page.evaluate("(() => { const l = document.getElementById('curves').layout;"
                           " return [l.yaxis.type, l.yaxis.title.text]; })()")
    assert layout == ["log", "train_loss"]


# -- compare -----------------------------------------------------------------------------------

def test_compare_two_selected_runs(page, dashboard):
    sgd = dashboard.run_named(GRID["name"], "sgd", 0.1)
    adam = dashboard.run_named(GRID["name"], "adam", 0.001)
    open_view(page, f"/experiments/{dashboard.experiments[GRID['name']]}")
    expect(page.locator("#selection-count")).to_have_text("0")
    for run in (sgd, adam):
        page.check(f'{RUN_ROWS}[data-run-id="{run["id"]}"] input.select-run')
    expect(page.locator("#selection-count")).to_have_text("2")
    assert page.evaluate("JSON.parse(localStorage.getItem('optrack.selection'))") == [
        sgd["id"], adam["id"]]

    page.click("#compare-selected")
    page.wait_for_url("**/compare?**")
    page.wait_for_selector("body[data-ready]", state="attached")
    assert query(page)["runs"].split(",") == [sgd["id"], adam["id"]]
    expect(page.locator("#compare-runs tbody tr[data-run-id]")).to_have_count(2)
    assert row_ids(page, "#compare-runs tbody tr[data-run-id]", "data-run-id") == [
        sgd["id"], adam["id"]]
    expect(page.locator("#compare-empty")).to_be_hidden()

    # one curve per selected run
    curves = wait_for_traces(page, "#curves", 2)
    assert [t["run"] for t in curves] == [sgd["id"], adam["id"]]
    assert all(len(t["x"]) > 0 for t in curves)

    # only the differing fields, each showing the two runs' different values
    diff = page.locator("#config-diff tbody tr[data-field]")
    expect(diff.first).to_be_visible()
    fields = row_ids(page, "#config-diff tbody tr[data-field]", "data-field")
    assert {"optimizer.name", "optimizer.lr"} <= set(fields), fields
    assert not {"dataset.name", "model.kind", "model.hidden", "training.epochs",
                "training.seed"} & set(fields), fields
    expect(page.locator('#config-diff tr[data-field="optimizer.name"] td.value')).to_have_text(
        ["sgd", "adam"])
    expect(page.locator('#config-diff tr[data-field="optimizer.lr"] td.value')).to_have_text(
        ["0.1", "0.001"])
    for values in page.eval_on_selector_all(
            "#config-diff tbody tr[data-field]",
            "rows => rows.map(r => [...r.querySelectorAll('td.value')].map(c => c.textContent))"):
        assert len(values) == 2 and values[0] != values[1], values
    shot(page, dashboard, "compare")

    # every field on request, the shared ones included
    page.check("#show-all-fields")
    expect(page.locator('#config-diff tr[data-field="dataset.name"] td.value')).to_have_text(
        ["spiral", "spiral"])
    assert len(row_ids(page, "#config-diff tbody tr[data-field]", "data-field")) > len(fields)
    assert query(page)["all"] == "1"

    # removing a run takes it out of the table, the chart, the URL and the selection
    page.click(f'#compare-runs tr[data-run-id="{adam["id"]}"] button.remove-run')
    expect(page.locator("#compare-runs tbody tr[data-run-id]")).to_have_count(1)
    assert [t["run"] for t in wait_for_traces(page, "#curves", 1)] == [sgd["id"]]
    expect(page.locator("#selection-count")).to_have_text("1")
    assert query(page)["runs"] == sgd["id"]


def test_compare_opened_by_url(page, dashboard):
    paths = dashboard.runs[PATHS["name"]]
    ids = [paths[0]["id"], paths[3]["id"]]
    open_view(page, f"/compare?runs={','.join(ids)}&metric=f")
    expect(page.locator("#compare-runs tbody tr[data-run-id]")).to_have_count(2)
    expect(page.locator("#metric-select")).to_have_value("f")
    curves = wait_for_traces(page, "#curves", 2)
    assert [t["run"] for t in curves] == ids
    assert all(t["x"] == list(range(31)) for t in curves), [t["x"] for t in curves]
    fields = row_ids(page, "#config-diff tbody tr[data-field]", "data-field")
    assert {"optimizer.name", "optimizer.lr"} <= set(fields)
    assert "model.function" not in fields


# -- runs --------------------------------------------------------------------------------------

def test_run_view_of_a_succeeded_run(page, dashboard):
    run = dashboard.run_named(GRID["name"], "adam", 0.01)
    open_view(page, f"/runs/{run['id']}")
    expect(page.locator("#run-name")).to_have_text(run["name"])
    expect(page.locator("#run-status")).to_have_text("succeeded")
    expect(page.locator("#run-error")).to_be_hidden()
    expect(page.locator("#cancel-run")).to_be_hidden()
    expect(page.locator('#run-config tr[data-field="optimizer.name"] td')).to_have_text("adam")
    expect(page.locator('#run-config tr[data-field="optimizer.lr"] td')).to_have_text("0.01")
    expect(page.locator('#run-config tr[data-field="dataset.name"] td')).to_have_text("spiral")
    expect(page.locator('#run-config tr[data-field="summary.outcome"] td')).to_have_text(
        "succeeded")
    expect(page.locator("#attempts tbody tr[data-attempt]")).to_have_count(1)
    expect(page.locator('#attempts tr[data-attempt="1"]')).to_contain_text("succeeded")
    keys = row_ids(page, "#metric-charts .metric-chart[data-key]", "data-key")
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "grad_norm", "step_time"} <= set(keys)
    loss = traces(page, '#metric-charts .metric-chart[data-key="train_loss"]')
    assert len(loss) == 1 and loss[0]["x"] == [1, 2, 3, 4]
    stored = dashboard.server.history(run["id"], ["train_loss"])["train_loss"]
    assert loss[0]["y"] == stored["values"]
    shot(page, dashboard, "run")

    # add it to the compare selection from here
    page.click("#select-run")
    expect(page.locator("#select-run")).to_have_text("Remove from compare")
    expect(page.locator("#selection-count")).to_have_text("1")
    expect(page.locator("#nav-compare")).to_have_attribute("href", f"/compare?runs={run['id']}")
    page.click("#nav-compare")
    page.wait_for_url("**/compare?**")
    expect(page.locator("#compare-runs tbody tr[data-run-id]")).to_have_count(1)
    expect(page.locator("#config-diff tbody")).to_contain_text("Select two or more runs.")


def test_run_view_of_a_failed_run_shows_its_error(page, dashboard):
    run = dashboard.failed_run
    open_view(page, f"/runs/{run['id']}")
    expect(page.locator("#run-status")).to_have_text("failed")
    expect(page.locator("#run-error")).to_be_visible()
    expect(page.locator("#run-error")).to_have_text(FAILED_ERROR)
    expect(page.locator("#run-meta")).to_contain_text("external run")
    expect(page.locator('#run-config tr[data-field="note"] td')).to_have_text("trained elsewhere")
    expect(page.locator("#attempts tbody tr")).to_have_count(0)
    loss = traces(page, '#metric-charts .metric-chart[data-key="train_loss"]')
    assert len(loss) == 1 and loss[0]["x"] == list(range(10))
    shot(page, dashboard, "run-failed")


# -- trajectories ------------------------------------------------------------------------------

def test_trajectories_view(page, dashboard):
    eid = dashboard.experiments[PATHS["name"]]
    open_view(page, f"/experiments/{eid}")
    wait_for_traces(page, "#curves", 4)
    shot(page, dashboard, "experiment-paths")
    expect(page.locator("#trajectories-link")).to_be_visible()
    page.click("#trajectories-link")
    page.wait_for_url(f"**/trajectories?experiment={eid}")
    page.wait_for_selector("body[data-ready]", state="attached")

    plot = page.locator(".trajectory-plot[data-function]")
    expect(plot).to_have_count(1)
    expect(plot).to_have_attribute("data-function", "anisotropic")
    drawn = traces(page, '.trajectory-plot[data-function="anisotropic"]')
    assert drawn[0]["type"] == "contour"
    paths = drawn[1:-1]
    assert len(paths) == 4, [t["name"] for t in drawn]
    assert {t["run"] for t in paths} == {r["id"] for r in dashboard.runs[PATHS["name"]]}
    assert sorted(t["name"] for t in paths) == [
        "adagrad (lr 1.5)", "adam (lr 0.3)", "momentum (lr 0.1)", "sgd (lr 0.95)"]
    for t in paths:  # 30 steps from the book's start (−7, 2)
        assert len(t["x"]) == len(t["y"]) == 31, t["name"]
        assert (t["x"][0], t["y"][0]) == (-7, 2), t["name"]
    assert drawn[-1]["name"] == "minimum" and (drawn[-1]["x"], drawn[-1]["y"]) == ([0], [0])
    expect(page.locator("#trajectories-empty")).to_be_hidden()
    shot(page, dashboard, "trajectories")


# -- the new-experiment form -------------------------------------------------------------------

def test_new_experiment_form_shows_field_error(page, dashboard, console):
    console.allow(r"status of 422")  # the API's answer to the invalid request
    open_view(page, "/new")
    page.fill('[data-path="name"]', "negative lr")
    expect(page.locator('.optimizer-pick[value="sgd"]')).to_be_checked()
    page.fill('[data-optimizer="sgd"] [data-key="lr"]', "-1")
    shot(page, dashboard, "new")
    page.click("#submit-experiment")

    error = page.locator('.field-error[data-for="optimizer[0].lr"]')
    expect(error).to_contain_text("must be a finite number > 0")
    expect(error).to_be_visible()
    assert page.locator('[data-optimizer="sgd"] .field.invalid [data-key="lr"]').count() == 1
    expect(page.locator("#form-error")).to_have_text("")
    expect(page.locator("#submit-experiment")).to_be_enabled()
    assert urlparse(page.url).path == "/new"
    found = dashboard.server.api.get("/api/v1/experiments", params={"q": "negative lr"}).json()
    assert found["experiments"] == []
    shot(page, dashboard, "new-error")

    # fixed and resubmitted: the error goes away (another field's error shows instead)
    page.fill('[data-optimizer="sgd"] [data-key="lr"]', "0.1")
    page.fill('[data-path="training.epochs"]', "0")
    page.click("#submit-experiment")
    expect(page.locator('.field-error[data-for="training.epochs"]')).to_contain_text(
        "must be an integer in [1, 100000]")
    expect(error).to_have_text("")


def test_submitted_experiment_runs_live(page, dashboard):
    """Submitted from the form, its run is seen queued or running with a progress bar whose
    curve grows, then succeeded — all on the page the form led to, never reloaded."""
    steps = 500_000  # about 5 s of training on this machine, logged every 1,000 steps
    open_view(page, "/new")
    page.fill('[data-path="name"]', "live point run")
    page.fill('[data-path="tags"]', "live")
    page.select_option('[data-path="model.kind"]', "point")
    expect(page.locator("#dataset-fields")).to_be_hidden()
    expect(page.locator('[data-path="training.steps"]')).to_have_value("30")
    page.select_option('[data-path="model.function"]', "anisotropic")
    page.fill('[data-optimizer="sgd"] [data-key="lr"]', "0.00001")
    page.fill('[data-path="training.steps"]', str(steps))
    page.fill('[data-path="training.log_every"]', "1000")
    page.click("#submit-experiment")

    page.wait_for_url(re.compile(r"/experiments/[0-9a-f]+$"))
    page.wait_for_selector("body[data-ready]", state="attached")
    expect(page.locator("#experiment-name")).to_have_text("live point run")
    expect(page.locator(RUN_ROWS)).to_have_count(1)
    # from now on, a sampler in the page records what the page shows every 50 ms
    page.evaluate("""() => {
        window.liveMarker = 'same document';
        window.samples = [];
        setInterval(() => {
            const row = document.querySelector('#runs-table tbody tr[data-run-id]');
            const curve = (document.getElementById('curves').data || [])[0];
            const bar = row && row.querySelector('.progress');
            window.samples.push({
                status: row ? row.dataset.status : null,
                progress: bar ? bar.getAttribute('title') : null,
                lastStep: curve && curve.x.length ? curve.x[curve.x.length - 1] : null,
            });
        }, 50);
    }""")
    running = f'{RUN_ROWS}[data-status="running"]'
    page.wait_for_selector(f"{running} .status.running", timeout=LIVE_TIMEOUT_MS)
    expect(page.locator(f"{running} .progress")).to_be_visible()
    expect(page.locator(f"{running} .progress")).to_have_attribute(
        "title", re.compile(rf"^step \d+ of {steps}$"))
    shot(page, dashboard, "experiment-live")

    page.wait_for_selector(f'{RUN_ROWS}[data-status="succeeded"]', timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.liveMarker") == "same document", "the page was reloaded"
    expect(page.locator(f"{RUN_ROWS} .progress")).to_have_count(0)
    page.wait_for_function(f"(() => {{ const c = document.getElementById('curves').data[0];"
                           f" return c.x[c.x.length - 1] === {steps}; }})()")
    expect(page.locator("#status-counts")).to_have_text("1 succeeded")

    samples = page.evaluate("window.samples")
    seen = [s for s in samples if s["status"] == "running"]
    assert seen, f"the run was never shown running: {samples[:5]} … {samples[-5:]}"
    progress = [int(re.match(r"step (\d+) of", s["progress"])[1]) for s in seen if s["progress"]]
    assert len(progress) == len(seen), "a running run without its progress bar"
    assert progress == sorted(progress) and len(set(progress)) >= 2, \
        f"the progress bar did not move while running: {sorted(set(progress))}"
    grown = sorted({s["lastStep"] for s in seen if s["lastStep"] is not None})
    assert len(grown) >= 2 and [s["lastStep"] for s in seen if s["lastStep"] is not None] == \
        sorted(s["lastStep"] for s in seen if s["lastStep"] is not None), \
        f"the curve did not gain points while the run ran: {grown}"
    assert all(0 < step <= steps for step in grown), grown
    shot(page, dashboard, "experiment-done")
