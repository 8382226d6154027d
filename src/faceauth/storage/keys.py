"""Secrets: the token signing key and the template encryption key.

Both come from the environment (``FACEAUTH_SECRET_KEY``, ``FACEAUTH_TEMPLATE_KEY``). In development
mode a missing key is generated once into the data folder (with a warning); production refuses to
start without them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import secrets
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
    return TemplateKey(f"file-{hashlib.sha256(key).hexdigest()[:12]}", key)


def _decode_template_key(encoded: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as error:
        raise ConfigurationError("FACEAUTH_TEMPLATE_KEY is not valid base64") from error
    if len(key) != TEMPLATE_KEY_BYTES:
        raise ConfigurationError(f"FACEAUTH_TEMPLATE_KEY must decode to {TEMPLATE_KEY_BYTES} bytes")
    return key


def _read_or_create(path: Path, generate: Callable[[], bytes]) -> bytes:
    """Reads a key file, creating it (mode 0600) first if missing; safe against concurrent workers."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    logger.warning("development mode: generated a new key in %s (set it in the environment)", path)
    with os.fdopen(descriptor, "wb") as file:
        file.write(generate())
    return path.read_bytes()
