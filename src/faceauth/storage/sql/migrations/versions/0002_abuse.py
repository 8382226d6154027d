"""Abuse limits: failed authentication attempts, lock-outs and per-client rate-limit counters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "auth_failures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_auth_failures_key_created_at", "auth_failures", ["key", "created_at"])
    op.create_index("ix_auth_failures_created_at", "auth_failures", ["created_at"])
    op.create_table(
        "lockouts",
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_lockouts_locked_until", "lockouts", ["locked_until"])
    op.create_table(
        "rate_limit_counters",
        sa.Column("bucket", sa.String(200), primary_key=True),
        sa.Column("window_start", sa.BigInteger(), primary_key=True),
        sa.Column("count", sa.Integer(), nullable=False),
    )
    op.create_index("ix_rate_limit_counters_window_start", "rate_limit_counters", ["window_start"])


def downgrade() -> None:
    op.drop_table("rate_limit_counters")
    op.drop_table("lockouts")
    op.drop_table("auth_failures")
