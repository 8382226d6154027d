"""SQL implementation of ``AdminStore``: what the operator's commands, ``/readyz`` and ``/metrics`` need
beyond ``StorageBackend``: the list of accounts, the disabled flag (migration 0005), an account's
lock-outs, the lock-outs in force, and whether the database is ready to serve (reachable, schema
current)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from faceauth.domain import User
from faceauth.storage.sql import migrate
from faceauth.storage.sql.backend import user_from_row
from faceauth.storage.sql.database import SqlDatabase, rowcount
from faceauth.storage.sql.tables import AuthFailureRow, LockoutRow, UserRow
from faceauth.storage.timestamps import as_utc

logger = logging.getLogger(__name__)


class SqlAdminStore:
    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    def list_users(self) -> list[User]:
        with self.database.session() as session:
            return [user_from_row(row) for row in session.scalars(select(UserRow).order_by(UserRow.id))]

    def set_disabled(self, user_id: int, disabled_at: datetime | None) -> bool:
        with self.database.transaction() as session:
            result = session.execute(
                update(UserRow).where(UserRow.id == user_id).values(disabled_at=disabled_at)
            )
            return rowcount(result) > 0

    def lockouts_in_force(
        self, keys: Sequence[str], prefixes: Sequence[str], now: datetime
    ) -> list[tuple[str, datetime]]:
        with self.database.session() as session:
            rows = session.execute(
                select(LockoutRow.key, LockoutRow.locked_until).where(
                    _matching(LockoutRow.key, keys, prefixes), LockoutRow.locked_until > now
                )
            )
            return [(key, as_utc(until)) for key, until in rows]

    def clear_lockouts(self, keys: Sequence[str], prefixes: Sequence[str]) -> int:
        with self.database.transaction() as session:
            session.execute(delete(AuthFailureRow).where(_matching(AuthFailureRow.key, keys, prefixes)))
            lifted = session.execute(delete(LockoutRow).where(_matching(LockoutRow.key, keys, prefixes)))
            return rowcount(lifted)

    def active_lockouts_by_step(self, now: datetime) -> dict[str, int]:
        with self.database.session() as session:
            keys = session.scalars(select(LockoutRow.key).where(LockoutRow.locked_until > now))
            counts: dict[str, int] = {}
            for key in keys:
                step = key.split(":", 1)[0]
                counts[step] = counts.get(step, 0) + 1
            return counts

    def readiness_problem(self) -> str | None:
        engine = self.database.engine
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            status = migrate.schema_status(engine)
        except Exception as error:  # any driver error means: not ready
            # The driver's message goes to the server's log only: it may name hosts and users.
            logger.warning("readiness: database unreachable: %s", error)
            return f"database unreachable ({type(error).__name__})"
        if not status.up_to_date:
            return f"database schema at {status.current or 'none'}, this version needs {status.head}"
        return None


def _matching(
    column: InstrumentedAttribute[str], keys: Sequence[str], prefixes: Sequence[str]
) -> ColumnElement[bool]:
    """``column`` is one of ``keys`` or starts with one of ``prefixes`` (LIKE wildcards escaped)."""
    conditions = [column.in_(list(keys))]
    for prefix in prefixes:
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(column.like(f"{escaped}%", escape="\\"))
    return or_(*conditions)
