"""What the operator's commands and the metrics need from a SQL database beyond ``StorageBackend``:
the list of accounts, the disabled flag (migration 0005), a user's lock-outs, the lock-outs in
force, and whether the database is ready to serve (reachable, schema current)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine, delete, or_, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from faceauth.domain import ConfigurationError, User
from faceauth.storage.abuse import AuthFailureRow, LockoutRow
from faceauth.storage.models import UserRow
from faceauth.storage.repository import _user, as_utc

logger = logging.getLogger(__name__)


def user_lock_keys(user_id: int) -> tuple[str, str, str]:
    """The lock-out keys of one account (``service.lockout``): its face step, its password step
    from all addresses, and (a prefix, followed by ``|address``) its password step per address."""
    return (f"face:user:{user_id}", f"password:user:{user_id}", f"password:user:{user_id}|")


class AdminStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def list_users(self) -> list[User]:
        with self._sessions() as session:
            return [_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.id))]

    def set_disabled(self, user_id: int, disabled_at: datetime | None) -> bool:
        """Sets (a time) or clears (None) the disabled flag; False when there is no such user."""
        with self._transaction() as session:
            result = session.execute(
                update(UserRow).where(UserRow.id == user_id).values(disabled_at=disabled_at)
            )
            return bool(getattr(result, "rowcount", 0))

    def lockouts_of(self, user_id: int, now: datetime) -> list[tuple[str, datetime]]:
        """The account's lock-outs in force: (key, locked until)."""
        with self._sessions() as session:
            rows = session.execute(
                select(LockoutRow.key, LockoutRow.locked_until).where(
                    _keys_of(LockoutRow.key, user_id), LockoutRow.locked_until > now
                )
            )
            return [(key, as_utc(until)) for key, until in rows]

    def clear_lockouts(self, user_id: int) -> int:
        """Lifts the account's lock-outs and forgets its counted failures; returns the lock-outs lifted
        (expired ones included)."""
        with self._transaction() as session:
            session.execute(delete(AuthFailureRow).where(_keys_of(AuthFailureRow.key, user_id)))
            result = session.execute(delete(LockoutRow).where(_keys_of(LockoutRow.key, user_id)))
            return int(getattr(result, "rowcount", 0))

    def active_lockouts_by_step(self, now: datetime) -> dict[str, int]:
        """Lock-outs in force now, by step (the key's first part: ``face``, ``password``)."""
        with self._sessions() as session:
            keys = session.scalars(select(LockoutRow.key).where(LockoutRow.locked_until > now))
            counts: dict[str, int] = {}
            for key in keys:
                step = key.split(":", 1)[0]
                counts[step] = counts.get(step, 0) + 1
            return counts


def _keys_of(column: InstrumentedAttribute[str], user_id: int) -> ColumnElement[bool]:
    face, password, per_address = user_lock_keys(user_id)
    escaped = per_address.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return or_(
        column.in_([face, password]),
        column.like(f"{escaped}%", escape="\\"),
    )


def admin_store_for(storage: object) -> AdminStore:
    """The admin store in the same database as ``storage`` (a SQLAlchemy ``Storage``)."""
    engine = getattr(storage, "engine", None)
    if not isinstance(engine, Engine):
        raise ConfigurationError(
            f"the admin commands need a SQL database; {type(storage).__name__} has no SQL engine"
        )
    return AdminStore(engine)


def readiness_problem(engine: Engine) -> str | None:
    """None when the database answers and its schema is at this version's head; else the reason."""
    from faceauth.storage import migrate

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
