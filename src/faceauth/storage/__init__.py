"""Persistence: one storage interface (``Storage``) over SQLAlchemy, migrations, key handling."""

from faceauth.storage import abuse  # noqa: F401  (registers the abuse tables with Base.metadata)
from faceauth.storage.repository import AuditEvent, Storage, StoredTemplate, create_database_engine

# Registers the liveness tables in Base.metadata (migration 0003), whoever imports the package first.
from faceauth.storage import challenges as _challenges  # noqa: F401, E402

__all__ = ["AuditEvent", "Storage", "StoredTemplate", "create_database_engine"]
