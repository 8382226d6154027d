"""The rate-limit middleware: which requests count against which endpoint's limit, checked before
the body is read. The rule itself (the window, the limit, the shared counters) is
``service.ratelimits``; the JSON API and the web pages share one bucket per endpoint."""

from __future__ import annotations

import anyio.to_thread
from fastapi import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from faceauth.domain import RateLimited
from faceauth.web.client_ip import client_ip
from faceauth.web.errors import error_response

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
    ("POST", "/api/v1/liveness/challenges"): "liveness",  # its frame posts are bounded per challenge
}


class RateLimit:
    """ASGI middleware; uses ``app.state.services.rate_limits`` once start-up has built it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            LIMITED_ENDPOINTS.get((scope["method"], scope["path"])) if scope["type"] == "http" else None
        )
        services = getattr(scope["app"].state, "services", None) if endpoint else None
        if endpoint is None or services is None or not services.rate_limits.enabled:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            await anyio.to_thread.run_sync(services.rate_limits.check, endpoint, client_ip(request))
        except RateLimited as error:
            await error_response(request, error)(scope, receive, send)
            return
        await self.app(scope, receive, send)
