"""Persistence behind the interfaces in ``faceauth.storage.interface``.

Importing this package imports nothing else: the interfaces, ``crypto`` (template encryption) and
``keys`` (secrets) load without SQLAlchemy or pymongo. ``stores.open_stores`` opens the
implementations a database URL names: ``sql/`` (SQLite, PostgreSQL) or ``mongo`` (MongoDB)."""
