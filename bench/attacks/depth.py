"""Attack (c): the photo reprojected through a depth map, with a drawn, shaded eyelid for blinks.

The depth map is a generic head: a half ellipsoid fitted to MTCNN's face box and eye line, plus a nose
ridge (an elongated Gaussian from between the eyes to the nose tip). A turn rotates every pixel's 3-D
point about a vertical axis and projects it back orthographically; each row is inverted separately
(target column as a function of source column, made monotonic so that what turns away is hidden) and
the photo is resampled through the inverse. Outside the head the depth is 0 and nothing moves. A blink
draws an upper lid over each eye: a filled half-ellipse coming down to the closure asked, coloured from
the skin above and below the eye, darker towards its edge, with a lash line."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from attacks.base import AttackUnavailableError, Pose
from faceauth.domain import Face


def head_depth(shape: tuple[int, int], face: Face) -> np.ndarray:
    """Depth towards the camera, in pixels, of every pixel (0 outside the head)."""
    h, w = shape
    points = np.array(face.landmarks, dtype=np.float64)
    iod = float(np.linalg.norm(points[1] - points[0]))
    x1, y1, x2, y2 = face.box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - 0.1 * (y2 - y1)
    a, b, c = 0.62 * (x2 - x1), 0.75 * (y2 - y1), 0.5 * (x2 - x1)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    inside = 1.0 - ((xs - cx) / a) ** 2 - ((ys - cy) / b) ** 2
    depth = c * np.sqrt(np.clip(inside, 0.0, None))
    eyes_mid = (points[0] + points[1]) / 2
    nose = points[2]
    ridge_x = eyes_mid[0] + (nose[0] - eyes_mid[0]) * np.clip(
        (ys - eyes_mid[1]) / max(nose[1] - eyes_mid[1], 1), 0, 1
    )
    along = np.clip((ys - eyes_mid[1]) / max(nose[1] - eyes_mid[1], 1.0), -0.3, 1.2)
    ridge = (
        0.45 * iod * np.exp(-(((xs - ridge_x) / (0.13 * iod)) ** 2)) * np.exp(-(((along - 0.9) / 0.6) ** 2))
    )
    return depth + ridge * (inside > 0)


def reproject(
    rgb: np.ndarray, depth: np.ndarray, axis_x: float, axis_depth: float, yaw_deg: float
) -> np.ndarray:
    """The image seen after the 3-D points (x, y, depth) turn by ``yaw_deg`` about the vertical line
    x = axis_x at depth ``axis_depth`` (orthographic; + moves the nose towards the image's right)."""
    h, w = depth.shape
    theta = math.radians(yaw_deg)
    xs = np.arange(w, dtype=np.float64)
    inside = depth > 0
    weight = np.where(inside, np.clip(depth / max(float(depth.max()), 1.0), 0, 1) ** 0.5, 0.0)
    # Rotated position; blended to "no motion" at the head's outline so the background stays put.
    turned = axis_x + (xs[None, :] - axis_x) * math.cos(theta) + (depth - axis_depth) * math.sin(theta)
    target = xs[None, :] + weight * (turned - xs[None, :])
    map_x = np.empty((h, w), np.float32)
    for row in range(h):
        forward = target[row]
        if not inside[row].any():
            map_x[row] = xs
            continue
        # A fold (two source columns landing on one target column) is the far side turning away:
        # keeping the forward map non-decreasing hides it behind the near side.
        if theta >= 0:
            monotone = np.maximum.accumulate(forward)
            map_x[row] = np.interp(xs, monotone, xs)
        else:
            monotone = np.minimum.accumulate(forward[::-1])[::-1]
            map_x[row] = np.interp(xs, monotone, xs)
    map_y = np.repeat(np.arange(h, dtype=np.float32)[:, None], w, axis=1)
    return cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def skin_strip(rgb: np.ndarray, x: float, y: float, half_width: float) -> np.ndarray:
    """The pixels (N, 3) of a 5-pixel-high strip centred on (x, y), ``half_width`` wide."""
    h, w = rgb.shape[:2]
    rows = slice(int(np.clip(y - 2, 0, h - 1)), int(np.clip(y + 3, 1, h)))
    columns = slice(int(np.clip(x - half_width / 2, 0, w - 1)), int(np.clip(x + half_width / 2, 1, w)))
    return rgb[rows, columns].reshape(-1, 3)


def draw_lids(rgb: np.ndarray, face: Face, closure: float) -> np.ndarray:
    points = np.array(face.landmarks, dtype=np.float64)
    iod = float(np.linalg.norm(points[1] - points[0]))
    h, w = rgb.shape[:2]
    out = rgb.astype(np.float32)
    for ex, ey in points[:2]:
        half_w, half_h = 0.27 * iod, 0.11 * iod
        above, below = (
            skin_strip(rgb, ex, ey - 0.32 * iod, half_w),
            skin_strip(rgb, ex, ey + 0.35 * iod, half_w),
        )
        skin = np.median(np.vstack([above, below]), axis=0).astype(np.float32)
        top = ey - half_h
        edge = top + closure * 2 * half_h * 1.05
        mask = np.zeros((h, w), np.float32)
        axes = (max(1, round(half_w)), max(1, round(edge - top)))
        cv2.ellipse(mask, (round(ex), round(top)), axes, 0, 0, 180, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (5, 5), 0)
        ys = np.arange(h, dtype=np.float32)[:, None]
        darkening = 1.0 - 0.25 * np.clip((ys - top) / max(edge - top, 1.0), 0, 1)  # crease shadow
        lid = skin[None, None, :] * darkening[..., None]
        out = out * (1 - mask[..., None]) + lid * mask[..., None]
        if closure > 0.35:
            cv2.ellipse(
                out,
                (round(ex), round(top)),
                axes,
                0,
                10,
                170,
                tuple(float(v) * 0.3 for v in skin),
                max(1, round(iod / 30)),
            )
    return np.clip(out, 0, 255).astype(np.uint8)


class DepthAnimator:
    name = "depth_reprojection"

    def __init__(self, detect: Callable[[np.ndarray], Sequence[Face]]) -> None:
        self.detect = detect
        self.rgb: np.ndarray | None = None
        self.face: Face | None = None
        self.depth = np.zeros((1, 1))

    def prepare(self, rgb: np.ndarray) -> None:
        faces = self.detect(rgb)
        if not faces:
            raise AttackUnavailableError("MTCNN found no face on the photo")
        self.rgb, self.face = rgb, max(faces, key=lambda f: f.width)
        self.depth = head_depth(rgb.shape[:2], self.face)

    def render(self, pose: Pose) -> np.ndarray:
        if self.rgb is None or self.face is None:
            raise AttackUnavailableError("prepare() first")
        frame = draw_lids(self.rgb, self.face, pose.closure) if pose.closure > 0.05 else self.rgb.copy()
        if abs(pose.yaw_deg) > 0.05:
            x1, _, x2, _ = self.face.box
            axis_depth = 0.0  # the ellipsoid's centre, in the plane of the head's outline
            frame = reproject(frame, self.depth, (x1 + x2) / 2, axis_depth, pose.yaw_deg)
        return frame
