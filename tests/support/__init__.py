"""Helpers the test modules share, importable by name from any of them (pytest puts ``tests`` on
the path; ``conftest`` itself is not importable reliably, since several folders have one). No test
module imports another test module: what two of them share lives here.

- this module: settings, databases, the stand-in vision engine of the fast suite, the e2e guard and
  the one way to start a real server;
- ``support.api``: JSON API client steps (register, login, enroll, verify);
- ``support.camera``: webcam frames and fake-camera videos made from the shared photos;
- ``support.browser``: Chromium for the browser tests.

The fast suite (``pytest -m "not e2e"``) loads no model and starts no server: ``require_e2e`` makes
every helper that would do so fail the test that asked, unless its module is marked e2e."""

from __future__ import annotations

import json
import os
import re
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
import numpy.typing as npt
import pytest
from sqlalchemy import text

from faceauth.config import Settings, default_data_dir
from faceauth.domain import BurstEmbeddings, FrameRejection, ModelVectors, RejectReason
from faceauth.storage.sql.abuse import SqlAbuseStore
from faceauth.storage.sql.admin import SqlAdminStore
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.challenges import SqlChallengeStore
from faceauth.storage.sql.oidc import SqlOidcStore
from faceauth.storage.sql.tables import Base
from faceauth.storage.stores import Stores

REPO_ROOT = Path(__file__).resolve().parents[2]

# --- fast vs end-to-end -------------------------------------------------------------------------

_running: list[pytest.Item] = []  # the test being run (set by tests/conftest.py)


def set_running_test(item: pytest.Item | None) -> None:
    _running[:] = [item] if item is not None else []


def require_e2e(what: str) -> None:
    """Fail the running test, loudly, unless it is marked e2e: ``what`` (loading real models,
    starting a server, launching Chromium) does not belong in the fast suite."""
    item = _running[0] if _running else None
    if item is None or item.get_closest_marker("e2e") is None:
        name = item.nodeid if item is not None else "(no test running)"
        pytest.fail(
            f"{name} is not marked e2e but is {what}: use the stand-in engine and the app in-process "
            "(support.StandInEngine, fastapi.testclient), or mark the module `pytestmark = pytest.mark.e2e`",
            pytrace=False,
        )


# --- the stand-in vision engine -----------------------------------------------------------------


def unit_vector(seed: int) -> npt.NDArray[np.float32]:
    vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return vector / np.linalg.norm(vector)


# Frames whose bytes are one of these names embed as that person (two different people).
PEOPLE: dict[bytes, npt.NDArray[np.float32]] = {b"face-a": unit_vector(1), b"face-b": unit_vector(2)}


class StandInEngine:
    """The fast suite's engine, for tests whose unit is not the vision pipeline: a frame whose bytes
    name a person in ``PEOPLE`` embeds as that person; any other frame has no face."""

    def embed_burst(
        self, frames: Sequence[bytes], models: Sequence[str] | None = None, every_frame: bool = False
    ) -> BurstEmbeddings:
        embeddings, accepted, rejected = [], [], []
        for index, frame in enumerate(frames):
            if frame in PEOPLE:
                embeddings.append(PEOPLE[frame])
                accepted.append(index)
            else:
                rejected.append(FrameRejection(index, RejectReason.NO_FACE))
        return stand_in_burst(embeddings, accepted, rejected, models)


STAND_IN_VERSIONS = {"facenet": "20180408-102900", "sface": "2021dec-int8bq"}


def stand_in_burst(
    embeddings: Sequence[npt.NDArray[np.float32]],
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


def stores_of(storage: SqlStorage) -> Stores:
    """Every store over the database of ``storage`` (the ``storage`` fixture's), as ``open_stores``
    builds them."""
    database = storage.database
    return Stores(
        storage,
        SqlAbuseStore(database),
        SqlChallengeStore(database),
        SqlOidcStore(database),
        SqlAdminStore(database),
    )


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
    """A real server this test run started (``serve_in_thread`` or ``serve_in_subprocess``)."""

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


def share_default_models(data_dir: Path) -> None:
    """Links the default data folder's ``models`` (translated models, and the face-mesh files that
    ``faceauth models fetch`` put there) into a test server's own data folder, so it finds them
    without translating or fetching again."""
    models = default_data_dir() / "models"
    data_dir.mkdir(parents=True, exist_ok=True)
    if models.is_dir() and not (data_dir / "models").exists():
        (data_dir / "models").symlink_to(models)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve_in_thread(settings: Settings, engine: Any, mesh: Any = None) -> Iterator[LiveServer]:
    """uvicorn serving ``create_app(settings, load_vision(settings, engine, mesh))`` on a free loopback
    port, in a thread of this process, so the real models loaded once per session are shared.
    Proxy headers are off, as ``faceauth serve`` runs it."""
    import uvicorn

    from faceauth.composition import load_vision
    from faceauth.web.app import create_app

    require_e2e("starting a uvicorn server")
    share_default_models(settings.data_dir)
    app = create_app(settings, load_vision(settings, engine, mesh))
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


def settings_from_environment(environment: dict[str, str]) -> Settings:
    """The settings a server started with ``environment`` reads (FACEAUTH_* variables)."""
    prefix = "FACEAUTH_"
    values = {k[len(prefix) :].lower(): v for k, v in environment.items() if k.startswith(prefix)}
    known: dict[str, object] = {
        name: json.loads(value) if value[:1] in "[{" else value  # lists come JSON-encoded, as in env
        for name, value in values.items()
        if name in Settings.model_fields
    }
    return Settings(**known)  # type: ignore[arg-type]


@contextmanager
def serve_in_subprocess(
    data_dir: Path, env: dict[str, str], workers: int = 2, timeout: float = 240
) -> Iterator[LiveServer]:
    """``faceauth serve --workers N`` as a user runs it, in a subprocess on a free port, configured by
    the FACEAUTH_* variables in ``env``; yields it once /healthz answers. The converted FaceNet
    model of the default data folder is linked in, so it is not converted again; the server's log
    goes to ``data_dir/server.log``."""
    require_e2e("starting `faceauth serve`")
    share_default_models(data_dir)
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
            yield LiveServer(base_url, settings_from_environment(environment))
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


# --- /metrics ----------------------------------------------------------------------------------


def scrape_sample(metrics_text: str, name: str, **labels: str) -> float:
    """The value of one sample in the Prometheus text format (0 when absent)."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in metrics_text.splitlines():
        match = re.fullmatch(r"([a-z_:]+)(?:\{(.*)\})? (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if found == wanted:
            return float(match.group(3))
    return 0.0


def load_face_mesh(threads: int = 1) -> Any:
    """The face mesh, from the installed wheel or where ``faceauth models fetch`` put its files (the
    default data folder's ``models``, as scripts/test fetches them). Missing model files skip the test
    on a developer's machine and fail it in CI (``CI`` set), where a skip would hide the liveness tests."""
    from faceauth.model_zoo.registry import ModelNotFoundError
    from faceauth.vision.landmarks import FaceMesh

    require_e2e("loading the face mesh")
    try:
        return FaceMesh.load(threads=threads, cache_dir=Settings().models_dir)
    except ModelNotFoundError as error:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs the face-mesh models: {error}")
        pytest.skip(str(error))
