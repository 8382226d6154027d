"""The storage interfaces the service layer depends on, and nothing more: three Protocols and the
plain records they return. No implementation is imported here (no SQLAlchemy, no pymongo).

- ``StorageBackend``: users, face templates, apps, revoked tokens, the audit log. Two implementations:
  ``faceauth.storage.sql.backend.SqlStorage`` (SQLite, PostgreSQL) and
  ``faceauth.storage.mongo.MongoStorage`` (pymongo), both held to ``tests/storage/test_contract.py``.
- ``AbuseStore``: failed attempts, lock-outs and rate-limit counters (``faceauth.service.lockout``,
  the rate-limit middleware). SQL only: ``faceauth.storage.sql.abuse.SqlAbuseStore``.
- ``ChallengeStore``: liveness challenges and their frames (``faceauth.service.liveness``). SQL only:
  ``faceauth.storage.sql.challenges.SqlChallengeStore``.

``faceauth.storage.stores.open_stores`` opens all three from one database URL.

Rules every ``StorageBackend`` keeps:

- each method is its own transaction and returns plain domain objects (no sessions, no cursors);
- a username or email that is taken raises UsernameTaken or EmailTaken, also when two registrations
  race (a unique index decides, never a read-then-write check alone);
- face templates arrive and leave encrypted (``faceauth.storage.crypto``): storage never sees them
  in the clear;
- ``delete_user`` removes the user, their template and apps, and strips the personal linkage (user
  id, client address) from their earlier audit events; ``delete_template`` removes the template."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from faceauth.config import Settings
from faceauth.domain import App, User


@dataclass(frozen=True)
class StoredTemplate:
    """An encrypted face template as stored: the service decrypts it."""

    user_id: int
    ciphertext: bytes
    key_id: str
    frames_used: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class AuditEvent:
    id: int
    created_at: datetime
    kind: str
    success: bool
    user_id: int | None
    client: str | None
    score: float | None
    detail: str | None


@dataclass(frozen=True)
class StoredChallenge:
    """A liveness challenge; ``id`` is the SHA-256 hex of its nonce (the nonce is never stored)."""

    id: str
    user_id: int
    purpose: str
    moves: tuple[str, ...]
    issued_at: datetime
    deadline_at: datetime
    used_at: datetime | None


@runtime_checkable
class StorageBackend(Protocol):
    # --- life cycle ---------------------------------------------------------------------------

    def prepare_schema(self, settings: Settings) -> None:
        """At start-up: bring the schema (tables or indexes) up to date, or refuse in production
        when SQL migrations are pending (ConfigurationError)."""
        ...

    def close(self) -> None: ...

    # --- users --------------------------------------------------------------------------------

    def create_user(self, *, name: str, username: str, email: str, phone: str, password_hash: str) -> User:
        """Raises UsernameTaken or EmailTaken, also when a concurrent registration wins the race."""
        ...

    def get_user(self, user_id: int) -> User | None: ...

    def find_user_by_login(self, login: str) -> User | None:
        """``login`` is a username or an email address, matched case-insensitively."""
        ...

    def delete_user(self, user_id: int) -> bool:
        """Removes the user with their template and apps, and anonymises their audit events
        (user id and client address set to null). False when there was no such user."""
        ...

    def count_users(self) -> int: ...

    # --- face templates (ciphertext only) -----------------------------------------------------

    def save_template(self, user_id: int, ciphertext: bytes, key_id: str, frames_used: int) -> None:
        """Stores the user's template, replacing any earlier one; NotFound for a missing user."""
        ...

    def get_template(self, user_id: int) -> StoredTemplate | None: ...

    def has_template(self, user_id: int) -> bool: ...

    def delete_template(self, user_id: int) -> bool: ...

    def templates_not_under(self, key_id: str, after_user_id: int, limit: int) -> list[StoredTemplate]:
        """Up to ``limit`` templates encrypted under another key than ``key_id``, of users with an id
        above ``after_user_id``, by user id: the work list of a key rotation."""
        ...

    def replace_template_ciphertext(
        self, user_id: int, expected: bytes, ciphertext: bytes, key_id: str
    ) -> bool:
        """Swaps a template's ciphertext and key id only if it still is ``expected`` (compare and
        set): False when it changed or went away meanwhile. ``updated_at`` is kept: the face did
        not change."""
        ...

    # --- apps ---------------------------------------------------------------------------------

    def add_app(self, user_id: int, name: str, url: str | None, description: str | None) -> App: ...

    def list_apps(self, user_id: int) -> list[App]: ...

    def get_app(self, user_id: int, app_id: int) -> App | None: ...

    def delete_app(self, user_id: int, app_id: int) -> bool: ...

    # --- revoked tokens -----------------------------------------------------------------------

    def revoke_token(self, jti: str, expires_at: datetime) -> None: ...

    def is_token_revoked(self, jti: str) -> bool: ...

    def purge_expired_revocations(self, now: datetime | None = None) -> int: ...

    # --- audit log ----------------------------------------------------------------------------

    def record_event(
        self,
        kind: str,
        *,
        success: bool,
        user_id: int | None = None,
        client: str | None = None,
        score: float | None = None,
        detail: str | None = None,
    ) -> None: ...

    def list_events(self, user_id: int | None = None, limit: int = 100) -> list[AuditEvent]:
        """Newest first; all users' events when ``user_id`` is None."""
        ...


