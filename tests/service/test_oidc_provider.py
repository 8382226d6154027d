"""The OpenID Connect provider's rules, without HTTP: real databases (SQLite, and PostgreSQL when
FACEAUTH_TEST_POSTGRES_URL is set), real signing keys in a temporary folder, Authlib doing the
protocol. Tokens are checked with PyJWT, a JOSE library independent of the server's (joserfc)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from faceauth.composition import build_oidc
from faceauth.config import Settings
from faceauth.domain import User
from faceauth.service.oidc_authlib import HttpRequest
from faceauth.service.oidc_outcomes import ErrorPage, NeedConsent, NeedLogin, Outcome, Respond, SessionInfo
from faceauth.service.oidc_provider import ACR_FACE, ACR_FACE_LIVENESS, subject_of
from faceauth.service.oidc_signin import OidcComponents
from faceauth.service.passwords import hash_password
from faceauth.storage.sql.backend import SqlStorage
from support import stores_of

ISSUER = "http://127.0.0.1:8000"
REDIRECT = "http://127.0.0.1:9000/callback"


@dataclass
class World:
    oidc: OidcComponents
    storage: SqlStorage
    user: User
    client_id: str
    secret: str
    public_id: str

    def session(self, liveness: bool = True, age_s: int = 5) -> SessionInfo:
        auth_time = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=age_s)
        return SessionInfo(self.user, full=True, auth_time=auth_time, liveness=liveness)


@pytest.fixture
def world(storage: SqlStorage, settings_factory: Callable[..., Settings]) -> World:
    return make_world(storage, settings_factory())


def make_world(storage: SqlStorage, settings: Settings) -> World:
    oidc = build_oidc(settings, stores_of(storage))
    user = storage.create_user(
        name="Ada Face", username="ada", email="ada@example.com", phone="+442079460958",
        password_hash=hash_password("correct horse battery"),
    )  # fmt: skip
    confidential = oidc.clients.add("Wiki", [REDIRECT])
    public = oidc.clients.add("SPA", [REDIRECT], public=True)
    assert confidential.secret is not None
    return World(
        oidc, storage, user, confidential.client.client_id, confidential.secret, public.client.client_id
    )


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_request(client_id: str, challenge: str | None, **extra: str) -> HttpRequest:
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid profile email",
        "state": "state-123",
        "nonce": "nonce-" + secrets.token_urlsafe(8),
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    query = [(k, v) for k, v in params.items() if v != ""]
    return HttpRequest("GET", f"{ISSUER}/oauth2/authorize?{urlencode(query)}", {}, query, [], ISSUER)


def form_request(path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> HttpRequest:
    return HttpRequest("POST", f"{ISSUER}{path}", headers or {}, [], list(form.items()), ISSUER)


def redirect_params(outcome: Outcome) -> dict[str, str]:
    assert isinstance(outcome, Respond), outcome
    assert outcome.response.status_code == 302
    location = dict(outcome.response.headers)["Location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def get_code(world: World, request: HttpRequest, session: SessionInfo | None = None) -> str:
    session = session or world.session()
    outcome = world.oidc.provider.decide(request, session, None, allow=True)
    params = redirect_params(outcome)
    assert params["state"] == "state-123"
    return params["code"]


def redeem(world: World, code: str, verifier: str, client_id: str | None = None) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
        "client_id": client_id or world.client_id,
        "client_secret": world.secret,
    }
    if client_id == world.public_id:
        del form["client_secret"]
    return world.oidc.provider.token(form_request("/oauth2/token", form))


def verify_id_token(world: World, id_token: str, client_id: str) -> dict[str, Any]:
    keys = jwt.PyJWKSet.from_dict(world.oidc.provider.public_jwks())
    kid = jwt.get_unverified_header(id_token)["kid"]
    key = next(k for k in keys.keys if k.key_id == kid)
    claims: dict[str, Any] = jwt.decode(
        id_token, key, algorithms=["RS256"], audience=client_id, issuer=ISSUER
    )
    return claims


# --- the happy path -----------------------------------------------------------------------------


def test_code_flow_gives_signed_id_token_with_face_claims(world: World) -> None:
    verifier, challenge = pkce()
    request = authorize_request(world.client_id, challenge, nonce="n-0S6_WzA2Mj")
    outcome = world.oidc.provider.authorize(request, world.session(), None)
    assert isinstance(outcome, NeedConsent)
    assert outcome.client_name == "Wiki" and outcome.scopes == ("openid", "profile", "email")
    code = get_code(world, request)
    answer = redeem(world, code, verifier)
    assert answer.status_code == 200, answer.body
    assert ("Cache-Control", "no-store") in answer.headers
    claims = verify_id_token(world, answer.body["id_token"], world.client_id)
    assert claims["sub"] == subject_of(world.user) and claims["nonce"] == "n-0S6_WzA2Mj"
    assert claims["acr"] == ACR_FACE_LIVENESS and set(claims["amr"]) == {"pwd", "face", "mfa", "liveness"}
    assert claims["email"] == "ada@example.com" and claims["email_verified"] is False
    assert abs(claims["auth_time"] - world.session().auth_time.timestamp()) <= 2
    info = world.oidc.provider.userinfo(answer.body["access_token"], ISSUER)
    assert info == {
        "sub": claims["sub"], "name": "Ada Face", "preferred_username": "ada",
        "email": "ada@example.com", "email_verified": False,
    }  # fmt: skip
    # Consent is remembered: the next request for the same scopes gives a code at once.
    again = world.oidc.provider.authorize(
        authorize_request(world.client_id, challenge), world.session(), None
    )
    assert "code" in redirect_params(again)
    [app] = world.oidc.provider.signed_in_apps(world.user.id)
    assert app.name == "Wiki" and set(app.scopes) == {"openid", "profile", "email"}


def test_without_liveness_the_claims_say_so(world: World) -> None:
    verifier, challenge = pkce()
    code = get_code(world, authorize_request(world.client_id, challenge), world.session(liveness=False))
    claims = verify_id_token(world, redeem(world, code, verifier).body["id_token"], world.client_id)
    assert claims["acr"] == ACR_FACE and "liveness" not in claims["amr"]


def test_public_client_redeems_with_pkce_alone(world: World) -> None:
    verifier, challenge = pkce()
    code = get_code(world, authorize_request(world.public_id, challenge))
    answer = redeem(world, code, verifier, client_id=world.public_id)
    assert answer.status_code == 200, answer.body


# --- logins the request demands -------------------------------------------------------------------


def test_no_session_or_password_stage_only_needs_login(world: World) -> None:
    _, challenge = pkce()
    request = authorize_request(world.client_id, challenge)
    assert isinstance(world.oidc.provider.authorize(request, None, None), NeedLogin)
    half = SessionInfo(world.user, full=False, auth_time=None, liveness=False)
    assert isinstance(world.oidc.provider.authorize(request, half, None), NeedLogin)


def test_prompt_none_without_session_is_login_required(world: World) -> None:
    _, challenge = pkce()
    outcome = world.oidc.provider.authorize(
        authorize_request(world.client_id, challenge, prompt="none"), None, None
    )
    assert redirect_params(outcome)["error"] == "login_required"


def test_prompt_none_without_consent_is_consent_required(world: World) -> None:
    _, challenge = pkce()
    request = authorize_request(world.client_id, challenge, prompt="none")
    assert (
        redirect_params(world.oidc.provider.authorize(request, world.session(), None))["error"]
        == "consent_required"
    )


def test_prompt_login_needs_a_face_verified_after_the_request(world: World) -> None:
    _, challenge = pkce()
    request = authorize_request(world.client_id, challenge, prompt="login")
    session = world.session(age_s=5)
    assert isinstance(world.oidc.provider.authorize(request, session, None), NeedLogin)
    asked_at = session.auth_time + timedelta(seconds=2)  # the login was asked for after that session
    assert isinstance(world.oidc.provider.authorize(request, session, asked_at), NeedLogin)
    fresh = SessionInfo(world.user, True, asked_at + timedelta(seconds=1), True)
    assert isinstance(world.oidc.provider.authorize(request, fresh, asked_at), NeedConsent)


def test_max_age_sends_an_older_session_back_to_login(world: World) -> None:
    _, challenge = pkce()
    request = authorize_request(world.client_id, challenge, max_age="60")
    assert isinstance(world.oidc.provider.authorize(request, world.session(age_s=120), None), NeedLogin)
    assert isinstance(world.oidc.provider.authorize(request, world.session(age_s=10), None), NeedConsent)
    bad = authorize_request(world.client_id, challenge, max_age="soon")
    assert (
        redirect_params(world.oidc.provider.authorize(bad, world.session(), None))["error"]
        == "invalid_request"
    )


def test_liveness_acr_needs_a_liveness_session(
    storage: SqlStorage, settings_factory: Callable[..., Settings]
) -> None:
    world = make_world(storage, settings_factory(liveness_required=True))
    _, challenge = pkce()
    request = authorize_request(world.client_id, challenge, acr_values=ACR_FACE_LIVENESS)
    assert isinstance(world.oidc.provider.authorize(request, world.session(liveness=False), None), NeedLogin)
    assert isinstance(world.oidc.provider.authorize(request, world.session(liveness=True), None), NeedConsent)


def test_liveness_acr_is_refused_when_liveness_is_off(world: World) -> None:
    assert world.oidc.provider.settings.liveness_required is False
    _, challenge = pkce()
    request = authorize_request(world.client_id, challenge, acr_values=ACR_FACE_LIVENESS)
    params = redirect_params(world.oidc.provider.authorize(request, world.session(), None))
    assert params["error"] == "unmet_authentication_requirements" and "code" not in params


# --- refused requests -------------------------------------------------------------------------------


def test_unknown_client_or_unregistered_redirect_uri_is_never_redirected(world: World) -> None:
    _, challenge = pkce()
    unknown = world.oidc.provider.authorize(authorize_request("nobody", challenge), world.session(), None)
    assert isinstance(unknown, ErrorPage)
    for uri in ("https://evil.example/callback", REDIRECT + "/", REDIRECT + "?x=1", REDIRECT.upper()):
        outcome = world.oidc.provider.authorize(
            authorize_request(world.client_id, challenge, redirect_uri=uri), world.session(), None
        )
        assert isinstance(outcome, ErrorPage), uri


def test_pkce_s256_is_required(world: World) -> None:
    _, challenge = pkce()
    missing = world.oidc.provider.authorize(authorize_request(world.client_id, None), world.session(), None)
    assert redirect_params(missing)["error"] == "invalid_request"
    plain = authorize_request(world.client_id, challenge, code_challenge_method="plain")
    assert (
        redirect_params(world.oidc.provider.authorize(plain, world.session(), None))["error"]
        == "invalid_request"
    )


def test_openid_scope_required_and_implicit_refused(world: World) -> None:
    _, challenge = pkce()
    no_openid = authorize_request(world.client_id, challenge, scope="profile")
    assert (
        redirect_params(world.oidc.provider.authorize(no_openid, world.session(), None))["error"]
        == "invalid_scope"
    )
    implicit = authorize_request(world.client_id, challenge, response_type="id_token token")
    assert redirect_params(world.oidc.provider.authorize(implicit, world.session(), None))["error"] in {
        "unsupported_response_type", "unauthorized_client",
    }  # fmt: skip


def test_denied_consent_gives_access_denied(world: World) -> None:
    _, challenge = pkce()
    outcome = world.oidc.provider.decide(
        authorize_request(world.client_id, challenge), world.session(), None, allow=False
    )
    params = redirect_params(outcome)
    assert params["error"] == "access_denied" and "code" not in params


def test_reused_nonce_is_refused(world: World) -> None:
    _, challenge = pkce()
    get_code(world, authorize_request(world.client_id, challenge, nonce="same-nonce"))
    again = authorize_request(world.client_id, challenge, nonce="same-nonce")
    assert (
        redirect_params(world.oidc.provider.decide(again, world.session(), None, allow=True))["error"]
        == "invalid_request"
    )


# --- codes: single use, short-lived, bound ----------------------------------------------------------


def test_replayed_code_is_refused_and_revokes_its_tokens(world: World) -> None:
    verifier, challenge = pkce()
    code = get_code(world, authorize_request(world.client_id, challenge))
    first = redeem(world, code, verifier)
    assert first.status_code == 200
    world.oidc.provider.userinfo(first.body["access_token"], ISSUER)
    replay = redeem(world, code, verifier)
    assert replay.status_code == 400 and replay.body["error"] == "invalid_grant"
    with pytest.raises(Exception, match="revoked"):
        world.oidc.provider.userinfo(first.body["access_token"], ISSUER)
    assert any(e.kind == "oidc_code_replayed" for e in world.storage.list_events())


def test_code_is_bound_to_verifier_client_and_redirect_uri(world: World) -> None:
    verifier, challenge = pkce()
    wrong_verifier = redeem(world, get_code(world, authorize_request(world.client_id, challenge)), pkce()[0])
    assert wrong_verifier.body["error"] == "invalid_grant"
    other_client = redeem(
        world, get_code(world, authorize_request(world.client_id, challenge)), verifier, world.public_id
    )
    assert other_client.body["error"] == "invalid_grant"
    code = get_code(world, authorize_request(world.client_id, challenge))
    form = {
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT + "/other",
        "code_verifier": verifier, "client_id": world.client_id, "client_secret": world.secret,
    }  # fmt: skip
    assert world.oidc.provider.token(form_request("/oauth2/token", form)).body["error"] == "invalid_grant"
    wrong_secret = {**form, "redirect_uri": REDIRECT, "client_secret": "guess"}
    assert (
        world.oidc.provider.token(form_request("/oauth2/token", wrong_secret)).body["error"]
        == "invalid_client"
    )


def test_expired_code_is_refused(storage: SqlStorage, settings_factory: Callable[..., Settings]) -> None:
    world = make_world(storage, settings_factory(oidc_code_ttl_seconds=-1))
    verifier, challenge = pkce()
    code = get_code(world, authorize_request(world.client_id, challenge))
    assert redeem(world, code, verifier).body["error"] == "invalid_grant"


# --- revocation, dashboard, keys ---------------------------------------------------------------------


def test_revocation_endpoint_and_dashboard_revoke_tokens(world: World) -> None:
    verifier, challenge = pkce()
    token = redeem(world, get_code(world, authorize_request(world.client_id, challenge)), verifier).body
    form = {"token": token["access_token"], "client_id": world.client_id, "client_secret": world.secret}
    assert world.oidc.provider.revoke(form_request("/oauth2/revoke", form)).status_code == 200
    with pytest.raises(Exception, match="revoked"):
        world.oidc.provider.userinfo(token["access_token"], ISSUER)

    second = redeem(world, get_code(world, authorize_request(world.client_id, challenge)), verifier).body
    assert world.oidc.provider.revoke_app(world.user.id, world.client_id)
    with pytest.raises(Exception, match="revoked"):
        world.oidc.provider.userinfo(second["access_token"], ISSUER)
    assert world.oidc.provider.signed_in_apps(world.user.id) == []
    again = world.oidc.provider.authorize(
        authorize_request(world.client_id, challenge), world.session(), None
    )
    assert isinstance(again, NeedConsent)  # consent has to be given again


def test_rotated_key_signs_and_old_key_stays_published_until_tokens_expire(world: World) -> None:
    keyring = world.oidc.provider.keyring
    old = keyring.signing_key()
    new, deleted = keyring.rotate("ES256")
    assert deleted == [] and new.kid != old.kid and keyring.signing_key().kid == new.kid
    published = {key["kid"] for key in keyring.public_jwks()["keys"]}  # type: ignore[union-attr]
    assert published == {old.kid, new.kid}
    later = new.created_at + keyring.lifetime_s + 1
    assert [key.kid for key in keyring.published(now=later)] == [new.kid]
    _, deleted = keyring.rotate("RS256", now=later + keyring.lifetime_s + 1)
    assert old.kid in deleted


def test_client_secret_is_stored_hashed_and_rotates(world: World) -> None:
    stored = world.oidc.clients.get(world.client_id)
    assert stored.secret_hash is not None and world.secret not in stored.secret_hash
    assert stored.secret_hash.startswith("$argon2id$")
    new_secret = world.oidc.clients.rotate_secret(world.client_id)
    assert world.oidc.provider.check_client_secret(world.oidc.clients.get(world.client_id), new_secret)
    assert not world.oidc.provider.check_client_secret(world.oidc.clients.get(world.client_id), world.secret)
    world.oidc.clients.delete(world.client_id)
    assert world.oidc.provider.find_client(world.client_id) is None
    kinds = {event.kind for event in world.storage.list_events()}
    assert {"oidc_client_added", "oidc_client_secret_rotated", "oidc_client_deleted"} <= kinds


def test_sealed_sign_in_cannot_be_forged(world: World) -> None:
    sign_ins = world.oidc.sign_ins
    sealed = sign_ins.seal("client_id=x&prompt=login")
    assert sealed is not None
    opened = sign_ins.open(sealed)
    assert opened is not None and opened.query == "client_id=x&prompt=login"
    forged = jwt.encode(
        {"aud": "faceauth-oidc-sign-in", "q": "x", "iat": 0, "exp": 2**31}, "guess" * 8, algorithm="HS256"
    )
    assert sign_ins.open(forged) is None


def test_subject_is_not_given_to_an_account_that_reuses_a_deleted_id(world: World) -> None:
    first = subject_of(world.user)
    assert world.storage.delete_user(world.user.id)
    again = world.storage.create_user(
        name="Eve", username="eve", email="eve@example.com", phone="+442079460959", password_hash="x"
    )
    assert subject_of(again) != first and subject_of(again) == subject_of(world.storage.get_user(again.id))  # type: ignore[arg-type]
