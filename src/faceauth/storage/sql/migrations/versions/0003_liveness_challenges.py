"""Liveness challenges and their per-frame observations (kept only until a challenge is spent).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "liveness_challenges",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.Integer(),
            sa.ForeignKey("users.id", ondelete="CASCADE", name="fk_liveness_challenges_user_id"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("moves", sa.String(200), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_liveness_challenges"),
    )
    op.create_index("ix_liveness_challenges_user_id", "liveness_challenges", ["user_id"])
    op.create_index("ix_liveness_challenges_deadline_at", "liveness_challenges", ["deadline_at"])
    op.create_table(
        "liveness_frames",
        sa.Column(
            "challenge_id",
            sa.String(64),
            sa.ForeignKey(
                "liveness_challenges.id", ondelete="CASCADE", name="fk_liveness_frames_challenge_id"
            ),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("observation", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("challenge_id", "seq", name="pk_liveness_frames"),
    )


def downgrade() -> None:
    op.drop_table("liveness_frames")
    op.drop_index("ix_liveness_challenges_deadline_at", table_name="liveness_challenges")
    op.drop_index("ix_liveness_challenges_user_id", table_name="liveness_challenges")
    op.drop_table("liveness_challenges")
