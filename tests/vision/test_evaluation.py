from __future__ import annotations

import numpy as np
import pytest

from faceauth import evaluation
from faceauth.evaluation import EmbeddedSet
from faceauth.vision.embedding import l2_normalise


def test_auc_of_separated_and_identical_scores() -> None:
    assert evaluation.roc_auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert evaluation.roc_auc(np.array([0.5]), np.array([0.5])) == 0.5
    assert evaluation.roc_auc(np.array([0.1]), np.array([0.9])) == 0.0


def test_threshold_for_far_never_exceeds_the_target() -> None:
    impostor = np.random.default_rng(0).normal(0, 0.1, 100_000).astype(np.float32)
    for target in (0.01, 0.001, 0.0001):
        cut = evaluation.threshold_for_far(impostor, target)
        _, far = evaluation.rates_at(np.array([1.0]), impostor, cut)
        assert far <= target
        assert far > target / 3  # and is not needlessly strict


def test_equal_error_rate_where_the_curves_cross() -> None:
    genuine = np.linspace(0.4, 1.0, 1000)
    impostor = np.linspace(-0.2, 0.6, 1000)
    eer, threshold = evaluation.equal_error_rate(genuine, impostor)
    assert eer == pytest.approx(0.6 / 4.2, abs=0.005)  # FRR (t-0.4)/0.6 = FAR (0.6-t)/0.8
    assert threshold == pytest.approx(0.68 / 1.4, abs=0.005)


def test_pair_scores_count_every_pair_once() -> None:
    rng = np.random.default_rng(1)
    embedded = EmbeddedSet(
        embeddings=[l2_normalise(rng.standard_normal(512)) for _ in range(7)],
        identities=["a", "a", "a", "b", "b", "c", "d"],
    )
    scores = evaluation.pair_scores(embedded, block=3)
    assert len(scores.genuine) == 3 + 1
    assert len(scores.impostor) == 21 - 4
    sampled = evaluation.pair_scores(embedded, max_impostor_pairs=5)
    assert len(sampled.impostor) == 5


def test_report_has_the_contract_fields() -> None:
    rng = np.random.default_rng(2)
    embedded = EmbeddedSet(seconds=1.0)
    scores = evaluation.PairScores(rng.normal(0.8, 0.05, 200), rng.normal(0.0, 0.1, 20_000))
    report = evaluation.summarise(embedded, scores, threshold=0.5, n_images=10)
    for key in (
        "n_images",
        "n_failed",
        "n_genuine",
        "n_impostor",
        "auc",
        "eer",
        "tar_at_far",
        "ms_per_image",
    ):
        assert key in report
    assert set(report["tar_at_far"]) == {"0.01", "0.001", "0.0001"}  # type: ignore[arg-type]
    assert set(report["at_threshold"]) == {"threshold", "tar", "far"}  # type: ignore[arg-type]
    assert report["ms_per_image"] == 100.0
