"""What an attacker who knows the screen-colour schedule can do to a still photo, frame by frame:
nothing (a plain photo), a tint painted over the face (multiplied in, or alpha-blended), the whole frame
tinted, or the face relit by the screen colour with Lambertian shading from a depth map (the depth
generator's head ellipsoid with its nose ridge): the last is the attack the 3-D falloff check cannot
stop, and is here to say so with a number."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from attacks.base import Camera
from attacks.depth import head_depth
from faceauth.domain import Face

Colour = tuple[float, float, float]

_SRGB = np.arange(256, dtype=np.float64) / 255.0
TO_LINEAR = np.where(_SRGB <= 0.04045, _SRGB / 12.92, ((_SRGB + 0.055) / 1.055) ** 2.4)


def to_srgb8(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.clip(np.round(encoded * 255.0), 0, 255).astype(np.uint8)


def face_mask(shape: tuple[int, int], face: Face) -> np.ndarray:
    """An ellipse over the face box, 1 inside, softened at the edge."""
    h, w = shape
    x1, y1, x2, y2 = face.box
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    u, v = (xs - (x1 + x2) / 2) / (0.55 * (x2 - x1)), (ys - (y1 + y2) / 2) / (0.6 * (y2 - y1))
    return np.clip((1.0 - (u**2 + v**2)) * 5.0, 0.0, 1.0)


def screen_cosine(depth: np.ndarray) -> np.ndarray:
    """cos(normal, towards the camera) of the surface ``depth`` (pixels towards the camera)."""
    dz_dy, dz_dx = np.gradient(depth)
    return np.asarray(1.0 / np.sqrt(1.0 + dz_dx**2 + dz_dy**2) * (depth > 0), dtype=np.float64)


def present(
    rgb: np.ndarray,
    colour: tuple[float, float, float],
    treatment: str,
    face: Face,
    depth: np.ndarray | None = None,
    strength: float = 0.15,
) -> np.ndarray:
    """``rgb`` as the attacker presents it while the screen shows ``colour``."""
    if treatment == "none":
        return rgb.copy()
    linear = TO_LINEAR[rgb]
    screen = np.asarray(colour, dtype=np.float64)
    mask = face_mask(rgb.shape[:2], face)[..., None]
    if treatment == "uniform_tint":
        linear = linear * (1 + strength * screen * mask)
    elif treatment == "alpha_tint":
        linear = linear * (1 - 0.1 * mask) + 0.1 * mask * 0.3 * screen
    elif treatment == "frame_tint":
        linear = linear * (1 + strength * screen)
    elif treatment == "relit":
        if depth is None:
            raise ValueError("relighting needs a depth map")
        cosine = screen_cosine(depth)[..., None]
        linear = linear + linear * strength * cosine * screen  # albedo x screen light x cos
    else:
        raise ValueError(f"unknown treatment {treatment!r}")
    return to_srgb8(linear)


def light_phase(
    frontal: np.ndarray,
    face: Face | None,
    steps: Sequence[tuple[Colour, int]],
    treatment: str,
    camera: Camera,
) -> Iterator[np.ndarray]:
    """The light phase of a challenge as the attacker plays it: ``frontal`` for every frame of the
    schedule (``steps``: colour and frames), shown as is (``treatment`` "none") or treated by each step's
    colour (e.g. "relit" through the head ellipsoid's depth map), each frame through ``camera``. The
    treated frame is made once per colour (the camera's noise differs per frame)."""
    depth = head_depth(frontal.shape[:2], face) if face is not None else None
    treated: dict[Colour, np.ndarray] = {}
    for colour, frames in steps:
        if colour not in treated:
            untreated = treatment == "none" or face is None
            treated[colour] = (
                frontal if untreated or face is None else present(frontal, colour, treatment, face, depth)
            )
        for _ in range(frames):
            yield camera.capture(treated[colour])
