"""Abuse limits in the database, so they hold across worker processes and server instances:
failed authentication attempts, lock-outs, and per-client rate-limit counters (migration 0002).

Every write opens its transaction with a write statement (an UPDATE or INSERT), never with a read,
so SQLite takes its write lock at once instead of failing to upgrade a read snapshot."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from faceauth.storage.sql.database import SqlDatabase, rowcount
from faceauth.storage.sql.tables import AuthFailureRow, LockoutRow, RateLimitCounterRow
from faceauth.storage.timestamps import as_utc

logger = logging.getLogger(__name__)


class SqlAbuseStore:
    """The SQL implementation of ``faceauth.storage.interface.AbuseStore``."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    # --- failed attempts --------------------------------------------------------------------

    def add_failure(self, key: str, at: datetime) -> int:
        """Records an attempt under ``key`` and returns its id (committed before it returns, so
        that a count taken afterwards by any process includes it)."""
        with self.database.transaction() as session:
            row = AuthFailureRow(key=key, created_at=at)
            session.add(row)
            session.flush()
            return row.id

    def remove_failures(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self.database.transaction() as session:
            session.execute(delete(AuthFailureRow).where(AuthFailureRow.id.in_(list(ids))))

    def count_failures(self, key: str, since: datetime) -> int:
        query = (
            select(func.count())
            .select_from(AuthFailureRow)
            .where(AuthFailureRow.key == key, AuthFailureRow.created_at >= since)
        )
        with self.database.session() as session:
            return int(session.scalar(query) or 0)

    def clear_failures(self, key: str) -> None:
        with self.database.transaction() as session:
            session.execute(delete(AuthFailureRow).where(AuthFailureRow.key == key))

    # --- lock-outs --------------------------------------------------------------------------

    def lock(self, key: str, until: datetime) -> None:
        """Locks ``key`` until ``until``, or keeps a later lock already in place."""
        for _ in range(3):
            with self.database.transaction() as session:
                statement = (
                    update(LockoutRow)
                    .where(LockoutRow.key == key)
                    .values(locked_until=func.max(LockoutRow.locked_until, until))
                    if self.database.is_sqlite
                    else update(LockoutRow)
                    .where(LockoutRow.key == key)
                    .values(locked_until=func.greatest(LockoutRow.locked_until, until))
                )
                if rowcount(session.execute(statement)) > 0:
                    return
            try:
                with self.database.transaction() as session:
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
        with self.database.session() as session:
            until = session.scalar(query)
        return as_utc(until) if until is not None else None

    def unlock(self, key: str) -> None:
        with self.database.transaction() as session:
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
            with self.database.transaction() as session:
                count = session.scalar(increment)
                if count is not None:
                    return int(count)
            try:
                with self.database.transaction() as session:
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
        with self.database.transaction() as session:
            removed = rowcount(
                session.execute(delete(AuthFailureRow).where(AuthFailureRow.created_at < failures_before))
            )
            removed += rowcount(
                session.execute(
                    delete(RateLimitCounterRow).where(RateLimitCounterRow.window_start < windows_before)
                )
            )
            removed += rowcount(session.execute(delete(LockoutRow).where(LockoutRow.locked_until <= now)))
        return removed
