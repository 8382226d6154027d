"""Liveness challenges carry their screen-light schedule and their nonce sealed with the template
cipher (so asking again while one is open gives the same challenge back, not a new draw).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("liveness_challenges") as batch:
        batch.add_column(sa.Column("light", sa.Text(), nullable=True))
        batch.add_column(sa.Column("sealed_nonce", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("liveness_challenges") as batch:
        batch.drop_column("sealed_nonce")
        batch.drop_column("light")
