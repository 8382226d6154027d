"""Helpers the test modules share, importable by name from any of them (pytest puts ``tests`` on
the path; ``conftest`` itself is not importable reliably, since several folders have one)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text

from faceauth.config import Settings, default_data_dir
from faceauth.domain import BurstEmbeddings, FrameRejection, ModelVectors
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.tables import Base

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_root() -> Path:
    return Path(os.environ.get("FACEAUTH_TEST_DATA", REPO_ROOT.parent / "shared" / "data"))


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "development",
        "data_dir": data_dir,
        "database_url": f"sqlite:///{data_dir / 'faceauth.db'}",
        "secret_key": "test-secret-key-that-is-long-enough-for-hs256-0123456789",
        "liveness_required": False,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def wipe_postgres(url: str) -> None:
    storage = SqlStorage.from_url(url)
    try:
        Base.metadata.drop_all(storage.engine)
        with storage.engine.begin() as connection:
            connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    finally:
        storage.close()


@dataclass(frozen=True)
class LiveServer:
    base_url: str
    settings: Settings

    def count_rows(self, table: str, user_id: int) -> int:
        """Read the server's database directly (not through its API)."""
        storage = SqlStorage.from_url(self.settings.resolved_database_url)
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


@contextmanager
def serve_in_thread(app: Any, settings: Settings) -> Iterator[LiveServer]:
    """uvicorn serving ``app`` (from ``create_app``) on a free loopback port, in a thread of this
    process. Proxy headers are off, as ``faceauth serve`` runs it."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", proxy_headers=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def serve_in_subprocess(
    data_dir: Path, env: dict[str, str], workers: int = 2, timeout: float = 240
) -> Iterator[str]:
    """``faceauth serve --workers N`` as a user runs it, in a subprocess on a free port; yields its
    base URL once /healthz answers. The converted FaceNet model of the default data folder is linked
    in, so it is not converted again; the server's log goes to ``data_dir/server.log``."""
    models = default_data_dir() / "models"
    if models.is_dir() and not (data_dir / "models").exists():
        (data_dir / "models").symlink_to(models)
    port = free_port()
    environment = {**os.environ, "FACEAUTH_DATA_DIR": str(data_dir), **env}
    command = [sys.executable, "-m", "faceauth.cli", "serve", "--port", str(port), "--workers", str(workers)]
    log_path = data_dir / "server.log"
    base_url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    pytest.fail(f"faceauth serve exited: {log_path.read_text(errors='replace')}")
                try:
                    if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"faceauth serve --workers {workers} did not become healthy")
                time.sleep(0.5)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


STAND_IN_VERSIONS = {"facenet": "20180408-102900", "sface": "2021dec-int8bq"}


def stand_in_burst(
    embeddings: Sequence[np.ndarray],
    accepted: Sequence[int],
    rejected: Sequence[FrameRejection],
    models: Sequence[str] | None,
) -> BurstEmbeddings:
    """The burst a stand-in engine returns: the same vectors as each asked model's (default: SFace,
    the served default), every accepted frame, labelled with the model's real version."""
    vectors = tuple(np.asarray(e, dtype=np.float32) for e in embeddings)
    return BurstEmbeddings(
        tuple(
            ModelVectors(model, STAND_IN_VERSIONS[model], vectors, tuple(accepted))
            for model in (models or ("sface",))
        ),
        tuple(accepted),
        tuple(rejected),
    )
