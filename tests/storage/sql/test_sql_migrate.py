"""The Alembic migrations (storage/sql/migrate.py, migrations/) against the tables declared in
storage/sql/tables.py, on SQLite and PostgreSQL, and the start-up rules of development and production."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from faceauth.config import Settings
from faceauth.domain import ConfigurationError
from faceauth.storage.sql import migrate
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.tables import Base


def test_migrations_create_exactly_the_schema_of_tables_py(storage: SqlStorage) -> None:
    with storage.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []
    assert migrate.schema_status(storage.engine).up_to_date


def test_migrations_are_found_from_the_package_not_the_working_folder(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = SqlStorage.from_url(database_url)
    try:
        assert migrate.schema_status(storage.engine).current is None
        migrate.upgrade(storage.engine)
        assert migrate.schema_status(storage.engine).up_to_date
    finally:
        storage.close()


def test_development_start_up_upgrades_an_empty_database(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    storage = SqlStorage.from_url(database_url)
    try:
        migrate.prepare_schema(storage.engine, settings_factory(env="development"))
        assert migrate.schema_status(storage.engine).up_to_date
    finally:
        storage.close()


def test_production_start_up_refuses_a_schema_that_is_behind(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    storage = SqlStorage.from_url(database_url)
    try:
        with pytest.raises(ConfigurationError, match="faceauth db upgrade"):
            migrate.prepare_schema(storage.engine, settings_factory(env="production"))
        assert migrate.schema_status(storage.engine).current is None
        migrate.upgrade(storage.engine)
        migrate.prepare_schema(storage.engine, settings_factory(env="production"))
    finally:
        storage.close()
