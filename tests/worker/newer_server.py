"""A server from the future, for upgrade tests: the real app, whose worker responses carry
fields no released worker knows (``uvicorn --factory tests.worker.newer_server:app_from_env``).
Workers must train through it as through today's server."""

from __future__ import annotations

import json

from fastapi import Request
from fastapi.responses import JSONResponse

from service.app import create_app

# what a later server might add: new fields beside the known ones and inside the limits
EXTRA = {"placement": {"gpu": 0, "zone": "b"}, "deadline": "2027-01-01T00:00:00Z"}
EXTRA_LIMITS = {"max_gpu_seconds": 3600}


def app_from_env():
    app = create_app()

    @app.middleware("http")
    async def newer_fields(request: Request, call_next):
        response = await call_next(request)
        path = request.url.path
        if not path.startswith("/api/v1/worker/") or response.status_code != 200 or \
                response.headers.get("content-type") != "application/json":
            return response
        data = json.loads(b"".join([chunk async for chunk in response.body_iterator]))
        data.update(EXTRA)
        if "limits" in data:
            data["limits"].update(EXTRA_LIMITS)
        return JSONResponse(data, status_code=200)

    return app
