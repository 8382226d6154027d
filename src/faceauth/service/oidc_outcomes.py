"""What the OpenID Connect provider is asked with (the session) and what it answers with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from faceauth.domain import User
from faceauth.service.oidc_authlib import OAuthResponse


@dataclass(frozen=True)
class SessionInfo:
    """The faceauth session behind an authorization request (from the session cookie)."""

    user: User
    full: bool  # face verified
    auth_time: datetime | None
    liveness: bool


@dataclass(frozen=True)
class ErrorPage:
    """A request that cannot be answered with a redirect (unknown client, unregistered redirect URI)."""

    status_code: int
    message: str


@dataclass(frozen=True)
class Respond:
    response: OAuthResponse  # a redirect to the client (code or error)


@dataclass(frozen=True)
class NeedLogin:
    """Password and face (again) first; then the same authorization request."""


@dataclass(frozen=True)
class NeedConsent:
    client_name: str
    scopes: tuple[str, ...]
    redirect_uri: str  # registered and matched: the consent form's answer goes there


Outcome = ErrorPage | Respond | NeedLogin | NeedConsent


@dataclass(frozen=True)
class SignedInApp:
    client_id: str
    name: str
    scopes: tuple[str, ...]
    granted_at: datetime
    last_used_at: datetime
