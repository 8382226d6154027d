"""The application factory: ``create_app(settings, engine)``.

Start-up (the lifespan) checks production secrets, brings the database schema up to date in
development mode (production refuses to start when it is behind), and loads the vision models
once, unless an engine is passed in."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import faceauth
from faceauth import serve_checks
from faceauth.config import Settings, get_settings
from faceauth.domain import RequestTooLarge
from faceauth.service.accounts import AccountService
from faceauth.service.apps import AppService
from faceauth.service.faces import BurstEmbedder, FaceService
from faceauth.service.liveness import LivenessService
from faceauth.service.tokens import TokenService
from faceauth.storage import Storage, migrate
from faceauth.storage.challenges import challenge_store_for
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.keys import check_production_settings, resolve_secret_key
from faceauth.web import account_api, api, liveness_api, operations, pages
from faceauth.web.deps import Services
from faceauth.web.errors import register_error_handlers
from faceauth.web.ratelimit import RateLimit
from faceauth.web.request_log import RequestLog
from faceauth.web.security_headers import SecurityHeaders

if TYPE_CHECKING:
    from faceauth.vision.engine import FaceEngine
    from faceauth.vision.landmarks import FaceMesh
    from faceauth.vision.liveness import LivenessAnalyzer

logger = logging.getLogger(__name__)


def build_services(
    settings: Settings,
    storage: Storage,
    engine: BurstEmbedder,
    liveness_analyzer: LivenessAnalyzer | None = None,
) -> Services:
    cipher = TemplateCipher.from_settings(settings)
    return Services(
        settings=settings,
        storage=storage,
        accounts=AccountService(storage, settings),
        tokens=TokenService(resolve_secret_key(settings), storage, settings),
        faces=FaceService(engine, storage, cipher, settings),
        apps=AppService(storage),
        liveness=LivenessService(liveness_analyzer, challenge_store_for(storage), storage, settings),
        inference_limiter=anyio.CapacityLimiter(max(1, settings.inference_concurrency)),
    )


def load_engine(settings: Settings) -> FaceEngine:
    from faceauth.vision.engine import FaceEngine

    return FaceEngine.load(settings)


def load_liveness(
    settings: Settings, engine: BurstEmbedder, mesh: FaceMesh | None
) -> LivenessAnalyzer | None:
    """The face mesh and the challenge analyzer. Without the mesh's model wheel: a ConfigurationError
    when liveness is required, otherwise None (challenge endpoints answer 503) and a warning."""
    from faceauth.domain import ConfigurationError
    from faceauth.vision.engine import FaceEngine
    from faceauth.vision.landmarks import FaceMesh, ModelNotFoundError
    from faceauth.vision.liveness import LivenessAnalyzer, default_signals

    if not settings.liveness_required:
        logger.warning(
            "FACEAUTH_LIVENESS_REQUIRED is false: enroll and verify accept plain bursts of frames, "
            "so a photo or a screen held up to the camera is not stopped by a liveness challenge"
        )
    if not isinstance(engine, FaceEngine):
        return None
    if mesh is None:
        try:
            mesh = FaceMesh.load(threads=1)  # installed wheel, else `faceauth models fetch`'s copies
        except ModelNotFoundError as error:
            if settings.liveness_required:
                raise ConfigurationError(f"liveness is required but {error}") from error
            logger.warning("liveness challenges unavailable: %s", error)
            return None
    return LivenessAnalyzer(engine, mesh, default_signals())


def operations_probe(storage: Storage) -> operations.OperationsProbe:
    """What /readyz and /metrics read from the database."""
    from datetime import UTC, datetime

    from faceauth.storage.admin import AdminStore, readiness_problem

    admin = AdminStore(storage.engine)
    return operations.OperationsProbe(
        readiness_problem=lambda: readiness_problem(storage.engine),
        active_lockouts=lambda: admin.active_lockouts_by_step(datetime.now(UTC)),
    )


def create_app(
    settings: Settings | None = None, engine: FaceEngine | None = None, mesh: FaceMesh | None = None
) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_production_settings(settings)
        serve_checks.check_metrics(settings)
        storage = Storage.from_url(settings.resolved_database_url)
        if settings.metrics_enabled:
            from faceauth import metrics
            from faceauth.vision import timing

            timing.add_observer(metrics.observe_stage)
        try:
            migrate.prepare_schema(storage.engine, settings)
            face_engine: BurstEmbedder
            if engine is not None:
                face_engine = engine
            else:
                face_engine = await anyio.to_thread.run_sync(load_engine, settings)
            analyzer = await anyio.to_thread.run_sync(load_liveness, settings, face_engine, mesh)
            app.state.services = build_services(settings, storage, face_engine, analyzer)
            storage.purge_expired_revocations()
            app.state.operations = operations_probe(storage)
            logger.info("faceauth ready (%s mode)", settings.env)
            yield
        finally:
            app.state.services = None
            app.state.operations = None
            storage.close()
            if settings.metrics_enabled:
                from faceauth import metrics

                metrics.worker_exiting()

    app = FastAPI(title="faceauth", version=faceauth.__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.services = None
    app.state.html_error_renderer = getattr(pages, "render_error", None)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RateLimit, settings=settings)  # before the body is read
    app.add_middleware(SecurityHeaders, settings=settings)  # every answer gets them
    app.add_middleware(RequestLog, metrics_enabled=settings.metrics_enabled)  # outermost: sees all
    register_error_handlers(app)
    app.include_router(api.router)
    app.include_router(account_api.router)
    app.include_router(liveness_api.router)
    app.include_router(pages.router)
    app.include_router(operations.router)

    @app.get("/healthz", tags=["health"])
    def healthz(request: Request) -> JSONResponse:
        if request.app.state.services is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok"})

    return app


class BodySizeLimit:
    """Answers 413 to a request whose body is larger than ``max_bytes``, whether it declares its
    length or streams it in chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = JSONResponse({"detail": self._message()}, status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise RequestTooLarge(self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"request body too large: the limit is {self.max_bytes} bytes"
