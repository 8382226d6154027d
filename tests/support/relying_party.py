"""A tiny relying party for the OpenID Connect browser test: a Starlette app that signs its users in
with faceauth, built on other libraries than the server's (Authlib/joserfc): requests-oauthlib
(OAuth2Session with PKCE S256) for the code flow, PyJWT (PyJWKClient) for discovery's JWKS and the
ID token's signature, issuer, audience, expiry and nonce.

    GET /            "Sign in with faceauth" link, or who is signed in
    GET /login       -> faceauth's authorization endpoint (state, nonce, PKCE)
    GET /callback    code -> tokens; ID token verified; userinfo read; shows sub and email
    GET /logout      -> faceauth's end_session_endpoint (id_token_hint, post_logout_redirect_uri)
    GET /logged-out  back from faceauth"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import uvicorn
from requests_oauthlib import OAuth2Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

COOKIE = "rp_session"


@dataclass
class RelyingPartyState:
    issuer: str
    client_id: str
    client_secret: str
    base_url: str = ""
    discovery: dict[str, Any] = field(default_factory=dict)
    pending: dict[str, tuple[OAuth2Session, str]] = field(default_factory=dict)  # session -> (oauth, nonce)
    signed_in: dict[str, dict[str, Any]] = field(default_factory=dict)  # session -> claims + id_token
    errors: list[str] = field(default_factory=list)


def build_app(state: RelyingPartyState) -> Starlette:
    def page(body: str, status_code: int = 200) -> HTMLResponse:
        return HTMLResponse(
            f"<!doctype html><title>Test RP</title><main>{body}</main>", status_code=status_code
        )

    def session_id(request: Request) -> str:
        return request.cookies.get(COOKIE) or ""

    def home(request: Request) -> Response:
        claims = state.signed_in.get(session_id(request))
        if claims is None:
            return page('<a id="sign-in" href="/login">Sign in with faceauth</a>')
        return page(
            f'<p id="sub">Verified sub: {html.escape(claims["sub"])}</p>'
            f'<p id="email">Email: {html.escape(claims["email"])}</p>'
            f'<p id="acr">acr: {html.escape(claims["acr"])}</p><a id="sign-out" href="/logout">Sign out</a>'
        )

    def login(request: Request) -> Response:
        oauth = OAuth2Session(
            state.client_id, redirect_uri=f"{state.base_url}/callback", scope=["openid", "email"], pkce="S256"
        )
        nonce = secrets.token_urlsafe(16)
        url, _ = oauth.authorization_url(state.discovery["authorization_endpoint"], nonce=nonce)
        sid = secrets.token_urlsafe(16)
        state.pending[sid] = (oauth, nonce)
        response = RedirectResponse(url, status_code=302)
        response.set_cookie(COOKIE, sid, httponly=True, samesite="lax")
        return response

    def callback(request: Request) -> Response:
        sid = session_id(request)
        pending = state.pending.pop(sid, None)
        if pending is None:
            return page("no sign-in in progress", 400)
        oauth, nonce = pending
        try:
            token = oauth.fetch_token(
                state.discovery["token_endpoint"],
                authorization_response=str(request.url),
                client_secret=state.client_secret,
            )
            claims = verify_id_token(state, token["id_token"], nonce)
            userinfo = oauth.get(state.discovery["userinfo_endpoint"]).json()
            if userinfo.get("sub") != claims["sub"]:
                raise ValueError("userinfo is about someone else")
        except Exception as error:  # the test reads what went wrong from the page
            state.errors.append(repr(error))
            return page(f'<p id="error">{html.escape(repr(error))}</p>', 400)
        state.signed_in[sid] = {**claims, "email": userinfo["email"], "id_token": token["id_token"]}
        return RedirectResponse("/", status_code=302)

    def logout(request: Request) -> Response:
        claims = state.signed_in.pop(session_id(request), None)
        if claims is None:
            return RedirectResponse("/", status_code=302)
        query = urlencode(
            {
                "id_token_hint": claims["id_token"],
                "post_logout_redirect_uri": f"{state.base_url}/logged-out",
                "state": "rp-logout",
            }
        )
        return RedirectResponse(f"{state.discovery['end_session_endpoint']}?{query}", status_code=302)

    def logged_out(request: Request) -> Response:
        ok = request.query_params.get("state") == "rp-logout"
        return page(f'<p id="logged-out">Signed out of faceauth{"" if ok else " (state mismatch)"}</p>')

    routes = [
        Route("/", home),
        Route("/login", login),
        Route("/callback", callback),
        Route("/logout", logout),
        Route("/logged-out", logged_out),
    ]
    return Starlette(routes=routes)


def verify_id_token(state: RelyingPartyState, id_token: str, nonce: str) -> dict[str, Any]:
    """Signature from the JWKS the discovery document names, then iss, aud, exp, iat, nonce."""
    keys = jwt.PyJWKClient(state.discovery["jwks_uri"])
    key = keys.get_signing_key_from_jwt(id_token)
    claims: dict[str, Any] = jwt.decode(
        id_token,
        key.key,
        algorithms=state.discovery["id_token_signing_alg_values_supported"],
        audience=state.client_id,
        issuer=state.discovery["issuer"],
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce"]},
    )
    if claims["nonce"] != nonce:
        raise ValueError("nonce mismatch")
    return claims


def load_discovery(state: RelyingPartyState) -> None:
    document = httpx.get(f"{state.issuer}/.well-known/openid-configuration", timeout=30).json()
    if document["issuer"] != state.issuer:
        raise ValueError("discovery names another issuer")
    state.discovery = document


@contextmanager
def serve_relying_party(state: RelyingPartyState, port: int) -> Iterator[str]:
    state.base_url = f"http://127.0.0.1:{port}"
    load_discovery(state)
    server = uvicorn.Server(
        uvicorn.Config(build_app(state), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name=f"relying-party-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the relying party did not start")
        time.sleep(0.05)
    try:
        yield state.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=15)
