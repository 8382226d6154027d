"""Per request: the request id (``X-Request-ID``), one access-log line, the request metrics.

A request id sent by the client is kept when it is 1-128 characters of letters, digits and
``._:-`` (so a log line cannot be forged with a newline or flooded); anything else is replaced by a
fresh one. Either way the answer carries it back in ``X-Request-ID``, and every log line written
while the request runs carries it (``faceauth.logs``).

The access line (logger ``faceauth.access``, level INFO) names the route *template*
(``/api/v1/apps/{app_id}``), never the raw path or the query string, which may carry tokens."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.routing import NoMatchFound
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceauth import logs

access_logger = logging.getLogger("faceauth.access")

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED_ROUTE = "unmatched"  # 404s: one label value, not one per probed path


def request_id_from(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = bytes(value).decode("latin-1")
            if REQUEST_ID_PATTERN.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def route_template(scope: Scope, status: int) -> str:
    route = scope.get("route")
    path_format = getattr(route, "path_format", None)
    if isinstance(path_format, str):
        return included_prefix(scope, route) + path_format
    if str(scope.get("path", "")).startswith("/static/") and status != 404:
        return "/static/{path}"
    return UNMATCHED_ROUTE


def included_prefix(scope: Scope, route: object) -> str:
    """The prefixes the route's router was included under (``/api/v1``): FastAPI keeps a route of an
    included router with its own path, so they are the part of the request path before the route's
    own part. They are literal (no parameters), so the label set stays bounded."""
    url_path_for, name = getattr(route, "url_path_for", None), getattr(route, "name", None)
    if url_path_for is None or not isinstance(name, str):
        return ""
    try:
        own = str(url_path_for(name, **scope.get("path_params", {})))
    except (NoMatchFound, AssertionError, TypeError, ValueError):  # cannot rebuild its own path
        return ""
    path = str(scope.get("path", ""))
    return path[: len(path) - len(own)] if own and path.endswith(own) else ""


class RequestLog:
    """Outermost middleware: sees every answer, including those of the other middlewares."""

    def __init__(self, app: ASGIApp, metrics_enabled: bool) -> None:
        self.app = app
        self.metrics_enabled = metrics_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope)
        token = logs.open_request(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope, status)
            logs.note_route(route)
            method = str(scope.get("method", ""))
            access_logger.info(
                "%s %s %d %.1f ms",
                method,
                route,
                status,
                seconds * 1000,
                extra={"method": method, "status": status, "duration_ms": round(seconds * 1000, 1)},
            )
            if self.metrics_enabled:
                from faceauth import metrics

                metrics.record_request(method, route, status, seconds)
            logs.close_request(token)
