"""Open the storage backend a database URL names: ``mongodb://`` (or ``mongodb+srv://``) gives
MongoStorage (needs the ``mongo`` extra), anything else SQLAlchemy's Storage (SQLite, PostgreSQL)."""

from __future__ import annotations

from faceauth.domain import ConfigurationError
from faceauth.storage.interface import StorageBackend
from faceauth.storage.repository import Storage

MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")


def is_mongodb_url(url: str) -> bool:
    return url.startswith(MONGODB_SCHEMES)


def open_storage(url: str) -> StorageBackend:
    if is_mongodb_url(url):
        try:
            from faceauth.storage.mongo import MongoStorage
        except ImportError as error:
            raise ConfigurationError(
                "a mongodb:// database needs pymongo: pip install 'faceauth[mongo]'"
            ) from error
        return MongoStorage.from_url(url)
    return Storage.from_url(url)
