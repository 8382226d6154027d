"""Face templates at rest: AES-256-GCM, with the user id as associated data.

Binding the ciphertext to its user means a template copied onto another user's row does not decrypt.
A blob is ``nonce (12 bytes) || ciphertext || tag``; the key id is stored beside it.

Two plaintexts, told apart by the associated data (so the format is authenticated too, and no
plaintext byte has to be guessed at):

- v1 (``encrypt``/``decrypt``): one raw float32 vector. Templates written before templates recorded
  their model are v1 and hold FaceNet 20180408-102900's vector (``domain.LEGACY_TEMPLATE_MODEL``).
- v2 (``encrypt_template``/``decrypt_template``): a :class:`~faceauth.domain.FaceTemplate`: a 2-byte
  big-endian header length, a JSON header ``[{"model", "version", "dim"}, ...]``, then each model's
  float32 vector in header order. The model names and versions are inside the ciphertext, so the
  database shows neither which models a user's template holds nor lets anyone relabel them.

Recording the models inside the payload rather than in a new column needs no migration, and the
key-rotation job re-encrypts any template whatever it holds."""

from __future__ import annotations

import json
import os

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from faceauth.config import Settings
from faceauth.domain import LEGACY_TEMPLATE_MODEL, Embedding, FaceAuthError, FaceTemplate, TemplateVector
from faceauth.storage.keys import TemplateKey, resolve_old_template_keys, resolve_template_key

NONCE_BYTES = 12


class TemplateDecryptionError(FaceAuthError):
    """A stored template that the configured keys cannot decrypt (wrong key, tampered row)."""


def associated_data(user_id: int, version: int = 1) -> bytes:
    return f"faceauth-template:v{version}:user:{user_id}".encode()


def pack_template(template: FaceTemplate) -> bytes:
    """The v2 plaintext of a template (see the module docstring)."""
    header = [
        {"model": p.model, "version": p.version, "dim": int(p.vector.shape[0])} for p in template.vectors
    ]
    encoded = json.dumps(header, separators=(",", ":")).encode()
    vectors = b"".join(np.asarray(p.vector, dtype="<f4").tobytes() for p in template.vectors)
    return len(encoded).to_bytes(2, "big") + encoded + vectors


def unpack_template(plaintext: bytes) -> FaceTemplate:
    """The template of a v2 plaintext; TemplateDecryptionError when it is not well formed."""
    try:
        length = int.from_bytes(plaintext[:2], "big")
        header = json.loads(plaintext[2 : 2 + length])
        offset = 2 + length
        parts = []
        for entry in header:
            size = 4 * int(entry["dim"])
            vector = np.frombuffer(plaintext[offset : offset + size], dtype="<f4").astype(np.float32)
            if vector.shape[0] != int(entry["dim"]):
                raise ValueError("short vector")
            parts.append(TemplateVector(str(entry["model"]), str(entry["version"]), vector))
            offset += size
    except (ValueError, KeyError, TypeError) as error:
        raise TemplateDecryptionError("the stored face template is not well formed") from error
    if offset != len(plaintext) or not parts:
        raise TemplateDecryptionError("the stored face template is not well formed")
    return FaceTemplate(tuple(parts))


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
        """A v1 blob: one raw vector (kept for reading and testing old rows; new templates are v2)."""
        return self._seal(user_id, np.asarray(template, dtype="<f4").tobytes(), 1)

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
        return np.frombuffer(self._open(user_id, blob, key_id, 1), dtype="<f4").astype(np.float32)

    def encrypt_template(self, user_id: int, template: FaceTemplate) -> bytes:
        """A v2 blob: the template with its models and versions."""
        return self._seal(user_id, pack_template(template), 2)

    def decrypt_template(self, user_id: int, blob: bytes, key_id: str) -> FaceTemplate:
        """A v2 blob's template, or a v1 blob's vector as FaceNet's (``LEGACY_TEMPLATE_MODEL``)."""
        try:
            return unpack_template(self._open(user_id, blob, key_id, 2))
        except TemplateDecryptionError:
            vector = self.decrypt(user_id, blob, key_id)
            model, version = LEGACY_TEMPLATE_MODEL
            return FaceTemplate((TemplateVector(model, version, vector),))

    def _seal(self, user_id: int, plaintext: bytes, version: int) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + AESGCM(self.current.key).encrypt(nonce, plaintext, associated_data(user_id, version))

    def _open(self, user_id: int, blob: bytes, key_id: str, version: int) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise TemplateDecryptionError(f"no key with id {key_id!r} is configured")
        nonce, ciphertext = blob[:NONCE_BYTES], blob[NONCE_BYTES:]
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, associated_data(user_id, version))
        except InvalidTag as error:
            raise TemplateDecryptionError("the stored face template does not decrypt") from error
