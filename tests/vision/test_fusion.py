"""Score fusion and the shared match decision, on known embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceauth.config import Settings
from faceauth.vision import fusion


def unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_one_model_scores_by_its_cosine() -> None:
    decision = fusion.decide({"facenet": unit(1, 0)}, {"facenet": unit(1, 1)}, ["facenet"], 0.7)
    assert decision.score == pytest.approx(np.sqrt(0.5), abs=1e-6)
    assert decision.match  # 0.7071 >= 0.7
    assert decision.cosines == {"facenet": pytest.approx(np.sqrt(0.5), abs=1e-6)}


def test_several_models_score_by_their_weighted_impostor_z_scores() -> None:
    cosines = {"facenet": 0.6, "sface": 0.5}
    expected = sum(
        fusion.WEIGHTS[m] * (cosines[m] - fusion.IMPOSTOR_NORMS[m].mean) / fusion.IMPOSTOR_NORMS[m].std
        for m in cosines
    ) / sum(fusion.WEIGHTS[m] for m in cosines)
    assert float(fusion.fuse(cosines, ["facenet", "sface"])) == pytest.approx(expected)
    arrays = {"facenet": np.array([0.6, 0.1]), "sface": np.array([0.5, 0.0])}
    assert fusion.fuse(arrays, ["facenet", "sface"])[0] == pytest.approx(expected)


def test_a_typical_stranger_scores_zero_under_fusion() -> None:
    means = {m: fusion.IMPOSTOR_NORMS[m].mean for m in ("facenet", "sface")}
    assert float(fusion.fuse(means, ["facenet", "sface"])) == pytest.approx(0.0, abs=1e-12)


def test_a_model_missing_from_the_template_is_an_error_not_a_pass() -> None:
    with pytest.raises(ValueError, match="sface"):
        fusion.decide(
            {"facenet": unit(1, 0), "sface": unit(1, 0)}, {"facenet": unit(1, 0)}, ["facenet", "sface"], 0
        )


def test_the_operator_threshold_applies_to_the_served_models_only(tmp_path: Path) -> None:
    served = Settings(data_dir=tmp_path, recognition_models=("sface", "facenet"))
    assert fusion.served_threshold(served) == fusion.calibrated_threshold(["facenet", "sface"])
    tuned = Settings(data_dir=tmp_path, recognition_models=("sface", "facenet"), match_threshold=4.5)
    assert fusion.served_threshold(tuned) == 4.5  # a fused z-score under fusion
    assert fusion.served_threshold(tuned, ["facenet", "sface"]) == 4.5  # order does not matter
    assert fusion.served_threshold(tuned, ["facenet"]) == 0.705  # an old FaceNet template keeps its own


def test_an_upgrade_needs_more_than_a_match() -> None:
    for models in (["facenet"], ["sface"], ["facenet", "sface"]):
        assert fusion.upgrade_threshold(models) > fusion.calibrated_threshold(models)
