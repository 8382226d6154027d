"""Vision fixtures: the real engine, loaded once for the whole run."""

from __future__ import annotations

import pytest

from faceauth.config import Settings
from faceauth.vision.engine import FaceEngine


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> FaceEngine:
    return FaceEngine.load(Settings(data_dir=tmp_path_factory.mktemp("vision-data")))
