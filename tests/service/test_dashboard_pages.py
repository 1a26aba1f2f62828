"""The dashboard's HTTP side: every page answers with HTML that loads only local assets, unknown
objects answer 404 pages, assets are served (plotly.js from the committed partial bundle), and the pages
stay out of the API's schema. The pages' behaviour is tested in a real browser (tests/dashboard)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import experiment_request

PAGES = ["/", "/compare", "/compare?runs=a,b&metric=val_loss", "/trajectories?experiment=x",
         "/new"]
BUNDLE = Path(__file__).parents[2] / "service" / "dashboard" / "static" / "vendor" / "plotly.min.js"
ASSET = re.compile(r'(?:src|href)="([^"]+)"')


def _assets(html: str) -> list[str]:
    return [a for a in ASSET.findall(html) if a.startswith(("/static/", "http", "//"))]


@pytest.fixture(scope="module")
def ids(shared_client):
    created = shared_client.post("/api/v1/experiments", json=experiment_request(
        name="pages <script>alert(1)</script>", training={"epochs": 1, "seed": 0}))
    assert created.status_code == 201, created.text
    body = created.json()
    return body["id"], body["run_ids"][0]


def test_every_page_is_html_with_local_assets_only(shared_client, ids):
    experiment_id, run_id = ids
    for path in [*PAGES, f"/experiments/{experiment_id}", f"/runs/{run_id}"]:
        response = shared_client.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        assets = _assets(response.text)
        assert assets, path
        for asset in assets:  # no CDN: everything comes from this server
            assert asset.startswith("/static/"), (path, asset)
            fetched = shared_client.get(asset)
            assert fetched.status_code == 200, asset
            assert fetched.content


def test_chart_pages_load_the_committed_plotly_bundle(shared_client, ids):
    experiment_id, _ = ids
    page = shared_client.get(f"/experiments/{experiment_id}").text
    assert "/static/vendor/plotly.min.js" in page
    served = shared_client.get("/static/vendor/plotly.min.js")
    assert served.content == BUNDLE.read_bytes()
    assert "max-age" in served.headers["cache-control"]
    again = shared_client.get("/static/vendor/plotly.min.js",
                              headers={"if-none-match": served.headers["etag"]})
    assert again.status_code == 304
    plain = shared_client.get("/static/vendor/plotly.min.js", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == BUNDLE.read_bytes()


def test_the_plotly_bundle_is_the_one_its_recipe_builds():
    """The banner the build writes names the locked plotly.js version and the registered traces:
    a bundle edited by hand, or a recipe changed without rebuilding, fails here."""
    recipe = Path(__file__).parents[2] / "scripts" / "plotly-bundle"
    lock = json.loads((recipe / "package-lock.json").read_text())
    version = lock["packages"]["node_modules/plotly.js"]["version"]
    traces = re.findall(r"require\('plotly\.js/lib/(\w+)'\)", (recipe / "entry.js").read_text())
    assert "core" in traces
    traces.remove("core")
    banner = BUNDLE.read_text()[:400]
    assert f"plotly.js v{version} (partial bundle: {', '.join(traces)})" in banner
    assert {"scatter", "bar", "contour", "parcoords"} <= set(traces)


# the addresses left in plotly's text: XML namespaces, documentation links in descriptions and
# error messages, and the logo's link (hidden: displaylogo is false) — none is ever fetched
TEXT_ONLY_HOSTS = {"www.w3.org", "developer.mozilla.org", "github.com", "plotly.com",
                   "get.webgl.org"}


def test_the_plotly_bundle_names_no_remote_service_it_could_load_from():
    """No CDN default (geo charts' topojson), no Chart Studio upload URL: the recipe's offline
    edits (scripts/plotly-bundle/build.js) are in the committed bundle."""
    text = BUNDLE.read_text()
    assert "cdn." not in text.lower()
    assert "cloud.plotly.com" not in text
    hosts = set(re.findall(r"https?://([A-Za-z0-9.-]+)", text))
    assert hosts <= TEXT_ONLY_HOSTS, hosts - TEXT_ONLY_HOSTS
    assert "optrack's bundle has no geo charts and no default topojson URL." in text


def test_names_are_escaped_in_pages(shared_client, ids):
    experiment_id, _ = ids
    page = shared_client.get(f"/experiments/{experiment_id}").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.parametrize("path", ["/experiments/nope", "/runs/nope"])
def test_unknown_objects_answer_a_404_page(shared_client, path):
    response = shared_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'id="not-found"' in response.text


def test_script_urls_change_with_their_content(shared_client):
    page = shared_client.get("/").text
    versions = re.findall(r'/static/(common\.js|optrack\.css)\?v=([0-9a-f]{12})', page)
    assert {name for name, _ in versions} == {"common.js", "optrack.css"}


def test_static_files_stay_inside_the_static_folder(shared_client):
    for path in ["/static/../pages.py", "/static/%2e%2e/pages.py", "/static/..%2fpages.py",
                 "/static/nope.js"]:
        response = shared_client.get(path)
        assert response.status_code == 404, path
        assert "install" not in response.text


def test_pages_are_not_part_of_the_api_schema(shared_client):
    paths = shared_client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if not p.startswith("/api/") and p not in ("/healthz", "/readyz")]


def test_runs_can_be_listed_by_experiment(shared_client, ids):
    experiment_id, _ = ids
    other = shared_client.post("/api/v1/experiments", json=experiment_request(
        name="other", training={"epochs": 1, "seed": [0, 1]})).json()
    mine = shared_client.get("/api/v1/runs", params={"experiment": experiment_id, "limit": 1000})
    assert mine.status_code == 200
    runs = mine.json()["runs"]
    assert runs and {r["experiment_id"] for r in runs} == {experiment_id}
    theirs = shared_client.get("/api/v1/runs", params={"experiment": other["id"]}).json()["runs"]
    assert sorted(r["id"] for r in theirs) == sorted(other["run_ids"])
    filtered = shared_client.get("/api/v1/runs", params={
        "experiment": other["id"], "filter": "training.seed = 1"}).json()["runs"]
    assert len(filtered) == 4  # four optimizers × seed 1
    assert {r["config"]["training"]["seed"] for r in filtered} == {1}


def test_a_search_page_names_its_objective_and_loads_the_search_panel(shared_client, ids):
    """An adaptive search's page carries its objective (the metric its charts show first) and
    loads search.js; a grid's names none."""
    grid_id, _ = ids
    created = shared_client.post("/api/v1/experiments", json=experiment_request(
        name="page of a search", optimizer={"name": "adam"}, training={"epochs": 1},
        search={"method": "tpe", "trials": 2, "parallelism": 1,
                "objective": {"metric": "val_accuracy", "mode": "max"},
                "space": {"optimizer.lr": {"log_uniform": [1e-4, 1e-1]}}}))
    assert created.status_code == 201, created.text
    page = shared_client.get(f"/experiments/{created.json()['id']}").text
    assert 'data-objective="val_accuracy"' in page
    assert re.search(r'src="/static/search\.js\?v=[0-9a-f]{12}"', page)
    assert 'data-objective=""' in shared_client.get(f"/experiments/{grid_id}").text


def test_a_comparison_has_a_page_of_its_own(shared_client, ids):
    """A comparison of optimizers' page loads comparison.js (local assets only) and its
    experiment page links to it; a grid has neither (its comparison page is a 404 page)."""
    grid_id, _ = ids
    body = experiment_request(name="page of a <b>comparison</b>", training={"epochs": 1},
                              search={"method": "compare", "optimizers": ["sgd", "adam"],
                                      "tune": {"optimizer.lr": {"log_uniform": [1e-4, 1e-1]}},
                                      "budget": 1, "final_seeds": 2,
                                      "objective": {"metric": "val_loss"}})
    del body["optimizer"]
    created = shared_client.post("/api/v1/experiments", json=body)
    assert created.status_code == 201, created.text
    experiment_id = created.json()["id"]
    page = shared_client.get(f"/experiments/{experiment_id}/comparison")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert re.search(r'src="/static/comparison\.js\?v=[0-9a-f]{12}"', page.text)
    assert "/static/vendor/plotly.min.js" in page.text
    assert all(a.startswith("/static/") for a in _assets(page.text))
    assert "<b>comparison</b>" not in page.text and "&lt;b&gt;comparison&lt;/b&gt;" in page.text
    link = f'href="/experiments/{experiment_id}/comparison"'
    assert link in shared_client.get(f"/experiments/{experiment_id}").text
    assert "/comparison" not in shared_client.get(f"/experiments/{grid_id}").text
    missing = shared_client.get(f"/experiments/{grid_id}/comparison")
    assert missing.status_code == 404 and 'id="not-found"' in missing.text
