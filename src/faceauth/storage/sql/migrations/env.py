"""Alembic environment: runs on the connection that ``faceauth.storage.sql.migrate`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from faceauth.storage.sql.tables import Base

target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `faceauth db upgrade` (faceauth.storage.sql.migrate)")
run_migrations(connection)
