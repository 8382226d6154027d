"""Which model set to serve, from the calibration data only: per configuration (SFace, FaceNet, the
equal-weight fusion and fusions with other weights on a grid), the share of the calibration genuine
pairs (deepface_tests, face_recognition_examples, lfw_small_bin) accepted at the thresholds where
LFW's impostor pairs give FAR 1e-3, 1e-4 and 1e-5, with 95 % Wilson intervals.

    python bench/recognition.py weights

The weights served (``vision.fusion.WEIGHTS``) are Fisher's linear discriminant of the two models'
impostor z-scores: the direction that best separates the calibration genuine pairs from LFW's impostor
pairs (pooled covariance of both classes), scaled to sum to one (:func:`fisher_weights`). The grid's
figures are fitted on the same 268 genuine pairs, so they are optimistic; they show how flat the
choice is, not a held-out measurement."""

from __future__ import annotations

import numpy as np

from faceauth import calibration
from faceauth.vision import fusion

FARS = (1e-3, 1e-4, 1e-5)
MODELS = ("facenet", "sface")
SFACE_WEIGHTS = tuple(round(w, 2) for w in np.arange(0.0, 1.0001, 0.1))


def weighted(cosines: dict[str, np.ndarray], sface_weight: float) -> np.ndarray:
    """Fused score with weight ``sface_weight`` on SFace's z-score and the rest on FaceNet's."""
    z = {m: (cosines[m] - fusion.IMPOSTOR_NORMS[m].mean) / fusion.IMPOSTOR_NORMS[m].std for m in cosines}
    return np.asarray(sface_weight * z["sface"] + (1.0 - sface_weight) * z["facenet"])


def accepted(genuine: np.ndarray, impostor: np.ndarray, far: float) -> dict[str, object]:
    cut = calibration.threshold_for_far(impostor, far)
    rates = calibration.rates_at(genuine, impostor, cut)
    tar_low, tar_high = 1.0 - rates.frr_interval[1], 1.0 - rates.frr_interval[0]
    return {
        "threshold": round(cut, 4),
        "tar": round(1.0 - rates.frr, 4),
        "tar_95ci": [round(tar_low, 3), round(tar_high, 3)],
    }


def fisher_weights(genuine: dict[str, np.ndarray], impostor: dict[str, np.ndarray]) -> dict[str, float]:
    """Fisher's discriminant on the (FaceNet, SFace) z-scores, scaled so the weights sum to one."""

    def z(cosines: dict[str, np.ndarray]) -> np.ndarray:
        return np.stack(
            [(cosines[m] - fusion.IMPOSTOR_NORMS[m].mean) / fusion.IMPOSTOR_NORMS[m].std for m in MODELS], 1
        )

    zg, zi = z(genuine), z(impostor)
    pooled = 0.5 * (np.cov(zg.T) + np.cov(zi.T))
    direction = np.linalg.solve(pooled, zg.mean(axis=0) - zi.mean(axis=0))
    direction = direction / direction.sum()
    return {model: round(float(weight), 2) for model, weight in zip(MODELS, direction, strict=True)}


def compare_weights(genuine: dict[str, np.ndarray], impostor: dict[str, np.ndarray]) -> dict[str, object]:
    fitted = fisher_weights(genuine, impostor)
    result: dict[str, object] = {
        "n_genuine": len(genuine["sface"]),
        "n_impostor": len(impostor["sface"]),
        "fisher_weights": fitted,
    }
    for sface_weight in (*SFACE_WEIGHTS, fitted["sface"]):
        g, i = weighted(genuine, sface_weight), weighted(impostor, sface_weight)
        name = {0.0: "facenet", 1.0: "sface", 0.5: "fused (equal weights)"}.get(
            sface_weight, f"fused w_sface={sface_weight}"
        )
        result[name] = {f"far_{far:g}": accepted(g, i, far) for far in FARS}
    return result
