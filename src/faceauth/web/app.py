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
from faceauth.web import api
from faceauth.web.body_limit import BodySizeLimit
from faceauth.web.errors import register_error_handlers
from faceauth.web.pages.router import router as pages_router
from faceauth.web.ratelimit import RateLimit
from faceauth.web.security_headers import SecurityHeaders

logger = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, vision: VisionModels | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        composition.check_secrets(settings)
        stores = composition.open_database(settings)
        try:
            models = vision
            if models is None:
                models = await anyio.to_thread.run_sync(composition.load_vision, settings)
            app.state.services = composition.build_services(settings, stores, models)
            stores.storage.purge_expired_revocations()
            logger.info("faceauth ready (%s mode)", settings.env)
            yield
        finally:
            app.state.services = None
            stores.close()

    app = FastAPI(title="faceauth", version=faceauth.__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.services = None
    app.state.inference_limiter = anyio.CapacityLimiter(max(1, settings.inference_concurrency))
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RateLimit)  # before the body is read
    app.add_middleware(SecurityHeaders, settings=settings)  # outermost: every answer gets them
    register_error_handlers(app)
    app.include_router(api.router)
    app.include_router(pages_router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> JSONResponse:
        if app.state.services is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app
