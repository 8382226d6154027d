"""Challenge moves rendered from one still photo, for benchmarks and tests (never used to decide
anything at run time).

A head turn moves the face mesh's 468 landmarks by a 3-D rotation about the vertical axis (with their
own depth) and warps the photo piecewise-affinely, triangle by triangle; the background stays put and
nothing is occluded, so it approximates a real turn up to about 30 degrees. A blink moves the upper
eyelid contour (the iris model's points) down onto the lower lid and warps the same way: the lid skin
is stretched over the eye, with no eyelashes, crease or shading of a real closed eye. Both are far from
a live person in texture and dynamics (no micro-motion of the rest of the face, no lighting change); see
docs/liveness.md for what that means for the BPCER measured with them."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from faceauth.vision.landmarks import IMAGE_LEFT_EYE_CONTOUR, IMAGE_RIGHT_EYE_CONTOUR


def piecewise_warp(rgb: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Warp ``rgb`` so that points ``src`` (N, 2) land on ``dst`` (N, 2): Delaunay triangles of ``dst``
    and the image border (which stays put), each mapped by its own affine transform."""
    h, w = rgb.shape[:2]
    border = np.array(
        [[x, y] for x in (0, w / 2, w - 1) for y in (0, h / 2, h - 1) if (x, y) != (w / 2, h / 2)],
        dtype=np.float32,
    )
    src_all = np.vstack([src[:, :2], border]).astype(np.float32)
    dst_all = np.vstack([dst[:, :2], border]).astype(np.float32)
    subdiv = cv2.Subdiv2D((0, 0, w, h))
    index: dict[tuple[float, float], int] = {}
    for i, (x, y) in enumerate(dst_all):
        x, y = min(max(float(x), 0.0), w - 1.0), min(max(float(y), 0.0), h - 1.0)
        key = (round(x, 2), round(y, 2))
        if key in index:
            continue
        subdiv.insert((x, y))
        index[key] = i
        dst_all[i] = (x, y)
    out = rgb.copy()
    for tri in subdiv.getTriangleList():
        corners = [(round(float(tri[k]), 2), round(float(tri[k + 1]), 2)) for k in (0, 2, 4)]
        if not all(c in index for c in corners):
            continue  # a triangle touching Subdiv2D's virtual outer vertices
        ids = [index[c] for c in corners]
        x, y, bw, bh = cv2.boundingRect(np.round(dst_all[ids]).astype(np.int32))
        x2, y2 = min(x + bw, w), min(y + bh, h)
        x, y = max(x, 0), max(y, 0)
        if x2 <= x or y2 <= y:
            continue
        local = dst_all[ids] - np.array([x, y], np.float32)
        try:
            affine = cv2.getAffineTransform(src_all[ids], local)
        except cv2.error:
            continue
        patch = cv2.warpAffine(
            rgb, affine, (x2 - x, y2 - y), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        mask = np.zeros((y2 - y, x2 - x), np.uint8)
        cv2.fillConvexPoly(mask, np.round(local).astype(np.int32), 1)
        region = out[y:y2, x:x2]
        region[mask == 1] = patch[mask == 1]
    return out


def render_turn(rgb: np.ndarray, landmarks: np.ndarray, degrees: float) -> np.ndarray:
    """The face as if the head turned by ``degrees`` about the vertical axis (positive: nose towards
    the image's right, i.e. the person's own left in an unmirrored frame)."""
    theta = math.radians(degrees)
    centre = landmarks.mean(axis=0)
    moved = landmarks.copy()
    dx, dz = landmarks[:, 0] - centre[0], landmarks[:, 2] - centre[2]
    moved[:, 0] = centre[0] + math.cos(theta) * dx - math.sin(theta) * dz
    return piecewise_warp(rgb, landmarks[:, :2], moved[:, :2])


def render_eyes_closed(rgb: np.ndarray, landmarks: np.ndarray, closure: float) -> np.ndarray:
    """The eyes closed by ``closure`` (0 open, 1 shut): the upper lid (the iris model's contour
    points) lowered that share of the way to the lower lid, the uncovered-then-covered part of the eye
    painted with the colour of the lid skin just above it, and a dark lash line drawn along the new lid
    edge. A painted lid: no crease, lashes or shading of a real closed eye."""
    out = rgb.copy()
    h, w = rgb.shape[:2]
    for contour in (IMAGE_LEFT_EYE_CONTOUR, IMAGE_RIGHT_EYE_CONTOUR):
        lower = landmarks[list(contour[:9]), :2].astype(np.float64)
        upper = landmarks[[contour[0], *contour[9:], contour[8]], :2].astype(np.float64)
        order = np.argsort(lower[:, 0])
        below = np.interp(upper[:, 0], lower[order, 0], lower[order, 1])
        lowered = upper.copy()
        lowered[:, 1] = upper[:, 1] + closure * (below - upper[:, 1])
        width = float(np.linalg.norm(lower[0] - lower[8])) or 1.0
        # Lid skin: the pixels a third of an eye width above the upper lid.
        sx = np.clip(upper[:, 0].round().astype(int), 0, w - 1)
        sy = np.clip((upper[:, 1] - width / 3).round().astype(int), 0, h - 1)
        skin = np.median(rgb[sy, sx].astype(np.float64), axis=0)
        polygon = np.vstack([upper, lowered[::-1]]).round().astype(np.int32)
        mask = np.zeros((h, w), np.uint8)
        cv2.fillPoly(mask, [polygon], 255)
        soft = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float64)[..., None] / 255.0
        out = np.asarray(out * (1 - soft) + skin * soft, dtype=np.uint8)
        if closure > 0.3:
            lash = tuple(int(v) for v in (skin * 0.35))
            cv2.polylines(out, [lowered.round().astype(np.int32)], False, lash, max(1, round(width / 25)))
    return out


