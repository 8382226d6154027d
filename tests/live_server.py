"""A handle on a test server, importable from any test module (``tests`` is on pytest's path)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from sqlalchemy import text

from faceauth.config import Settings
from faceauth.storage import Storage


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    settings: Settings

    def count_rows(self, table: str, user_id: int) -> int:
        """Read the server's database directly (not through its API)."""
        storage = Storage.from_url(self.settings.resolved_database_url)
        try:
            with storage.engine.connect() as connection:
                query = text(f"SELECT COUNT(*) FROM {table} WHERE user_id = :user_id")
                return int(connection.execute(query, {"user_id": user_id}).scalar_one())
        finally:
            storage.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
