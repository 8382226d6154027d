"""Abuse limits in the database, so they hold across worker processes and server instances:
failed authentication attempts, lock-outs, and per-client rate-limit counters (migration 0002).

Every write opens its transaction with a write statement (an UPDATE or INSERT), never with a read,
so SQLite takes its write lock at once instead of failing to upgrade a read snapshot."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CursorResult,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from faceauth.domain import ConfigurationError
from faceauth.storage.models import Base
from faceauth.storage.repository import as_utc

logger = logging.getLogger(__name__)


class AuthFailureRow(Base):
    """One failed (or, while it runs, pending) attempt at a step, under a key such as
    ``face:user:12`` or ``password:user:12|203.0.113.9``."""

    __tablename__ = "auth_failures"
    __table_args__ = (Index("ix_auth_failures_key_created_at", "key", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LockoutRow(Base):
    __tablename__ = "lockouts"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    locked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class RateLimitCounterRow(Base):
    """Requests of one bucket (endpoint and client address) in one fixed window."""

    __tablename__ = "rate_limit_counters"

    bucket: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)  # epoch seconds
    count: Mapped[int] = mapped_column(Integer)


class AbuseStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # --- failed attempts --------------------------------------------------------------------

    def add_failure(self, key: str, at: datetime) -> int:
        """Records an attempt under ``key`` and returns its id (committed before it returns, so
        that a count taken afterwards by any process includes it)."""
        with self._transaction() as session:
            row = AuthFailureRow(key=key, created_at=at)
            session.add(row)
            session.flush()
            return row.id

    def remove_failures(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._transaction() as session:
            session.execute(delete(AuthFailureRow).where(AuthFailureRow.id.in_(list(ids))))

    def count_failures(self, key: str, since: datetime) -> int:
        query = (
            select(func.count())
            .select_from(AuthFailureRow)
            .where(AuthFailureRow.key == key, AuthFailureRow.created_at >= since)
        )
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def clear_failures(self, key: str) -> None:
        with self._transaction() as session:
            session.execute(delete(AuthFailureRow).where(AuthFailureRow.key == key))

    # --- lock-outs --------------------------------------------------------------------------

    def lock(self, key: str, until: datetime) -> None:
        """Locks ``key`` until ``until``, or keeps a later lock already in place."""
        for _ in range(3):
            with self._transaction() as session:
                statement = (
                    update(LockoutRow)
                    .where(LockoutRow.key == key)
                    .values(locked_until=func.max(LockoutRow.locked_until, until))
                    if self.engine.dialect.name == "sqlite"
                    else update(LockoutRow)
                    .where(LockoutRow.key == key)
                    .values(locked_until=func.greatest(LockoutRow.locked_until, until))
                )
                if _rowcount(session.execute(statement)) > 0:
                    return
            try:
                with self._transaction() as session:
                    session.execute(insert(LockoutRow).values(key=key, locked_until=until))
                return
            except IntegrityError:
                logger.debug("lock-out row of %s inserted concurrently; updating it", key)
        raise RuntimeError(f"could not record the lock-out of {key}")

    def locked_until(self, keys: Sequence[str], now: datetime) -> datetime | None:
        """The latest end of a lock-out of any of ``keys`` still in force at ``now``, or None."""
        if not keys:
            return None
        query = select(func.max(LockoutRow.locked_until)).where(
            LockoutRow.key.in_(list(keys)), LockoutRow.locked_until > now
        )
        with self._sessions() as session:
            until = session.scalar(query)
        return as_utc(until) if until is not None else None

    def unlock(self, key: str) -> None:
        with self._transaction() as session:
            session.execute(delete(LockoutRow).where(LockoutRow.key == key))

    # --- rate-limit counters ----------------------------------------------------------------

    def hit(self, bucket: str, window_start: int) -> int:
        """Counts one request in ``bucket``'s window starting at ``window_start`` (epoch seconds)
        and returns the window's count so far, this request included. Atomic across processes."""
        increment = (
            update(RateLimitCounterRow)
            .where(RateLimitCounterRow.bucket == bucket, RateLimitCounterRow.window_start == window_start)
            .values(count=RateLimitCounterRow.count + 1)
            .returning(RateLimitCounterRow.count)
        )
        for _ in range(3):
            with self._transaction() as session:
                count = session.scalar(increment)
                if count is not None:
                    return int(count)
            try:
                with self._transaction() as session:
                    session.execute(
                        insert(RateLimitCounterRow).values(bucket=bucket, window_start=window_start, count=1)
                    )
                return 1
            except IntegrityError:
                logger.debug("rate-limit counter %s created concurrently; incrementing it", bucket)
        raise RuntimeError(f"could not count a request of {bucket}")

    # --- housekeeping -----------------------------------------------------------------------

    def purge(self, failures_before: datetime, windows_before: int, now: datetime) -> int:
        """Forgets failures older than ``failures_before``, counters of windows that started before
        ``windows_before`` and lock-outs that have ended; returns how many rows went."""
        with self._transaction() as session:
            removed = _rowcount(
                session.execute(delete(AuthFailureRow).where(AuthFailureRow.created_at < failures_before))
            )
            removed += _rowcount(
                session.execute(
                    delete(RateLimitCounterRow).where(RateLimitCounterRow.window_start < windows_before)
                )
            )
            removed += _rowcount(session.execute(delete(LockoutRow).where(LockoutRow.locked_until <= now)))
        return removed


def _rowcount(result: object) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


def abuse_store_for(storage: object) -> AbuseStore:
    """The abuse-limit store in the same database as ``storage`` (a SQLAlchemy ``Storage``).

    A backend without a SQL engine (MongoDB) needs its own implementation of these methods; until
    it has one, lock-outs and rate limits cannot run on it and this raises ConfigurationError."""
    engine = getattr(storage, "engine", None)
    if not isinstance(engine, Engine):
        raise ConfigurationError(
            f"lock-outs and rate limits need a SQL database; {type(storage).__name__} has no SQL engine"
        )
    return AbuseStore(engine)
