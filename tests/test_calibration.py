"""Threshold recommendation, intervals and the impostor counts a FAR needs, on known scores."""

from __future__ import annotations

import numpy as np
import pytest

from faceauth import calibration


def test_a_far_needs_three_over_far_impostors() -> None:
    assert calibration.impostors_needed(1e-3) == 3000
    assert calibration.impostors_needed(0.01) == 300


def test_wilson_interval_matches_known_values() -> None:
    low, high = calibration.wilson_interval(5, 100)
    assert low == pytest.approx(0.02154, abs=1e-4)
    assert high == pytest.approx(0.11175, abs=1e-4)
    assert calibration.wilson_interval(0, 1000) == (0.0, pytest.approx(0.003826, abs=1e-5))


def test_threshold_for_far_lets_through_at_most_the_target_share() -> None:
    impostor = np.arange(1000, dtype=np.float64) / 1000  # 0.000 .. 0.999
    cut = calibration.threshold_for_far(impostor, 0.01)
    assert np.count_nonzero(impostor >= cut) == 10
    assert 0.989 < cut < 0.990


def test_recommendation_costs_the_threshold_in_false_rejects() -> None:
    impostor = np.linspace(-1, 0.5, 4000)
    genuine = np.array([0.3, 0.6, 0.7, 0.8, 0.9])
    recommendation = calibration.recommend_threshold(genuine, impostor, 1e-3)
    assert recommendation.supported and recommendation.rates is not None
    assert recommendation.rates.false_accepts <= 4
    assert recommendation.rates.false_rejects == 1  # 0.3 falls below a threshold near 0.5
    assert recommendation.rates.frr == pytest.approx(0.2)
    low, high = recommendation.rates.frr_interval
    assert low < 0.2 < high


def test_refused_genuine_bursts_count_as_false_rejects() -> None:
    rates = calibration.rates_at(np.array([0.9, 0.9]), np.array([0.1]), 0.5, rejected_genuine=2)
    assert (rates.false_rejects, rates.n_genuine, rates.frr) == (2, 4, 0.5)


def test_too_few_impostors_is_refused_with_the_count_needed() -> None:
    recommendation = calibration.recommend_threshold(np.ones(10), np.zeros(2999), 1e-3)
    assert not recommendation.supported
    assert recommendation.reason is not None and "3000" in recommendation.reason


def test_tar_at_an_unsupported_far_is_not_a_number() -> None:
    few = calibration.tar_at_far(np.ones(10), np.zeros(251), 1e-3)
    assert few == {"threshold": None, "tar": None, "impostors_needed": 3000}
    enough = calibration.tar_at_far(np.array([0.2, 0.9]), np.linspace(0, 0.5, 300), 1e-2)
    assert enough["tar"] == 0.5
