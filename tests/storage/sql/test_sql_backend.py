"""SqlStorage (storage/sql/backend.py) on SQLite and PostgreSQL: users, templates, apps, revoked
tokens and audit events, including what only SQL shows (cascading deletes, rows as stored)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from faceauth.domain import EmailTaken, NotFound, UsernameTaken
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.tables import AppRow, FaceTemplateRow


def add_user(storage: SqlStorage, username: str = "ann", email: str = "ann@example.org") -> int:
    user = storage.create_user(
        name="Ann Example", username=username, email=email, phone="+12025550143", password_hash="hash"
    )
    return user.id


def test_created_user_is_found_by_id_username_and_email(storage: SqlStorage) -> None:
    user_id = add_user(storage)

    by_id = storage.get_user(user_id)
    assert by_id is not None
    assert (by_id.username, by_id.email, by_id.phone) == ("ann", "ann@example.org", "+12025550143")
    assert by_id.created_at.tzinfo is not None
    assert storage.find_user_by_login("ann") == by_id
    assert storage.find_user_by_login("  ANN@Example.org ") == by_id
    assert storage.find_user_by_login("bob") is None
    assert storage.get_user(user_id + 1000) is None


def test_duplicate_username_and_email_are_refused(storage: SqlStorage) -> None:
    add_user(storage)
    with pytest.raises(UsernameTaken):
        add_user(storage, username="ann", email="other@example.org")
    with pytest.raises(EmailTaken):
        add_user(storage, username="other", email="ann@example.org")
    assert storage.count_users() == 1


def test_concurrent_registrations_of_one_username_give_one_user_and_conflicts(storage: SqlStorage) -> None:
    attempts = 6
    barrier = threading.Barrier(attempts)
    outcomes: list[str] = []

    def register(index: int) -> None:
        barrier.wait()
        try:
            add_user(storage, username="racer", email=f"racer{index}@example.org")
            outcomes.append("created")
        except UsernameTaken:
            outcomes.append("taken")
        except Exception as error:  # anything else (an IntegrityError) is the bug this test catches
            outcomes.append(repr(error))

    threads = [threading.Thread(target=register, args=(i,)) for i in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["created"] + ["taken"] * (attempts - 1)


def test_template_is_saved_replaced_and_deleted(storage: SqlStorage) -> None:
    user_id = add_user(storage)
    assert storage.get_template(user_id) is None

    storage.save_template(user_id, b"first", "key-1", frames_used=8)
    first = storage.get_template(user_id)
    assert first is not None
    assert (first.ciphertext, first.key_id, first.frames_used) == (b"first", "key-1", 8)

    storage.save_template(user_id, b"second", "key-2", frames_used=6)
    second = storage.get_template(user_id)
    assert second is not None
    assert (second.ciphertext, second.key_id, second.frames_used) == (b"second", "key-2", 6)
    assert second.created_at == first.created_at
    assert second.updated_at >= first.updated_at
    with storage.engine.connect() as connection:
        assert len(connection.execute(select(FaceTemplateRow.id)).all()) == 1

    assert storage.delete_template(user_id) is True
    assert storage.has_template(user_id) is False
    assert storage.delete_template(user_id) is False


def test_template_for_a_missing_user_is_refused(storage: SqlStorage) -> None:
    with pytest.raises(NotFound):
        storage.save_template(12345, b"x", "key", frames_used=5)


def test_deleting_a_user_deletes_their_template_and_apps_only(storage: SqlStorage) -> None:
    ann = add_user(storage)
    bob = add_user(storage, username="bob", email="bob@example.org")
    for user_id in (ann, bob):
        storage.save_template(user_id, b"t", "key", frames_used=5)
        storage.add_app(user_id, "Mail", "https://mail.example.org", None)

    assert storage.delete_user(ann) is True

    assert storage.get_user(ann) is None
    with storage.engine.connect() as connection:
        template_owners = connection.execute(select(FaceTemplateRow.user_id)).scalars().all()
        app_owners = connection.execute(select(AppRow.user_id)).scalars().all()
    assert template_owners == [bob]
    assert app_owners == [bob]
    assert storage.delete_user(ann) is False


def test_apps_belong_to_their_user(storage: SqlStorage) -> None:
    ann = add_user(storage)
    bob = add_user(storage, username="bob", email="bob@example.org")
    mail = storage.add_app(ann, "Mail", "https://mail.example.org", "my mail")
    wiki = storage.add_app(ann, "Wiki", None, None)

    assert [app.name for app in storage.list_apps(ann)] == ["Mail", "Wiki"]
    assert storage.list_apps(bob) == []
    assert storage.get_app(bob, mail.id) is None
    assert storage.delete_app(bob, mail.id) is False
    assert storage.delete_app(ann, mail.id) is True
    assert storage.list_apps(ann) == [wiki]


def test_revoked_tokens_are_remembered_until_they_expire(storage: SqlStorage) -> None:
    now = datetime.now(UTC)
    storage.revoke_token("expired", now - timedelta(minutes=1))
    storage.revoke_token("live", now + timedelta(minutes=5))
    storage.revoke_token("live", now + timedelta(minutes=5))

    assert storage.is_token_revoked("live")
    assert not storage.is_token_revoked("never-issued")
    assert storage.purge_expired_revocations(now) == 1
    assert not storage.is_token_revoked("expired")
    assert storage.is_token_revoked("live")


def test_audit_events_are_recorded_newest_first(storage: SqlStorage) -> None:
    ann = add_user(storage)
    storage.record_event("login_password", success=False, user_id=ann, client="10.0.0.1")
    storage.record_event("face_verify", success=True, user_id=ann, client="10.0.0.1", score=0.87)
    storage.record_event("login_password", success=False, detail="unknown login")

    events = storage.list_events(user_id=ann)
    assert [(e.kind, e.success, e.score) for e in events] == [
        ("face_verify", True, pytest.approx(0.87)),
        ("login_password", False, None),
    ]
    assert len(storage.list_events()) == 3