@runtime_checkable
class AbuseStore(Protocol):
    """Abuse limits shared by every worker process: writes are committed before they return, so a
    count taken afterwards by any process includes them."""

    # --- failed attempts ----------------------------------------------------------------------

    def add_failure(self, key: str, at: datetime) -> int:
        """Records an attempt under ``key`` and returns its id."""
        ...

    def remove_failures(self, ids: Sequence[int]) -> None: ...

    def count_failures(self, key: str, since: datetime) -> int: ...

    def clear_failures(self, key: str) -> None: ...

    # --- lock-outs ----------------------------------------------------------------------------

    def lock(self, key: str, until: datetime) -> None:
        """Locks ``key`` until ``until``, or keeps a later lock already in place."""
        ...

    def locked_until(self, keys: Sequence[str], now: datetime) -> datetime | None:
        """The latest end of a lock-out of any of ``keys`` still in force at ``now``, or None."""
        ...

    def unlock(self, key: str) -> None: ...

    # --- rate-limit counters ------------------------------------------------------------------

    def hit(self, bucket: str, window_start: int) -> int:
        """Counts one request in ``bucket``'s window starting at ``window_start`` (epoch seconds)
        and returns the window's count so far, this request included. Atomic across processes."""
        ...

    # --- housekeeping -------------------------------------------------------------------------

    def purge(self, failures_before: datetime, windows_before: int, now: datetime) -> int:
        """Forgets failures older than ``failures_before``, counters of windows that started before
        ``windows_before`` and lock-outs that have ended; returns how many records went."""
        ...


@runtime_checkable
class ChallengeStore(Protocol):
    """Liveness challenges shared by every worker process; a challenge is spent exactly once."""

    def create(self, challenge: StoredChallenge) -> None: ...

    def get(self, challenge_id: str) -> StoredChallenge | None: ...

    def frame_count(self, challenge_id: str) -> int: ...

    def add_frames(self, challenge_id: str, observations: Sequence[dict[str, Any]]) -> int:
        """Appends observations after the ones stored; returns how many the challenge now has.
        Two chunks of one challenge racing each other: one of them fails."""
        ...

    def frames(self, challenge_id: str) -> list[dict[str, Any]]:
        """The observations in arrival order."""
        ...

    def spend(self, challenge_id: str, user_id: int, now: datetime) -> bool:
        """Marks the challenge used, atomically: True for exactly one caller, ever."""
        ...

    def delete_frames(self, challenge_id: str) -> None: ...

    def purge_expired(self, before: datetime) -> int:
        """Deletes challenges (and their frames) whose deadline is before ``before``."""
        ...
