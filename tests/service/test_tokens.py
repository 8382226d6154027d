from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from faceauth.config import Settings
from faceauth.domain import InsufficientStage, InvalidToken
from faceauth.service.tokens import Stage, TokenService
from faceauth.storage.sql.backend import SqlStorage

SECRET = "a-test-secret-of-sufficient-length-0123456789"


@pytest.fixture
def tokens(storage: SqlStorage, settings: Settings) -> TokenService:
    return TokenService(SECRET, storage, settings)


def test_issued_token_decodes_to_its_claims(tokens: TokenService, settings: Settings) -> None:
    issued = tokens.issue(42, Stage.PASSWORD)
    claims = tokens.decode(issued.token)
    assert (claims.user_id, claims.stage, claims.jti) == (42, Stage.PASSWORD, issued.claims.jti)
    assert issued.max_age == settings.password_token_ttl_seconds
    full = tokens.issue(42, Stage.FULL)
    assert full.max_age == settings.full_token_ttl_seconds
    assert full.claims.jti != issued.claims.jti


def test_expired_token_is_refused(tokens: TokenService, settings: Settings) -> None:
    past = datetime.now(UTC) - timedelta(seconds=settings.password_token_ttl_seconds + 60)
    issued = tokens.issue(42, Stage.PASSWORD, now=past)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.decode(issued.token)


def test_tampered_token_is_refused(tokens: TokenService) -> None:
    header, payload, signature = tokens.issue(42, Stage.PASSWORD).token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["stage"] = "full"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidToken):
        tokens.decode(f"{header}.{forged}.{signature}")


@pytest.mark.parametrize("token", ["", "not-a-token", "a.b.c"])
def test_garbage_is_refused(tokens: TokenService, token: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.decode(token)


def test_token_signed_with_another_key_or_without_signature_is_refused(tokens: TokenService) -> None:
    now = datetime.now(UTC)
    claims = {
        "iss": "faceauth",
        "sub": "42",
        "stage": "full",
        "jti": "x",
        "iat": now,
        "exp": now + timedelta(minutes=5),
    }
    with pytest.raises(InvalidToken):
        tokens.decode(jwt.encode(claims, "another-secret-of-sufficient-length-000", algorithm="HS256"))
    unsigned = jwt.api_jws.PyJWS().encode(json.dumps(claims, default=str).encode(), key="", algorithm="none")
    with pytest.raises(InvalidToken):
        tokens.decode(unsigned)


def test_password_stage_does_not_open_full_stage(tokens: TokenService) -> None:
    password_claims = tokens.decode(tokens.issue(42, Stage.PASSWORD).token)
    with pytest.raises(InsufficientStage):
        tokens.require_stage(password_claims, Stage.FULL)
    tokens.require_stage(password_claims, Stage.PASSWORD)
    tokens.require_stage(tokens.decode(tokens.issue(42, Stage.FULL).token), Stage.FULL)


def test_revoked_token_is_refused_and_others_are_not(tokens: TokenService) -> None:
    first = tokens.issue(42, Stage.FULL)
    second = tokens.issue(42, Stage.FULL)
    tokens.revoke(tokens.decode(first.token))
    with pytest.raises(InvalidToken, match="revoked"):
        tokens.decode(first.token)
    assert tokens.decode(second.token).user_id == 42
