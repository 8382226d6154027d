"""The store the operator's commands need beyond ``StorageBackend`` (SQL implementation:
``faceauth.storage.admin.AdminStore``). Imports nothing of a database library."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from faceauth.domain import User


class AdminStoreBackend(Protocol):
    def list_users(self) -> list[User]:
        """Every account, by id."""
        ...

    def set_disabled(self, user_id: int, disabled_at: datetime | None) -> bool:
        """Sets (a time) or clears (None) the disabled flag; False when there is no such user."""
        ...

    def lockouts_of(self, user_id: int, now: datetime) -> list[tuple[str, datetime]]:
        """The account's lock-outs in force: (key, locked until)."""
        ...

    def clear_lockouts(self, user_id: int) -> int:
        """Lifts the account's lock-outs and forgets its counted failures; the number lifted."""
        ...

    def active_lockouts_by_step(self, now: datetime) -> dict[str, int]:
        """Lock-outs in force now, by step (face, password)."""
        ...
