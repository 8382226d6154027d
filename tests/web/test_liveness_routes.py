"""The liveness routes' HTTP rules (``web/api/liveness.py``, ``web/face_input.py``), in-process with
the stand-in engine (fast: no model): malformed challenge requests get a clear 4xx before any model
would run. Challenges with real frames go end to end in test_liveness_api.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from faceauth.composition import VisionModels
from faceauth.config import Settings
from faceauth.web.app import create_app
from support import StandInEngine
from support.api import bearer, login, register


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, VisionModels(StandInEngine(), liveness=None))  # type: ignore[arg-type]
    with TestClient(app, client=("127.0.0.1", 50_000)) as test_client:
        yield test_client


def test_malformed_challenge_requests(client: TestClient) -> None:
    token = login(client, register(client, "malformed"))["access_token"]
    unknown_purpose = client.post(
        "/api/v1/liveness/challenges", json={"purpose": "lunch"}, headers=bearer(token)
    )
    assert unknown_purpose.status_code == 422
    assert client.post("/api/v1/liveness/challenges", json={}).status_code == 401
    not_a_string = client.post("/api/v1/face/verify", json={"challenge_id": 12}, headers=bearer(token))
    assert not_a_string.status_code == 422
    both = client.post("/api/v1/face/verify", json={"challenge_id": "x", "frames": []}, headers=bearer(token))
    assert both.status_code == 422
