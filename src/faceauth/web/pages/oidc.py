"""The OpenID Connect provider's pages for people (docs/oidc.md): HTTP translation only; the rules
live in ``service.oidc_provider``. The relying parties' endpoints are ``web.oidc``.

    GET  /oauth2/authorize                     code flow (PKCE S256) -> login, face, consent, code
    POST /oauth2/authorize                     the consent form
    GET  /oauth2/logout, POST /oauth2/logout   RP-initiated logout (confirmation without id_token_hint)
    POST /apps/signed-in/{client_id}/revoke    the dashboard: withdraw consent, revoke tokens

The provider's session is faceauth's own full-stage session cookie; a sign-in waiting for the
password and face steps is kept in its own cookie (``oidc_sign_in``). Forms are CSRF-checked."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from faceauth.domain import NotFound
from faceauth.service.oidc_outcomes import ErrorPage, NeedConsent, NeedLogin, Outcome, Respond, SessionInfo
from faceauth.service.services import Services
from faceauth.web.csrf import renew_csrf_token
from faceauth.web.deps import CsrfChecked, ServicesDep
from faceauth.web.oidc.translate import query_request, to_response
from faceauth.web.pages import oidc_sign_in
from faceauth.web.pages.auth import revoke_cookie_token
from faceauth.web.pages.errors import error_page
from faceauth.web.pages.rendering import clear_token_cookie, redirect, render, viewer_of
from faceauth.web.pages.routing import FormField, FullPageCaller, PageRoute, face_step_url
from faceauth.web.security_headers import PAGE_CONTENT_SECURITY_POLICY

router = APIRouter(route_class=PageRoute, include_in_schema=False)

ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9a-fA-F:]+\](:[0-9]{1,5})?")
SCOPE_TEXT = {
    "openid": "Know who you are (a stable identifier for your account)",
    "profile": "Your name and username",
    "email": "Your email address",
    "phone": "Your phone number",
}


def session_info(request: Request) -> SessionInfo | None:
    viewer = viewer_of(request)
    if viewer is None:
        return None
    claims = viewer.claims
    return SessionInfo(viewer.user, viewer.is_full, claims.auth_time, claims.liveness)


def reauth_since(request: Request, services: Services) -> datetime | None:
    """When a login was asked for this very request (the sign-in cookie), else None."""
    sign_in = oidc_sign_in.pending(request, services)
    return sign_in.requested_at if sign_in is not None and sign_in.query == request.url.query else None


# ------------------------------------------------------------------------------------------------
# Authorization: login, face, consent
# ------------------------------------------------------------------------------------------------


@router.get("/oauth2/authorize")
def authorize(request: Request, services: ServicesDep) -> Response:
    outcome = services.oidc.provider.authorize(
        query_request(request), session_info(request), reauth_since(request, services)
    )
    return answer_authorization(request, services, outcome)


@router.post("/oauth2/authorize", dependencies=[CsrfChecked])
def consent(request: Request, services: ServicesDep, decision: FormField = "") -> Response:
    outcome = services.oidc.provider.decide(
        query_request(request),
        session_info(request),
        reauth_since(request, services),
        allow=decision == "allow",
    )
    return answer_authorization(request, services, outcome)


def answer_authorization(request: Request, services: Services, outcome: Outcome) -> Response:
    query = request.url.query
    response: Response
    if isinstance(outcome, ErrorPage):
        message = f"The application's sign-in request cannot be used: {outcome.message}"
        response = error_page(request, outcome.status_code, message)
        oidc_sign_in.forget(request, response)
    elif isinstance(outcome, Respond):
        response = to_response(outcome.response)
        oidc_sign_in.forget(request, response)
    elif isinstance(outcome, NeedLogin):
        viewer = viewer_of(request)
        next_page = "/login"
        if viewer is not None and not viewer.is_full:
            next_page = face_step_url(services.faces.is_enrolled(viewer.user.id))
        response = redirect(next_page)
        oidc_sign_in.remember(request, response, services, query)
    else:
        assert isinstance(outcome, NeedConsent)
        context = {
            "client_name": outcome.client_name,
            "scopes": [SCOPE_TEXT.get(scope, scope) for scope in outcome.scopes],
            "form_action": f"/oauth2/authorize?{query}",
        }
        response = render(request, "consent.html", context)
        response.headers["Content-Security-Policy"] = consent_policy(outcome.redirect_uri)
    return response


def consent_policy(redirect_uri: str) -> str:
    """The pages' policy, with the client's origin allowed as a form target: the consent form's
    answer is a redirect there, and browsers apply form-action to redirects too."""
    parts = urlsplit(redirect_uri)
    origin = f"{parts.scheme}://{parts.netloc}"
    if not ORIGIN.fullmatch(origin):
        return PAGE_CONTENT_SECURITY_POLICY
    return PAGE_CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


# ------------------------------------------------------------------------------------------------
# RP-initiated logout
# ------------------------------------------------------------------------------------------------


@router.get("/oauth2/logout")
def end_session(request: Request, services: ServicesDep) -> Response:
    try:
        validated = services.oidc.provider.validate_end_session(query_request(request))
    except OAuth2Error as error:
        return error_page(request, 400, f"The logout request cannot be used: {error.description}")
    if validated.needs_confirmation and viewer_of(request) is not None:
        context = {"form_action": f"/oauth2/logout?{request.url.query}"}
        return render(request, "logout_confirm.html", context)
    return finish_logout(request, services, validated.redirect_uri)


@router.post("/oauth2/logout", dependencies=[CsrfChecked])
def end_session_confirmed(request: Request, services: ServicesDep) -> Response:
    try:
        validated = services.oidc.provider.validate_end_session(query_request(request))
    except OAuth2Error as error:
        return error_page(request, 400, f"The logout request cannot be used: {error.description}")
    return finish_logout(request, services, validated.redirect_uri)


def finish_logout(request: Request, services: Services, redirect_uri: str | None) -> Response:
    revoke_cookie_token(request, services)
    response: Response = (
        RedirectResponse(redirect_uri, status_code=302)
        if redirect_uri
        else redirect("/login?notice=logged-out")
    )
    clear_token_cookie(request, response)
    oidc_sign_in.forget(request, response)
    renew_csrf_token(request)
    return response


# ------------------------------------------------------------------------------------------------
# The dashboard
# ------------------------------------------------------------------------------------------------


@router.post("/apps/signed-in/{client_id}/revoke")
def revoke_signed_in_app(client_id: str, caller: FullPageCaller, services: ServicesDep) -> Response:
    """Withdraws the consent and revokes the application's tokens (CSRF: ``deps.authenticate``)."""
    if not services.oidc.provider.revoke_app(caller.user.id, client_id):
        raise NotFound("no such application")
    return redirect("/apps?notice=signed-in-app-revoked")
