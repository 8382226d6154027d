"""Access tokens: short-lived HS256 JWTs with a ``stage`` claim, revocable by their ``jti``.

Stage "password" (after the password step) opens only the face step; stage "full" (after the face
step) opens everything. A full-stage token also says when the face step happened (``auth_time``) and
whether it passed a liveness challenge (``liveness``): the OpenID Connect provider reports both."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt

from faceauth.config import Settings
from faceauth.domain import InsufficientStage, InvalidToken, User
from faceauth.storage.interface import StorageBackend

ALGORITHM = "HS256"
ISSUER = "faceauth"


class Stage(StrEnum):
    PASSWORD = "password"
    FULL = "full"


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    stage: Stage
    jti: str
    issued_at: datetime
    expires_at: datetime
    auth_time: datetime | None = None  # full stage: when the face was verified
    liveness: bool = False  # full stage: the face was verified in a liveness challenge


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: TokenClaims

    @property
    def max_age(self) -> int:
        """Seconds until expiry, for a cookie's Max-Age."""
        return int((self.claims.expires_at - self.claims.issued_at).total_seconds())

    def __repr__(self) -> str:
        return f"IssuedToken(claims={self.claims!r})"


class TokenService:
    def __init__(self, secret_key: str, storage: StorageBackend, settings: Settings) -> None:
        self._secret_key = secret_key
        self.storage = storage
        self.ttls = {
            Stage.PASSWORD: timedelta(seconds=settings.password_token_ttl_seconds),
            Stage.FULL: timedelta(seconds=settings.full_token_ttl_seconds),
        }

    def issue(
        self, user_id: int, stage: Stage, now: datetime | None = None, *, liveness: bool = False
    ) -> IssuedToken:
        """``liveness``: a full-stage token's face step passed a liveness challenge."""
        issued_at = (now or datetime.now(UTC)).replace(microsecond=0)
        full = stage is Stage.FULL
        claims = TokenClaims(
            user_id=user_id,
            stage=stage,
            jti=secrets.token_urlsafe(16),
            issued_at=issued_at,
            expires_at=issued_at + self.ttls[stage],
            auth_time=issued_at if full else None,
            liveness=liveness and full,
        )
        payload: dict[str, object] = {
            "iss": ISSUER,
            "sub": str(user_id),
            "stage": stage.value,
            "jti": claims.jti,
            "iat": claims.issued_at,
            "exp": claims.expires_at,
        }
        if full:
            payload["auth_time"] = int(claims.issued_at.timestamp())
            payload["liveness"] = claims.liveness
        return IssuedToken(jwt.encode(payload, self._secret_key, algorithm=ALGORITHM), claims)

    def decode(self, token: str) -> TokenClaims:
        """Raises InvalidToken for a malformed, tampered, expired or revoked token."""
        try:
            payload = jwt.decode(
                token,
                self._secret_key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"require": ["sub", "stage", "jti", "iat", "exp"]},
            )
            claims = TokenClaims(
                user_id=int(payload["sub"]),
                stage=Stage(payload["stage"]),
                jti=str(payload["jti"]),
                issued_at=datetime.fromtimestamp(payload["iat"], UTC),
                expires_at=datetime.fromtimestamp(payload["exp"], UTC),
                auth_time=_auth_time(payload),
                liveness=payload.get("liveness") is True,
            )
        except jwt.ExpiredSignatureError as error:
            raise InvalidToken("token expired") from error
        except (jwt.InvalidTokenError, ValueError, TypeError) as error:
            raise InvalidToken("invalid token") from error
        if self.storage.is_token_revoked(claims.jti):
            raise InvalidToken("token revoked")
        return claims

    def require_stage(self, claims: TokenClaims, stage: Stage) -> None:
        if stage is Stage.FULL and claims.stage is not Stage.FULL:
            raise InsufficientStage("verify your face first: this needs a fully authenticated session")

    def check_subject(self, claims: TokenClaims, user: User) -> None:
        """Raises InvalidToken for a token issued before ``user``'s account was created: it belonged
        to a deleted account whose id was given again (SQLite reuses the highest id after a delete)."""
        if claims.issued_at < user.created_at.replace(microsecond=0):
            raise InvalidToken("the account no longer exists")
        if user.disabled:
            raise InvalidToken("the account is disabled")

    def revoke(self, claims: TokenClaims) -> None:
        self.storage.revoke_token(claims.jti, claims.expires_at)


def _auth_time(payload: dict[str, object]) -> datetime | None:
    value = payload.get("auth_time")
    return datetime.fromtimestamp(value, UTC) if isinstance(value, int | float) else None
