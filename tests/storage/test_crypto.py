from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest

from faceauth.config import Settings
from faceauth.domain import LEGACY_TEMPLATE_MODEL, ConfigurationError, FaceTemplate, TemplateVector
from faceauth.storage.crypto import TemplateCipher, TemplateDecryptionError, pack_template, unpack_template
from faceauth.storage.keys import (
    TemplateKey,
    check_production_settings,
    resolve_secret_key,
    resolve_template_key,
)


def unit_vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return vector / np.linalg.norm(vector)


def random_key(key_id: str) -> TemplateKey:
    return TemplateKey(key_id, os.urandom(32))


def test_template_round_trips_and_is_not_stored_in_clear() -> None:
    cipher = TemplateCipher(random_key("k1"))
    template = unit_vector(1)

    blob = cipher.encrypt(7, template)

    assert template.tobytes() not in blob
    np.testing.assert_array_equal(cipher.decrypt(7, blob, "k1"), template)


def test_template_is_bound_to_its_user() -> None:
    cipher = TemplateCipher(random_key("k1"))
    blob = cipher.encrypt(7, unit_vector(1))
    with pytest.raises(TemplateDecryptionError):
        cipher.decrypt(8, blob, "k1")


def test_tampered_template_or_other_key_does_not_decrypt() -> None:
    cipher = TemplateCipher(random_key("k1"))
    blob = bytearray(cipher.encrypt(7, unit_vector(1)))
    blob[20] ^= 1
    with pytest.raises(TemplateDecryptionError):
        cipher.decrypt(7, bytes(blob), "k1")
    other = TemplateCipher(random_key("k1"))
    with pytest.raises(TemplateDecryptionError):
        other.decrypt(7, cipher.encrypt(7, unit_vector(1)), "k1")
    with pytest.raises(TemplateDecryptionError, match="no key"):
        cipher.decrypt(7, cipher.encrypt(7, unit_vector(1)), "k2")


def test_old_key_still_decrypts_after_rotation() -> None:
    old = random_key("old")
    blob = TemplateCipher(old).encrypt(3, unit_vector(2))
    rotated = TemplateCipher(random_key("new"), previous=(old,))
    np.testing.assert_array_equal(rotated.decrypt(3, blob, "old"), unit_vector(2))
    assert rotated.key_id == "new"


def test_development_keys_are_generated_once_into_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, env="development")
    first = resolve_template_key(settings)
    assert resolve_template_key(settings) == first
    assert len(first.key) == 32
    assert resolve_secret_key(settings) == resolve_secret_key(settings)
    assert (tmp_path / "template_key").stat().st_mode & 0o777 == 0o600


def test_template_key_from_the_environment_is_used(tmp_path: Path) -> None:
    key = os.urandom(32)
    settings = Settings(data_dir=tmp_path, template_key=base64.b64encode(key).decode(), template_key_id="k9")
    assert resolve_template_key(settings) == TemplateKey("k9", key)
    assert not (tmp_path / "template_key").exists()


@pytest.mark.parametrize("bad_key", ["not base64!", base64.b64encode(b"short").decode()])
def test_malformed_template_key_is_refused(tmp_path: Path, bad_key: str) -> None:
    with pytest.raises(ConfigurationError):
        resolve_template_key(Settings(data_dir=tmp_path, template_key=bad_key))


def test_production_refuses_to_start_without_its_secrets(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as missing:
        check_production_settings(Settings(data_dir=tmp_path, env="production"))
    assert "FACEAUTH_SECRET_KEY" in str(missing.value)
    assert "FACEAUTH_TEMPLATE_KEY" in str(missing.value)
    with pytest.raises(ConfigurationError):
        resolve_secret_key(Settings(data_dir=tmp_path, env="production"))
    assert not (tmp_path / "secret_key").exists()

    check_production_settings(
        Settings(
            data_dir=tmp_path,
            env="production",
            secret_key="s" * 40,
            template_key=base64.b64encode(os.urandom(32)).decode(),
        )
    )


def test_a_template_keeps_its_models_and_versions() -> None:
    cipher = TemplateCipher(random_key("k1"))
    sface = unit_vector(2)[:128] / np.linalg.norm(unit_vector(2)[:128])
    template = FaceTemplate(
        (
            TemplateVector("sface", "2021dec-int8bq", sface),
            TemplateVector("facenet", "20180408-102900", unit_vector(1)),
        )
    )
    blob = cipher.encrypt_template(7, template)
    assert b"sface" not in blob and b"facenet" not in blob  # the models are inside the ciphertext
    back = cipher.decrypt_template(7, blob, "k1")
    assert [(p.model, p.version, len(p.vector)) for p in back.vectors] == [
        ("sface", "2021dec-int8bq", 128),
        ("facenet", "20180408-102900", 512),
    ]
    np.testing.assert_array_equal(back.vectors[0].vector, sface.astype(np.float32))
    with pytest.raises(TemplateDecryptionError):  # bound to its user
        cipher.decrypt_template(8, blob, "k1")
    with pytest.raises(TemplateDecryptionError):  # the format is authenticated: v2 never reads as v1
        cipher.decrypt(7, blob, "k1")


def test_an_old_template_reads_as_facenet() -> None:
    cipher = TemplateCipher(random_key("k1"))
    vector = unit_vector(3)
    back = cipher.decrypt_template(7, cipher.encrypt(7, vector), "k1")
    assert [(p.model, p.version) for p in back.vectors] == [LEGACY_TEMPLATE_MODEL]
    np.testing.assert_array_equal(back.vectors[0].vector, vector)


def test_a_malformed_payload_is_refused() -> None:
    with pytest.raises(TemplateDecryptionError):
        unpack_template(b"\x00\x05[{}]x")
    packed = pack_template(FaceTemplate((TemplateVector("sface", "v", unit_vector(1)),)))
    with pytest.raises(TemplateDecryptionError):
        unpack_template(packed[:-4])  # a short vector
    with pytest.raises(TemplateDecryptionError):
        unpack_template(packed + b"\x00\x00\x00\x00")  # trailing bytes
