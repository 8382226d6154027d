"""``open_stores``: one database URL opens the storage backend, the abuse store and the challenge
store on one connection pool, migrated together; MongoDB is refused where the app needs SQL-only
stores; and the storage interfaces load without any database driver."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import faceauth
from faceauth.config import Settings
from faceauth.domain import ConfigurationError
from faceauth.storage.interface import AbuseStore, ChallengeStore, StorageBackend, StoredChallenge
from faceauth.storage.sql.abuse import SqlAbuseStore
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.challenges import SqlChallengeStore
from faceauth.storage.stores import open_stores

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_one_url_opens_every_store_on_one_migrated_database(
    database_url: str, settings_factory: Callable[..., Settings]
) -> None:
    stores = open_stores(database_url)
    try:
        assert isinstance(stores.storage, SqlStorage) and isinstance(stores.storage, StorageBackend)
        assert isinstance(stores.abuse, SqlAbuseStore) and isinstance(stores.abuse, AbuseStore)
        assert isinstance(stores.challenges, SqlChallengeStore)
        assert isinstance(stores.challenges, ChallengeStore)
        assert stores.abuse.database is stores.storage.database is stores.challenges.database

        stores.prepare_schema(settings_factory(env="development"))  # migrates every table
        user = stores.storage.create_user(
            name="Ann", username="ann", email="ann@example.org", phone="+12025550143", password_hash="h"
        )
        assert stores.abuse.hit("login|203.0.113.9", 0) == 1
        challenge = StoredChallenge(
            id="a" * 64,
            user_id=user.id,
            purpose="verify",
            moves=("left", "right"),
            issued_at=NOW,
            deadline_at=NOW + timedelta(seconds=30),
            used_at=None,
        )
        stores.challenges.create(challenge)
        assert stores.challenges.get(challenge.id) == challenge
    finally:
        stores.close()


@pytest.mark.parametrize("url", ["mongodb://127.0.0.1:1/faceauth", "mongodb+srv://cluster.example/faceauth"])
def test_the_app_stores_refuse_mongodb_with_a_clear_reason(url: str) -> None:
    with pytest.raises(ConfigurationError, match=r"SQL database .* not MongoDB"):
        open_stores(url)


def test_interfaces_crypto_and_keys_load_without_a_database_driver() -> None:
    """What the service layer imports from storage stays free of SQLAlchemy, pymongo and Alembic."""
    modules = (
        "faceauth.storage.interface",
        "faceauth.storage.crypto",
        "faceauth.storage.keys",
        "faceauth.service.privacy",
        "faceauth.service.liveness",
    )
    program = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in modules)
        + "print(sorted({m.split('.')[0] for m in sys.modules} & {'sqlalchemy', 'pymongo', 'alembic'}))"
    )
    source_root = str(Path(faceauth.__file__).resolve().parent.parent)  # this checkout's faceauth
    env = {**os.environ, "PYTHONPATH": source_root}
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120, env=env
    )
    assert result.stdout.strip() == "[]"
