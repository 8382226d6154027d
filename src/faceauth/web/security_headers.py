"""Security headers on every response: the JSON API, the pages, the OpenAPI schema and the docs.

An HTML page gets a Content-Security-Policy that allows scripts, styles and media from this origin
only (no 'unsafe-inline': the templates use no inline script or style) and the camera for this
origin. Everything else gets a policy that allows nothing at all (JSON needs no scripts), except the
interactive docs. Every answer is ``Cache-Control: no-store`` unless it says otherwise (answers carry
tokens and personal data; the static files say ``no-cache``).

``/docs`` (Swagger UI) and ``/redoc`` are FastAPI's pages, which load their script and style from
the jsDelivr CDN and start Swagger UI with one inline script. Rather than vendoring the Swagger UI
bundle into the package (a large third-party asset to keep up to date) they get a policy of their
own, on those two paths only: scripts from the CDN plus that inline script by its SHA-256 hash (no
'unsafe-inline' for scripts), styles from the CDN (inline styles allowed: Swagger UI sets them),
connections to this origin only, and no framing. The hash is taken from the page as it is served,
so it stays right when FastAPI changes the page."""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from faceauth.config import Settings

API_CONTENT_SECURITY_POLICY = (
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
DOCS_PATHS = frozenset({"/docs", "/redoc"})
DOCS_CDN = "https://cdn.jsdelivr.net"
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
INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_content_security_policy(html: bytes) -> str:
    """The policy for a docs page: its inline scripts allowed by hash, its assets from the CDN."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in INLINE_SCRIPT.findall(html)
    )
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {DOCS_CDN} {hashes}".strip(),
            f"style-src {DOCS_CDN} https://fonts.googleapis.com 'unsafe-inline'",
            "font-src https://fonts.gstatic.com",
            "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
            "connect-src 'self'",
            "worker-src blob:",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
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
        if path in DOCS_PATHS:
            await self._docs(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if headers.get("content-type", "").startswith("text/html"):
                    self._add(headers, PAGE_CONTENT_SECURITY_POLICY)
                    headers.setdefault("Permissions-Policy", PAGE_PERMISSIONS_POLICY)
                else:
                    self._add(headers, API_CONTENT_SECURITY_POLICY)
                headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Holds the (small) docs page back until its body is complete, to hash its inline script."""
        start: Message | None = None
        body = bytearray()

        async def buffered_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body" and start is not None:
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                headers = MutableHeaders(scope=start)
                self._add(headers, docs_content_security_policy(bytes(body)))
                headers["Content-Length"] = str(len(body))
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body), "more_body": False})
                return
            await send(message)

        await self.app(scope, receive, buffered_send)

    def _add(self, headers: MutableHeaders, content_security_policy: str) -> None:
        if "content-security-policy" not in headers:
            headers["Content-Security-Policy"] = content_security_policy
        for name, value in self.headers.items():
            if name.lower() not in headers:
                headers[name] = value
