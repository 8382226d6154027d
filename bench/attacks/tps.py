"""Attack (b): a thin-plate-spline warp of the photo driven by MTCNN's 5 facial points.

A turn moves the 5 points (eyes, nose tip, mouth corners) as points of a head rotating about a vertical
axis behind the face, each with a generic depth (nose forward, mouth a little forward); a ring of 16
points around the head (its silhouette, which a rotating head keeps) and the frame's border stay put. The
thin-plate spline through those points maps every output pixel back into the photo (fitted on a coarse
grid, then interpolated). A blink slides the skin above each eye down over it (a vertical remap inside
an eye-shaped window), with a faint shadow at the new lid edge."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from attacks.base import AttackUnavailableError, Pose
from faceauth.domain import Face

# Depth of each of MTCNN's points towards the camera, in inter-ocular distances (IOD), relative to the
# eyes: left eye, right eye, nose tip, mouth left, mouth right.
POINT_DEPTH_IOD = np.array([0.0, 0.0, 0.55, 0.05, 0.05])
AXIS_BEHIND_EYES_IOD = 1.0  # the neck's rotation axis behind the eyes
RING_POINTS = 16
GRID_STEP_PX = 8  # the spline is evaluated on this grid, then bilinearly interpolated


def tps_kernel(r2: np.ndarray) -> np.ndarray:
    """U(r) = r^2 log r^2 / 2 (written on squared distances; 0 at r = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 0.5 * r2 * np.log(r2)
    return np.nan_to_num(out)


def fit_tps(control: np.ndarray, target: np.ndarray, regularisation: float = 1e-3) -> np.ndarray:
    """Coefficients (N + 3, 2) of the thin-plate spline taking ``control`` (N, 2) to ``target`` (N, 2)."""
    n = len(control)
    d2 = ((control[:, None, :] - control[None, :, :]) ** 2).sum(-1)
    kernel = tps_kernel(d2) + regularisation * np.eye(n)
    affine = np.hstack([np.ones((n, 1)), control])
    system = np.zeros((n + 3, n + 3))
    system[:n, :n], system[:n, n:], system[n:, :n] = kernel, affine, affine.T
    rhs = np.zeros((n + 3, 2))
    rhs[:n] = target
    return np.linalg.solve(system, rhs)


def apply_tps(coefficients: np.ndarray, control: np.ndarray, points: np.ndarray) -> np.ndarray:
    d2 = ((points[:, None, :] - control[None, :, :]) ** 2).sum(-1)
    n = len(control)
    return (
        tps_kernel(d2) @ coefficients[:n] + np.hstack([np.ones((len(points), 1)), points]) @ coefficients[n:]
    )


def tps_remap(rgb: np.ndarray, output_points: np.ndarray, photo_points: np.ndarray) -> np.ndarray:
    """The photo warped so that ``photo_points`` appear at ``output_points``."""
    h, w = rgb.shape[:2]
    # Scale coordinates to about 1 so the linear system is well conditioned.
    scale = float(max(h, w))
    coefficients = fit_tps(output_points / scale, photo_points / scale)
    gx, gy = np.meshgrid(
        np.arange(0, w + GRID_STEP_PX, GRID_STEP_PX), np.arange(0, h + GRID_STEP_PX, GRID_STEP_PX)
    )
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float64)
    mapped = apply_tps(coefficients, output_points / scale, grid / scale) * scale
    map_x = mapped[:, 0].reshape(gx.shape).astype(np.float32)
    map_y = mapped[:, 1].reshape(gx.shape).astype(np.float32)
    full = (gx.shape[1] * GRID_STEP_PX, gx.shape[0] * GRID_STEP_PX)
    map_x = cv2.resize(map_x, full, interpolation=cv2.INTER_LINEAR)[:h, :w]
    map_y = cv2.resize(map_y, full, interpolation=cv2.INTER_LINEAR)[:h, :w]
    return cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class TpsAnimator:
    name = "tps5"

    def __init__(self, detect: Callable[[np.ndarray], Sequence[Face]]) -> None:
        self.detect = detect
        self.rgb: np.ndarray | None = None
        self.points = np.zeros((5, 2))
        self.iod = 1.0
        self.anchors = np.zeros((0, 2))

    def prepare(self, rgb: np.ndarray) -> None:
        faces = self.detect(rgb)
        if not faces:
            raise AttackUnavailableError("MTCNN found no face on the photo")
        face = max(faces, key=lambda f: f.width)
        self.rgb = rgb
        self.points = np.array(face.landmarks, dtype=np.float64)
        self.iod = float(np.linalg.norm(self.points[1] - self.points[0]))
        centre = self.points.mean(axis=0) - np.array([0.0, 0.3 * self.iod])
        angles = np.linspace(0, 2 * math.pi, RING_POINTS, endpoint=False)
        ring = centre + np.stack([1.35 * self.iod * np.cos(angles), 1.9 * self.iod * np.sin(angles)], axis=1)
        h, w = rgb.shape[:2]
        border = np.array(
            [[x, y] for x in (0, w / 2, w - 1) for y in (0, h / 2, h - 1) if (x, y) != (w / 2, h / 2)]
        )
        self.anchors = np.vstack([ring, border])

    def turned_points(self, yaw_deg: float) -> np.ndarray:
        theta = math.radians(yaw_deg)
        axis_x = (self.points[0, 0] + self.points[1, 0]) / 2
        depth_px = (POINT_DEPTH_IOD + AXIS_BEHIND_EYES_IOD) * self.iod  # in front of the axis
        moved = self.points.copy()
        moved[:, 0] = axis_x + (self.points[:, 0] - axis_x) * math.cos(theta) + depth_px * math.sin(theta)
        # The axis is behind the face: its own shift, the whole face's sideways slide, is taken out
        # where the silhouette stays, so only the part that a rotation shows remains.
        moved[:, 0] -= AXIS_BEHIND_EYES_IOD * self.iod * math.sin(theta) * 0.6
        return moved

    def blink(self, rgb: np.ndarray, closure: float) -> np.ndarray:
        h, w = rgb.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        map_y = ys.copy()
        shade = np.ones((h, w), np.float32)
        half_w, half_h = 0.3 * self.iod, 0.13 * self.iod
        for eye_x, eye_y in self.points[:2]:
            u = (xs - eye_x) / half_w
            window = np.clip(1.0 - u**2, 0.0, 1.0) ** 0.7  # eye-shaped: full in the middle, 0 at corners
            drop = closure * 2 * half_h * window  # how far the lid comes down at each column
            top = eye_y - half_h
            start = top - 2 * half_h  # the skin from here down to the lid stretches as the lid comes down
            covered = (ys >= start) & (ys <= top + drop)
            stretch = (ys - start) / np.maximum(top + drop - start, 1e-3)
            map_y = np.where(covered, map_y - drop * stretch, map_y)
            edge = np.abs(ys - (top + drop)) < max(1.0, 0.02 * self.iod)
            shade = np.where(edge & (window > 0.2) & (closure > 0.3), 0.6, shade)
        out = cv2.remap(rgb, xs, map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        shade = cv2.GaussianBlur(shade, (3, 3), 0)
        return np.clip(out * shade[..., None], 0, 255).astype(np.uint8)

    def render(self, pose: Pose) -> np.ndarray:
        if self.rgb is None:
            raise AttackUnavailableError("prepare() first")
        frame = self.blink(self.rgb, pose.closure) if pose.closure > 0.05 else self.rgb.copy()
        if abs(pose.yaw_deg) > 0.05:
            output_points = np.vstack([self.turned_points(pose.yaw_deg), self.anchors])
            photo_points = np.vstack([self.points, self.anchors])
            frame = tps_remap(frame, output_points, photo_points)
        return frame
