"""Builds the OpenID Connect provider's parts from the settings and the open storage (used by
``web.app`` at start-up and by the CLI). It joins ``faceauth.composition`` when that lands.

Start-up checks: production needs an https ``FACEAUTH_OIDC_ISSUER`` and a signing key made with
``faceauth oidc rotate-key`` (none is generated); development generates the first key into the data
folder, race-safe across workers."""

from __future__ import annotations

from urllib.parse import urlsplit

from faceauth.config import Settings
from faceauth.domain import ConfigurationError
from faceauth.service.oidc_clients import ClientService
from faceauth.service.oidc_provider import OidcProvider
from faceauth.service.oidc_signin import OidcComponents, PendingSignIns
from faceauth.storage import Storage
from faceauth.storage.keys import resolve_secret_key
from faceauth.storage.oidc_keys import Keyring
from faceauth.storage.oidc_store import SqlOidcStore

# A retired key stays published this long after its successor took over: every token it signed has
# expired by then, whichever lifetime settings were in force.
KEY_OVERLAP_MARGIN_SECONDS = 300


def keyring_for(settings: Settings) -> Keyring:
    lifetime = max(settings.oidc_id_token_ttl_seconds, settings.oidc_access_token_ttl_seconds)
    return Keyring(settings.resolved_oidc_keys_dir, lifetime + KEY_OVERLAP_MARGIN_SECONDS)


def check_oidc_settings(settings: Settings, keyring: Keyring) -> None:
    """Raises ConfigurationError for what production cannot run without; in development, makes the
    first signing key when there is none."""
    issuer = settings.oidc_issuer
    if issuer is not None:
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigurationError("FACEAUTH_OIDC_ISSUER must be a URL like https://auth.example.com")
        if issuer.endswith("/"):
            raise ConfigurationError("FACEAUTH_OIDC_ISSUER must not end with a slash")
    if settings.is_production:
        if issuer is None or not issuer.startswith("https://"):
            raise ConfigurationError("production mode: FACEAUTH_OIDC_ISSUER must be set to an https URL")
        keyring.signing_key()  # raises ConfigurationError naming `faceauth oidc rotate-key`
        return
    keyring.ensure_development_key()


def build_oidc(settings: Settings, storage: Storage) -> OidcComponents:
    keyring = keyring_for(settings)
    check_oidc_settings(settings, keyring)
    store = SqlOidcStore(storage.engine)
    return OidcComponents(
        provider=OidcProvider(settings, store, storage, keyring),
        clients=ClientService(store, storage),
        sign_ins=PendingSignIns(resolve_secret_key(settings), settings.oidc_login_timeout_seconds),
    )
