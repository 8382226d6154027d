"""Relying parties ("clients") of the OpenID Connect provider, registered by an administrator.

A confidential client gets a random secret, shown once and stored only as its argon2id hash; a
public client (a single-page or native app) has none and proves itself with PKCE alone. Redirect URIs
are matched exactly, so each must be a complete absolute URL: https, or http on a loopback address
(a developer's machine); no fragment, no user info. Every change goes to the audit log."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from faceauth.domain import NotFound, ValidationFailed
from faceauth.service.passwords import hash_password
from faceauth.storage.oidc_interface import AccountsAndAudit, OidcClient, OidcStore

MAX_NAME_LENGTH = 100
MAX_URI_LENGTH = 2048


@dataclass(frozen=True)
class NewClient:
    client: OidcClient
    secret: str | None  # shown once; None for a public client

    def __repr__(self) -> str:
        return f"NewClient(client={self.client!r})"


def check_redirect_uri(uri: str) -> str | None:
    """Why ``uri`` cannot be a redirect URI, or None when it can."""
    if len(uri) > MAX_URI_LENGTH:
        return f"is longer than {MAX_URI_LENGTH} characters"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "is not a URL"
    if parts.fragment or "#" in uri:
        return "must not contain a fragment"
    if parts.username or parts.password:
        return "must not contain user information"
    if not parts.hostname:
        return "must be an absolute URL with a host"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and _is_loopback(parts.hostname):
        return None
    return "must use https (plain http only on localhost or a loopback address)"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ClientService:
    def __init__(self, store: OidcStore, storage: AccountsAndAudit) -> None:
        self.store = store
        self.storage = storage

    def add(
        self,
        name: str,
        redirect_uris: list[str],
        post_logout_redirect_uris: list[str] | None = None,
        public: bool = False,
    ) -> NewClient:
        name = name.strip()
        errors: dict[str, str] = {}
        if not 0 < len(name) <= MAX_NAME_LENGTH:
            errors["name"] = f"must be 1 to {MAX_NAME_LENGTH} characters"
        if not redirect_uris:
            errors["redirect_uri"] = "at least one is required"
        for field, uris in (
            ("redirect_uri", redirect_uris),
            ("post_logout_redirect_uri", post_logout_redirect_uris or []),
        ):
            for uri in uris:
                problem = check_redirect_uri(uri)
                if problem:
                    errors[field] = f"{uri!r} {problem}"
        if errors:
            raise ValidationFailed(errors)
        secret = None if public else secrets.token_urlsafe(32)
        client = OidcClient(
            client_id=secrets.token_urlsafe(18),
            name=name,
            redirect_uris=tuple(dict.fromkeys(redirect_uris)),
            post_logout_redirect_uris=tuple(dict.fromkeys(post_logout_redirect_uris or [])),
            secret_hash=hash_password(secret) if secret is not None else None,
            created_at=datetime.now(UTC),
        )
        self.store.add_client(client)
        kind = "public" if public else "confidential"
        self._event("oidc_client_added", client.client_id, f"{kind}; name={name}")
        return NewClient(client, secret)

    def list(self) -> list[OidcClient]:
        return self.store.list_clients()

    def get(self, client_id: str) -> OidcClient:
        client = self.store.get_client(client_id)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        return client

    def rotate_secret(self, client_id: str) -> str:
        """A new secret for a confidential client (the old one stops working at once)."""
        client = self.get(client_id)
        if client.is_public:
            raise ValidationFailed({"client_id": "a public client has no secret"})
        secret = secrets.token_urlsafe(32)
        if not self.store.set_client_secret_hash(client_id, hash_password(secret)):
            raise NotFound(f"no client {client_id!r}")
        self._event("oidc_client_secret_rotated", client_id)
        return secret

    def delete(self, client_id: str) -> None:
        """Removes the client with its codes, consents and tokens (which stop working at once)."""
        if not self.store.delete_client(client_id):
            raise NotFound(f"no client {client_id!r}")
        self._event("oidc_client_deleted", client_id)

    def _event(self, kind: str, client_id: str, extra: str = "") -> None:
        detail = f"client_id={client_id}" + (f"; {extra}" if extra else "")
        self.storage.record_event(kind, success=True, detail=detail)
