"""``GET /metrics`` on the app in this process: the ``metrics`` scope guards it, and its
counters, histograms and database gauges move with the requests, runs, points, leases and
checkpoints that happen. Counters are this test process's, shared by every app in it: the tests
compare before and after."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from typer.testing import CliRunner

from service.auth import accounts
from service.cli.main import app as cli
from service.tracking.ingest import record_metrics

from ..harness import models
from .conftest import assert_error, experiment_request, superuser_headers
from .metrics_text import samples, value

ABSENT = "0" * 32


def scrape(client, headers) -> dict:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def member_headers(client, scopes: list[str]) -> dict[str, str]:
    """A token of a new user who is no superuser."""
    with client.app.state.writer() as session:
        user = accounts.add_user(session, "cli", "plain-user", superuser=False)
        _, secret = accounts.create_token(session, "cli", user, "t", scopes)
        session.commit()
    return {"authorization": f"Bearer {secret}"}


def test_metrics_need_a_token_with_the_metrics_scope(client):
    assert_error(client.get("/metrics", headers={"authorization": ""}), 401)
    read_only = superuser_headers(client.app, ["read"])
    assert_error(client.get("/metrics", headers=read_only), 403, "forbidden")
    every_other = superuser_headers(client.app, ["read", "write", "worker", "admin"])
    assert_error(client.get("/metrics", headers=every_other), 403, "forbidden")
    assert client.get("/metrics", headers=superuser_headers(client.app, ["metrics"])
                      ).status_code == 200
    assert client.get("/metrics", headers=member_headers(client, ["metrics"])
                      ).status_code == 200


def test_only_a_superuser_grants_the_metrics_scope(client):
    asked = {"name": "prometheus", "scopes": ["metrics"]}
    plain = member_headers(client, ["read", "write", "admin"])
    assert_error(client.post("/api/v1/tokens", json=asked, headers=plain), 403, "forbidden")
    made = client.post("/api/v1/tokens", json={"name": "mine", "scopes": ["read"]},
                       headers=plain)
    assert made.status_code == 201, made.text
    granted = client.post("/api/v1/tokens", json=asked)  # the fixture's superuser
    assert granted.status_code == 201, granted.text
    assert granted.json()["scopes"] == ["metrics"]
    scraped = client.get("/metrics", headers={"authorization": f"Bearer "
                                                               f"{granted.json()['token']}"})
    assert scraped.status_code == 200


def test_request_counts_go_by_route_template_and_status(client):
    headers = superuser_headers(client.app, ["read", "metrics"])
    before = scrape(client, headers)
    for _ in range(3):
        assert_error(client.get(f"/api/v1/runs/{ABSENT}", headers=headers), 404)
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert_error(client.request("BREW", "/api/v1/me", headers=headers), 405)
    assert_error(client.get("/no/such/page/" + ABSENT, headers=headers), 404)
    after = scrape(client, headers)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    template = {"method": "GET", "route": "/api/v1/runs/{run_id}"}
    assert moved("optrack_http_requests_total", status="404", **template) == 3
    assert moved("optrack_http_request_duration_seconds_count", **template) == 3
    assert moved("optrack_http_requests_total", method="GET", route="/api/v1/me",
                 status="200") == 1
    assert moved("optrack_http_requests_total", method="other", route="/api/v1/me",
                 status="405") == 1
    assert moved("optrack_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1
    assert not any(ABSENT in str(labels) for _, labels in after)  # never a raw path


def test_runs_queue_leases_points_and_checkpoints_move_their_metrics(client):
    headers = superuser_headers(client.app, ["read", "write", "worker", "metrics"])
    before = scrape(client, headers)
    created = client.post("/api/v1/experiments", json=experiment_request(), headers=headers)
    assert created.status_code == 201, created.text
    queued = scrape(client, headers)
    assert value(queued, "optrack_runs", state="queued") == 12
    assert value(queued, "optrack_queue_depth") == 12
    assert value(queued, "optrack_queue_oldest_age_seconds") > 0
    assert value(queued, "optrack_workers_seen") == 0

    lease = client.post("/api/v1/worker/lease", json={"worker_id": "w-1"}, headers=headers)
    assert lease.status_code == 200, lease.text
    run_id, attempt = lease.json()["run_id"], lease.json()["attempt"]
    blob = b"not really an npz, but bytes all the same" * 10
    stored = client.put(f"/api/v1/worker/runs/{run_id}/checkpoint?attempt={attempt}&step=3",
                        content=blob, headers=headers)
    assert stored.status_code == 200, stored.text
    points = [{"key": "train_loss", "step": s, "value": 1.0 / (s + 1)} for s in range(250)]
    for _ in range(2):  # the replay stores nothing new
        logged = client.post(f"/api/v1/worker/runs/{run_id}/metrics",
                             json={"attempt": attempt, "metrics": points}, headers=headers)
        assert logged.status_code == 200, logged.text
    after = scrape(client, headers)

    def moved(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)
    assert moved("optrack_lease_wait_seconds_count") == 1
    assert moved("optrack_checkpoint_bytes_total") == len(blob)
    assert moved("optrack_metric_points_ingested_total") == 250
    assert (value(after, "optrack_runs", state="queued"),
            value(after, "optrack_runs", state="running")) == (11, 1)
    assert value(after, "optrack_queue_depth") == 11
    assert value(after, "optrack_workers_seen") == 1


def test_backup_of_a_postgresql_database_prints_the_pg_dump_command(tmp_path):
    url = "postgresql+psycopg://optrack:s3cret-pw@db-host:5432/optrack"
    result = CliRunner().invoke(cli, ["db", "backup", str(tmp_path / "copy.dump"),
                                      "--database-url", url])
    assert result.exit_code == 2, result.output
    assert "pg_dump --format=custom --file" in result.output
    assert "postgresql://optrack@db-host:5432/optrack" in result.output
    assert "s3cret-pw" not in result.output
    assert not (tmp_path / "copy.dump").exists()


def test_queue_waits_count_from_creation_or_from_the_previous_attempts_end(client):
    """Timestamps moved back in the database: a run created two hours ago waited that long at
    its first lease; handed back and left ten minutes, it waited ten minutes at its second."""
    headers = superuser_headers(client.app, ["read", "write", "worker", "metrics"])
    created = client.post("/api/v1/experiments", headers=headers, json=experiment_request(
        optimizer=[{"name": "sgd", "lr": 0.1}], training={"epochs": 1, "seed": 0}))
    [run_id] = created.json()["run_ids"]
    backdate(client.app, update(models.Run).where(models.Run.id == run_id),
             created_at=timedelta(hours=2))
    assert value(scrape(client, headers), "optrack_queue_oldest_age_seconds") >= 7200
    before = scrape(client, headers)
    lease(client, headers, run_id, 1)
    after_first = scrape(client, headers)
    released = client.post(f"/api/v1/worker/runs/{run_id}/release", json={"attempt": 1},
                           headers=headers)
    assert released.status_code == 200, released.text
    backdate(client.app, update(models.RunAttempt).where(models.RunAttempt.run_id == run_id),
             ended_at=timedelta(minutes=10))
    # since the attempt's end, not the run's creation
    assert 600 <= value(scrape(client, headers), "optrack_queue_oldest_age_seconds") < 7200
    lease(client, headers, run_id, 2)
    after_second = scrape(client, headers)

    def waits(later, earlier, bound):
        return (value(later, "optrack_lease_wait_seconds_bucket", le=bound)
                - value(earlier, "optrack_lease_wait_seconds_bucket", le=bound))
    assert (waits(after_first, before, "3600.0"), waits(after_first, before, "14400.0")) == (0, 1)
    assert (waits(after_second, after_first, "300.0"),
            waits(after_second, after_first, "900.0")) == (0, 1)
    assert value(after_second, "optrack_queue_oldest_age_seconds") == 0


def backdate(app, statement, **ago: timedelta) -> None:
    """Run ``statement`` setting each named column to that long before now."""
    with app.state.writer() as session:
        session.execute(statement.values({column: models.utcnow() - delta
                                          for column, delta in ago.items()}))
        session.commit()


def lease(client, headers, run_id: str, attempt: int) -> None:
    leased = client.post("/api/v1/worker/lease", json={"worker_id": "w-1"}, headers=headers)
    assert leased.status_code == 200, leased.text
    assert (leased.json()["run_id"], leased.json()["attempt"]) == (run_id, attempt)


def test_points_are_counted_when_their_transaction_commits_never_when_it_rolls_back(client):
    headers = superuser_headers(client.app, ["read", "write", "metrics"])
    created = client.post("/api/v1/runs", json={"name": "external", "config": {}},
                          headers=headers)
    run_id, points = created.json()["id"], [("loss", step, 0.5, 0.0) for step in range(7)]
    before = value(scrape(client, headers), "optrack_metric_points_ingested_total")
    with client.app.state.writer() as session:
        assert record_metrics(session, run_id, points) == 7
        session.rollback()
    assert value(scrape(client, headers), "optrack_metric_points_ingested_total") == before
    with client.app.state.writer() as session:
        assert record_metrics(session, run_id, points) == 7
        session.commit()
    assert value(scrape(client, headers), "optrack_metric_points_ingested_total") == before + 7
