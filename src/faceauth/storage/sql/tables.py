"""Every SQL table of faceauth, as typed SQLAlchemy ORM classes on one ``Base``: the one place the
schema is declared (the migrations in ``migrations/versions`` create it; ``migrations/env.py`` and
the schema test compare against ``Base.metadata``). Portable SQL only (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


# --- accounts (migration 0001) ------------------------------------------------------------------


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    username: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # set by `faceauth users disable` (migration 0005); a disabled account cannot log in
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class FaceTemplateRow(Base):
    __tablename__ = "face_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    template: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM nonce + ciphertext + tag
    key_id: Mapped[str] = mapped_column(String(64))
    frames_used: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AppRow(Base):
    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RevokedTokenRow(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class AuditEventRow(Base):
    """Every authentication event: who, when, from where, result, score. Never images.

    ``user_id`` is not a foreign key: the trail of an account outlives the account."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(50))
    success: Mapped[bool]
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    client: Mapped[str | None] = mapped_column(String(100), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[str | None] = mapped_column(String(500), nullable=True)


# --- abuse limits (migration 0002) --------------------------------------------------------------


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


# --- liveness challenges (migration 0003) -------------------------------------------------------


class LivenessChallengeRow(Base):
    __tablename__ = "liveness_challenges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the nonce
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # "enroll" or "verify"
    moves: Mapped[str] = mapped_column(String(200))  # comma-separated Move values, in order
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deadline_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # migration 0006: the screen-light schedule (JSON) and the nonce sealed with the template cipher
    light: Mapped[str | None] = mapped_column(Text, nullable=True)
    sealed_nonce: Mapped[str | None] = mapped_column(Text, nullable=True)

    # migration 0007: at most one open (unused) challenge per user and purpose, whatever the race
    __table_args__ = (
        Index(
            "uq_liveness_challenges_one_open",
            "user_id",
            "purpose",
            unique=True,
            sqlite_where=text("used_at IS NULL"),
            postgresql_where=text("used_at IS NULL"),
        ),
    )


class LivenessFrameRow(Base):
    __tablename__ = "liveness_frames"

    challenge_id: Mapped[str] = mapped_column(
        ForeignKey("liveness_challenges.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # arrival order
    observation: Mapped[str] = mapped_column(Text)  # FrameObservation.to_json(), as JSON text


# --- OpenID Connect provider (migration 0004_oidc) ----------------------------------------------
# Every row that belongs to a user goes with the user (ON DELETE CASCADE), and every row of a client
# goes with the client.


class OidcClientRow(Base):
    __tablename__ = "oidc_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    redirect_uris: Mapped[str] = mapped_column(Text)  # JSON list
    post_logout_redirect_uris: Mapped[str] = mapped_column(Text)  # JSON list
    secret_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)  # None: public client
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OidcCodeRow(Base):
    __tablename__ = "oidc_codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the code
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(String(2048))
    scope: Mapped[str] = mapped_column(String(200))
    nonce: Mapped[str | None] = mapped_column(String(255), nullable=True)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    auth_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acr: Mapped[str] = mapped_column(String(100))
    amr: Mapped[str] = mapped_column(String(100))  # space-separated
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class OidcConsentRow(Base):
    __tablename__ = "oidc_consents"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(String(200))
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OidcTokenRow(Base):
    __tablename__ = "oidc_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oidc_clients.client_id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(200))
    code_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
