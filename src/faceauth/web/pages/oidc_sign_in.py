"""The cookie of a sign-in in progress (``service.oidc_signin``), for the login and face pages.

``faceauth_oidc_signin`` (HttpOnly, SameSite=Lax, short-lived) holds the sealed authorization request
while the user logs in; after a verified face the face login use case reads it to send the browser
back (``FaceVerified.return_url``), and the login page shows its form even to a signed-in user when
a fresh login was asked for."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from faceauth.service.oidc_signin import PendingSignIn
from faceauth.service.services import Services
from faceauth.web.pages.rendering import cookie_secure

COOKIE = "faceauth_oidc_signin"
COOKIE_PATH = "/"


def sealed(request: Request) -> str | None:
    """The cookie's value as the browser sent it (sealed; the service opens it)."""
    return request.cookies.get(COOKIE) or None


def pending(request: Request, services: Services) -> PendingSignIn | None:
    value = sealed(request)
    return services.oidc.sign_ins.open(value) if value else None


def return_url(request: Request, services: Services) -> str | None:
    sign_in = pending(request, services)
    return sign_in.return_url if sign_in is not None else None


def remember(request: Request, response: Response, services: Services, query: str) -> None:
    sign_ins = services.oidc.sign_ins
    value = sign_ins.seal(query)
    if value is None:
        return
    response.set_cookie(
        COOKIE,
        value,
        max_age=sign_ins.ttl_seconds,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


def forget(request: Request, response: Response) -> None:
    if request.cookies.get(COOKIE):
        response.delete_cookie(
            COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax", secure=cookie_secure(request)
        )
