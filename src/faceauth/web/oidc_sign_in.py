"""The cookie of a sign-in in progress (``service.oidc_signin``), for the login and face pages.

``faceauth_oidc_signin`` (HttpOnly, SameSite=Lax, short-lived) holds the sealed authorization request
while the user logs in; after a verified face the page goes back to it (``return_url``), and the
login page shows its form even to a signed-in user when a fresh login was asked for."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from faceauth.service.oidc_outcomes import SignedInApp
from faceauth.service.oidc_signin import OidcComponents, PendingSignIn

COOKIE = "faceauth_oidc_signin"
COOKIE_PATH = "/"


def components(request: Request) -> OidcComponents | None:
    oidc: OidcComponents | None = getattr(request.app.state, "oidc", None)
    return oidc


def pending(request: Request) -> PendingSignIn | None:
    oidc = components(request)
    value = request.cookies.get(COOKIE)
    if oidc is None or not value:
        return None
    return oidc.sign_ins.open(value)


def return_url(request: Request) -> str | None:
    sign_in = pending(request)
    return sign_in.return_url if sign_in is not None else None


def remember(request: Request, response: Response, query: str) -> None:
    oidc = components(request)
    if oidc is None:
        return
    value = oidc.sign_ins.seal(query)
    if value is None:
        return
    settings = request.app.state.settings
    response.set_cookie(
        COOKIE,
        value,
        max_age=oidc.sign_ins.ttl_seconds,
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https" or settings.is_production or settings.cookie_secure,
    )


def forget(request: Request, response: Response) -> None:
    if request.cookies.get(COOKIE):
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="lax")


def signed_in_apps(request: Request, user_id: int) -> list[SignedInApp]:
    """The applications the user signed in to through faceauth, for the dashboard."""
    oidc = components(request)
    return oidc.provider.signed_in_apps(user_id) if oidc is not None else []
