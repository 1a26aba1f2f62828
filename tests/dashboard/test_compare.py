"""A fair comparison of optimizers in the dashboard, on SQLite and PostgreSQL: submitted through
the /new form (three optimizers, three search trials each with median pruning, two final seeds of
a tiny spiral MLP), its comparison page is watched from the searches to done without a reload;
then it shows the API's ranking (rank, tuned lr, final mean ± std, 95 % interval, n, status), a
significance cell per ordered pair with the Holm-adjusted p, one point per complete search trial
in the lr sensitivity and a band with its mean line per optimizer over the final runs, and the
experiment page links to it (a grid's does not, and has no comparison page). A comparison of one
optimizer, and one with a single final seed, are shown next to their fields and store nothing.
Screenshots: new-compare, new-compare-error, comparison-live, comparison, experiment-compare."""

from __future__ import annotations

import math
import re
from statistics import mean, stdev
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Page, expect

from .conftest import GRID, LIVE_TIMEOUT_MS, open_view, shot, traces
from .test_search import fill_spiral, named

OPTIMIZERS = ["sgd", "momentum", "adam"]
BUDGET, FINAL_SEEDS = 3, 2
TUNED = {"optimizer.lr": {"log_uniform": [1e-05, 1]}}  # the form's first tuned field

# what the page shows, recorded every 50 ms from the first script of every page on
SAMPLER = """
window.samples = [];
setInterval(() => {
  const progress = document.getElementById('comparison-progress');
  if (!progress || !progress.dataset.settled) return;
  const rows = [...document.querySelectorAll('#ranking tbody tr')].map(r => r.dataset.status);
  const count = (key) => Number(progress.dataset[key]);
  window.samples.push({ settled: progress.dataset.settled === 'true', done: count('done'),
                        finals: count('finals'), trials: count('trials'), rows });
}, 50);
"""

# the page's reads of the trials so far (one a poll)
POLLS = ("() => performance.getEntriesByType('resource')"
         ".filter(e => e.name.endsWith('/trials')).length")


def fill_compare(page: Page, name: str, optimizers: list[str]) -> None:
    """The form of a small comparison on the tiny spiral MLP."""
    fill_spiral(page, name)
    expect(page.locator("#compare-options")).to_be_hidden()
    page.check('[name="search-method"][value="compare"]')
    expect(page.locator("#compare-options")).to_be_visible()
    expect(page.locator('[data-path="search.trials"]')).to_be_hidden()  # a budget instead
    expect(page.locator("#optimizer-fields")).to_be_hidden()  # no optimizer's own block
    expect(page.locator('[data-path="search.objective.metric"]')).to_have_value("val_loss")
    row = page.locator('.space-row[data-row="0"]')  # the tuned lr is there already
    expect(row.locator(".space-path")).to_have_value("optimizer.lr")
    expect(row.locator(".space-kind")).to_have_value("log_uniform")
    expect(row.locator(".space-values")).to_have_value("1e-5, 1")
    for pick in page.locator(".optimizer-pick").all():
        pick.set_checked(pick.get_attribute("value") in optimizers)
    page.fill('[data-path="search.budget"]', str(BUDGET))
    page.fill('[data-path="search.final_seeds"]', str(FINAL_SEEDS))
    page.select_option('[data-path="search.sampler"]', "tpe")
    page.fill('[data-path="search.parallelism"]', "2")
    page.select_option('[data-path="search.objective.mode"]', "min")
    page.select_option('[data-path="search.pruner.name"]', "median")
    page.fill('[data-path="search.pruner.n_startup_trials"]', "2")


def test_only_a_comparison_has_a_comparison_page(page, dashboard, console):
    console.allow(r"status of 404")  # the page itself is a 404
    for eid in [dashboard.experiments[GRID["name"]], "0123456789abcdef"]:
        response = page.goto(f"/experiments/{eid}/comparison")
        assert response.status == 404
        expect(page.locator("#not-found")).to_contain_text("There is no such comparison")
    open_view(page, f"/experiments/{dashboard.experiments[GRID['name']]}")
    expect(page.locator("#comparison-link")).to_have_count(0)


def test_a_bad_comparison_is_shown_next_to_its_field_and_stores_nothing(page, dashboard, console):
    console.allow(r"status of 422")  # the API's answers to the invalid requests
    open_view(page, "/new")
    fill_compare(page, "one optimizer", ["sgd"])
    page.click("#submit-experiment")
    error = page.locator('.field-error[data-for="search.optimizers"]')
    expect(error).to_have_text("must list at least two optimizers to compare")
    expect(page.locator("#optimizer-choice-field.invalid")).to_have_count(1)
    expect(page.locator("#form-error")).to_have_text("")
    expect(page.locator("#submit-experiment")).to_be_enabled()
    assert urlparse(page.url).path == "/new"
    assert named(dashboard, "one optimizer") == []
    shot(page, dashboard, "new-compare-error")

    page.check('.optimizer-pick[value="adam"]')
    page.fill('[data-path="search.final_seeds"]', "1")
    page.click("#submit-experiment")
    expect(page.locator('.field-error[data-for="search.final_seeds"]')).to_have_text(
        "must be an integer >= 2, got 1")
    expect(error).to_have_text("")
    assert named(dashboard, "one optimizer") == []


