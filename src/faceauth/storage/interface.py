"""The storage interface the service layer depends on, and nothing more.

Two implementations: ``faceauth.storage.repository.Storage`` (SQLAlchemy: SQLite, PostgreSQL) and
``faceauth.storage.mongo.MongoStorage`` (pymongo). ``faceauth.storage.factory.open_storage`` picks one
from the database URL. Both pass the contract tests in ``tests/storage/test_contract.py``.

Rules every implementation keeps:

- each method is its own transaction and returns plain domain objects (no sessions, no cursors);
- a username or email that is taken raises UsernameTaken or EmailTaken, also when two registrations
  race (a unique index decides, never a read-then-write check alone);
- face templates arrive and leave encrypted (``faceauth.storage.crypto``): storage never sees them
  in the clear;
- ``delete_user`` removes the user, their template and apps, and strips the personal linkage (user
  id, client address) from their earlier audit events; ``delete_template`` removes the template."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from faceauth.config import Settings
from faceauth.domain import App, User
from faceauth.storage.repository import AuditEvent, StoredTemplate


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
