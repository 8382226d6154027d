"""OpenID Connect provider endpoints (docs/oidc.md): HTTP translation only; the rules live in
``service.oidc_provider`` and the protocol in Authlib.

    GET  /.well-known/openid-configuration     discovery
    GET  /oauth2/jwks                          public signing keys
    GET  /oauth2/authorize                     code flow (PKCE S256) -> login, face, consent, code
    POST /oauth2/authorize                     the consent form (CSRF-protected)
    POST /oauth2/token                         code -> ID token + access token
    GET, POST /oauth2/userinfo                 claims for a bearer access token
    POST /oauth2/revoke                        RFC 7009
    GET  /oauth2/logout, POST /oauth2/logout   RP-initiated logout (confirmation without id_token_hint)
    POST /apps/signed-in/{client_id}/revoke    the dashboard: withdraw consent, revoke tokens

The provider's session is faceauth's own full-stage session cookie."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import anyio.to_thread
from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from faceauth.domain import NotFound
from faceauth.service.oidc_authlib import SUPPORTED_SCOPES, HttpRequest, OAuthResponse
from faceauth.service.oidc_outcomes import ErrorPage, NeedConsent, NeedLogin, Outcome, Respond, SessionInfo
from faceauth.service.oidc_provider import ACR_FACE, ACR_FACE_LIVENESS, SIGNING_ALGORITHMS
from faceauth.service.oidc_signin import OidcComponents
from faceauth.web import oidc_sign_in
from faceauth.web.pages import (
    CONTENT_SECURITY_POLICY,
    FormField,
    PageRoute,
    check_form_csrf,
    clear_token_cookie,
    current_viewer,
    error_response,
    face_step_url,
    redirect,
    render,
    require_full,
    revoke_cookie_token,
    services_of,
)

pages = APIRouter(route_class=PageRoute, include_in_schema=False)
protocol = APIRouter(tags=["openid connect"])

ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9a-fA-F:]+\](:[0-9]{1,5})?")
SCOPE_TEXT = {
    "openid": "Know who you are (a stable identifier for your account)",
    "profile": "Your name and username",
    "email": "Your email address",
    "phone": "Your phone number",
}


def oidc_of(request: Request) -> OidcComponents:
    oidc = oidc_sign_in.components(request)
    if oidc is None:
        services_of(request)  # 503 while starting
        raise RuntimeError("the OpenID Connect provider is not configured")
    return oidc


def issuer_of(request: Request) -> str:
    configured: str | None = request.app.state.settings.oidc_issuer
    return configured or f"{request.url.scheme}://{request.url.netloc}"


def http_request(
    request: Request,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> HttpRequest:
    issuer = issuer_of(request)
    uri = issuer + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # Starlette's headers as they are: case-insensitive, as Authlib expects ("Authorization")
    return HttpRequest(request.method, uri, headers if headers is not None else {}, query, form, issuer)


async def form_items(request: Request) -> list[tuple[str, str]]:
    form = await request.form()
    return [(key, value) for key, value in form.multi_items() if isinstance(value, str)]


def to_response(answer: OAuthResponse) -> Response:
    headers = {k: v for k, v in answer.headers if k.lower() != "content-type"}
    if isinstance(answer.body, dict):
        return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)
    return Response(answer.body or b"", status_code=answer.status_code, headers=headers)


def session_info(request: Request) -> SessionInfo | None:
    viewer = current_viewer(request, services_of(request))
    if viewer is None:
        return None
    claims = viewer.claims
    return SessionInfo(viewer.user, viewer.is_full, claims.auth_time, claims.liveness)


# ------------------------------------------------------------------------------------------------
# Discovery and keys
# ------------------------------------------------------------------------------------------------


@protocol.get("/.well-known/openid-configuration")
def discovery(request: Request) -> JSONResponse:
    oidc = oidc_of(request)
    issuer = issuer_of(request)
    algorithms = sorted({key.alg for key in oidc.provider.keyring.published()}) or SIGNING_ALGORITHMS[:1]
    document: dict[str, Any] = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth2/authorize",
        "token_endpoint": f"{issuer}/oauth2/token",
        "userinfo_endpoint": f"{issuer}/oauth2/userinfo",
        "jwks_uri": f"{issuer}/oauth2/jwks",
        "revocation_endpoint": f"{issuer}/oauth2/revoke",
        "end_session_endpoint": f"{issuer}/oauth2/logout",
        "scopes_supported": list(SUPPORTED_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "acr_values_supported": [ACR_FACE, ACR_FACE_LIVENESS],
        "prompt_values_supported": ["none", "login", "consent"],
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "acr",
            "amr",
            "azp",
            "name",
            "preferred_username",
            "email",
            "email_verified",
            "phone_number",
            "phone_number_verified",
        ],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=300"})


@protocol.get("/oauth2/jwks")
def jwks(request: Request) -> JSONResponse:
    keys = oidc_of(request).provider.public_jwks()
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


# ------------------------------------------------------------------------------------------------
# Authorization: login, face, consent
# ------------------------------------------------------------------------------------------------


@pages.get("/oauth2/authorize")
def authorize(request: Request) -> Response:
    oidc = oidc_of(request)
    query = request.url.query
    outcome = oidc.provider.authorize(
        http_request(request, request.query_params.multi_items()),
        session_info(request),
        reauth_since(request, query),
    )
    return answer_authorization(request, outcome, query)


@pages.post("/oauth2/authorize")
def consent(request: Request, csrf_token: FormField = "", decision: FormField = "") -> Response:
    check_form_csrf(request, csrf_token)
    oidc = oidc_of(request)
    query = request.url.query
    outcome = oidc.provider.decide(
        http_request(request, request.query_params.multi_items()),
        session_info(request),
        reauth_since(request, query),
        allow=decision == "allow",
    )
    return answer_authorization(request, outcome, query)


def reauth_since(request: Request, query: str) -> datetime | None:
    """When a login was asked for this very request (the sign-in cookie), else None."""
    sign_in = oidc_sign_in.pending(request)
    return sign_in.requested_at if sign_in is not None and sign_in.query == query else None


def answer_authorization(request: Request, outcome: Outcome, query: str) -> Response:
    response: Response
    if isinstance(outcome, ErrorPage):
        response = error_response(
            request,
            outcome.status_code,
            f"The application's sign-in request cannot be used: {outcome.message}",
        )
        oidc_sign_in.forget(request, response)
    elif isinstance(outcome, Respond):
        response = to_response(outcome.response)
        oidc_sign_in.forget(request, response)
    elif isinstance(outcome, NeedLogin):
        viewer = current_viewer(request, services_of(request))
        next_page = face_step_url(viewer) if viewer is not None and not viewer.is_full else "/login"
        response = redirect(next_page)
        oidc_sign_in.remember(request, response, query)
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
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("form-action 'self'", f"form-action 'self' {origin}")


# ------------------------------------------------------------------------------------------------
# Token, userinfo, revocation
# ------------------------------------------------------------------------------------------------


@protocol.post("/oauth2/token")
async def token(request: Request) -> Response:
    oidc = oidc_of(request)
    built = http_request(request, (), await form_items(request), request.headers)
    return to_response(await anyio.to_thread.run_sync(oidc.provider.token, built))


@protocol.post("/oauth2/revoke")
async def revoke(request: Request) -> Response:
    oidc = oidc_of(request)
    built = http_request(request, (), await form_items(request), request.headers)
    return to_response(await anyio.to_thread.run_sync(oidc.provider.revoke, built))


@protocol.api_route("/oauth2/userinfo", methods=["GET", "POST"])
def userinfo(request: Request) -> JSONResponse:
    oidc = oidc_of(request)
    scheme, _, access_token = request.headers.get("authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not access_token.strip():
            raise _missing_token()
        claims = oidc.provider.userinfo(access_token.strip(), issuer_of(request))
    except OAuth2Error as error:
        challenge = f'Bearer error="{error.error}", error_description="{error.description}"'
        body = {"error": error.error, "error_description": error.description}
        headers = {"WWW-Authenticate": challenge, "Cache-Control": "no-store"}
        return JSONResponse(body, status_code=error.status_code, headers=headers)
    return JSONResponse(claims, headers={"Cache-Control": "no-store"})


def _missing_token() -> OAuth2Error:
    error = OAuth2Error(description="a bearer access token is required", status_code=401)
    error.error = "invalid_token"
    return error


# ------------------------------------------------------------------------------------------------
# RP-initiated logout
# ------------------------------------------------------------------------------------------------


@pages.get("/oauth2/logout")
def end_session(request: Request) -> Response:
    oidc = oidc_of(request)
    try:
        validated = oidc.provider.validate_end_session(
            http_request(request, request.query_params.multi_items())
        )
    except OAuth2Error as error:
        return error_response(request, 400, f"The logout request cannot be used: {error.description}")
    if validated.needs_confirmation and current_viewer(request, services_of(request)) is not None:
        context = {"form_action": f"/oauth2/logout?{request.url.query}"}
        return render(request, "logout_confirm.html", context)
    return finish_logout(request, validated.redirect_uri)


@pages.post("/oauth2/logout")
def end_session_confirmed(request: Request, csrf_token: FormField = "") -> Response:
    check_form_csrf(request, csrf_token)
    oidc = oidc_of(request)
    try:
        validated = oidc.provider.validate_end_session(
            http_request(request, request.query_params.multi_items())
        )
    except OAuth2Error as error:
        return error_response(request, 400, f"The logout request cannot be used: {error.description}")
    return finish_logout(request, validated.redirect_uri)


def finish_logout(request: Request, redirect_uri: str | None) -> Response:
    revoke_cookie_token(request, services_of(request))
    response: Response = (
        RedirectResponse(redirect_uri, status_code=302)
        if redirect_uri
        else redirect("/login?notice=logged-out")
    )
    clear_token_cookie(request, response)
    oidc_sign_in.forget(request, response)
    return response


# ------------------------------------------------------------------------------------------------
# The dashboard
# ------------------------------------------------------------------------------------------------


@pages.post("/apps/signed-in/{client_id}/revoke")
def revoke_signed_in_app(request: Request, client_id: str, csrf_token: FormField = "") -> Response:
    services = services_of(request)
    viewer = require_full(request, services)
    check_form_csrf(request, csrf_token)
    if not oidc_of(request).provider.revoke_app(viewer.user.id, client_id):
        raise NotFound("no such application")
    return redirect("/apps?notice=signed-in-app-revoked")
