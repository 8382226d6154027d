"""The storage contract: every backend behind ``StorageBackend`` behaves the same.

Runs on SQLite always, on PostgreSQL when FACEAUTH_TEST_POSTGRES_URL is set, and on MongoDB when
FACEAUTH_TEST_MONGODB_URL is set (``mongodb://host:27017/faceauth_test``: a database the tests may
drop); otherwise the MongoDB cases are skipped with that reason."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from faceauth.domain import EmailTaken, NotFound, UsernameTaken
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.interface import StorageBackend
from faceauth.storage.keys import TemplateKey
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.stores import open_backend
from support import make_settings, wipe_postgres


def mongodb_url() -> str:
    url = os.environ.get("FACEAUTH_TEST_MONGODB_URL")
    if not url:
        pytest.skip("FACEAUTH_TEST_MONGODB_URL is not set: no MongoDB server to test against")
    pytest.importorskip("pymongo", reason="pymongo is not installed: pip install 'faceauth[mongo]'")
    return url


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mongo", marks=pytest.mark.mongo),
    ]
)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StorageBackend]:
    """An empty, prepared database behind the storage interface, opened from its URL."""
    settings = make_settings(tmp_path)
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'faceauth.db'}"
    elif request.param == "postgres":
        url = os.environ.get("FACEAUTH_TEST_POSTGRES_URL", "")
        if not url:
            pytest.skip("FACEAUTH_TEST_POSTGRES_URL is not set")
        wipe_postgres(url)
    else:
        url = mongodb_url()
    store = open_backend(url)
    if request.param == "mongo":
        from faceauth.storage.mongo import MongoStorage

        assert isinstance(store, MongoStorage)
        store.client.drop_database(store.db.name)
    store.prepare_schema(settings)
    yield store
    if request.param == "mongo":
        from faceauth.storage.mongo import MongoStorage

        assert isinstance(store, MongoStorage)
        store.client.drop_database(store.db.name)
    store.close()
    if request.param == "postgres":
        wipe_postgres(url)


def add_user(storage: StorageBackend, username: str = "ann", email: str = "ann@example.org") -> int:
    user = storage.create_user(
        name="Ann Example", username=username, email=email, phone="+12025550143", password_hash="hash"
    )
    return user.id


def test_backend_is_chosen_by_the_url_and_implements_the_interface(backend: StorageBackend) -> None:
    assert isinstance(backend, StorageBackend)


def test_users_are_found_by_id_username_and_email(backend: StorageBackend) -> None:
    user_id = add_user(backend)
    user = backend.get_user(user_id)
    assert user is not None
    assert (user.username, user.email, user.phone, user.password_hash) == (
        "ann",
        "ann@example.org",
        "+12025550143",
        "hash",
    )
    assert user.created_at.tzinfo is not None
    assert backend.find_user_by_login(" ANN ") == user
    assert backend.find_user_by_login("Ann@Example.org") == user
    assert backend.find_user_by_login("bob") is None
    assert backend.get_user(user_id + 1000) is None
    assert backend.count_users() == 1


def test_taken_username_and_email_are_named(backend: StorageBackend) -> None:
    add_user(backend)
    with pytest.raises(UsernameTaken):
        add_user(backend, username="ann", email="other@example.org")
    with pytest.raises(EmailTaken):
        add_user(backend, username="other", email="ann@example.org")
    assert backend.count_users() == 1


@pytest.mark.parametrize("clash", ["username", "email"])
def test_racing_registrations_give_one_user_and_named_conflicts(backend: StorageBackend, clash: str) -> None:
    attempts = 8
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []

    def register(index: int) -> None:
        username = "racer" if clash == "username" else f"racer{index}"
        email = "racer@example.org" if clash == "email" else f"racer{index}@example.org"
        barrier.wait()
        try:
            add_user(backend, username=username, email=email)
            outcomes.append("created")
        except (UsernameTaken, EmailTaken) as error:
            outcomes.append(type(error).__name__)
        except Exception as error:  # anything else is the bug this test is for
            outcomes.append(repr(error))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = "UsernameTaken" if clash == "username" else "EmailTaken"
    assert sorted(outcomes) == sorted(["created"] + [expected] * (attempts - 1))
    assert backend.count_users() == 1


def test_templates_are_saved_replaced_listed_for_rotation_and_deleted(backend: StorageBackend) -> None:
    ann, bob = add_user(backend), add_user(backend, "bob", "bob@example.org")
    assert backend.get_template(ann) is None and not backend.has_template(ann)
    backend.save_template(ann, b"\x00first", "key-1", frames_used=8)
    first = backend.get_template(ann)
    assert first is not None
    assert (first.ciphertext, first.key_id, first.frames_used) == (b"\x00first", "key-1", 8)
    backend.save_template(ann, b"\x00second", "key-2", frames_used=6)
    second = backend.get_template(ann)
    assert second is not None
    assert (second.ciphertext, second.key_id, second.frames_used) == (b"\x00second", "key-2", 6)
    assert second.created_at == first.created_at and second.updated_at >= first.updated_at
    backend.save_template(bob, b"bob", "key-1", frames_used=7)

    assert [t.user_id for t in backend.templates_not_under("key-2", 0, 10)] == [bob]
    assert [t.user_id for t in backend.templates_not_under("key-3", 0, 10)] == sorted([ann, bob])
    assert [t.user_id for t in backend.templates_not_under("key-3", 0, 1)] == [min(ann, bob)]
    assert backend.templates_not_under("key-3", max(ann, bob), 10) == []

    assert not backend.replace_template_ciphertext(bob, b"stale", b"new", "key-3")
    assert backend.replace_template_ciphertext(bob, b"bob", b"new", "key-3")
    rotated = backend.get_template(bob)
    assert rotated is not None and (rotated.ciphertext, rotated.key_id) == (b"new", "key-3")

    assert backend.delete_template(ann)
    assert not backend.delete_template(ann)
    assert backend.get_template(ann) is None and not backend.has_template(ann)
    assert backend.has_template(bob)
    with pytest.raises(NotFound):
        backend.save_template(ann + bob + 1000, b"x", "key-1", frames_used=8)


def test_deleting_a_user_removes_their_data_and_unlinks_their_events(backend: StorageBackend) -> None:
    ann, bob = add_user(backend), add_user(backend, "bob", "bob@example.org")
    for user_id in (ann, bob):
        backend.save_template(user_id, b"t", "key-1", frames_used=8)
        backend.add_app(user_id, "mail", "https://mail.example.org", None)
        backend.record_event("login_password", success=True, user_id=user_id, client="203.0.113.9")

    assert backend.delete_user(ann)
    assert not backend.delete_user(ann)
    assert backend.get_user(ann) is None and backend.find_user_by_login("ann") is None
    assert backend.get_template(ann) is None
    assert backend.list_apps(ann) == []
    assert backend.list_events(user_id=ann) == []
    anonymous = [event for event in backend.list_events() if event.user_id is None]
    assert len(anonymous) == 1 and anonymous[0].client is None and anonymous[0].kind == "login_password"
    # Bob keeps everything.
    assert backend.get_template(bob) is not None
    assert len(backend.list_apps(bob)) == 1
    assert [event.client for event in backend.list_events(user_id=bob)] == ["203.0.113.9"]
    # The username and email are free again.
    assert add_user(backend) != bob


def test_apps_belong_to_their_user(backend: StorageBackend) -> None:
    ann, bob = add_user(backend), add_user(backend, "bob", "bob@example.org")
    first = backend.add_app(ann, "mail", "https://mail.example.org", "my mail")
    second = backend.add_app(ann, "wiki", None, None)
    assert [app.name for app in backend.list_apps(ann)] == ["mail", "wiki"]
    assert backend.get_app(ann, first.id) == first
    assert backend.get_app(bob, first.id) is None
    assert not backend.delete_app(bob, first.id)
    assert backend.delete_app(ann, first.id)
    assert backend.list_apps(ann) == [second]
    assert second.created_at.tzinfo is not None


def test_revoked_tokens_are_remembered_until_they_expire(backend: StorageBackend) -> None:
    now = datetime.now(UTC)
    backend.revoke_token("old", now - timedelta(minutes=1))
    backend.revoke_token("current", now + timedelta(minutes=10))
    backend.revoke_token("current", now + timedelta(minutes=10))
    assert backend.is_token_revoked("current")
    assert not backend.is_token_revoked("other")
    # MongoDB's TTL index may have dropped the expired one already: purging finds it at most once.
    assert backend.purge_expired_revocations(now) <= 1
    assert backend.purge_expired_revocations(now) == 0
    assert backend.is_token_revoked("current") and not backend.is_token_revoked("old")


def test_audit_events_are_newest_first_and_filtered_by_user(backend: StorageBackend) -> None:
    ann = add_user(backend)
    backend.record_event("register", success=True, user_id=ann, client="198.51.100.7")
    backend.record_event("face_verify", success=False, user_id=ann, client="198.51.100.7", score=0.12)
    backend.record_event("login_password", success=False, client="192.0.2.1", detail="unknown login")
    everyone = backend.list_events()
    assert [event.kind for event in everyone] == ["login_password", "face_verify", "register"]
    assert everyone[0].user_id is None and everyone[0].detail == "unknown login"
    mine = backend.list_events(user_id=ann, limit=1)
    assert [(e.kind, e.success, e.score, e.client) for e in mine] == [
        ("face_verify", False, pytest.approx(0.12), "198.51.100.7")
    ]
    assert mine[0].created_at.tzinfo is not None


def test_encrypted_template_round_trips_through_the_backend(backend: StorageBackend) -> None:
    """The same AES-GCM blob the service writes comes back byte for byte and decrypts."""
    ann = add_user(backend)
    cipher = TemplateCipher(TemplateKey("k1", os.urandom(32)))
    template = np.random.default_rng(1).standard_normal(512).astype(np.float32)
    backend.save_template(ann, cipher.encrypt(ann, template), cipher.key_id, frames_used=8)
    stored = backend.get_template(ann)
    assert stored is not None
    np.testing.assert_array_equal(cipher.decrypt(ann, stored.ciphertext, stored.key_id), template)


def test_sql_urls_open_the_sqlalchemy_backend(tmp_path: Path) -> None:
    store = open_backend(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        assert isinstance(store, SqlStorage)
    finally:
        store.close()


def test_mongodb_urls_open_the_mongodb_backend() -> None:
    pytest.importorskip("pymongo", reason="pymongo is not installed: pip install 'faceauth[mongo]'")
    from faceauth.storage.mongo import MongoStorage

    # pymongo connects lazily: opening needs no server.
    store = open_backend(f"mongodb://127.0.0.1:1/faceauth_{uuid.uuid4().hex[:8]}")
    try:
        assert isinstance(store, MongoStorage)
        assert store.db.name.startswith("faceauth_")
    finally:
        store.close()
