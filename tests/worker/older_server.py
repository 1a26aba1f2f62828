"""A server from before ``finish`` took a run's last points and leased the next run, for
upgrade tests: the real app, whose leases say neither ``finish_takes_metrics`` nor
``finish_leases_next`` and which refuses a ``finish`` carrying ``metrics`` or
``lease_next_for`` as that server's schema did (422, an unknown field) — ``uvicorn --factory
tests.worker.older_server:app_from_env``. Workers must send the points before ``finish`` and
call ``lease`` for their next run."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import JSONResponse

from service.app import create_app


def app_from_env():
    app = create_app()

    @app.middleware("http")
    async def older_fields(request: Request, call_next):
        path = request.url.path
        if path.endswith("/finish"):
            newer = {"metrics", "lease_next_for"} & set(json.loads(await request.body() or b"{}"))
            if newer:
                return JSONResponse({"error": {"code": "invalid_input", "message": f"{min(newer)}: "
                                               "extra inputs are not permitted"}}, status_code=422)
        response = await call_next(request)
        if path != "/api/v1/worker/lease" or response.status_code != 200:
            return response
        data = json.loads(b"".join([chunk async for chunk in response.body_iterator]))
        data.pop("finish_takes_metrics")
        data.pop("finish_leases_next")
        return JSONResponse(data, status_code=200)

    return app
