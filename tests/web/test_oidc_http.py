"""The OpenID Connect provider's security cases over HTTP, against a real uvicorn server with the real
vision models and real photos (faces/deepface_tests).

The server runs with FACEAUTH_LIVENESS_REQUIRED=false so that an API client can pass the face step
with a plain burst of photos (the liveness challenge needs a moving face: the browser test
tests/web/test_oidc_browser.py does that with a rendered head-turn video). The session a relying
party's request finds is faceauth's own session cookie, here the full-stage token that
/api/v1/face/verify gave, set as that cookie. Discovery and the JWKS are read with PyJWT, a JOSE
library independent of the server's (joserfc under Authlib)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from faceauth import composition
from faceauth.config import Settings
from faceauth.service.oidc_clients import NewClient
from support import LiveServer, make_settings, serve_in_thread

pytestmark = pytest.mark.e2e  # the real vision models and a uvicorn server

PASSWORD = "violet kettle on mars"
CALLBACK = "http://127.0.0.1:9/callback"  # never contacted: the tests read the redirect
LOGGED_OUT = "http://127.0.0.1:9/logged-out"


@dataclass(frozen=True)
class Provider:
    server: LiveServer
    client_id: str
    secret: str
    cookie: str  # a full-stage session token (password, then face)
    password_cookie: str  # a password-stage token of the same user
    frames: dict[str, list[str]]  # a burst of the user's photos, for /api/v1/face/verify


@pytest.fixture(scope="module")
def provider(
    tmp_path_factory: pytest.TempPathFactory, face_engine: Any, photos_by_identity: dict[str, list[Path]]
) -> Iterator[Provider]:
    settings = make_settings(tmp_path_factory.mktemp("oidc-server"), liveness_required=False)
    with (
        serve_in_thread(settings, face_engine) as server,
        httpx.Client(base_url=server.base_url, timeout=120) as http,
    ):
        photos = usable_photos(face_engine, photos_by_identity)
        user = {
            "name": "Olive Idp",
            "username": "olive",
            "email": "olive@example.org",
            "phone": "+1 202 555 0143",
        }
        assert (
            http.post(
                "/api/v1/users", json={**user, "password": PASSWORD, "password_confirm": PASSWORD}
            ).status_code
            == 201
        )
        token = login(http)
        frames = {
            "frames": [base64.b64encode(p).decode() for p in itertools.islice(itertools.cycle(photos), 8)]
        }
        assert http.post("/api/v1/face/enroll", json=frames, headers=bearer(token)).status_code == 201
        verified = http.post("/api/v1/face/verify", json=frames, headers=bearer(login(http)))
        assert verified.status_code == 200, verified.text
        created = add_client(settings)
        assert created.secret is not None
        full = verified.json()["access_token"]
        yield Provider(server, created.client.client_id, created.secret, full, login(http), frames)


def add_client(settings: Settings) -> NewClient:
    """``faceauth clients add`` as the CLI does it: through the composition root, on the server's
    database."""
    stores = composition.open_database(settings)
    try:
        return composition.build_oidc_clients(stores).add("Wiki", [CALLBACK], [LOGGED_OUT])
    finally:
        stores.close()


def usable_photos(face_engine: Any, photos_by_identity: dict[str, list[Path]]) -> list[bytes]:
    for _, paths in sorted(photos_by_identity.items()):
        usable = [p.read_bytes() for p in paths if face_engine.embed_burst([p.read_bytes()]).embeddings]
        if len(usable) >= 5:
            return usable
    pytest.skip("no person with five usable photos in faces/deepface_tests")


def login(http: httpx.Client) -> str:
    response = http.post("/api/v1/auth/login", json={"login": "olive", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def browser(provider: Provider, cookie: str | None = None) -> httpx.Client:
    """A browser-like client that does not follow redirects, with a session cookie if given."""
    client = httpx.Client(base_url=provider.server.base_url, timeout=60, follow_redirects=False)
    if cookie:
        client.cookies.set("faceauth_token", cookie)
    return client


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(provider: Provider, challenge: str, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": provider.client_id,
        "redirect_uri": CALLBACK,
        "scope": "openid email",
        "state": "st-" + secrets.token_urlsafe(6),
        "nonce": "nc-" + secrets.token_urlsafe(6),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(extra)
    return params


def consent_form(response: httpx.Response) -> tuple[str, str]:
    """(form action, CSRF token) of the consent page."""
    assert response.status_code == 200, response.text
    action = re.search(
        r'<form method="post" action="([^"]+)" class="button-row" id="consent-form">', response.text
    )
    token = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert action and token, response.text
    return action.group(1).replace("&amp;", "&"), token.group(1)


def code_from(response: httpx.Response, state: str) -> str:
    assert response.status_code == 302, (response.headers.get("location"), response.text[:2000])
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    query = parse_qs(urlsplit(location).query)
    assert query["state"] == [state]
    return query["code"][0]


def sign_in(provider: Provider, challenge: str, **extra: str) -> tuple[str, dict[str, str]]:
    params = authorize_params(provider, challenge, **extra)
    with browser(provider, provider.cookie) as client:
        page = client.get("/oauth2/authorize", params=params)
        if page.status_code == 302:
            return code_from(page, params["state"]), params
        action, csrf = consent_form(page)
        answer = client.post(action, data={"csrf_token": csrf, "decision": "allow"})
        return code_from(answer, params["state"]), params


def redeem(provider: Provider, code: str, verifier: str, **extra: str) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    form.update(extra)
    return httpx.post(
        f"{provider.server.base_url}/oauth2/token",
        data=form,
        auth=(provider.client_id, provider.secret),
        timeout=60,
    )


# --- discovery and keys ------------------------------------------------------------------------


def test_discovery_and_jwks_verify_an_id_token(provider: Provider) -> None:
    base = provider.server.base_url
    document = httpx.get(f"{base}/.well-known/openid-configuration").json()
    assert document["issuer"] == base
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert "RS256" in document["id_token_signing_alg_values_supported"]
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "end_session_endpoint"):
        assert document[endpoint].startswith(base + "/oauth2/")
    keys = jwt.PyJWKClient(document["jwks_uri"])
    verifier, challenge = pkce()
    code, params = sign_in(provider, challenge)
    answer = redeem(provider, code, verifier)
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    signing_key = keys.get_signing_key_from_jwt(tokens["id_token"])
    claims = jwt.decode(
        tokens["id_token"], signing_key.key, algorithms=["RS256"], audience=provider.client_id, issuer=base
    )
    assert claims["nonce"] == params["nonce"] and claims["email"] == "olive@example.org"
    assert claims["acr"] == "urn:faceauth:acr:face" and "liveness" not in claims["amr"]  # liveness off here
    info = httpx.get(f"{base}/oauth2/userinfo", headers=bearer(tokens["access_token"]))
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]


# --- the face step is mandatory ------------------------------------------------------------------


def test_without_a_session_the_user_is_sent_to_login(provider: Provider) -> None:
    _, challenge = pkce()
    with browser(provider) as client:
        response = client.get("/oauth2/authorize", params=authorize_params(provider, challenge))
        assert response.status_code == 303 and response.headers["location"] == "/login"
        assert "faceauth_oidc_signin" in response.cookies


def test_a_password_stage_session_is_sent_to_the_face_step(provider: Provider) -> None:
    _, challenge = pkce()
    with browser(provider, provider.password_cookie) as client:
        response = client.get("/oauth2/authorize", params=authorize_params(provider, challenge))
        assert response.status_code == 303 and response.headers["location"] == "/face/verify"


def test_prompt_login_sends_a_signed_in_user_back_through_login(provider: Provider) -> None:
    _, challenge = pkce()
    with browser(provider, provider.cookie) as client:
        response = client.get(
            "/oauth2/authorize", params=authorize_params(provider, challenge, prompt="login")
        )
        assert response.status_code == 303 and response.headers["location"] == "/login"
        login_page = client.get("/login")
        assert login_page.status_code == 200 and 'name="password"' in login_page.text  # not /apps


# --- refused requests ------------------------------------------------------------------------------


def test_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(provider: Provider) -> None:
    _, challenge = pkce()
    with browser(provider, provider.cookie) as client:
        for uri in ("https://evil.example/callback", CALLBACK + "x", CALLBACK + "?next=https://evil.example"):
            response = client.get(
                "/oauth2/authorize", params=authorize_params(provider, challenge, redirect_uri=uri)
            )
            assert response.status_code == 400, uri
            assert "location" not in response.headers and "evil.example/callback" not in response.headers.get(
                "content-security-policy", ""
            )
            assert "text/html" in response.headers["content-type"]


def test_authorization_without_pkce_gets_no_code(provider: Provider) -> None:
    params = authorize_params(provider, "")
    del params["code_challenge"], params["code_challenge_method"]
    with browser(provider, provider.cookie) as client:
        response = client.get("/oauth2/authorize", params=params)
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert (
        query["error"] == ["invalid_request"] and "code" not in query and query["state"] == [params["state"]]
    )


def test_consent_form_needs_its_csrf_token(provider: Provider) -> None:
    _, challenge = pkce()
    params = authorize_params(provider, challenge, prompt="consent")
    with browser(provider, provider.cookie) as client:
        action, csrf = consent_form(client.get("/oauth2/authorize", params=params))
        assert (
            urlsplit(CALLBACK).netloc
            in client.get("/oauth2/authorize", params=params).headers["content-security-policy"]
        )
        for forged in ({"decision": "allow"}, {"decision": "allow", "csrf_token": csrf[::-1]}):
            response = client.post(action, data=forged)
            assert response.status_code == 403 and "location" not in response.headers
        assert code_from(client.post(action, data={"csrf_token": csrf, "decision": "allow"}), params["state"])


# --- codes ---------------------------------------------------------------------------------------------


def test_replayed_code_is_refused_and_revokes_the_tokens_issued_from_it(provider: Provider) -> None:
    verifier, challenge = pkce()
    code, _ = sign_in(provider, challenge)
    first = redeem(provider, code, verifier)
    assert first.status_code == 200, first.text
    access_token = first.json()["access_token"]
    base = provider.server.base_url
    assert httpx.get(f"{base}/oauth2/userinfo", headers=bearer(access_token)).status_code == 200
    replay = redeem(provider, code, verifier)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    after = httpx.get(f"{base}/oauth2/userinfo", headers=bearer(access_token))
    assert after.status_code == 401 and "invalid_token" in after.headers["www-authenticate"]


def test_code_is_bound_to_the_pkce_verifier_and_redirect_uri(provider: Provider) -> None:
    verifier, challenge = pkce()
    code, _ = sign_in(provider, challenge)
    assert redeem(provider, code, pkce()[0]).json()["error"] == "invalid_grant"
    code, _ = sign_in(provider, challenge)
    assert redeem(provider, code, verifier, redirect_uri=LOGGED_OUT).json()["error"] == "invalid_grant"


def test_token_revocation_endpoint(provider: Provider) -> None:
    verifier, challenge = pkce()
    code, _ = sign_in(provider, challenge)
    access_token = redeem(provider, code, verifier).json()["access_token"]
    base = provider.server.base_url
    revoked = httpx.post(
        f"{base}/oauth2/revoke", data={"token": access_token}, auth=(provider.client_id, provider.secret)
    )
    assert revoked.status_code == 200
    assert httpx.get(f"{base}/oauth2/userinfo", headers=bearer(access_token)).status_code == 401


# --- logout --------------------------------------------------------------------------------------------


def test_rp_initiated_logout_ends_the_session_and_redirects_only_where_registered(provider: Provider) -> None:
    verifier, challenge = pkce()
    code, _ = sign_in(provider, challenge)
    id_token = redeem(provider, code, verifier).json()["id_token"]
    session = login_and_verify_again(provider)
    with browser(provider, session) as client:
        unregistered = client.get(
            "/oauth2/logout",
            params={"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"},
        )
        assert "evil.example" not in unregistered.headers.get("location", "")
    session = login_and_verify_again(provider)
    with browser(provider, session) as client:
        params = {"id_token_hint": id_token, "post_logout_redirect_uri": LOGGED_OUT, "state": "bye"}
        response = client.get("/oauth2/logout", params=params)
        assert response.status_code == 302 and response.headers["location"] == LOGGED_OUT + "?state=bye"
    with browser(provider, session) as client:
        assert client.get("/apps").status_code == 401  # the session token is revoked


def login_and_verify_again(provider: Provider) -> str:
    """A new full-stage session (a logout revokes the one it ends)."""
    with httpx.Client(base_url=provider.server.base_url, timeout=120) as http:
        verified = http.post("/api/v1/face/verify", json=provider.frames, headers=bearer(login(http)))
        assert verified.status_code == 200, verified.text
        return str(verified.json()["access_token"])


# --- abuse limits ---------------------------------------------------------------------------------------


def test_token_endpoint_is_rate_limited(tmp_path: Path, face_engine: Any) -> None:
    """Guessing client secrets or codes at /oauth2/token meets the per-address limit (its own bucket)."""
    settings = make_settings(tmp_path, rate_limit_requests=3, rate_limit_window_seconds=60)
    with serve_in_thread(settings, face_engine) as server:
        guesses = [
            httpx.post(
                f"{server.base_url}/oauth2/token", data={"grant_type": "authorization_code", "code": f"g{i}"}
            )
            for i in range(4)
        ]
        assert [answer.status_code for answer in guesses] == [401, 401, 401, 429]
        assert httpx.get(f"{server.base_url}/.well-known/openid-configuration").status_code == 200
