"""Errors as MLflow clients expect them: ``{"error_code": "RESOURCE_DOES_NOT_EXIST",
"message": "…"}`` (MLflow's ``databricks.proto`` error codes) with the HTTP status MLflow's own
server gives that code. The domain raises optrack's errors; ``handlers.py`` hands every error
under the MLflow paths to ``mlflow_error`` instead of the optrack error shape (so does the
middleware, for the refusals it answers itself): ``error_for_path`` picks.

Statuses the MLflow client retries (429, 500, 502, 503, 504) are used only where a retry may
help, so a refused request fails at once with its message."""

from __future__ import annotations

from typing import Any

from ..errors import error_body

# MLflow's paths (its tracking API and its artifact proxy)
PATH_PREFIXES = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/")

# optrack error code → (MLflow error code, HTTP status MLflow answers it with)
_CODES = {
    "unauthenticated": ("UNAUTHENTICATED", 401),
    "forbidden": ("PERMISSION_DENIED", 403),
    "not_found": ("RESOURCE_DOES_NOT_EXIST", 404),
    "endpoint_not_found": ("ENDPOINT_NOT_FOUND", 404),
    "method_not_allowed": ("ENDPOINT_NOT_FOUND", 405),
    "already_exists": ("RESOURCE_ALREADY_EXISTS", 400),
    # a state that forbids the action (a finished run): MLflow's server says the same thing
    # with INVALID_PARAMETER_VALUE ("the run must be active")
    "conflict": ("INVALID_PARAMETER_VALUE", 400),
    "invalid_input": ("INVALID_PARAMETER_VALUE", 400),
    "too_large": ("INVALID_PARAMETER_VALUE", 400),
    "rate_limited": ("REQUEST_LIMIT_EXCEEDED", 429),
    "not_supported": ("NOT_IMPLEMENTED", 501),
    "internal": ("INTERNAL_ERROR", 500),
}
# what an MLflow user has to change when the server does not know their credentials
_SIGN_IN_HINT = ("; MLflow clients: set MLFLOW_TRACKING_TOKEN to an optrack API token (otk_…); "
                 "MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD (Basic auth) are not "
                 "accepted")


def is_mlflow_path(path: str) -> bool:
    return path.startswith(PATH_PREFIXES)


def mlflow_error(code: str, status: int, message: str) -> tuple[dict[str, Any], int]:
    """The MLflow error body and HTTP status for an optrack error ``code`` (an unknown code
    keeps its status, as BAD_REQUEST)."""
    error_code, status = _CODES.get(code, ("BAD_REQUEST", status))
    if code == "unauthenticated":
        message += _SIGN_IN_HINT
    return {"error_code": error_code, "message": message}, status


def error_for_path(path: str, status: int, code: str, message: str,
                   details: list | None = None) -> tuple[dict[str, Any], int]:
    """The body and status of an error answered at ``path``: MLflow's shape under MLflow's
    paths, optrack's everywhere else."""
    if is_mlflow_path(path):
        return mlflow_error(code, status, message)
    return error_body(code, message, details), status
