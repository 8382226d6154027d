"""Shared fixtures: test data (real photos), settings in a temporary folder, and real databases.

- ``FACEAUTH_TEST_DATA``: the shared data folder (default ``<repo>/../shared/data``); tests that
  need photos skip when it is absent.
- ``FACEAUTH_TEST_POSTGRES_URL``: a PostgreSQL database (``postgresql+psycopg://...``) the tests may
  wipe; storage tests run on it as well as on SQLite when it is set."""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from faceauth.config import Settings
from faceauth.service.lockout import LockoutService
from faceauth.storage.sql import migrate
from faceauth.storage.sql.abuse import SqlAbuseStore
from faceauth.storage.sql.backend import SqlStorage
from support import LiveServer, make_settings, serve_in_thread, shared_data_root, wipe_postgres

if TYPE_CHECKING:
    from faceauth.vision.engine import FaceEngine

FACES_CSV = Path("faces") / "deepface_tests" / "images.csv"


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = shared_data_root()
    if not (root / FACES_CSV).is_file():
        pytest.skip(f"test photos not found: {root / FACES_CSV} (set FACEAUTH_TEST_DATA)")
    return root


@pytest.fixture(scope="session")
def photos_by_identity(data_root: Path) -> dict[str, list[Path]]:
    """Identity -> photo paths, from faces/deepface_tests/images.csv (``path,identity`` rows)."""
    csv_path = data_root / FACES_CSV
    photos: dict[str, list[Path]] = defaultdict(list)
    with csv_path.open(newline="") as file:
        for row in csv.DictReader(file):
            photos[row["identity"]].append(csv_path.parent / row["path"])
    return dict(photos)


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def settings_factory(tmp_path: Path) -> SettingsFactory:
    """Settings in a temporary data folder, with keyword overrides (``env="production"``...)."""
    return lambda **overrides: make_settings(tmp_path, **overrides)


@pytest.fixture
def settings(settings_factory: SettingsFactory) -> Settings:
    return settings_factory()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: SQLite in a temporary folder, or the PostgreSQL test database, wiped."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'faceauth.db'}"
        return
    url = os.environ.get("FACEAUTH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FACEAUTH_TEST_POSTGRES_URL is not set")
    wipe_postgres(url)
    yield url
    wipe_postgres(url)


@pytest.fixture
def storage(database_url: str) -> Iterator[SqlStorage]:
    """A migrated, empty database behind the storage interface."""
    store = SqlStorage.from_url(database_url)
    migrate.upgrade(store.engine)
    yield store
    store.close()


@pytest.fixture
def lockouts(storage: SqlStorage, settings: Settings) -> LockoutService:
    """Lock-outs kept in the test database (its abuse store), as the app builds them."""
    return LockoutService(SqlAbuseStore(storage.database), settings)


# --- a real server with the real vision engine, for the API tests --------------------------------


@pytest.fixture(scope="session")
def face_engine() -> FaceEngine:
    """The real vision models, loaded once per test session (the model cache in the default data
    folder is reused between runs)."""
    from faceauth.vision.engine import FaceEngine

    return FaceEngine.load(Settings())


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory, face_engine: FaceEngine) -> Iterator[LiveServer]:
    """uvicorn serving ``create_app`` on a free loopback port, in a thread of this process, with its
    own temporary data folder and SQLite database. Liveness is off: the API tests post plain bursts
    (tests/web/test_liveness_api.py covers challenges)."""
    from faceauth.composition import load_vision
    from faceauth.web.app import create_app

    settings = make_settings(tmp_path_factory.mktemp("server"), liveness_required=False)
    with serve_in_thread(create_app(settings, load_vision(settings, face_engine)), settings) as server:
        yield server
