"""Vision fixtures: the real engine, shared with the rest of the suite (tests/conftest.py)."""

from __future__ import annotations

import pytest

from faceauth.vision.engine import FaceEngine


@pytest.fixture(scope="session")
def engine(face_engine: FaceEngine) -> FaceEngine:
    return face_engine