def test_a_comparison_from_the_form_goes_live_to_its_ranking(page, dashboard):
    page.add_init_script(SAMPLER)
    open_view(page, "/new")
    fill_compare(page, "three optimizers", OPTIMIZERS)
    # a setting the optimizers share: the form's optimizer section, never a name
    page.fill('#shared-optimizer [data-key="weight_decay"]', "0")
    expect(page.locator('#shared-optimizer [data-key="betas"]')).to_have_count(0)  # adam's own
    shot(page, dashboard, "new-compare")
    page.click("#submit-experiment")
    page.wait_for_url(re.compile(r"/experiments/[0-9a-f]+/comparison$"))
    page.wait_for_selector("body[data-ready]", state="attached")
    eid = urlparse(page.url).path.split("/")[2]
    page.evaluate("window.liveMarker = 'same document'")
    api = dashboard.server.api
    request = api.get(f"/api/v1/experiments/{eid}").json()["request"]
    assert request["optimizer"] == {"weight_decay": 0}
    assert request["search"] == {
        "method": "compare", "optimizers": OPTIMIZERS, "tune": TUNED, "budget": BUDGET,
        "final_seeds": FINAL_SEEDS, "sampler": "tpe", "parallelism": 2,
        "objective": {"metric": "val_loss", "mode": "min"},
        "pruner": {"name": "median", "n_startup_trials": 2}}

    progress = page.locator("#comparison-progress")
    page.wait_for_function("() => Number(document.getElementById('comparison-progress')"
                           ".dataset.finals) >= 1", timeout=LIVE_TIMEOUT_MS)
    if progress.get_attribute("data-settled") == "false":
        shot(page, dashboard, "comparison-live")
    expect(progress).to_have_attribute("data-settled", "true", timeout=LIVE_TIMEOUT_MS)
    assert page.evaluate("window.liveMarker") == "same document", "the page was reloaded"
    samples = page.evaluate("window.samples")
    for key in ("done", "finals", "trials"):
        seen = [s[key] for s in samples]
        assert seen == sorted(seen), f"{key} went backwards: {seen}"
    live = [s for s in samples if not s["settled"]]
    assert live and any(set(s["rows"]) & {"searching", "final runs"} for s in live), \
        f"the comparison was never seen running: {samples[:3]} … {samples[-3:]}"
    assert samples[-1]["done"] == len(OPTIMIZERS) and samples[-1]["finals"] == 6
    polls = page.evaluate(POLLS)
    assert polls >= 2, "the page did not poll while the comparison ran"

    detail = api.get(f"/api/v1/experiments/{eid}").json()
    result = detail["comparison"]
    trials = api.get(f"/api/v1/experiments/{eid}/trials").json()["trials"]
    expect(progress).to_contain_text(f"{len(OPTIMIZERS)}/{len(OPTIMIZERS)} optimizers done")
    expect(progress).to_contain_text(f"{BUDGET * len(OPTIMIZERS)}/{BUDGET * len(OPTIMIZERS)} "
                                     f"search trials done")
    check_ranking(page, result)
    check_significance(page, result)
    check_sensitivity(page, result, trials)
    check_final_curves(page, dashboard, result)
    page.wait_for_timeout(1200)  # more than the page's polling interval
    assert page.evaluate(POLLS) == polls, "the page went on polling once every optimizer was done"
    shot(page, dashboard, "comparison")

    # the experiment page links to it; its search panel shows the searches' trials only
    open_view(page, f"/experiments/{eid}")
    expect(page.locator("#comparison-link")).to_have_attribute("href",
                                                               f"/experiments/{eid}/comparison")
    expect(page.locator("#search-progress")).to_contain_text(
        f"{BUDGET * len(OPTIMIZERS)}/{BUDGET * len(OPTIMIZERS)} trials done")
    expect(page.locator("#search-importance-note")).to_contain_text("the comparison")
    drawn = page.eval_on_selector("#search-history", "n => n.data.filter(t => t.mode === "
                                  "'markers').reduce((k, t) => k + t.x.length, 0)")
    assert drawn <= BUDGET * len(OPTIMIZERS)
    shot(page, dashboard, "experiment-compare")
    page.click("#comparison-link")
    page.wait_for_selector("body[data-ready]", state="attached")
    expect(page.locator("#comparison-progress")).to_have_attribute("data-settled", "true")


def num(page: Page, value) -> str:
    """``value`` as the dashboard prints numbers (OT.num)."""
    return page.evaluate("v => OT.num(v)", value)


