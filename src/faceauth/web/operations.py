"""For operators and orchestrators: ``GET /readyz`` and ``GET /metrics`` (outside ``/api/v1``).

``/healthz`` (in ``web.app``) says the process is up with its models loaded. ``/readyz`` adds that
the database answers and its schema is the one this version needs: 200, or 503 with the reason, so a
load balancer can take a broken instance out. ``/metrics`` is the Prometheus text format; it is a 404
unless FACEAUTH_METRICS_ENABLED, and with FACEAUTH_METRICS_TOKEN it wants that bearer token (401)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from faceauth import metrics
from faceauth.config import Settings
from faceauth.service.services import Services

router = APIRouter()


@router.get("/readyz", tags=["health"])
def readyz(request: Request) -> JSONResponse:
    services: Services | None = request.app.state.services
    if services is None:
        return JSONResponse({"status": "not ready", "reason": "starting"}, status_code=503)
    problem = services.operations.readiness_problem()
    if problem is not None:
        return JSONResponse({"status": "not ready", "reason": problem}, status_code=503)
    return JSONResponse({"status": "ready"})


def _token_ok(request: Request, settings: Settings) -> bool:
    if settings.metrics_token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = settings.metrics_token.get_secret_value()
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), expected.encode())


@router.get("/metrics", include_in_schema=False)
def metrics_endpoint(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if not settings.metrics_enabled:
        return JSONResponse({"detail": "Not Found"}, status_code=404)
    if not _token_ok(request, settings):
        return JSONResponse(
            {"detail": "metrics need the bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    services: Services | None = request.app.state.services
    extra = [metrics.LockoutsCollector(services.operations.active_lockouts)] if services is not None else []
    return Response(metrics.render(extra), media_type=metrics.CONTENT_TYPE)
