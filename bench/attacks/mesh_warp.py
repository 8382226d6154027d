"""Attack (a): faceauth's own renderer, ``faceauth.vision.synthetic``, driven by the attack script.

The face mesh's 468 landmarks (MediaPipe, measured once on the photo) rotated in 3-D with their own
depth, the photo warped triangle by triangle onto them; a blink paints the lid skin over the eye."""

from __future__ import annotations

import numpy as np

from attacks.base import AttackUnavailableError, Pose
from faceauth.vision.landmarks import FaceMesh
from faceauth.vision.synthetic import render_eyes_closed, render_turn


class MeshWarpAnimator:
    name = "mesh_warp"

    def __init__(self, mesh: FaceMesh) -> None:
        self.mesh = mesh
        self.rgb: np.ndarray | None = None
        self.landmarks: np.ndarray | None = None

    def prepare(self, rgb: np.ndarray) -> None:
        pose = self.mesh.measure(rgb)
        if pose is None or pose.landmarks is None:
            raise AttackUnavailableError("no face mesh on the photo")
        self.rgb, self.landmarks = rgb, pose.landmarks

    def render(self, pose: Pose) -> np.ndarray:
        if self.rgb is None or self.landmarks is None:
            raise AttackUnavailableError("prepare() first")
        frame = self.rgb
        if pose.closure > 0.05:
            frame = render_eyes_closed(frame, self.landmarks, pose.closure)
        if abs(pose.yaw_deg) > 0.05:
            frame = render_turn(frame, self.landmarks, pose.yaw_deg)
        return frame.copy() if frame is self.rgb else frame
