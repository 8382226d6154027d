"""CSRF protection, one implementation for the JSON API and the web pages (double submit).

The cookie ``faceauth_csrf`` holds a random token. Cookies travel with cross-site requests, so a
state-changing request (anything but GET, HEAD, OPTIONS) that relies on cookies must also carry the
same token in the header ``X-CSRF-Token`` (the webcam script, API clients using the cookie) or in the
form field ``csrf_token`` (HTML forms): another site can make the browser send our cookies but cannot
read them to copy one into a header or a field. Bearer tokens need no check: a browser never adds
them by itself."""

from __future__ import annotations

import secrets

from fastapi import Request

from faceauth.domain import CsrfFailed

CSRF_COOKIE = "faceauth_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


async def check_csrf(request: Request) -> None:
    """Raises CsrfFailed unless a state-changing request repeats the CSRF cookie in the header or,
    for an HTML form, in the ``csrf_token`` field."""
    if request.method in SAFE_METHODS:
        return
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None and request.headers.get("content-type", "").startswith(FORM_CONTENT_TYPE):
        field = (await request.form()).get(CSRF_FIELD)
        submitted = field if isinstance(field, str) else None
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), (submitted or "").encode()):
        raise CsrfFailed("missing or wrong CSRF token")


def csrf_token(request: Request) -> str:
    """This browser's CSRF token for a page to embed; a new one (set as a cookie on the way out by
    ``pages.routing``) if it has none."""
    existing = getattr(request.state, "new_csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if existing:
        return str(existing)
    return renew_csrf_token(request)


def renew_csrf_token(request: Request) -> str:
    """A fresh token for this browser (at log-in and log-out), set as a cookie on the way out."""
    token = secrets.token_urlsafe(32)
    request.state.new_csrf_token = token
    return token
