"""Rate limits per client address on the endpoints that cost the most or guess the most: register,
log in, enroll and verify, in the JSON API and the web pages alike (one bucket per endpoint for
both). Beyond ``rate_limit_requests`` in a fixed window of ``rate_limit_window_seconds`` the answer
is 429 with ``Retry-After``.

The counters live in the database (``storage.abuse``), so the limit holds across worker processes
and server instances. The check runs before the body is read. Per-account lock-outs
(``service.lockout``) do the fine-grained work; this limit only stops floods, and is generous
because many people can share one address."""

from __future__ import annotations

import logging
import math
import time
from datetime import UTC, datetime, timedelta

import anyio.to_thread
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from faceauth.config import Settings
from faceauth.domain import RateLimited
from faceauth.storage.abuse import AbuseStore, abuse_store_for
from faceauth.web.client_ip import client_ip
from faceauth.web.errors import handle_faceauth_error

logger = logging.getLogger(__name__)

# (method, path) -> the endpoint's bucket name.
LIMITED_ENDPOINTS: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/users"): "register",
    ("POST", "/register"): "register",
    ("POST", "/api/v1/auth/login"): "login",
    ("POST", "/login"): "login",
    ("POST", "/api/v1/face/enroll"): "enroll",
    ("POST", "/face/enroll"): "enroll",
    ("POST", "/api/v1/face/verify"): "verify",
    ("POST", "/face/verify"): "verify",
    ("POST", "/oauth2/token"): "oidc_token",  # client secrets and codes are guessed here
    ("POST", "/api/v1/liveness/challenges"): "liveness",  # its frame posts are bounded per challenge
}


class RateLimit:
    """ASGI middleware; needs ``app.state.services`` (set at start-up) for the database."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limit = settings.rate_limit_requests
        self.window = max(1, settings.rate_limit_window_seconds)
        # failures older than the longest lock-out window no longer count anywhere
        self.failure_retention = max(
            settings.face_lockout_window_seconds,
            settings.password_lockout_window_seconds,
            settings.password_account_lockout_window_seconds,
        )
        self._store: AbuseStore | None = None
        self._purged_window = -1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and self.limit > 0:
            endpoint = LIMITED_ENDPOINTS.get((scope["method"], scope["path"]))
        services = getattr(scope["app"].state, "services", None) if endpoint else None
        if endpoint is None or services is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        store = self._store_for(services.storage)
        now = time.time()
        window_start = int(now // self.window) * self.window
        bucket = f"{endpoint}|{client_ip(request) or 'unknown'}"
        count = await anyio.to_thread.run_sync(store.hit, bucket, window_start)
        if window_start != self._purged_window:
            self._purged_window = window_start
            await anyio.to_thread.run_sync(self._purge, store, now, window_start)
        if count > self.limit:
            retry_after = math.ceil(window_start + self.window - now)
            logger.info("rate limit: %s over %d requests in %d s", bucket, self.limit, self.window)
            response = await handle_faceauth_error(request, RateLimited(retry_after))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _store_for(self, storage: object) -> AbuseStore:
        if self._store is None or self._store.engine is not getattr(storage, "engine", None):
            self._store = abuse_store_for(storage)
        return self._store

    def _purge(self, store: AbuseStore, now: float, window_start: int) -> None:
        moment = datetime.fromtimestamp(now, UTC)
        removed = store.purge(
            moment - timedelta(seconds=self.failure_retention), window_start - self.window, moment
        )
        if removed:
            logger.debug("purged %d stale abuse-limit rows", removed)
