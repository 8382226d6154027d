"""The real app with a stand-in for the vision engine (no models), and the page helpers, for the tests
of the pages and of the operator endpoints.

The stand-in reads each frame's bytes: ``face-a`` and ``face-b`` are two different people, anything
else is a frame without a face."""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence

import numpy as np
from fastapi.testclient import TestClient

from faceauth.composition import VisionModels
from faceauth.config import Settings
from faceauth.domain import BurstEmbeddings, FrameRejection, RejectReason
from faceauth.web.app import create_app

PASSWORD = "correct horse battery staple"
ALICE = {
    "name": "Alice Example",
    "username": "alice",
    "email": "alice@example.com",
    "phone": "+44 20 7946 0958",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
}


def unit_vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return vector / np.linalg.norm(vector)


PEOPLE = {b"face-a": unit_vector(1), b"face-b": unit_vector(2)}


class StandInEngine:
    """Frames whose bytes name a person embed as that person; others have no face."""

    def embed_burst(self, frames: Sequence[bytes]) -> BurstEmbeddings:
        embeddings, accepted, rejected = [], [], []
        for index, frame in enumerate(frames):
            if frame in PEOPLE:
                embeddings.append(PEOPLE[frame])
                accepted.append(index)
            else:
                rejected.append(FrameRejection(index, RejectReason.NO_FACE))
        return BurstEmbeddings(tuple(embeddings), tuple(accepted), tuple(rejected))


def frames(*contents: bytes) -> dict[str, list[str]]:
    return {"frames": ["data:image/jpeg;base64," + base64.b64encode(c).decode() for c in contents]}


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "the page has no CSRF meta tag"
    return match.group(1)


def page_csrf(client: TestClient, path: str = "/login") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return csrf_of(response.text)


def register(client: TestClient, **overrides: str) -> None:
    data = {**ALICE, "csrf_token": page_csrf(client, "/register"), **overrides}
    response = client.post("/register", data=data)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/login?notice=registered"


def stand_in_client(settings: Settings) -> TestClient:
    """The app over ``settings`` with the stand-in engine and no liveness (enter it with ``with``)."""
    return TestClient(
        create_app(settings, VisionModels(StandInEngine(), liveness=None)), follow_redirects=False
    )
