"""At most one open (unused) liveness challenge per user and purpose: a partial unique index on
(user_id, purpose) WHERE used_at IS NULL, so two challenge requests racing each other cannot give
the asker two draws to choose from (the second insert fails; the service answers the open one).

Rows left open by that race before this revision would block the index: every open row but the
newest of its user and purpose is marked used (abandoned) first.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "uq_liveness_challenges_one_open"
OPEN = "used_at IS NULL"


def upgrade() -> None:
    challenges = sa.table(
        "liveness_challenges",
        sa.column("id", sa.String()),
        sa.column("user_id", sa.Integer()),
        sa.column("purpose", sa.String()),
        sa.column("issued_at", sa.DateTime(timezone=True)),
        sa.column("used_at", sa.DateTime(timezone=True)),
    )
    newer = challenges.alias("newer")
    newer_open = (
        sa.select(newer.c.id)
        .where(
            newer.c.user_id == challenges.c.user_id,
            newer.c.purpose == challenges.c.purpose,
            newer.c.used_at.is_(None),
            sa.or_(
                newer.c.issued_at > challenges.c.issued_at,
                sa.and_(newer.c.issued_at == challenges.c.issued_at, newer.c.id > challenges.c.id),
            ),
        )
        .exists()
    )
    op.execute(
        challenges.update()
        .where(challenges.c.used_at.is_(None), newer_open)
        .values(used_at=datetime.now(UTC))
    )
    op.create_index(
        INDEX,
        "liveness_challenges",
        ["user_id", "purpose"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="liveness_challenges")
