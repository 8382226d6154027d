"""Template key rotation on a real database (SQLite, and PostgreSQL when configured), through the
service and through ``faceauth keys rotate``: afterwards every template carries the new key id and
still decrypts with the new keyring, and the old key alone reads none of them."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from faceauth.domain import LEGACY_TEMPLATE_MODEL
from faceauth.storage.crypto import TemplateCipher, TemplateDecryptionError
from faceauth.storage.keys import TemplateKey
from faceauth.storage.sql.backend import SqlStorage
from support import make_settings

USERS = 5


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def enroll_users(storage: SqlStorage, cipher: TemplateCipher) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(7)
    templates: dict[int, np.ndarray] = {}
    for index in range(USERS):
        user = storage.create_user(
            name="Person",
            username=f"person{index}",
            email=f"person{index}@example.org",
            phone="+12025550143",
            password_hash="hash",
        )
        template = rng.standard_normal(512).astype(np.float32)
        storage.save_template(user.id, cipher.encrypt(user.id, template), cipher.key_id, frames_used=8)
        templates[user.id] = template
    return templates


def test_rotation_moves_every_template_to_the_new_key(storage: SqlStorage, tmp_path: Path) -> None:
    from faceauth.service.keyrotation import rotate

    old_key, new_key = os.urandom(32), os.urandom(32)
    old_cipher = TemplateCipher(TemplateKey("old-1", old_key))
    templates = enroll_users(storage, old_cipher)
    before = {user_id: storage.get_template(user_id) for user_id in templates}

    settings = make_settings(
        tmp_path,
        template_key=b64(new_key),
        template_key_id="new-2",
        template_old_keys=f"old-1:{b64(old_key)}",
    )
    cipher = TemplateCipher.from_settings(settings)
    report = rotate(storage, cipher, batch_size=2)  # several batches

    assert (report.rotated, report.changed_meanwhile, report.unreadable) == (USERS, 0, ())
    for user_id, template in templates.items():
        stored = storage.get_template(user_id)
        earlier = before[user_id]
        assert stored is not None and earlier is not None
        assert stored.key_id == "new-2"
        assert stored.ciphertext != earlier.ciphertext
        assert stored.updated_at == earlier.updated_at  # the face did not change
        # an old (v1, FaceNet-only) template comes out in the v2 format, labelled as FaceNet's
        rotated = cipher.decrypt_template(user_id, stored.ciphertext, stored.key_id)
        assert [(part.model, part.version) for part in rotated.vectors] == [LEGACY_TEMPLATE_MODEL]
        np.testing.assert_array_equal(rotated.vectors[0].vector, template)
        only_new = TemplateCipher(TemplateKey("new-2", new_key))
        np.testing.assert_array_equal(
            only_new.decrypt_template(user_id, stored.ciphertext, "new-2").vectors[0].vector, template
        )
        with pytest.raises(TemplateDecryptionError):  # the old key alone no longer reads it
            TemplateCipher(TemplateKey("new-2", old_key)).decrypt_template(
                user_id, stored.ciphertext, "new-2"
            )
        with pytest.raises(TemplateDecryptionError):
            old_cipher.decrypt_template(user_id, stored.ciphertext, stored.key_id)

    again = rotate(storage, cipher)
    assert (again.rotated, again.unreadable) == (0, ())


def test_templates_under_an_unknown_key_are_left_and_reported(storage: SqlStorage, tmp_path: Path) -> None:
    from faceauth.service.keyrotation import rotate

    lost = TemplateCipher(TemplateKey("lost-0", os.urandom(32)))
    templates = enroll_users(storage, lost)
    settings = make_settings(tmp_path, template_key=b64(os.urandom(32)), template_key_id="new-2")
    report = rotate(storage, TemplateCipher.from_settings(settings))
    assert report.rotated == 0 and report.unreadable == ("lost-0",) * USERS and not report.complete
    for user_id in templates:
        stored = storage.get_template(user_id)
        assert stored is not None and stored.key_id == "lost-0"


def test_the_development_key_file_stays_readable_once_a_key_is_configured(tmp_path: Path) -> None:
    development = TemplateCipher.from_settings(make_settings(tmp_path))  # creates data_dir/template_key
    blob = development.encrypt(3, np.ones(4, dtype=np.float32))
    configured = TemplateCipher.from_settings(
        make_settings(tmp_path, template_key=b64(os.urandom(32)), template_key_id="env-2")
    )
    assert configured.key_id == "env-2"
    np.testing.assert_array_equal(configured.decrypt(3, blob, development.key_id), np.ones(4))


@pytest.mark.parametrize(
    "entry", ["no-colon", ":" + b64(os.urandom(32)), "k:not-base64!", "k:" + b64(b"short")]
)
def test_malformed_old_keys_are_refused(tmp_path: Path, entry: str) -> None:
    from faceauth.domain import ConfigurationError

    settings = make_settings(tmp_path, template_key=b64(os.urandom(32)), template_old_keys=entry)
    with pytest.raises(ConfigurationError):
        TemplateCipher.from_settings(settings)


def test_keys_rotate_command(database_url: str, tmp_path: Path) -> None:
    """``faceauth keys rotate`` in a subprocess, configured only by the environment."""
    from faceauth.storage.sql import migrate

    storage = SqlStorage.from_url(database_url)
    migrate.upgrade(storage.engine)
    old_key, new_key = os.urandom(32), os.urandom(32)
    templates = enroll_users(storage, TemplateCipher(TemplateKey("old-1", old_key)))
    env = {
        **os.environ,
        "FACEAUTH_DATA_DIR": str(tmp_path / "data"),
        "FACEAUTH_DATABASE_URL": database_url,
        "FACEAUTH_TEMPLATE_KEY": b64(new_key),
        "FACEAUTH_TEMPLATE_KEY_ID": "new-2",
    }
    command = [sys.executable, "-m", "faceauth.cli", "keys", "rotate"]
    missing = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1, missing.stderr
    assert "old-1" in missing.stderr and "FACEAUTH_TEMPLATE_OLD_KEYS" in missing.stderr

    env["FACEAUTH_TEMPLATE_OLD_KEYS"] = f"old-1:{b64(old_key)}"
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert f"under key new-2: {USERS}" in done.stdout
    only_new = TemplateCipher(TemplateKey("new-2", new_key))
    for user_id, template in templates.items():
        stored = storage.get_template(user_id)
        assert stored is not None and stored.key_id == "new-2"
        rotated = only_new.decrypt_template(user_id, stored.ciphertext, "new-2")
        np.testing.assert_array_equal(rotated.vectors[0].vector, template)
    storage.close()
