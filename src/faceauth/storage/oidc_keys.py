"""Signing keys of the OpenID Connect provider: private JWK files in one folder (mode 0600).

One file per key, ``key-<created, ns since the epoch>.json`` holding ``{"created_at": seconds,
"jwk": {...private JWK...}}``. The newest key signs; an older key is still published in the JWKS
until every token it signed has expired (its successor is older than the longest token lifetime),
and ``faceauth oidc rotate-key`` deletes keys past that. The ``kid`` is the key's RFC 7638
thumbprint, so every worker names a key the same way.

In development the first key is generated on demand, race-safe like the other development keys (a
complete temporary file hard-linked into place: the first worker wins and all read its key). In
production no key is ever generated at start-up: ``faceauth oidc rotate-key`` makes the first one.
Workers notice a rotation by the folder's modification time and reload."""

from __future__ import annotations

import itertools
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from joserfc.jwk import ECKey, KeySet, RSAKey

from faceauth.domain import ConfigurationError
from faceauth.storage.keys import _read_or_create

logger = logging.getLogger(__name__)

Algorithm = Literal["RS256", "ES256"]
FIRST_KEY_FILE = "key-0.json"
RSA_KEY_BITS = 2048  # what RS256 relying parties expect everywhere; NIST-acceptable through 2030


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    created_at: float  # seconds since the epoch
    key: RSAKey | ECKey
    path: Path

    def __repr__(self) -> str:
        return f"SigningKey(kid={self.kid!r}, alg={self.alg!r}, created_at={self.created_at})"


def generate_key_file_content(alg: Algorithm, created_at: float) -> bytes:
    key: RSAKey | ECKey
    if alg == "RS256":
        key = RSAKey.generate_key(RSA_KEY_BITS, private=True)
    else:
        key = ECKey.generate_key("P-256", private=True)
    jwk = {**key.as_dict(private=True), "alg": alg, "use": "sig", "kid": key.thumbprint()}
    return json.dumps({"created_at": created_at, "jwk": jwk}).encode()


class Keyring:
    """The signing keys in ``folder``; ``lifetime_s`` is how long a retired key stays published."""

    def __init__(self, folder: Path, lifetime_s: float) -> None:
        self.folder = folder
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._keys: list[SigningKey] = []

    # --- reading ------------------------------------------------------------------------------

    def keys(self) -> list[SigningKey]:
        """All keys on disk, newest first (reloaded when the folder changed)."""
        stamp = self.folder.stat().st_mtime_ns if self.folder.is_dir() else None
        with self._lock:
            if stamp != self._stamp or stamp is None:
                self._keys = _load(self.folder)
                self._stamp = stamp
            return list(self._keys)

    def signing_key(self) -> SigningKey:
        keys = self.keys()
        if not keys:
            raise ConfigurationError(
                f"no OpenID Connect signing key in {self.folder}: run `faceauth oidc rotate-key`"
            )
        return keys[0]

    def published(self, now: float | None = None) -> list[SigningKey]:
        """The signing key and the retired keys whose tokens may still be valid."""
        now = time.time() if now is None else now
        keys = self.keys()
        published = keys[:1]
        for successor, key in itertools.pairwise(keys):
            if now - successor.created_at <= self.lifetime_s:
                published.append(key)
        return published

    def public_jwks(self) -> dict[str, object]:
        return dict(KeySet([key.key for key in self.published()]).as_dict(private=False))

    def verification_keys(self) -> KeySet:
        return KeySet([key.key for key in self.published()])

    # --- writing ------------------------------------------------------------------------------

    def ensure_development_key(self, alg: Algorithm = "RS256") -> None:
        """Generates the first key if the folder has none (development mode only)."""
        if self.keys():
            return
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _read_or_create(self.folder / FIRST_KEY_FILE, lambda: generate_key_file_content(alg, time.time()))

    def rotate(self, alg: Algorithm = "RS256", now: float | None = None) -> tuple[SigningKey, list[str]]:
        """Adds a new signing key and deletes keys no longer published; returns the new key and the
        kids deleted."""
        now = time.time() if now is None else now
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.folder / f"key-{time.time_ns()}.json"
        _write_new(path, generate_key_file_content(alg, now))
        self._stamp = None
        published = {key.kid for key in self.published(now)}
        deleted = []
        for key in self.keys():
            if key.kid not in published:
                key.path.unlink(missing_ok=True)
                deleted.append(key.kid)
        self._stamp = None
        return self.signing_key(), deleted


def _load(folder: Path) -> list[SigningKey]:
    if not folder.is_dir():
        return []
    keys = []
    for path in folder.glob("key-*.json"):
        try:
            content = json.loads(path.read_text())
            jwk = content["jwk"]
            key: RSAKey | ECKey = RSAKey.import_key(jwk) if jwk["kty"] == "RSA" else ECKey.import_key(jwk)
            keys.append(SigningKey(str(jwk["kid"]), str(jwk["alg"]), float(content["created_at"]), key, path))
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise ConfigurationError(f"unreadable OpenID Connect signing key {path}: {error}") from error
    keys.sort(key=lambda key: key.created_at, reverse=True)
    return keys


def _write_new(path: Path, content: bytes) -> None:
    """Writes a complete private file and links it into place (never over an existing one)."""
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.link(temporary, path)
    finally:
        os.unlink(temporary)
