"""SQL tables of the OpenID Connect provider (migration 0004). Portable SQL (SQLite, PostgreSQL).

Kept in a module of their own for now; they join the one tables module when the storage layout of
issue 10 lands. Every row that belongs to a user goes with the user (ON DELETE CASCADE), and every
row of a client goes with the client."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from faceauth.storage.models import Base


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
