"""The application factory: ``create_app(settings, vision)``, its start-up and its middleware.

Start-up (the lifespan) checks the secrets, opens the database (``faceauth.composition``: the schema
is brought up to date in development; production refuses to start when it is behind), loads the
vision models once unless ``vision`` is given (tests pass real models loaded once per session, or a
stand-in engine without liveness), and builds the services."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from fastapi import FastAPI
from fastapi.responses import JSONResponse

import faceauth
from faceauth import composition
from faceauth.composition import VisionModels
from faceauth.config import Settings, get_settings
from faceauth.web import api, docs, oidc, operations
from faceauth.web.body_limit import BodySizeLimit
from faceauth.web.errors import register_error_handlers
from faceauth.web.pages.router import router as pages_router
from faceauth.web.ratelimit import RateLimit
from faceauth.web.request_log import RequestLog
from faceauth.web.security_headers import SecurityHeaders

logger = logging.getLogger(__name__)


async def purge_liveness_periodically(app: FastAPI, interval_seconds: float) -> None:
    """Deletes expired challenges' observations every ``interval_seconds``, by the server itself
    (not only when the next challenge is issued). Runs for the app's lifetime."""
    while True:
        await anyio.sleep(max(1.0, interval_seconds))
        services = app.state.services
        if services is None:
            return
        try:
            await anyio.to_thread.run_sync(services.liveness.purge)
        except Exception:  # a failed purge must not stop the server; the next one retries
            logger.exception("purging expired liveness observations failed")


def create_app(settings: Settings | None = None, vision: VisionModels | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        composition.check_secrets(settings)
        stores = composition.open_database(settings)
        composition.start_metrics(settings)
        try:
            models = vision
            if models is None:
                models = await anyio.to_thread.run_sync(composition.load_vision, settings)
            app.state.services = composition.build_services(settings, stores, models)
            stores.storage.purge_expired_revocations()
            logger.info("faceauth ready (%s mode)", settings.env)
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(purge_liveness_periodically, app, settings.liveness_purge_interval_seconds)
                yield
                tasks.cancel_scope.cancel()
        finally:
            app.state.services = None
            stores.close()
            composition.stop_metrics(settings)

    # docs_url/redoc_url: web.docs serves both pages without a CDN. redirect_slashes off: Starlette
    # builds that redirect from the request's Host header (GET /apps/ with Host: evil.example went to
    # http://evil.example/apps); without it an unknown path, trailing slash or not, is a plain 404.
    app = FastAPI(
        title="faceauth",
        version=faceauth.__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.services = None
    app.state.inference_limiter = anyio.CapacityLimiter(composition.inference_concurrency(settings))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RateLimit)  # before the body is read
    app.add_middleware(SecurityHeaders, settings=settings)  # every answer gets them
    app.add_middleware(RequestLog, metrics_enabled=settings.metrics_enabled)  # outermost: sees all
    register_error_handlers(app)
    app.include_router(api.router)
    app.include_router(oidc.router)
    app.include_router(pages_router)
    app.include_router(docs.router)
    app.include_router(operations.router)  # /readyz, /metrics

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        if app.state.services is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
