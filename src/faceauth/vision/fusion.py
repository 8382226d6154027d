"""Scores of one or several face models, and the match decision built on them.

A login is judged by the models the template was made with (each template records them). With one
model the score is that model's cosine similarity, as before. With several, each model's cosine is
z-normalised with the mean and standard deviation of that model's *impostor* scores, and the fused
score is the weighted mean of the z-scores: "how many impostor standard deviations above a typical
stranger", comparable across models whose raw cosines live on different scales.

The constants below were fitted on calibration data only (never on the data we report on); how,
exactly, is said beside each, and ``bench/recognition.py fit`` recomputes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from faceauth.config import Settings
from faceauth.domain import Embedding


@dataclass(frozen=True)
class ScoreNorm:
    """Impostor-score statistics of one model: z = (cosine - mean) / std."""

    mean: float
    std: float


# Mean and standard deviation of the cosine scores of all 8,613,825 different-person pairs of
# faces/lfw_5590_subset (4,151 LFW identities, one 80 x 80 crop each; every image found by the
# stills detector), embedded as `faceauth eval` embeds photos. `bench/recognition.py fit`.
IMPOSTOR_NORMS: dict[str, ScoreNorm] = {
    "facenet": ScoreNorm(mean=0.2190, std=0.1325),
    "sface": ScoreNorm(mean=0.0860, std=0.0947),
}

# Fusion weights: Fisher's linear discriminant of the two z-scores, fitted on calibration data only
# (the 268 same-person pairs of deepface_tests, face_recognition_examples and lfw_small_bin against
# LFW's impostor pairs, pooled covariance), scaled to sum to one and rounded to two decimals
# (`bench/recognition.py weights`). Equal weights accepted fewer calibration pairs at LFW FAR 1e-4
# and 1e-5 (0.978 and 0.944 against 0.996 and 0.966); the two models' impostor z-scores correlate
# 0.31, their genuine ones 0.82, so SFace carries most of the weight.
WEIGHTS: dict[str, float] = {"facenet": 0.18, "sface": 0.82}


def fuse(cosines: Mapping[str, np.ndarray | float], models: Sequence[str]) -> np.ndarray:
    """The score of ``models`` from their cosine similarities (arrays of equal shape, or floats).

    One model: its cosine. Several: the weighted mean of their impostor z-scores."""
    if not models:
        raise ValueError("no models to score")
    if len(models) == 1:
        return np.asarray(cosines[models[0]], dtype=np.float64)
    total = sum(WEIGHTS[model] for model in models)
    fused = np.zeros(np.shape(cosines[models[0]]), dtype=np.float64)
    for model in models:
        norm = IMPOSTOR_NORMS[model]
        fused += WEIGHTS[model] * (np.asarray(cosines[model], dtype=np.float64) - norm.mean) / norm.std
    return fused / total


@dataclass(frozen=True)
class Decision:
    """The outcome of comparing a probe with a template: the score the threshold applies to, and
    each model's cosine (for the audit log and ``faceauth compare``, never for the client)."""

    score: float
    threshold: float
    models: tuple[str, ...]
    cosines: dict[str, float]

    @property
    def match(self) -> bool:
        return self.score >= self.threshold


def decide(
    probe: Mapping[str, Embedding], template: Mapping[str, Embedding], models: Sequence[str], threshold: float
) -> Decision:
    """Compare a probe with a template by ``models`` (each must be in both): the one decision
    ``/face/verify``, ``faceauth compare`` and ``faceauth eval`` share."""
    missing = [model for model in models if model not in probe or model not in template]
    if missing:
        raise ValueError(f"no embedding of model(s) {missing} to compare")
    cosines = {
        model: float(np.dot(probe[model].astype(np.float64), template[model].astype(np.float64)))
        for model in models
    }
    return Decision(float(fuse(cosines, models)), threshold, tuple(models), cosines)


# The threshold each model combination is judged by unless FACEAUTH_MATCH_THRESHOLD is set for the
# served one: the lowest score at which at most 1e-5 of the 8,613,325 LFW impostor pairs above score
# as high (`bench/recognition.py fit`; at that point the 268 genuine calibration pairs of
# deepface_tests, face_recognition_examples and lfw_small_bin are accepted at 0.963 by SFace and 0.966
# fused). FaceNet alone keeps its earlier threshold (LFW FAR 1e-4: 0.705; 0.7007 in this run), so
# templates enrolled before SFace are judged as they were.
CALIBRATED_THRESHOLDS: dict[tuple[str, ...], float] = {
    ("facenet",): 0.705,
    ("sface",): 0.4965,
    ("facenet", "sface"): 3.9683,
}


def calibrated_threshold(models: Sequence[str]) -> float:
    try:
        return CALIBRATED_THRESHOLDS[tuple(sorted(models))]
    except KeyError:
        raise ValueError(f"no calibrated threshold for the models {list(models)}") from None


def served_threshold(settings: Settings, models: Sequence[str] | None = None) -> float:
    """The threshold for a comparison by ``models`` (default: the served ones): the operator's
    ``FACEAUTH_MATCH_THRESHOLD`` when set and these are the served models (under fusion it applies to
    the fused score), else the calibrated one."""
    chosen = tuple(models) if models is not None else settings.recognition_models
    served = sorted(chosen) == sorted(settings.recognition_models)
    if served and settings.match_threshold is not None:
        return settings.match_threshold
    return calibrated_threshold(chosen)


# The score a login must reach for its frames to replace a template of other models than the served
# ones (an upgrade): the lowest score at which at most 1e-6 of the 8,613,325 LFW impostor pairs score
# as high, i.e. ten times stricter than the calibrated thresholds above, so that only a clear match
# teaches a template (`bench/recognition.py fit`, "far_1e-6"; LFW impostors only, like the thresholds).
UPGRADE_THRESHOLDS: dict[tuple[str, ...], float] = {
    ("facenet",): 0.8500,
    ("sface",): 0.6498,
    ("facenet", "sface"): 5.5299,
}


def upgrade_threshold(models: Sequence[str]) -> float:
    try:
        return UPGRADE_THRESHOLDS[tuple(sorted(models))]
    except KeyError:
        raise ValueError(f"no upgrade threshold for the models {list(models)}") from None
