"""The SQL implementation of the storage interfaces (SQLAlchemy 2: SQLite, PostgreSQL).

- ``database``: the engine and the one transaction helper every store uses;
- ``tables``: every table, on one ``Base``;
- ``backend``: ``SqlStorage`` (users, face templates, apps, revoked tokens, audit log);
- ``abuse``: ``SqlAbuseStore`` (failed attempts, lock-outs, rate-limit counters);
- ``challenges``: ``SqlChallengeStore`` (liveness challenges and their frames);
- ``migrate`` and ``migrations/``: the Alembic schema migrations, shipped in the package."""
