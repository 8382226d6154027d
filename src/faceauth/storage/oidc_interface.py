"""What the OpenID Connect provider stores, and the store Protocol the service layer depends on.

Plain dataclasses and a Protocol only (no SQLAlchemy here), so ``faceauth.service`` can import this
module. The SQL implementation is ``faceauth.storage.sql.oidc.SqlOidcStore`` (tables in
``faceauth.storage.sql.tables``, migration 0004_oidc), opened by ``faceauth.storage.stores``.

Secrets never reach the store in the clear: a client secret arrives as its argon2id hash, an
authorization code as its SHA-256, and tokens are kept by their ``jti`` only (the token itself is a
signed JWT the store never sees)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from faceauth.domain import User


@dataclass(frozen=True)
class OidcClient:
    """A registered relying party."""

    client_id: str
    name: str
    redirect_uris: tuple[str, ...]  # matched exactly, character for character
    post_logout_redirect_uris: tuple[str, ...]
    secret_hash: str | None  # argon2id; None for a public client (PKCE only)
    created_at: datetime

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None


@dataclass(frozen=True)
class AuthorizationCodeRecord:
    """An issued authorization code, keyed by the SHA-256 of the code."""

    code_hash: str
    client_id: str
    user_id: int
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    auth_time: datetime
    acr: str
    amr: tuple[str, ...]
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None


@dataclass(frozen=True)
class ConsentRecord:
    """What a user allowed a client, and when they last signed in to it."""

    user_id: int
    client_id: str
    scope: str
    granted_at: datetime
    last_used_at: datetime


@dataclass(frozen=True)
class IssuedTokenRecord:
    """An access token issued at the token endpoint, by its ``jti``, for revocation."""

    jti: str
    client_id: str
    user_id: int
    scope: str
    code_hash: str | None  # the authorization code it was issued for
    issued_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


@runtime_checkable
class OidcStore(Protocol):
    # --- clients ------------------------------------------------------------------------------

    def add_client(self, client: OidcClient) -> None: ...

    def get_client(self, client_id: str) -> OidcClient | None: ...

    def list_clients(self) -> list[OidcClient]: ...

    def set_client_secret_hash(self, client_id: str, secret_hash: str) -> bool: ...

    def delete_client(self, client_id: str) -> bool:
        """Removes the client with its codes, consents and token records."""
        ...

    # --- authorization codes ------------------------------------------------------------------

    def add_code(self, code: AuthorizationCodeRecord) -> None: ...

    def get_code(self, code_hash: str) -> AuthorizationCodeRecord | None: ...

    def spend_code(self, code_hash: str, now: datetime) -> bool:
        """Marks the code used, atomically: True for exactly one caller, False if it was used."""
        ...

    def nonce_used(self, client_id: str, nonce: str) -> bool: ...

    def purge_expired_codes(self, before: datetime) -> int: ...

    # --- consents -----------------------------------------------------------------------------

    def save_consent(self, user_id: int, client_id: str, scope: str, now: datetime) -> None:
        """Creates or widens the consent (the scopes are united) and sets ``last_used_at``."""
        ...

    def get_consent(self, user_id: int, client_id: str) -> ConsentRecord | None: ...

    def touch_consent(self, user_id: int, client_id: str, now: datetime) -> None: ...

    def list_consents(self, user_id: int) -> list[ConsentRecord]: ...

    def delete_consent(self, user_id: int, client_id: str) -> bool: ...

    # --- issued tokens ------------------------------------------------------------------------

    def add_token(self, token: IssuedTokenRecord) -> None: ...

    def get_token(self, jti: str) -> IssuedTokenRecord | None: ...

    def revoke_token(self, jti: str, now: datetime) -> bool: ...

    def revoke_tokens_of_code(self, code_hash: str, now: datetime) -> int: ...

    def revoke_tokens_of(self, user_id: int, client_id: str | None, now: datetime) -> int:
        """Revokes the user's unexpired tokens (of one client, or of all when None)."""
        ...


class AccountsAndAudit(Protocol):
    """The part of the main storage backend the provider uses: accounts to read, the audit log."""

    def get_user(self, user_id: int) -> User | None: ...

    def record_event(
        self,
        kind: str,
        *,
        success: bool,
        user_id: int | None = None,
        client: str | None = None,
        score: float | None = None,
        detail: str | None = None,
    ) -> None: ...
