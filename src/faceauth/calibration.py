"""Thresholds from labelled scores, with the uncertainty the data leave: what a target false-accept
rate costs in false rejects, and whether there are enough impostor comparisons to say so at all.

A target FAR ``F`` needs at least ``3 / F`` impostor comparisons (the rule of three: if none of
3/F independent impostors is accepted, the true FAR is below F with 95 % confidence). Below that,
a threshold "at FAR F" rests on next to no observed impostor, and we say so instead of printing it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959964  # two-sided 95 % normal quantile


def impostors_needed(target_far: float) -> int:
    """Impostor comparisons needed to support a false-accept rate of ``target_far``."""
    return math.ceil(3.0 / target_far - 1e-9)


def wilson_interval(errors: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """95 % Wilson score interval of a rate observed as ``errors`` out of ``trials``."""
    if trials <= 0:
        return (0.0, 1.0)
    rate = errors / trials
    centre = (rate + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(rate * (1 - rate) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    low = 0.0 if errors == 0 else max(0.0, centre - half)
    high = 1.0 if errors == trials else min(1.0, centre + half)
    return (low, high)


def threshold_for_far(impostor: np.ndarray, target_far: float) -> float:
    """The lowest threshold (scores at or above it accepted) whose FAR on ``impostor`` is at most
    ``target_far``."""
    ordered = np.sort(np.asarray(impostor, dtype=np.float64))[::-1]
    if not len(ordered):
        raise ValueError("no impostor scores")
    allowed = math.floor(target_far * len(ordered) + 1e-9)
    if allowed >= len(ordered):
        return float(ordered[-1])
    return float(np.nextafter(ordered[allowed], np.inf))


@dataclass(frozen=True)
class Rates:
    """False-accept and false-reject rates at one threshold, with counts and 95 % intervals."""

    threshold: float
    far: float
    far_interval: tuple[float, float]
    false_accepts: int
    n_impostor: int
    frr: float
    frr_interval: tuple[float, float]
    false_rejects: int
    n_genuine: int

    def as_dict(self) -> dict[str, object]:
        return {
            "threshold": round(self.threshold, 4),
            "far": self.far,
            "far_95ci": [round(bound, 6) for bound in self.far_interval],
            "false_accepts": self.false_accepts,
            "n_impostor": self.n_impostor,
            "frr": self.frr,
            "frr_95ci": [round(bound, 6) for bound in self.frr_interval],
            "false_rejects": self.false_rejects,
            "n_genuine": self.n_genuine,
        }


def rates_at(genuine: np.ndarray, impostor: np.ndarray, threshold: float, rejected_genuine: int = 0) -> Rates:
    """Rates at ``threshold``. ``rejected_genuine``: genuine attempts refused before any score
    (e.g. too few usable frames); they are false rejects too."""
    false_accepts = int(np.count_nonzero(np.asarray(impostor) >= threshold))
    false_rejects = int(np.count_nonzero(np.asarray(genuine) < threshold)) + rejected_genuine
    n_impostor, n_genuine = len(impostor), len(genuine) + rejected_genuine
    return Rates(
        threshold=threshold,
        far=false_accepts / n_impostor if n_impostor else float("nan"),
        far_interval=wilson_interval(false_accepts, n_impostor),
        false_accepts=false_accepts,
        n_impostor=n_impostor,
        frr=false_rejects / n_genuine if n_genuine else float("nan"),
        frr_interval=wilson_interval(false_rejects, n_genuine),
        false_rejects=false_rejects,
        n_genuine=n_genuine,
    )


@dataclass(frozen=True)
class Recommendation:
    """What ``faceauth calibrate`` answers: a threshold and its cost, or why there is none."""

    target_far: float
    impostors_needed: int
    rates: Rates | None
    reason: str | None  # set when the data cannot support the target

    @property
    def supported(self) -> bool:
        return self.rates is not None


def recommend_threshold(
    genuine: np.ndarray, impostor: np.ndarray, target_far: float, rejected_genuine: int = 0
) -> Recommendation:
    """The lowest threshold meeting ``target_far`` on these impostors, with the FRR it costs; or a
    refusal when the impostor comparisons are too few to support the target, or there are no
    genuine comparisons to cost it on."""
    if not 0.0 < target_far < 1.0:
        raise ValueError("the target FAR must lie between 0 and 1")
    needed = impostors_needed(target_far)
    if len(impostor) < needed:
        return Recommendation(
            target_far,
            needed,
            None,
            f"{len(impostor)} impostor comparisons cannot support a FAR of {target_far:g}: it needs at"
            f" least {needed} (3 / FAR); add captures of more people or sessions, or aim at a FAR of"
            f" {3.0 / max(len(impostor), 1):.2g} or higher",
        )
    if not len(genuine) and not rejected_genuine:
        return Recommendation(target_far, needed, None, "no genuine comparisons: the FRR cannot be estimated")
    threshold = threshold_for_far(impostor, target_far)
    return Recommendation(target_far, needed, rates_at(genuine, impostor, threshold, rejected_genuine), None)


def tar_at_far(genuine: np.ndarray, impostor: np.ndarray, target_far: float) -> dict[str, object]:
    """``{"threshold", "tar", "impostors_needed"}``; threshold and tar are None ("n/a") when the
    impostor count cannot support ``target_far``."""
    needed = impostors_needed(target_far)
    if len(impostor) < needed or not len(genuine):
        return {"threshold": None, "tar": None, "impostors_needed": needed}
    threshold = threshold_for_far(impostor, target_far)
    tar = float(np.mean(np.asarray(genuine) >= threshold))
    return {"threshold": round(threshold, 4), "tar": round(tar, 5), "impostors_needed": needed}
