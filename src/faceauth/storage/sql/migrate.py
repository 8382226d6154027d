"""Schema migrations (Alembic), shipped inside the package: ``faceauth db upgrade`` applies them.

The script location is resolved from this package, never from an alembic.ini in the working folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from faceauth.config import Settings
from faceauth.domain import ConfigurationError

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True)
class SchemaStatus:
    current: str | None  # None: an empty database
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def schema_status(engine: Engine) -> SchemaStatus:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return SchemaStatus(current=current, head=head)


def prepare_schema(engine: Engine, settings: Settings) -> None:
    """At start-up. Development: apply pending migrations. Production: refuse to run on an outdated
    schema (raises ConfigurationError), since migrating is a deliberate step there."""
    status = schema_status(engine)
    if status.up_to_date:
        return
    if settings.is_production:
        raise ConfigurationError(
            f"database schema is at revision {status.current or 'none'}, this version needs {status.head}: "
            "run `faceauth db upgrade` first"
        )
    logger.info("upgrading database schema from %s to %s", status.current or "empty", status.head)
    upgrade(engine)
