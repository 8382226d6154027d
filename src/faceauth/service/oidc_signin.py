"""A sign-in in progress: the relying party's authorization request, waiting while the user goes
through password and face, then coming back to it.

The web layer keeps it in a short-lived cookie, sealed here (HS256 with a key derived from the
server's secret), holding the authorization request's query string and the moment a (new) login was
asked for. That moment is what ``prompt=login`` and ``max_age`` are judged against when the request
comes back: a face verified after it is fresh. The seal stops a planted cookie from claiming a
fresher login than there was."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from faceauth.service.oidc_clients import ClientService
from faceauth.service.oidc_provider import OidcProvider

AUDIENCE = "faceauth-oidc-sign-in"
MAX_QUERY_LENGTH = 4096


@dataclass(frozen=True)
class PendingSignIn:
    query: str  # the authorization request's query string, as received
    requested_at: datetime  # when a login was asked for

    @property
    def return_url(self) -> str:
        return f"/oauth2/authorize?{self.query}"


class PendingSignIns:
    def __init__(self, secret_key: str, ttl_seconds: int) -> None:
        self._key = hashlib.sha256(f"{AUDIENCE}:{secret_key}".encode()).digest()
        self._ttl = timedelta(seconds=ttl_seconds)

    @property
    def ttl_seconds(self) -> int:
        return int(self._ttl.total_seconds())

    def seal(self, query: str, now: datetime | None = None) -> str | None:
        """The cookie value; None for a query too long to keep."""
        if len(query) > MAX_QUERY_LENGTH:
            return None
        now = (now or datetime.now(UTC)).replace(microsecond=0)
        claims = {"aud": AUDIENCE, "q": query, "iat": now, "exp": now + self._ttl}
        return jwt.encode(claims, self._key, algorithm="HS256")

    def open(self, value: str) -> PendingSignIn | None:
        try:
            claims = jwt.decode(value, self._key, algorithms=["HS256"], audience=AUDIENCE)
            return PendingSignIn(str(claims["q"]), datetime.fromtimestamp(int(claims["iat"]), UTC))
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError):
            return None


@dataclass(frozen=True)
class OidcComponents:
    """What the web layer and the CLI use of the provider, built by ``faceauth.composition``."""

    provider: OidcProvider
    clients: ClientService
    sign_ins: PendingSignIns
