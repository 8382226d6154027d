"""Persistence: one storage interface (``Storage``) over SQLAlchemy, migrations, key handling."""

from faceauth.storage.repository import AuditEvent, Storage, StoredTemplate, create_database_engine

__all__ = ["AuditEvent", "Storage", "StoredTemplate", "create_database_engine"]
