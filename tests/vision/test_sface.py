"""SFace embeddings: alignment onto the ArcFace template, and real photos of the same person scoring
above photos of different people."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from faceauth.domain import Embedding
from faceauth.vision import sface
from faceauth.vision.engine import FaceEngine
from faceauth.vision.recognition import Recognition

pytestmark = pytest.mark.e2e


def test_similarity_transform_recovers_a_known_rotation_scale_and_shift() -> None:
    angle, scale, shift = np.deg2rad(20), 1.7, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    source = np.random.default_rng(1).uniform(0, 100, (5, 2))
    target = source @ (scale * rotation).T + shift
    matrix = sface.similarity_transform(source, target)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)


def test_collapsed_landmarks_are_refused() -> None:
    with pytest.raises(ValueError):
        sface.similarity_transform(np.ones((5, 2)), sface.ARCFACE_TEMPLATE)


@pytest.fixture(scope="module")
def embed_sface(face_engine: FaceEngine) -> Callable[[Path], Embedding]:
    recognition = Recognition(face_engine)
    return lambda path: recognition.embed_still(path.read_bytes())["sface"]


def test_same_person_scores_above_different_people(
    photos_by_identity: dict[str, list[Path]], embed_sface: Callable[[Path], Embedding]
) -> None:
    people = sorted(identity for identity, photos in photos_by_identity.items() if len(photos) >= 2)[:3]
    vectors = {
        identity: [embed_sface(path) for path in photos_by_identity[identity][:2]] for identity in people
    }
    for vector in (v for pair in vectors.values() for v in pair):
        assert vector.shape == (sface.DIM,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    genuine = [float(a @ b) for a, b in vectors.values()]
    impostor = [float(vectors[p][0] @ vectors[q][0]) for p in people for q in people if p < q]
    assert min(genuine) > max(impostor), (genuine, impostor)