def check_ranking(page: Page, result: dict) -> None:
    """A row per optimizer in order of rank, with the API's numbers."""
    by_rank = sorted(result["optimizers"], key=lambda o: o["rank"])
    rows = page.locator("#ranking tbody tr")
    expect(rows).to_have_count(len(OPTIMIZERS))
    assert [r.get_attribute("data-optimizer") for r in rows.all()] == \
        [o["optimizer"] for o in by_rank]
    for entry in by_rank:
        final = entry["final"]
        assert entry["status"] == "done" and final["n"] == FINAL_SEEDS, entry
        low, high = final["ci95"]
        assert low < final["mean"] < high
        lost = [f"{final[k]} {k}" for k in ("diverged", "failed") if final[k]]
        expected = {
            "rank": str(entry["rank"]), "optimizer": entry["optimizer"],
            "tuned": f"optimizer.lr = {num(page, entry['best_params']['optimizer.lr'])}",
            "search": f"{BUDGET}/{BUDGET}" + (f" ({entry['pruned']} pruned)"
                                             if entry["pruned"] else ""),
            "best": num(page, entry["best_value"]),
            "mean": f"{num(page, final['mean'])} ± {num(page, final['std'])}",
            "ci95": f"[{num(page, low)}, {num(page, high)}]",
            "n": f"{final['n']}" + (f" ({', '.join(lost)})" if lost else ""),
            "status": "done"}
        row = page.locator(f'#ranking tbody tr[data-optimizer="{entry["optimizer"]}"]')
        shown = {col: row.locator(f'[data-col="{col}"]').inner_text() for col in expected}
        assert shown == expected
        expect(row.locator('[data-col="best"] a')).to_have_attribute(
            "href", f"/runs/{entry['best_run_id']}")


def check_significance(page: Page, result: dict) -> None:
    """Every ordered pair's cell holds its Holm-adjusted p; a significant one is shaded for the
    better optimizer of its row."""
    pairs = result["pairs"]
    assert len(pairs) == len(OPTIMIZERS) * (len(OPTIMIZERS) - 1) // 2
    means = {o["optimizer"]: o["final"]["mean"] for o in result["optimizers"]}
    cells = page.locator("#significance td[data-a]")
    expect(cells).to_have_count(len(OPTIMIZERS) * (len(OPTIMIZERS) - 1))
    expect(page.locator("#significance td.diag")).to_have_count(len(OPTIMIZERS))
    for pair in pairs:
        for a, b in ((pair["a"], pair["b"]), (pair["b"], pair["a"])):
            cell = page.locator(f'#significance td[data-a="{a}"][data-b="{b}"]')
            if pair["p_holm"] is None:
                expect(cell).to_have_text("n/a")
                continue
            expect(cell).to_have_text(num(page, pair["p_holm"]))
            expect(cell).to_have_attribute("data-significant", str(pair["significant"]).lower())
            verdict = "better" if means[a] < means[b] else "worse"
            expect(cell).to_have_class(re.compile(rf"\bsignificant {verdict}\b")
                                       if pair["significant"] else re.compile(r"^num$"))


def check_sensitivity(page: Page, result: dict, trials: list[dict]) -> None:
    """On a log lr axis, a trace per optimizer with a point per complete search trial."""
    plot = '.sensitivity-plot[data-param="optimizer.lr"]'
    assert page.eval_on_selector(plot, "n => n.layout.xaxis.type") == "log"
    drawn = {t["name"]: t for t in traces(page, plot)}
    assert list(drawn) == [o["optimizer"] for o in sorted(result["optimizers"],
                                                          key=lambda o: o["rank"])]
    for name, trace in drawn.items():
        complete = sorted((t["params"]["optimizer.lr"], t["value"]) for t in trials
                          if t["optimizer"] == name and not t["final"]
                          and isinstance(t["value"], float) and math.isfinite(t["value"]))
        assert complete, f"{name} has no complete trial"
        assert list(zip(trace["x"], trace["y"])) == complete, name


def check_final_curves(page: Page, dashboard, result: dict) -> None:
    """A band and a mean line per optimizer: the mean and std of its final runs' val_loss at
    each step."""
    drawn = {t["name"]: t for t in traces(page, "#final-curves")}
    assert set(drawn) == {f"{o}{tail}" for o in OPTIMIZERS for tail in ("", " ± std")}
    for entry in result["optimizers"]:
        histories = [dashboard.server.history(r, ["val_loss"])["val_loss"]
                     for r in entry["final_run_ids"]]
        steps = histories[0]["steps"]
        assert all(h["steps"] == steps for h in histories)
        at = [[h["values"][i] for h in histories] for i in range(len(steps))]
        line, band = drawn[entry["optimizer"]], drawn[f"{entry['optimizer']} ± std"]
        assert line["x"] == steps
        assert line["y"] == pytest.approx([mean(v) for v in at])
        upper = [mean(v) + stdev(v) for v in at]
        lower = [mean(v) - stdev(v) for v in at]
        assert band["y"] == pytest.approx(upper + lower[::-1])
        # the last step's mean is the final mean the ranking shows
        assert line["y"][-1] == pytest.approx(entry["final"]["mean"])
