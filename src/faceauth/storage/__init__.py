"""Persistence: one storage interface (``Storage``) over SQLAlchemy, migrations, key handling."""

from faceauth.storage import (
    abuse,  # noqa: F401  (registers the abuse tables with Base.metadata)
    challenges,  # noqa: F401  (registers the liveness tables: migration 0003)
    oidc_tables,  # noqa: F401  (registers the OpenID Connect tables: migration 0004)
)
from faceauth.storage.repository import AuditEvent, Storage, StoredTemplate, create_database_engine

__all__ = ["AuditEvent", "Storage", "StoredTemplate", "create_database_engine"]
