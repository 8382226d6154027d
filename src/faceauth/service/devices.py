"""Known devices: a signed, long-lived token the browser keeps after a full (face-verified) login.

Wrong passwords from many addresses lock an account's password step for everyone (``service.lockout``:
the per-account rule). A login that brings the device token of *that* account is counted under its
own per-device rule instead of the per-account and per-address ones: the owner's browser still logs
in while an attacker spreads guesses, and a stolen device token buys only the per-device allowance.

The token is an HS256 JWT with its own audience, under a key derived from the secret key for this
purpose only, so it is no access token and no access token is a device token. It holds the user id
and a random device id; one issued before the account was created (an id given again after a
deletion) is not honoured. It proves only that this browser once completed a full login: it is
never a credential by itself."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import jwt

from faceauth.config import Settings
from faceauth.domain import User

ALGORITHM = "HS256"
ISSUER = "faceauth"
AUDIENCE = "faceauth-device"
MAX_TOKEN_LENGTH = 1000


class DeviceService:
    def __init__(self, secret_key: str, settings: Settings) -> None:
        self._key = hmac.new(secret_key.encode(), b"faceauth known-device token", hashlib.sha256).digest()
        self.lifetime = timedelta(days=settings.device_cookie_days)

    @property
    def max_age(self) -> int:
        """Seconds the token (and its cookie) lives."""
        return int(self.lifetime.total_seconds())

    def issue(self, user_id: int, now: datetime | None = None) -> str:
        issued_at = (now or datetime.now(UTC)).replace(microsecond=0)
        payload = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id),
            "did": secrets.token_urlsafe(16),
            "iat": issued_at,
            "exp": issued_at + self.lifetime,
        }
        return jwt.encode(payload, self._key, algorithm=ALGORITHM)

    def device_of(self, token: str | None, user: User | None) -> str | None:
        """The device id when ``token`` is a valid device token of ``user``'s account; else None."""
        if not token or user is None or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                audience=AUDIENCE,
                options={"require": ["sub", "did", "iat", "exp"]},
            )
            user_id = int(payload["sub"])
            issued_at = datetime.fromtimestamp(payload["iat"], UTC)
            device_id = str(payload["did"])
        except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError):
            return None
        if user_id != user.id or issued_at < user.created_at.replace(microsecond=0):
            return None
        return device_id
