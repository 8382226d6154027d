"""Passive presentation-attack signals: cheap cues computed per frame and judged over a stream."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from faceauth.domain import Face
from faceauth.vision.landmarks import FacePose

# Face-mesh landmarks whose motion the passive motion signal follows: nose tip and bridge, eye
# corners and eyelids, mouth corners and lips, chin, cheeks, forehead, jaw. Spread in depth, so a
# real head's 3-D motion moves them non-rigidly, while a flat picture moves them by a plane's motion.
MOTION_POINTS: tuple[int, ...] = (
    1, 4, 6, 168, 33, 133, 159, 145, 362, 263, 386, 374, 61, 291, 13, 14,
    152, 10, 234, 454, 50, 280, 172, 397, 109, 338,
)  # fmt: skip
EYE_OUTER = (33, 263)


@dataclass(frozen=True)
class PassiveEvidence:
    """One passive signal's verdict on a whole challenge stream. ``score``: the signal's own measure
    (documented per signal); ``spoof``: whether it says this looks like an attack."""

    name: str
    score: float
    spoof: bool
    detail: str = ""


class PassiveSignal(Protocol):
    """A cheap presentation-attack cue. ``frame_feature`` runs on every frame as it arrives (its
    result is kept with the observation, so the signal never needs the images again); ``evaluate``
    judges the features of a whole stream. A learned passive model fits the same interface
    (per-frame spoof probability, then e.g. the mean)."""

    @property
    def name(self) -> str: ...

    def frame_feature(self, rgb: np.ndarray, face: Face, pose: FacePose | None) -> list[float]: ...

    # A signal may also say ``every_frame = False``: its feature is then computed only on the frames
    # the face detector runs on (a sample of the stream; see the analyzer), not on every tracked frame.

    def evaluate(self, features: Sequence[list[float]]) -> PassiveEvidence: ...


@dataclass(frozen=True)
class MotionSignal:
    """Non-rigid motion of the face: the largest residual, over the stream, of an affine fit between
    the landmarks of a frame and those of the first frame, in units of the outer-eye-corner distance.

    A flat picture (printed, or on a screen), however it is moved, tilted or held still, moves its
    landmarks by (nearly) a plane's motion, which an affine map absorbs: residual about 0.01-0.03.
    A real head turning or blinking moves nose, cheeks and eyelids differently: residual well above.
    ``min_residual``: below it, the stream is called a spoof ("no motion at all" is the extreme case)."""

    name: str = "motion"
    min_residual: float = 0.04
    every_frame: bool = True  # on every frame the face mesh measures (it costs nothing more)

    def frame_feature(self, rgb: np.ndarray, face: Face, pose: FacePose | None) -> list[float]:
        if pose is None or pose.landmarks is None:
            return []
        points = pose.landmarks[list(MOTION_POINTS), :2].astype(np.float64)
        return [round(float(v), 2) for v in points.reshape(-1)]

    def evaluate(self, features: Sequence[list[float]]) -> PassiveEvidence:
        clouds = [
            np.asarray(f, np.float64).reshape(-1, 2) for f in features if len(f) == 2 * len(MOTION_POINTS)
        ]
        if len(clouds) < 2:
            return PassiveEvidence(self.name, 0.0, True, "fewer than two frames with landmarks")
        reference = clouds[0]
        eye_a, eye_b = MOTION_POINTS.index(EYE_OUTER[0]), MOTION_POINTS.index(EYE_OUTER[1])
        scale = float(np.linalg.norm(reference[eye_a] - reference[eye_b])) or 1.0
        design = np.hstack([reference, np.ones((len(reference), 1))])
        residual = 0.0
        for cloud in clouds[1:]:
            solution, *_ = np.linalg.lstsq(design, cloud, rcond=None)
            error = np.linalg.norm(design @ solution - cloud, axis=1)
            residual = max(residual, float(np.percentile(error, 90)) / scale)
        return PassiveEvidence(
            self.name,
            round(residual, 4),
            residual < self.min_residual,
            f"non-rigid landmark motion {residual:.3f} eye widths (spoof below {self.min_residual})",
        )


@dataclass(frozen=True)
class ScreenSignal:
    """Screen or paper cues around the face: long straight edges close to the face (the border of a
    phone, a monitor or a print held up to the camera) and periodic high-frequency peaks in the face
    crop (moiré of a screen's pixel grid re-photographed).

    Per frame: [number of sides (0-4) of the face's neighbourhood with a long straight edge, moiré
    peak ratio]. Over the stream: the median of each. Called a spoof when the median sees edges on at
    least ``min_sides`` sides or the moiré ratio exceeds ``max_moire``."""

    name: str = "screen"
    min_sides: float = 3.0
    max_moire: float = 40.0
    # Measured on the frames the detector runs on (a sample of the stream), not on every tracked frame:
    # a median over a sample, for a cue that is reported, not blocking (7 ms a frame saved).
    every_frame: bool = False

    def frame_feature(self, rgb: np.ndarray, face: Face, pose: FacePose | None) -> list[float]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return [float(self._border_sides(grey, face)), round(self._moire_ratio(grey, face), 2)]

    @staticmethod
    def _border_sides(grey: np.ndarray, face: Face) -> int:
        x1, y1, x2, y2 = face.box
        fw, fh = x2 - x1, y2 - y1
        edges = cv2.Canny(cv2.GaussianBlur(grey, (5, 5), 0), 50, 150)
        lines = cv2.HoughLinesP(
            edges, 1, np.pi / 180, threshold=60, minLineLength=int(0.8 * max(fw, fh)), maxLineGap=8
        )
        if lines is None:
            return 0
        sides: set[str] = set()
        for line in np.asarray(lines).reshape(-1, 4):
            ax, ay, bx, by = (float(v) for v in line)
            horizontal = abs(by - ay) <= 0.15 * abs(bx - ax)
            vertical = abs(bx - ax) <= 0.15 * abs(by - ay)
            mx, my = (ax + bx) / 2, (ay + by) / 2
            if horizontal and x1 - fw < mx < x2 + fw:
                if y2 < my < y2 + 1.5 * fh:
                    sides.add("bottom")
                elif y1 - 1.0 * fh < my < y1:
                    sides.add("top")
            elif vertical and y1 - fh < my < y2 + fh:
                if x2 < mx < x2 + 1.2 * fw:
                    sides.add("right")
                elif x1 - 1.2 * fw < mx < x1:
                    sides.add("left")
        return len(sides)

    @staticmethod
    def _moire_ratio(grey: np.ndarray, face: Face) -> float:
        x1, y1, x2, y2 = (round(v) for v in face.box)
        crop = grey[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)]
        if crop.size < 32 * 32:
            return 0.0
        patch = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32)
        patch -= patch.mean()
        spectrum = np.abs(np.fft.fftshift(np.fft.fft2(patch * np.outer(np.hanning(128), np.hanning(128)))))
        yy, xx = np.mgrid[-64:64, -64:64]
        radius = np.hypot(xx, yy)
        band = spectrum[(radius > 20) & (radius < 62)]
        median = float(np.median(band)) or 1e-6
        return float(band.max() / median)

    def evaluate(self, features: Sequence[list[float]]) -> PassiveEvidence:
        rows = [f for f in features if len(f) == 2]
        if not rows:
            return PassiveEvidence(self.name, 0.0, False, "no frame measured")
        sides = float(np.median([r[0] for r in rows]))
        moire = float(np.median([r[1] for r in rows]))
        spoof = sides >= self.min_sides or moire > self.max_moire
        return PassiveEvidence(
            self.name,
            round(max(sides / 4.0, moire / (2 * self.max_moire)), 3),
            spoof,
            f"straight edges around the face on {sides:g} side(s); moire peak ratio {moire:.1f}",
        )


def default_signals() -> list[PassiveSignal]:
    return [MotionSignal(), ScreenSignal()]
