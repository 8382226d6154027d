"""The OpenID Connect provider's protocol endpoints, for relying parties (docs/oidc.md). HTTP
translation only: the rules live in ``service.oidc_provider`` and the protocol in Authlib. The
browser's side (authorize, consent, logout) is ``web.pages.oidc``.

    GET  /.well-known/openid-configuration     discovery
    GET  /oauth2/jwks                          public signing keys
    POST /oauth2/token                         code -> ID token + access token
    GET, POST /oauth2/userinfo                 claims for a bearer access token
    POST /oauth2/revoke                        RFC 7009"""

from __future__ import annotations

from typing import Any

import anyio.to_thread
from authlib.oauth2.rfc6749 import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from faceauth.service.oidc_authlib import SUPPORTED_SCOPES
from faceauth.service.oidc_provider import ACR_FACE, ACR_FACE_LIVENESS, SIGNING_ALGORITHMS
from faceauth.web.deps import ServicesDep
from faceauth.web.oidc.translate import form_request, issuer_of, to_response

router = APIRouter(tags=["openid connect"])


@router.get("/.well-known/openid-configuration")
def discovery(request: Request, services: ServicesDep) -> JSONResponse:
    oidc = services.oidc
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


@router.get("/oauth2/jwks")
def jwks(services: ServicesDep) -> JSONResponse:
    keys = services.oidc.provider.public_jwks()
    return JSONResponse(keys, headers={"Cache-Control": "public, max-age=300"})


@router.post("/oauth2/token")
async def token(request: Request, services: ServicesDep) -> Response:
    built = await form_request(request)
    return to_response(await anyio.to_thread.run_sync(services.oidc.provider.token, built))


@router.post("/oauth2/revoke")
async def revoke(request: Request, services: ServicesDep) -> Response:
    built = await form_request(request)
    return to_response(await anyio.to_thread.run_sync(services.oidc.provider.revoke, built))


@router.get("/oauth2/userinfo", operation_id="userinfo_get")
@router.post("/oauth2/userinfo", operation_id="userinfo_post")  # OIDC Core 5.3.1: both methods
def userinfo(request: Request, services: ServicesDep) -> JSONResponse:
    scheme, _, access_token = request.headers.get("authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not access_token.strip():
            raise _missing_token()
        claims = services.oidc.provider.userinfo(access_token.strip(), issuer_of(request))
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