def ramp(peak: float, frames: int) -> list[float]:
    """0 -> peak -> 0 over ``frames`` values (a half sine): the profile of one move."""
    return [peak * math.sin(math.pi * (i + 1) / (frames + 1)) for i in range(frames)]


def challenge_frames(
    rgb: np.ndarray,
    landmarks: np.ndarray,
    moves: Sequence[str],
    fps: float = 8.0,
    turn_degrees: float = 30.0,
    neutral_s: float = 1.0,
    turn_s: float = 1.25,
    blink_s: float = 0.5,
    seed: int = 0,
) -> list[np.ndarray]:
    """A rendered challenge: neutral, then each move ("blink", "turn_left", "turn_right") followed by
    neutral again, at ``fps``. Neutral frames get a sub-pixel jitter and sensor-like noise so that
    consecutive frames differ as a camera's do."""
    rng = np.random.default_rng(seed)
    frames: list[np.ndarray] = []

    def noisy(image: np.ndarray) -> np.ndarray:
        shift = np.array([[1, 0, rng.uniform(-0.7, 0.7)], [0, 1, rng.uniform(-0.7, 0.7)]], np.float32)
        moved = cv2.warpAffine(
            image, shift, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE
        )
        noise = rng.integers(-3, 4, size=image.shape, dtype=np.int16)
        frame: np.ndarray = np.clip(moved.astype(np.int16) + noise, 0, 255).astype(np.uint8)
        return frame

    def neutral() -> None:
        frames.extend(noisy(rgb) for _ in range(max(1, round(neutral_s * fps))))

    neutral()
    for move in moves:
        if move == "blink":
            for closure in ramp(1.0, max(3, round(blink_s * fps))):
                frames.append(noisy(render_eyes_closed(rgb, landmarks, min(1.0, closure * 1.2))))
        else:
            sign = 1.0 if move == "turn_left" else -1.0
            for angle in ramp(sign * turn_degrees, max(3, round(turn_s * fps))):
                frames.append(noisy(render_turn(rgb, landmarks, angle)))
        neutral()
    return frames
