"""The screen as a light source: does the light reflected by the face follow a random colour sequence
that the page showed full-screen, and does it fall on the face as light from a near screen falls on a
3-D face?

A challenge carries a short random schedule of saturated screen colours (``LightStep``: a colour held
for a number of frames). While the page shows them, the face, a few tens of centimetres from the screen,
reflects a little of each colour; the wall behind, metres away, hardly any. Per frame the server keeps
only a few mean colours (``LightSample``: five face regions and the background, linear RGB, no image and
nothing that identifies the person), and ``judge_screen_light`` decides on the whole stream:

1. ``response``: the chroma of the face, relative to the background's chroma (which cancels the camera's
   exposure and white-balance gains, common to both), moves with the screen's chroma by at least
   ``min_response`` (log units per unit of screen colour: 0.01 is a 1 % change);
2. ``correlation``: that movement follows the schedule in time (Pearson correlation of the observed and
   the expected chroma over the settled frames of every step) by at least ``min_correlation``;
3. ``falloff``: it is stronger on the inner cheeks (below the eyes, facing the screen) than on the outer
   cheeks (near the face's sides, turned away from it): ``1 - outer / inner`` at least ``min_falloff``.
   (Not the nose: its flanks face sideways as much as the outer cheeks do.) A tint painted
   uniformly over the face region gives 0; an alpha-blended or added tint gives a negative falloff
   (darker regions change more, relatively); a lit convex face gives a positive one.

What a screen adds, from physics: a laptop screen (about 0.1 m2 at 200-300 cd/m2) lights a face 40-60 cm
away with roughly 50-150 lux when white, a saturated primary with a fifth to a half of that in its own
channel, against 200-500 lux of room light: 2-20 % in that channel. The defaults ask for a tenth to a
half of that. They are set from this reasoning, not fitted to recordings: no video of a real face lit by
a screen exists here, so the rate at which real people fail (BPCER) is not measured; the falloff check
in particular depends on the room light (light from the front flattens it) and should run in report-only
mode until a real-person study says how often real faces fall below it.

An attacker who knows the schedule (the page must show it, so the client learns it) can render the
light onto a photo; doing it right needs the face's 3-D shape (a depth map and a shading model), which
raises the cost of an animated photo, but does not make it impossible."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from faceauth.domain import Face

Rgb = tuple[float, float, float]

# sRGB (8-bit, as cameras and JPEG deliver it) to linear light, per value.
_SRGB = np.arange(256, dtype=np.float64) / 255.0
SRGB_TO_LINEAR = np.where(_SRGB <= 0.04045, _SRGB / 12.92, ((_SRGB + 0.055) / 1.055) ** 2.4)

LOG_FLOOR = 1e-4  # linear light below this is treated as this (black pixels)


@dataclass(frozen=True)
class LightStep:
    """One step of the schedule: the screen shows ``colour`` (linear RGB, 0-1 per channel) for ``frames``
    consecutive frames of the stream."""

    colour: Rgb
    frames: int


PALETTE: dict[str, Rgb] = {
    "red": (1.0, 0.0, 0.0),
    "green": (0.0, 1.0, 0.0),
    "blue": (0.0, 0.0, 1.0),
    "yellow": (1.0, 1.0, 0.0),
    "cyan": (0.0, 1.0, 1.0),
    "magenta": (1.0, 0.0, 1.0),
}


@dataclass(frozen=True)
class LightSample:
    """What one frame shows of the light: mean linear RGB of five face regions and of the background.
    Regions: the nose ridge (centre; kept for a finer shading model), each inner cheek (below the eye),
    each outer cheek (near the face's side). ``background``: the frame's side strips beside the face;
    None when the face fills the frame."""

    centre: Rgb
    inner: tuple[Rgb, Rgb]
    outer: tuple[Rgb, Rgb]
    background: Rgb | None

    def to_list(self) -> list[float]:
        values = [*self.centre, *self.inner[0], *self.inner[1], *self.outer[0], *self.outer[1]]
        return [round(v, 6) for v in values + list(self.background or (-1.0, -1.0, -1.0))]

    @classmethod
    def from_list(cls, values: Sequence[float]) -> LightSample:
        if len(values) != 18:
            raise ValueError("a light sample has 18 values")
        rgb = [tuple(float(v) for v in values[i : i + 3]) for i in range(0, 18, 3)]
        background = None if rgb[5][0] < 0 else rgb[5]
        return cls(rgb[0], (rgb[1], rgb[2]), (rgb[3], rgb[4]), background)  # type: ignore[arg-type]


def _mean_linear(rgb: np.ndarray, x1: float, y1: float, x2: float, y2: float) -> Rgb | None:
    h, w = rgb.shape[:2]
    left, right = int(max(0, round(x1))), int(min(w, round(x2)))
    top, bottom = int(max(0, round(y1))), int(min(h, round(y2)))
    if right - left < 2 or bottom - top < 2:
        return None
    patch = SRGB_TO_LINEAR[rgb[top:bottom, left:right]].reshape(-1, 3).mean(axis=0)
    return float(patch[0]), float(patch[1]), float(patch[2])


def light_sample(rgb: np.ndarray, face: Face) -> LightSample | None:
    """The regions of ``face`` (an MTCNN detection: box and 5 points) in ``rgb`` (uint8 RGB), or None
    when a face region falls outside the frame."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected uint8 HxWx3 RGB, got {rgb.dtype} {rgb.shape}")
    (lx, ly), (rx, ry), (nx, ny), _, _ = face.landmarks
    iod = float(np.hypot(rx - lx, ry - ly))
    if iod < 4:
        return None
    eye_y = (ly + ry) / 2
    x1, y1, x2, y2 = face.box
    width = x2 - x1
    cheek_top, cheek_bottom = ny - 0.15 * iod, ny + 0.2 * iod
    centre = _mean_linear(rgb, nx - 0.1 * iod, eye_y + 0.2 * iod, nx + 0.1 * iod, ny - 0.05 * iod)
    inner_left = _mean_linear(rgb, lx - 0.12 * iod, cheek_top, lx + 0.12 * iod, cheek_bottom)
    inner_right = _mean_linear(rgb, rx - 0.12 * iod, cheek_top, rx + 0.12 * iod, cheek_bottom)
    outer_left = _mean_linear(rgb, x1 + 0.04 * width, cheek_top, x1 + 0.14 * width, cheek_bottom)
    outer_right = _mean_linear(rgb, x2 - 0.14 * width, cheek_top, x2 - 0.04 * width, cheek_bottom)
    regions = (centre, inner_left, inner_right, outer_left, outer_right)
    if any(region is None for region in regions):
        return None
    w = rgb.shape[1]
    strip = 0.25 * width
    sides = [
        _mean_linear(rgb, 0, y1, min(strip, x1 - 0.6 * width), y2) if x1 - 0.6 * width > 8 else None,
        _mean_linear(rgb, max(w - strip, x2 + 0.6 * width), y1, w, y2)
        if w - (x2 + 0.6 * width) > 8
        else None,
    ]
    present = [side for side in sides if side is not None]
    background = tuple(float(v) for v in np.mean(present, axis=0)) if present else None
    return LightSample(
        centre,  # type: ignore[arg-type]
        (inner_left, inner_right),  # type: ignore[arg-type]
        (outer_left, outer_right),  # type: ignore[arg-type]
        background,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class ScreenLightPolicy:
    """Settings-ready thresholds (see the module docstring for where they come from)."""

    settle_frames: int = 2  # frames at the start of each step skipped: screen refresh and camera latency
    min_steps: int = 4  # steps with at least one settled, measured frame
    min_response: float = 0.01  # face-minus-background chroma gain, log units per unit of screen colour
    min_correlation: float = 0.6  # observed vs expected chroma over the settled frames
    min_falloff: float = 0.05  # 1 - outer cheeks' response / inner cheeks' response
    max_missing_share: float = 0.25  # judged frames without a sample (no face, no background) tolerated


class LightFailure(StrEnum):
    TOO_FEW_FRAMES = "light_too_few_frames"
    NO_RESPONSE = "light_no_response"
    NOT_FOLLOWING = "light_not_following"
    FLAT = "light_flat"


@dataclass(frozen=True)
class ScreenLightVerdict:
    passed: bool
    reason: LightFailure | None
    correlation: float  # -1..1: the score
    response: float  # log units per unit of screen colour
    falloff: float  # 1 - outer / inner cheeks' response
    frames_used: int


def _chroma(log_rgb: np.ndarray) -> np.ndarray:
    """Each row's log RGB minus its mean over channels: a change of brightness (exposure) drops out."""
    return np.asarray(log_rgb - log_rgb.mean(axis=-1, keepdims=True), dtype=np.float64)


def _log(values: np.ndarray) -> np.ndarray:
    return np.asarray(np.log(np.maximum(values, LOG_FLOOR)), dtype=np.float64)


def _gain(observed: np.ndarray, expected: np.ndarray) -> float:
    """Least-squares gain of ``observed`` on ``expected`` (both centred over time)."""
    energy = float((expected**2).sum())
    return float((observed * expected).sum()) / energy if energy > 0 else 0.0


def _correlation(observed: np.ndarray, expected: np.ndarray) -> float:
    denominator = float(np.sqrt((observed**2).sum() * (expected**2).sum()))
    return float((observed * expected).sum()) / denominator if denominator > 0 else 0.0


def step_of_each_frame(schedule: Sequence[LightStep]) -> list[tuple[int, int]]:
    """(step index, frame index within the step) for every frame the schedule covers."""
    return [(step, k) for step, item in enumerate(schedule) for k in range(item.frames)]


def judge_screen_light(
    samples: Sequence[LightSample | None],
    schedule: Sequence[LightStep],
    policy: ScreenLightPolicy | None = None,
) -> ScreenLightVerdict:
    """``samples``: one per frame, in arrival order, from the frame the schedule starts on (None: no
    face, a region out of the frame, or a frame not analysed). Only frames past their step's
    ``settle_frames`` are judged; frames beyond the schedule are ignored."""
    policy = policy or ScreenLightPolicy()
    positions = step_of_each_frame(schedule)
    rows: list[tuple[int, LightSample]] = []
    missing = 0
    judged = 0  # frames past their step's settling, the only ones judged
    for (step, k), sample in zip(positions, samples, strict=False):
        if k < policy.settle_frames:
            continue
        judged += 1
        if sample is None or sample.background is None:
            missing += 1
        else:
            rows.append((step, sample))
    covered = min(len(samples), len(positions))
    steps_seen = len({step for step, _ in rows})
    colours = {schedule[step].colour for step, _ in rows}

    def failed(
        reason: LightFailure, correlation: float = 0.0, response: float = 0.0, falloff: float = 0.0
    ) -> ScreenLightVerdict:
        return ScreenLightVerdict(
            False, reason, round(correlation, 3), round(response, 4), round(falloff, 3), len(rows)
        )

    if covered < len(positions) or missing > policy.max_missing_share * judged:
        return failed(LightFailure.TOO_FEW_FRAMES)
    if steps_seen < policy.min_steps or len(colours) < 2:
        return failed(LightFailure.TOO_FEW_FRAMES)

    expected = _centred(np.array([schedule[step].colour for step, _ in rows], dtype=np.float64))
    expected -= expected.mean(axis=1, keepdims=True)  # the screen's chroma
    background = _chroma(_log(np.array([s.background for _, s in rows], dtype=np.float64)))

    def response_of(regions: list[Rgb] | np.ndarray) -> np.ndarray:
        face = _chroma(_log(np.asarray(regions, dtype=np.float64)))
        return _centred(face - background)

    whole_face = response_of([np.mean([s.centre, *s.inner, *s.outer], axis=0) for _, s in rows])
    response = _gain(whole_face, expected)
    correlation = _correlation(whole_face, expected)
    inner = np.mean([_gain(response_of([s.inner[i] for _, s in rows]), expected) for i in (0, 1)])
    outer = np.mean([_gain(response_of([s.outer[i] for _, s in rows]), expected) for i in (0, 1)])
    falloff = 1.0 - float(outer) / float(inner) if inner > 0 else 0.0
    if response < policy.min_response:
        return failed(LightFailure.NO_RESPONSE, correlation, response, falloff)
    if correlation < policy.min_correlation:
        return failed(LightFailure.NOT_FOLLOWING, correlation, response, falloff)
    if falloff < policy.min_falloff:
        return failed(LightFailure.FLAT, correlation, response, falloff)
    return ScreenLightVerdict(
        True, None, round(correlation, 3), round(response, 4), round(falloff, 3), len(rows)
    )


def _centred(values: np.ndarray) -> np.ndarray:
    """Each column minus its mean over time (over rows)."""
    return np.asarray(values - values.mean(axis=0, keepdims=True), dtype=np.float64)
