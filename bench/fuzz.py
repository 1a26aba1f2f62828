"""A longer Schemathesis pass than the one in ``make test``: every operation of the app's OpenAPI
schema, schema-conforming and schema-breaking requests, with a valid token of every scope.
Checks: no 500, responses match the schema, authentication is never ignored.

    .venv/bin/python -m bench.fuzz [--examples 200] [--engine sqlite|postgresql]

Prints, per operation, the cases sent and the failures found, then the totals and the time.
Exit status 1 if anything failed."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, response_schema_conformance

from tests.harness import ALL_SCOPES, Settings, create_app, superuser_token, temp_database

CHECKS = [not_a_server_error, response_schema_conformance, ignored_auth]


def fuzz_operation(operation, mode, examples: int, headers) -> tuple[int, list[str]]:
    sent, failures = 0, []

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def call(case):
        nonlocal sent
        sent += 1
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
            if response.status_code >= 400:
                assert set(response.json()) == {"error"}, response.text[:300]
        except Exception as exc:  # noqa: BLE001 — collected, reported, and the run goes on
            failures.append(f"{response.status_code}: {str(exc)[:300]}")

    try:
        call()
    except Unsatisfiable:
        pass
    return sent, failures


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=200, help="per operation and mode")
    parser.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, temp_database(args.engine, tmp) as url:
        app = create_app(Settings(data_dir=tmp, database_url=url, lease_wait_seconds=0.2))
        try:
            headers = {"authorization": f"Bearer {superuser_token(app.state.engine, ALL_SCOPES)}"}
            schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)
            operations = [r.ok() for r in schema.get_all_operations()]
            print(f"optrack fuzz — {len(operations)} operations, {args.examples} examples per "
                  f"operation and mode, {args.engine}")
            started, total, failed = time.perf_counter(), 0, 0
            for operation in operations:
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    sent, failures = fuzz_operation(operation, mode, args.examples, headers)
                    total, failed = total + sent, failed + len(failures)
                    mark = "ok" if not failures else f"{len(failures)} FAILED"
                    print(f"  {operation.label:55s} {mode.value:8s} {sent:5d} cases  {mark}")
                    for failure in failures[:3]:
                        print(f"      {failure}")
            took = time.perf_counter() - started
            print(f"total: {total} cases in {took:.0f} s ({total / took:.0f}/s), "
                  f"{failed} failures")
        finally:
            app.state.engine.dispose()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
