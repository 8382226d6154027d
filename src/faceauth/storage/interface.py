"""The storage interfaces the service layer depends on, and nothing more: four Protocols and the
plain records they return. No implementation is imported here (no SQLAlchemy, no pymongo).

- ``StorageBackend``: users, face templates, apps, revoked tokens, the audit log. Two implementations:
  ``faceauth.storage.sql.backend.SqlStorage`` (SQLite, PostgreSQL) and
  ``faceauth.storage.mongo.MongoStorage`` (pymongo), both held to ``tests/storage/test_contract.py``.
- ``AbuseStore``: failed attempts, lock-outs and rate-limit counters (``faceauth.service.lockout``,
  the rate-limit middleware). SQL only: ``faceauth.storage.sql.abuse.SqlAbuseStore``.
- ``ChallengeStore``: liveness challenges and their frames (``faceauth.service.liveness``). SQL only:
  ``faceauth.storage.sql.challenges.SqlChallengeStore``.
- ``AdminStore``: the account list, the disabled flag, an account's lock-outs, readiness
  (``faceauth.service.admin``, ``/readyz``, ``/metrics``). SQL only:
  ``faceauth.storage.sql.admin.SqlAdminStore``.

``faceauth.storage.stores.open_stores`` opens all four from one database URL.

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
    light: str | None = None  # the screen-light schedule, JSON (None: no light step)
    sealed_nonce: str | None = None  # the nonce encrypted by the service, to give the open challenge back


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

    def create(self, challenge: StoredChallenge) -> None:
        """Raises ``faceauth.domain.ChallengeAlreadyOpen`` when the user already has an unused
        challenge for that purpose (at most one, enforced by the store, also against a race)."""
        ...

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

    def purge_expired_frames(self, before: datetime) -> int:
        """Deletes the frames of challenges whose deadline is before ``before``; returns how many."""
        ...

    def open_challenge(self, user_id: int, purpose: str, now: datetime) -> StoredChallenge | None:
        """The user's latest unused challenge for ``purpose`` whose deadline is after ``now``."""
        ...

    def abandon_expired(self, user_id: int, purpose: str, now: datetime) -> int:
        """Marks the user's unused challenges for ``purpose`` whose deadline is before ``now`` used
        (abandoned), atomically; returns how many this call marked (each is counted once)."""
        ...


@runtime_checkable
class AdminStore(Protocol):
    """What the operator's commands (``service.admin``), ``/readyz`` and ``/metrics`` need beyond
    ``StorageBackend``. SQL only: ``faceauth.storage.sql.admin.SqlAdminStore``."""

    def list_users(self) -> list[User]:
        """Every account, by id."""
        ...

    def set_disabled(self, user_id: int, disabled_at: datetime | None) -> bool:
        """Sets (a time) or clears (None) the disabled flag; False when there is no such user."""
        ...

    def lockouts_in_force(
        self, keys: Sequence[str], prefixes: Sequence[str], now: datetime
    ) -> list[tuple[str, datetime]]:
        """Lock-outs in force at ``now`` whose key is one of ``keys`` or starts with one of
        ``prefixes``: (key, locked until)."""
        ...

    def clear_lockouts(self, keys: Sequence[str], prefixes: Sequence[str]) -> int:
        """Lifts those lock-outs and forgets those keys' counted failures; the lock-outs lifted
        (ended ones included)."""
        ...

    def active_lockouts_by_step(self, now: datetime) -> dict[str, int]:
        """Lock-outs in force at ``now``, by step (the key's first part: ``face``, ``password``)."""
        ...

    def readiness_problem(self) -> str | None:
        """None when the database answers and its schema is this version's; else the reason."""
        ...
