"""Face templates at rest: AES-256-GCM, with the user id as associated data.

Binding the ciphertext to its user means a template copied onto another user's row does not decrypt.
A blob is ``nonce (12 bytes) || ciphertext || tag``; the key id is stored beside it."""

from __future__ import annotations

import os

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faceauth.config import Settings
from faceauth.domain import Embedding, FaceAuthError
from faceauth.storage.keys import TemplateKey, resolve_old_template_keys, resolve_template_key

NONCE_BYTES = 12


class TemplateDecryptionError(FaceAuthError):
    """A stored template that the configured keys cannot decrypt (wrong key, tampered row)."""


def associated_data(user_id: int) -> bytes:
    return f"faceauth-template:v1:user:{user_id}".encode()


def _sealed_data(user_id: int, purpose: str) -> bytes:
    return f"faceauth-sealed:v1:{purpose}:user:{user_id}".encode()


class TemplateCipher:
    def __init__(self, current: TemplateKey, previous: tuple[TemplateKey, ...] = ()) -> None:
        self.current = current
        self._keys = {key.key_id: key.key for key in (*previous, current)}

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplateCipher:
        """The current key (encrypts and decrypts) and the earlier ones (decrypt only)."""
        current = resolve_template_key(settings)
        previous = tuple(key for key in resolve_old_template_keys(settings) if key.key_id != current.key_id)
        return cls(current, previous)

    @property
    def key_id(self) -> str:
        return self.current.key_id

    def can_decrypt(self, key_id: str) -> bool:
        return key_id in self._keys

    def encrypt(self, user_id: int, template: Embedding) -> bytes:
        plaintext = np.asarray(template, dtype="<f4").tobytes()
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.current.key).encrypt(nonce, plaintext, associated_data(user_id))

    def seal(self, user_id: int, purpose: str, plaintext: bytes) -> bytes:
        """Any short secret kept for a user (a liveness nonce), under the current key; the associated
        data names the user and ``purpose``, so a blob opens neither as a template nor for another."""
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.current.key).encrypt(nonce, plaintext, _sealed_data(user_id, purpose))

    def unseal(self, user_id: int, purpose: str, blob: bytes, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise TemplateDecryptionError(f"no key with id {key_id!r} is configured")
        try:
            return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], _sealed_data(user_id, purpose))
        except InvalidTag as error:
            raise TemplateDecryptionError("the sealed value does not decrypt") from error

    def decrypt(self, user_id: int, blob: bytes, key_id: str) -> Embedding:
        key = self._keys.get(key_id)
        if key is None:
            raise TemplateDecryptionError(f"no key with id {key_id!r} is configured")
        nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        try:
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, associated_data(user_id))
        except InvalidTag as error:
            raise TemplateDecryptionError("the stored face template does not decrypt") from error
        return np.frombuffer(plaintext, dtype="<f4").astype(np.float32)
