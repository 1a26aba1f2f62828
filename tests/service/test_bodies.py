"""``JsonBodyRoute``: a body validated from its bytes in one pass, refusals as FastAPI's own."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from service.routes.bodies import JsonBodyRoute
from service.schemas.metrics import MetricBatch


def _app(route_class) -> FastAPI:
    router = APIRouter(route_class=route_class)

    @router.post("/points")
    async def points(body: MetricBatch, request: Request) -> dict:
        # one pass: what the request parsed is the very object the route gets
        return {"one_pass": await request.json() is body,
                "values": [p.value for p in body.metrics]}

    app = FastAPI()
    app.include_router(router)
    return app


FAST, PLAIN = TestClient(_app(JsonBodyRoute)), TestClient(_app(APIRoute))


def test_a_valid_body_is_validated_once_from_its_bytes():
    body = {"metrics": [{"key": "loss", "step": 1, "value": 0.5},
                        {"key": "loss", "step": 2, "value": "NaN"}]}
    fast, plain = FAST.post("/points", json=body), PLAIN.post("/points", json=body)
    assert fast.status_code == plain.status_code == 200
    assert fast.json()["one_pass"] is True and plain.json()["one_pass"] is False
    assert fast.json()["values"] == plain.json()["values"] == [0.5, "NaN"]


@pytest.mark.parametrize("content", [
    b'{"metrics": [{"key": "loss", "step": -1, "value": 1}]}',
    b'{"metrics": [{"key": "", "step": 1, "value": true}]}',
    b'{"metrics": [{"key": "loss", "step": 1, "value": "1.5"}], "extra": 1}',
    b'{"metrics": [{"key": "loss", "step": 1.5, "value": 1}]}',
    b'{"metrics": "none"}', b'[]', b'{"metrics": [', b'not json', b''])
def test_a_refused_body_gets_exactly_fastapis_answer(content):
    headers = {"content-type": "application/json"}
    fast = FAST.post("/points", content=content, headers=headers)
    plain = PLAIN.post("/points", content=content, headers=headers)
    assert fast.status_code == plain.status_code == 422
    assert fast.json() == plain.json()
