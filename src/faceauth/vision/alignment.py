"""Cutting a face out of a frame for FaceNet (and for the quality gates): 160 x 160 RGB.

Two methods, measured side by side in ``bench/accuracy.py`` (results in the README):

- ``margin``: the MTCNN box grown by a margin (``FACEAUTH_FACE_MARGIN_PX``, default 32 px of the
  final 160, the margin FaceNet's authors used for their LFW evaluation and the best measured here),
  cropped and resized. How FaceNet's training data was cut out (with 44 px there).
- ``landmarks``: a similarity transform (rotation, scale, shift) that puts the five MTCNN landmarks
  as close as possible to where they sit, on average, in margin crops. Removes head roll."""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from faceauth.domain import Face

FACE_SIZE = 160
AlignmentMethod = Literal["margin", "landmarks"]

# Mean landmark positions (left eye, right eye, nose, mouth left, mouth right) in 160 px margin
# crops made with a 44 px margin, measured on the upright faces of faces/deepface_tests.
LANDMARK_TEMPLATE = np.array(
    [[56.0, 69.0], [103.5, 69.0], [80.0, 96.0], [60.0, 117.5], [100.0, 117.5]], dtype=np.float32
)


def margin_box(face: Face, margin_px: float, image_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The face box grown so that ``margin_px`` of the final 160 px crop is margin, clipped to the
    image. The margin scales with the face, so small and large faces are framed alike."""
    x1, y1, x2, y2 = face.box
    grow_x = margin_px * (x2 - x1) / (FACE_SIZE - margin_px) / 2
    grow_y = margin_px * (y2 - y1) / (FACE_SIZE - margin_px) / 2
    height, width = image_shape[:2]
    left = int(max(x1 - grow_x, 0))
    top = int(max(y1 - grow_y, 0))
    right = int(min(x2 + grow_x, width))
    bottom = int(min(y2 + grow_y, height))
    return left, top, right, bottom


def crop_with_margin(image: np.ndarray, face: Face, margin_px: float) -> np.ndarray:
    left, top, right, bottom = margin_box(face, margin_px, image.shape)
    if right - left < 2 or bottom - top < 2:
        raise ValueError("face box lies outside the image")
    crop = image[top:bottom, left:right]
    interpolation = cv2.INTER_AREA if crop.shape[0] > FACE_SIZE else cv2.INTER_LINEAR
    return cv2.resize(crop, (FACE_SIZE, FACE_SIZE), interpolation=interpolation)


def align_on_landmarks(image: np.ndarray, face: Face) -> np.ndarray:
    source = np.asarray(face.landmarks, dtype=np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(source, LANDMARK_TEMPLATE, method=cv2.LMEDS)
    if matrix is None:
        raise ValueError("landmarks do not define a transform")
    return cv2.warpAffine(
        image, matrix, (FACE_SIZE, FACE_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def extract_face(image: np.ndarray, face: Face, method: AlignmentMethod, margin_px: float) -> np.ndarray:
    """A 160 x 160 RGB ``uint8`` crop of ``face``, by the chosen method."""
    if method == "landmarks":
        return align_on_landmarks(image, face)
    return crop_with_margin(image, face, margin_px)
