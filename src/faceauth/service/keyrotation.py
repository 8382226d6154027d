"""Template key rotation: re-encrypt every stored face template under the current key, in place.

The operator makes a new key current (``FACEAUTH_TEMPLATE_KEY`` and a new ``FACEAUTH_TEMPLATE_KEY_ID``)
and lists the old one in ``FACEAUTH_TEMPLATE_OLD_KEYS``; servers keep reading both. ``rotate`` then
decrypts each template still under an old key and writes it back under the current one, with a
compare-and-set so that a re-enrollment racing with it wins. Afterwards the old key can be dropped."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.interface import StorageBackend

logger = logging.getLogger(__name__)

BATCH_SIZE = 200


@dataclass(frozen=True)
class RotationReport:
    key_id: str
    rotated: int  # re-encrypted under ``key_id``
    changed_meanwhile: int  # replaced or deleted while we worked (already under the current key)
    unreadable: tuple[str, ...]  # key ids of templates no configured key decrypts, one per template

    @property
    def complete(self) -> bool:
        return not self.unreadable


def rotate(storage: StorageBackend, cipher: TemplateCipher, batch_size: int = BATCH_SIZE) -> RotationReport:
    """Re-encrypts every template not under ``cipher.key_id``. Templates whose key is not configured
    are left as they are and reported (nothing is lost: add the key and run again)."""
    rotated = changed = 0
    unreadable: list[str] = []
    after = 0
    while True:
        batch = storage.templates_not_under(cipher.key_id, after, batch_size)
        if not batch:
            break
        for stored in batch:
            after = stored.user_id
            if not cipher.can_decrypt(stored.key_id):
                logger.warning("template of user %d is under unknown key %r", stored.user_id, stored.key_id)
                unreadable.append(stored.key_id)
                continue
            # A template of either format comes back as v2, with the models it holds (a v1 one: FaceNet).
            template = cipher.decrypt_template(stored.user_id, stored.ciphertext, stored.key_id)
            ciphertext = cipher.encrypt_template(stored.user_id, template)
            if storage.replace_template_ciphertext(
                stored.user_id, stored.ciphertext, ciphertext, cipher.key_id
            ):
                rotated += 1
            else:
                changed += 1
    logger.info("key rotation to %s: %d re-encrypted, %d changed meanwhile", cipher.key_id, rotated, changed)
    return RotationReport(cipher.key_id, rotated, changed, tuple(unreadable))
