"""HTTP to and from the provider (``service.oidc_provider``): the issuer URL, the request as Authlib
sees it, and Authlib's answers as Starlette responses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from authlib.oauth2.rfc6749.errors import InsecureTransportError
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from faceauth.config import Settings
from faceauth.domain import InvalidInput
from faceauth.service.oidc_authlib import HttpRequest, OAuthResponse


def issuer_of(request: Request) -> str:
    """The configured issuer; in development without one, the address the request came to."""
    settings: Settings = request.app.state.settings
    return settings.oidc_issuer or f"{request.url.scheme}://{request.url.netloc}"


def http_request(
    request: Request,
    query: Sequence[tuple[str, str]],
    form: Sequence[tuple[str, str]] = (),
    headers: Mapping[str, str] | None = None,
) -> HttpRequest:
    issuer = issuer_of(request)
    uri = issuer + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    # Starlette's headers as they are: case-insensitive, as Authlib expects ("Authorization")
    try:
        return HttpRequest(request.method, uri, headers if headers is not None else {}, query, form, issuer)
    except InsecureTransportError as error:  # plain http to a non-loopback name, no https issuer set
        raise InvalidInput(
            "OpenID Connect needs https: set FACEAUTH_OIDC_ISSUER to the https URL clients use"
        ) from error


def query_request(request: Request) -> HttpRequest:
    """A browser's request (authorize, logout): its query string only."""
    return http_request(request, request.query_params.multi_items())


async def form_request(request: Request) -> HttpRequest:
    """A relying party's back-channel request (token, revoke): its form and headers."""
    form = await request.form()
    items = [(key, value) for key, value in form.multi_items() if isinstance(value, str)]
    return http_request(request, (), items, request.headers)


def to_response(answer: OAuthResponse) -> Response:
    headers = {k: v for k, v in answer.headers if k.lower() != "content-type"}
    if isinstance(answer.body, dict):
        return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)
    return Response(answer.body or b"", status_code=answer.status_code, headers=headers)
