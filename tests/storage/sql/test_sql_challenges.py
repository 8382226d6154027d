"""``SqlChallengeStore`` on SQLite and PostgreSQL: at most one open (unused) challenge per user and
purpose, refused by the database itself (migration 0007's partial unique index), and the migration
closes the extra open rows an older schema may hold before it creates the index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from faceauth.domain import ChallengeAlreadyOpen
from faceauth.storage.interface import StoredChallenge
from faceauth.storage.sql import migrate
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.challenges import SqlChallengeStore

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)


def challenge(key: str, user_id: int, purpose: str = "verify", issued_at: datetime = NOW) -> StoredChallenge:
    return StoredChallenge(
        id=key * 64,
        user_id=user_id,
        purpose=purpose,
        moves=("blink", "turn_left"),
        issued_at=issued_at,
        deadline_at=issued_at + timedelta(seconds=20),
        used_at=None,
    )


def add_user(storage: SqlStorage, username: str = "ann") -> int:
    return storage.create_user(
        name="Ann",
        username=username,
        email=f"{username}@example.org",
        phone="+12025550143",
        password_hash="h",
    ).id


def test_a_second_open_challenge_for_the_same_user_and_purpose_is_refused(storage: SqlStorage) -> None:
    store = SqlChallengeStore(storage.database)
    ann, bob = add_user(storage), add_user(storage, "bob")
    store.create(challenge("a", ann))
    with pytest.raises(ChallengeAlreadyOpen):
        store.create(challenge("b", ann))
    assert store.get("b" * 64) is None  # nothing half-written
    store.create(challenge("c", ann, "enroll"))  # another purpose: its own open challenge
    store.create(challenge("d", bob))  # another user
    assert store.spend("a" * 64, ann, NOW + timedelta(seconds=5))
    store.create(challenge("e", ann, issued_at=NOW + timedelta(seconds=6)))  # the first one is spent
    assert store.open_challenge(ann, "verify", NOW + timedelta(seconds=7)) == challenge(
        "e", ann, issued_at=NOW + timedelta(seconds=6)
    )


def test_an_expired_challenge_marked_abandoned_no_longer_blocks_a_new_one(storage: SqlStorage) -> None:
    store = SqlChallengeStore(storage.database)
    ann = add_user(storage)
    store.create(challenge("a", ann))
    later = NOW + timedelta(seconds=30)
    with pytest.raises(ChallengeAlreadyOpen):  # expired but unused: still counts as open
        store.create(challenge("b", ann, issued_at=later))
    assert store.abandon_expired(ann, "verify", later) == 1
    store.create(challenge("b", ann, issued_at=later))


def test_other_integrity_errors_are_not_taken_for_an_open_challenge(storage: SqlStorage) -> None:
    store = SqlChallengeStore(storage.database)
    with pytest.raises(IntegrityError):  # no such user: the foreign key, not the one-open rule
        store.create(challenge("a", 4242))


def test_migration_0007_keeps_only_the_newest_open_challenge_open(database_url: str) -> None:
    storage = SqlStorage.from_url(database_url)
    try:
        migrate.upgrade(storage.engine, "0006")
        store = SqlChallengeStore(storage.database)
        ann = add_user(storage)
        store.create(challenge("a", ann))  # two open at once: what the race left before 0007
        store.create(challenge("b", ann, issued_at=NOW + timedelta(seconds=1)))
        store.create(challenge("c", ann, "enroll"))
        migrate.upgrade(storage.engine)
        older, newer, enroll = (store.get(key * 64) for key in "abc")
        assert older is not None and older.used_at is not None
        assert newer is not None and newer.used_at is None
        assert enroll is not None and enroll.used_at is None
        with pytest.raises(ChallengeAlreadyOpen):
            store.create(challenge("d", ann))
    finally:
        storage.close()
