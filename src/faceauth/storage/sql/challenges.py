"""Liveness challenges in the database, so that any worker process can take a challenge's frames and
a nonce is spent exactly once across all of them (an atomic ``UPDATE ... WHERE used_at IS NULL``).

A challenge row is keyed by the SHA-256 of its nonce (the nonce itself is never stored). Its frames
are kept as per-frame observations (pose numbers, a FaceNet embedding, passive-signal features; never
the images) only until the challenge is spent or expires; ``spend`` and ``purge_expired`` delete them.
A user has at most one unused challenge per purpose (a partial unique index, migration 0007).
Migration 0003 creates the two tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from faceauth.domain import ChallengeAlreadyOpen
from faceauth.storage.interface import StoredChallenge
from faceauth.storage.sql.database import SqlDatabase, rowcount
from faceauth.storage.sql.tables import LivenessChallengeRow, LivenessFrameRow
from faceauth.storage.timestamps import as_utc


class SqlChallengeStore:
    """The SQL implementation of ``faceauth.storage.interface.ChallengeStore``."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database

    def create(self, challenge: StoredChallenge) -> None:
        """Raises ChallengeAlreadyOpen when the user has an unused challenge for this purpose (the
        partial unique index of migration 0007 refuses the row, also to a concurrent request)."""
        try:
            with self.database.transaction() as session:
                session.add(
                    LivenessChallengeRow(
                        id=challenge.id,
                        user_id=challenge.user_id,
                        purpose=challenge.purpose,
                        moves=",".join(challenge.moves),
                        issued_at=challenge.issued_at,
                        deadline_at=challenge.deadline_at,
                        used_at=None,
                        light=challenge.light,
                        sealed_nonce=challenge.sealed_nonce,
                    )
                )
        except IntegrityError:
            if self._has_unused(challenge.user_id, challenge.purpose):
                raise ChallengeAlreadyOpen() from None
            raise

    def _has_unused(self, user_id: int, purpose: str) -> bool:
        with self.database.session() as session:
            query = select(LivenessChallengeRow.id).where(
                LivenessChallengeRow.user_id == user_id,
                LivenessChallengeRow.purpose == purpose,
                LivenessChallengeRow.used_at.is_(None),
            )
            return session.scalar(query.limit(1)) is not None

    def get(self, challenge_id: str) -> StoredChallenge | None:
        with self.database.transaction() as session:
            row = session.get(LivenessChallengeRow, challenge_id)
            return _challenge(row) if row is not None else None

    def frame_count(self, challenge_id: str) -> int:
        with self.database.transaction() as session:
            query = select(func.count()).where(LivenessFrameRow.challenge_id == challenge_id)
            return int(session.execute(query).scalar_one())

    def add_frames(self, challenge_id: str, observations: Sequence[dict[str, Any]]) -> int:
        """Append observations after the ones stored; returns how many the challenge now has.
        Two chunks of one challenge racing each other: one of them fails on the primary key."""
        with self.database.transaction() as session:
            query = select(func.count()).where(LivenessFrameRow.challenge_id == challenge_id)
            start = int(session.execute(query).scalar_one())
            for offset, observation in enumerate(observations):
                session.add(
                    LivenessFrameRow(
                        challenge_id=challenge_id, seq=start + offset, observation=json.dumps(observation)
                    )
                )
            return start + len(observations)

    def frames(self, challenge_id: str) -> list[dict[str, Any]]:
        with self.database.transaction() as session:
            query = (
                select(LivenessFrameRow.observation)
                .where(LivenessFrameRow.challenge_id == challenge_id)
                .order_by(LivenessFrameRow.seq)
            )
            return [json.loads(text) for text in session.execute(query).scalars()]

    def spend(self, challenge_id: str, user_id: int, now: datetime) -> bool:
        """Mark the challenge used, atomically: True for exactly one caller, ever."""
        with self.database.transaction() as session:
            statement = (
                update(LivenessChallengeRow)
                .where(
                    LivenessChallengeRow.id == challenge_id,
                    LivenessChallengeRow.user_id == user_id,
                    LivenessChallengeRow.used_at.is_(None),
                )
                .values(used_at=now)
            )
            return rowcount(session.execute(statement)) == 1

    def delete_frames(self, challenge_id: str) -> None:
        with self.database.transaction() as session:
            session.execute(delete(LivenessFrameRow).where(LivenessFrameRow.challenge_id == challenge_id))

    def purge_expired(self, before: datetime) -> int:
        """Delete challenges (and their frames) whose deadline is before ``before``."""
        with self.database.transaction() as session:
            expired = select(LivenessChallengeRow.id).where(LivenessChallengeRow.deadline_at < before)
            session.execute(delete(LivenessFrameRow).where(LivenessFrameRow.challenge_id.in_(expired)))
            return rowcount(
                session.execute(delete(LivenessChallengeRow).where(LivenessChallengeRow.deadline_at < before))
            )

    def purge_expired_frames(self, before: datetime) -> int:
        """Delete the frames (observations) of challenges whose deadline is before ``before``."""
        with self.database.transaction() as session:
            expired = select(LivenessChallengeRow.id).where(LivenessChallengeRow.deadline_at < before)
            return rowcount(
                session.execute(delete(LivenessFrameRow).where(LivenessFrameRow.challenge_id.in_(expired)))
            )

    def open_challenge(self, user_id: int, purpose: str, now: datetime) -> StoredChallenge | None:
        with self.database.transaction() as session:
            query = (
                select(LivenessChallengeRow)
                .where(
                    LivenessChallengeRow.user_id == user_id,
                    LivenessChallengeRow.purpose == purpose,
                    LivenessChallengeRow.used_at.is_(None),
                    LivenessChallengeRow.deadline_at > now,
                )
                .order_by(LivenessChallengeRow.issued_at.desc())
                .limit(1)
            )
            row = session.execute(query).scalars().first()
            return _challenge(row) if row is not None else None

    def abandon_expired(self, user_id: int, purpose: str, now: datetime) -> int:
        with self.database.transaction() as session:
            statement = (
                update(LivenessChallengeRow)
                .where(
                    LivenessChallengeRow.user_id == user_id,
                    LivenessChallengeRow.purpose == purpose,
                    LivenessChallengeRow.used_at.is_(None),
                    LivenessChallengeRow.deadline_at <= now,
                )
                .values(used_at=now)
            )
            return rowcount(session.execute(statement))


def _challenge(row: LivenessChallengeRow) -> StoredChallenge:
    return StoredChallenge(
        id=row.id,
        user_id=row.user_id,
        purpose=row.purpose,
        moves=tuple(m for m in row.moves.split(",") if m),
        issued_at=as_utc(row.issued_at),
        deadline_at=as_utc(row.deadline_at),
        used_at=as_utc(row.used_at) if row.used_at is not None else None,
        light=row.light,
        sealed_nonce=row.sealed_nonce,
    )
