"""Liveness challenges in the database, so that any worker process can take a challenge's frames and
a nonce is spent exactly once across all of them (an atomic ``UPDATE ... WHERE used_at IS NULL``).

A challenge row is keyed by the SHA-256 of its nonce (the nonce itself is never stored). Its frames
are kept as per-frame observations (pose numbers, a FaceNet embedding, passive-signal features; never
the images) only until the challenge is spent or expires; ``spend`` and ``purge_expired`` delete them.
Migration 0003 creates the two tables."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Integer, String, Text, delete, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from faceauth.domain import ConfigurationError
from faceauth.storage.models import Base
from faceauth.storage.repository import as_utc


class LivenessChallengeRow(Base):
    __tablename__ = "liveness_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the nonce
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "enroll" or "verify"
    moves: Mapped[str] = mapped_column(String(200))  # comma-separated Move values, in order
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LivenessFrameRow(Base):
    __tablename__ = "liveness_frames"

    challenge_id: Mapped[str] = mapped_column(
        ForeignKey("liveness_challenges.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # arrival order
    observation: Mapped[str] = mapped_column(Text)  # FrameObservation.to_json(), as JSON text


@dataclass(frozen=True)
class StoredChallenge:
    id: str
    user_id: int
    purpose: str
    moves: tuple[str, ...]
    issued_at: datetime
    deadline_at: datetime
    used_at: datetime | None


class ChallengeStore:
    """The SQL implementation (SQLite, PostgreSQL) of what ``faceauth.service.liveness`` needs."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def create(self, challenge: StoredChallenge) -> None:
        with self._transaction() as session:
            session.add(
                LivenessChallengeRow(
                    id=challenge.id,
                    user_id=challenge.user_id,
                    purpose=challenge.purpose,
                    moves=",".join(challenge.moves),
                    issued_at=challenge.issued_at,
                    deadline_at=challenge.deadline_at,
                    used_at=None,
                )
            )

    def get(self, challenge_id: str) -> StoredChallenge | None:
        with self._transaction() as session:
            row = session.get(LivenessChallengeRow, challenge_id)
            return _challenge(row) if row is not None else None

    def frame_count(self, challenge_id: str) -> int:
        with self._transaction() as session:
            query = select(func.count()).where(LivenessFrameRow.challenge_id == challenge_id)
            return int(session.execute(query).scalar_one())

    def add_frames(self, challenge_id: str, observations: Sequence[dict[str, Any]]) -> int:
        """Append observations after the ones stored; returns how many the challenge now has.
        Two chunks of one challenge racing each other: one of them fails on the primary key."""
        with self._transaction() as session:
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
        with self._transaction() as session:
            query = (
                select(LivenessFrameRow.observation)
                .where(LivenessFrameRow.challenge_id == challenge_id)
                .order_by(LivenessFrameRow.seq)
            )
            return [json.loads(text) for text in session.execute(query).scalars()]

    def spend(self, challenge_id: str, user_id: int, now: datetime) -> bool:
        """Mark the challenge used, atomically: True for exactly one caller, ever."""
        with self._transaction() as session:
            statement = (
                update(LivenessChallengeRow)
                .where(
                    LivenessChallengeRow.id == challenge_id,
                    LivenessChallengeRow.user_id == user_id,
                    LivenessChallengeRow.used_at.is_(None),
                )
                .values(used_at=now)
            )
            spent = session.execute(statement).rowcount == 1  # type: ignore[attr-defined]
        return bool(spent)

    def delete_frames(self, challenge_id: str) -> None:
        with self._transaction() as session:
            session.execute(delete(LivenessFrameRow).where(LivenessFrameRow.challenge_id == challenge_id))

    def purge_expired(self, before: datetime) -> int:
        """Delete challenges (and their frames) whose deadline is before ``before``."""
        with self._transaction() as session:
            expired = select(LivenessChallengeRow.id).where(LivenessChallengeRow.deadline_at < before)
            session.execute(delete(LivenessFrameRow).where(LivenessFrameRow.challenge_id.in_(expired)))
            result = session.execute(
                delete(LivenessChallengeRow).where(LivenessChallengeRow.deadline_at < before)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]


def _challenge(row: LivenessChallengeRow) -> StoredChallenge:
    return StoredChallenge(
        id=row.id,
        user_id=row.user_id,
        purpose=row.purpose,
        moves=tuple(m for m in row.moves.split(",") if m),
        issued_at=as_utc(row.issued_at),
        deadline_at=as_utc(row.deadline_at),
        used_at=as_utc(row.used_at) if row.used_at is not None else None,
    )


def challenge_store_for(storage: object) -> ChallengeStore:
    """The challenge store in the same database as ``storage`` (a SQLAlchemy ``Storage``).

    A backend without a SQL engine (MongoDB) needs its own implementation of these methods; until
    it has one, liveness challenges cannot run on it and this raises ConfigurationError."""
    engine = getattr(storage, "engine", None)
    if not isinstance(engine, Engine):
        raise ConfigurationError(
            f"liveness challenges need a SQL database; {type(storage).__name__} has no SQL engine"
        )
    return ChallengeStore(engine)
