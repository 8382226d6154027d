"""OpenID Connect provider: clients, authorization codes, consents, issued tokens (by jti).

Revision ID: 0004_oidc
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_oidc"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _user(table: str, primary_key: bool = False) -> sa.Column[object]:
    return sa.Column(
        "user_id",
        sa.Integer(),
        sa.ForeignKey("users.id", ondelete="CASCADE", name=f"fk_{table}_user_id"),
        nullable=False,
        primary_key=primary_key,
    )


def _client(table: str, primary_key: bool = False) -> sa.Column[object]:
    return sa.Column(
        "client_id",
        sa.String(64),
        sa.ForeignKey("oidc_clients.client_id", ondelete="CASCADE", name=f"fk_{table}_client_id"),
        nullable=False,
        primary_key=primary_key,
    )


def upgrade() -> None:
    op.create_table(
        "oidc_clients",
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("post_logout_redirect_uris", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.String(255), nullable=True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("client_id", name="pk_oidc_clients"),
    )
    op.create_table(
        "oidc_codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        _client("oidc_codes"),
        _user("oidc_codes"),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("nonce", sa.String(255), nullable=True),
        sa.Column("code_challenge", sa.String(128), nullable=False),
        sa.Column("code_challenge_method", sa.String(8), nullable=False),
        _when("auth_time"),
        sa.Column("acr", sa.String(100), nullable=False),
        sa.Column("amr", sa.String(100), nullable=False),
        _when("issued_at"),
        _when("expires_at"),
        _when("used_at", nullable=True),
        sa.PrimaryKeyConstraint("code_hash", name="pk_oidc_codes"),
    )
    op.create_index("ix_oidc_codes_client_id", "oidc_codes", ["client_id"])
    op.create_index("ix_oidc_codes_user_id", "oidc_codes", ["user_id"])
    op.create_index("ix_oidc_codes_expires_at", "oidc_codes", ["expires_at"])
    op.create_table(
        "oidc_consents",
        _user("oidc_consents"),
        _client("oidc_consents"),
        sa.Column("scope", sa.String(200), nullable=False),
        _when("granted_at"),
        _when("last_used_at"),
        sa.PrimaryKeyConstraint("user_id", "client_id", name="pk_oidc_consents"),
    )
    op.create_table(
        "oidc_tokens",
        sa.Column("jti", sa.String(64), nullable=False),
        _client("oidc_tokens"),
        _user("oidc_tokens"),
        sa.Column("scope", sa.String(200), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=True),
        _when("issued_at"),
        _when("expires_at"),
        _when("revoked_at", nullable=True),
        sa.PrimaryKeyConstraint("jti", name="pk_oidc_tokens"),
    )
    op.create_index("ix_oidc_tokens_client_id", "oidc_tokens", ["client_id"])
    op.create_index("ix_oidc_tokens_user_id", "oidc_tokens", ["user_id"])
    op.create_index("ix_oidc_tokens_code_hash", "oidc_tokens", ["code_hash"])


def downgrade() -> None:
    for index in ("ix_oidc_tokens_code_hash", "ix_oidc_tokens_user_id", "ix_oidc_tokens_client_id"):
        op.drop_index(index, table_name="oidc_tokens")
    op.drop_table("oidc_tokens")
    op.drop_table("oidc_consents")
    for index in ("ix_oidc_codes_expires_at", "ix_oidc_codes_user_id", "ix_oidc_codes_client_id"):
        op.drop_index(index, table_name="oidc_codes")
    op.drop_table("oidc_codes")
    op.drop_table("oidc_clients")
