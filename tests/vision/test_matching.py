from __future__ import annotations

import numpy as np
import pytest

from faceauth.domain import InconsistentEnrollment, RejectReason
from faceauth.vision.embedding import l2_normalise, prewhiten
from faceauth.vision.matching import build_template, cosine_similarity, mean_embedding


def unit_vectors(count: int, seed: int, around: np.ndarray | None = None, spread: float = 0.3) -> list:
    rng = np.random.default_rng(seed)
    centre = around if around is not None else l2_normalise(rng.standard_normal(512))
    return [l2_normalise(centre + spread * rng.standard_normal(512) / np.sqrt(512)) for _ in range(count)]


def test_mean_embedding_is_renormalised() -> None:
    vectors = unit_vectors(5, seed=1)
    mean = mean_embedding(vectors)
    assert np.linalg.norm(mean) == pytest.approx(1.0, abs=1e-6)
    assert all(cosine_similarity(mean, vector) > 0.9 for vector in vectors)


def test_cosine_similarity_bounds() -> None:
    (vector,) = unit_vectors(1, seed=2)
    assert cosine_similarity(vector, vector) == pytest.approx(1.0, abs=1e-6)
    assert cosine_similarity(vector, -vector) == pytest.approx(-1.0, abs=1e-6)


def test_template_of_one_person_is_their_mean() -> None:
    vectors = unit_vectors(8, seed=3)
    np.testing.assert_allclose(build_template(vectors, 0.5), mean_embedding(vectors), atol=1e-6)


def test_a_second_person_in_the_burst_is_refused_by_frame_index() -> None:
    person = unit_vectors(6, seed=4)
    intruder = unit_vectors(1, seed=5)
    with pytest.raises(InconsistentEnrollment) as error:
        build_template([*person[:3], intruder[0], *person[3:]], 0.5, frame_indices=[0, 1, 2, 5, 6, 7, 8])
    assert [(r.index, r.reason) for r in error.value.rejected] == [(5, RejectReason.NOT_SAME_PERSON)]


def test_prewhiten_standardises_and_survives_flat_images() -> None:
    face = np.random.default_rng(6).integers(0, 255, (160, 160, 3)).astype(np.uint8)
    white = prewhiten(face)
    assert white.mean() == pytest.approx(0.0, abs=1e-4) and white.std() == pytest.approx(1.0, abs=1e-3)
    assert np.isfinite(prewhiten(np.full((160, 160, 3), 7, np.uint8))).all()
