"""Secrets: the token signing key and the template encryption key.

Both come from the environment (``FACEAUTH_SECRET_KEY``, ``FACEAUTH_TEMPLATE_KEY``). In development
mode a missing key is generated once into the data folder (with a warning); production refuses to
start without them.

Earlier template keys stay readable through ``FACEAUTH_TEMPLATE_OLD_KEYS`` (``id:base64,...``) and the
development key file, so ``faceauth keys rotate`` can re-encrypt what they protect (docs/storage.md)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faceauth.config import Settings
from faceauth.domain import ConfigurationError

logger = logging.getLogger(__name__)

SECRET_KEY_FILE = "secret_key"
TEMPLATE_KEY_FILE = "template_key"
TEMPLATE_KEY_BYTES = 32


@dataclass(frozen=True)
class TemplateKey:
    key_id: str
    key: bytes

    def __repr__(self) -> str:
        return f"TemplateKey(key_id={self.key_id!r})"


def check_production_settings(settings: Settings) -> None:
    """Raises ConfigurationError naming every missing or weak secret in production mode."""
    if not settings.is_production:
        return
    problems = []
    if not settings.secret_key or len(settings.secret_key) < 32:
        problems.append("FACEAUTH_SECRET_KEY must be set to at least 32 random characters")
    if not settings.template_key:
        problems.append("FACEAUTH_TEMPLATE_KEY must be set to the base64 of 32 random bytes")
    else:
        _decode_template_key(settings.template_key)
    if problems:
        raise ConfigurationError("production mode: " + "; ".join(problems))


def resolve_secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    if settings.is_production:
        raise ConfigurationError("production mode: FACEAUTH_SECRET_KEY must be set")
    path = settings.data_dir / SECRET_KEY_FILE
    return _read_or_create(path, lambda: secrets.token_urlsafe(48).encode()).decode().strip()


def resolve_template_key(settings: Settings) -> TemplateKey:
    if settings.template_key:
        return TemplateKey(settings.template_key_id, _decode_template_key(settings.template_key))
    if settings.is_production:
        raise ConfigurationError("production mode: FACEAUTH_TEMPLATE_KEY must be set")
    path = settings.data_dir / TEMPLATE_KEY_FILE
    encoded = _read_or_create(path, lambda: base64.b64encode(secrets.token_bytes(TEMPLATE_KEY_BYTES)))
    key = _decode_template_key(encoded.decode())
    return TemplateKey(development_key_id(key), key)


def development_key_id(key: bytes) -> str:
    """The id of a key kept in a file: derived from the key, so every worker agrees on it."""
    return f"file-{hashlib.sha256(key).hexdigest()[:12]}"


def resolve_old_template_keys(settings: Settings) -> tuple[TemplateKey, ...]:
    """Earlier keys, readable but never used to encrypt: ``FACEAUTH_TEMPLATE_OLD_KEYS`` and, when the
    current key comes from the environment, the development key file if one was left behind."""
    keys: list[TemplateKey] = []
    for entry in (settings.template_old_keys or "").split(","):
        if not entry.strip():
            continue
        key_id, separator, encoded = entry.strip().partition(":")
        if not separator or not key_id.strip():
            raise ConfigurationError("FACEAUTH_TEMPLATE_OLD_KEYS entries must look like key_id:base64")
        keys.append(TemplateKey(key_id.strip(), _decode_template_key(encoded)))
    key_file = settings.data_dir / TEMPLATE_KEY_FILE
    if settings.template_key and key_file.is_file():
        key = _decode_template_key(key_file.read_text())
        keys.append(TemplateKey(development_key_id(key), key))
    return tuple(keys)


def _decode_template_key(encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ConfigurationError("FACEAUTH_TEMPLATE_KEY is not valid base64") from error
    if len(key) != TEMPLATE_KEY_BYTES:
        raise ConfigurationError(f"FACEAUTH_TEMPLATE_KEY must decode to {TEMPLATE_KEY_BYTES} bytes")
    return key


def _read_or_create(path: Path, generate: Callable[[], bytes]) -> bytes:
    """Reads a key file, creating it (mode 0600) first if missing; safe against concurrent workers.

    The key is written in full to a private temporary file, which is then hard-linked to ``path``:
    the link either appears complete or fails because another process linked first, so no process
    ever reads a half-written (or empty) key, and all of them end up with the same one."""
    if path.is_file():
        return path.read_bytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(generate())
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes()
        logger.warning("development mode: generated a new key in %s (set it in the environment)", path)
    finally:
        os.unlink(temporary)
    return path.read_bytes()
