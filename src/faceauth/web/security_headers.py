"""Security headers on every response: the JSON API, the pages, the OpenAPI schema and the docs.

An HTML page gets a Content-Security-Policy that allows scripts, styles and media from this origin
only (no 'unsafe-inline': the templates use no inline script or style) and the camera for this
origin. Everything else gets a policy that allows nothing at all (JSON needs no scripts), except the
interactive docs. Every answer is ``Cache-Control: no-store`` unless it says otherwise (answers carry
tokens and personal data; the static files say ``no-cache``).

``/docs`` (Swagger UI) and ``/redoc`` (``web.docs``) load their scripts from this server too, with no
inline script; their policy differs from the pages' only in allowing inline styles (Swagger UI and
ReDoc set style attributes) and blob: workers (ReDoc).
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceauth.config import Settings

API_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PAGE_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
PAGE_PERMISSIONS_POLICY = "camera=(self), microphone=(), geolocation=()"
HSTS = "max-age=31536000; includeSubDomains"
DOCS_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "worker-src blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.headers = dict(COMMON_HEADERS)
        if settings.cookie_secure or settings.is_production:  # served over HTTPS
            self.headers["Strict-Transport-Security"] = HSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        page_policy = DOCS_CONTENT_SECURITY_POLICY if path in DOCS_PATHS else PAGE_CONTENT_SECURITY_POLICY

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    self._add(headers, page_policy)
                    headers.setdefault("Permissions-Policy", PAGE_PERMISSIONS_POLICY)
                else:
                    self._add(headers, API_CONTENT_SECURITY_POLICY)
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _add(self, headers: MutableHeaders, content_security_policy: str) -> None:
        if "content-security-policy" not in headers:
            headers["Content-Security-Policy"] = content_security_policy
        for name, value in self.headers.items():
            if name.lower() not in headers:
                headers[name] = value
