"""Open what a database URL names, in one place: ``open_stores`` for everything the web app needs
(the storage backend, the abuse store and the challenge store, sharing one connection pool), and
``open_backend`` for the storage backend alone (the CLI's ``db upgrade``, ``keys rotate``, ``events``).

``mongodb://`` (or ``mongodb+srv://``) gives MongoStorage (needs the ``mongo`` extra); anything else
the SQL stores (SQLite, PostgreSQL). The abuse and challenge stores have no MongoDB implementation,
so ``open_stores`` refuses a MongoDB URL with a ConfigurationError that says so."""

from __future__ import annotations

from dataclasses import dataclass

from faceauth.config import Settings
from faceauth.domain import ConfigurationError
from faceauth.storage.interface import AbuseStore, ChallengeStore, StorageBackend
from faceauth.storage.sql.abuse import SqlAbuseStore
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.challenges import SqlChallengeStore
from faceauth.storage.sql.database import SqlDatabase

MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")


@dataclass(frozen=True)
class Stores:
    """The stores of one database, opened once at start-up and closed together."""

    storage: StorageBackend
    abuse: AbuseStore
    challenges: ChallengeStore

    def prepare_schema(self, settings: Settings) -> None:
        """Development: apply pending migrations; production: refuse an outdated schema."""
        self.storage.prepare_schema(settings)

    def close(self) -> None:
        """Closes the database connections (the three stores share them)."""
        self.storage.close()


def is_mongodb_url(url: str) -> bool:
    return url.startswith(MONGODB_SCHEMES)


def open_stores(url: str) -> Stores:
    """Every store the web app needs, on the database ``url`` names. ConfigurationError for MongoDB."""
    if is_mongodb_url(url):
        raise ConfigurationError(
            "the web app needs an SQL database (SQLite or PostgreSQL), not MongoDB: the lock-out, "
            "rate-limit and liveness stores have no MongoDB implementation yet (docs/storage.md)"
        )
    database = SqlDatabase.from_url(url)
    return Stores(
        storage=SqlStorage(database),
        abuse=SqlAbuseStore(database),
        challenges=SqlChallengeStore(database),
    )


def open_backend(url: str) -> StorageBackend:
    """The storage backend alone (users, templates, apps, revoked tokens, audit log): SQL or MongoDB."""
    if is_mongodb_url(url):
        try:
            from faceauth.storage.mongo import MongoStorage
        except ImportError as error:
            raise ConfigurationError(
                "a mongodb:// database needs pymongo: pip install 'faceauth[mongo]'"
            ) from error
        return MongoStorage.from_url(url)
    return SqlStorage.from_url(url)
