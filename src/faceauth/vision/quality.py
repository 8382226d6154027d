"""Per-frame quality gates. Each failing gate gives a reason code the person can act on.

Head pose here is a rough ratio from MTCNN's five landmarks, without units; the liveness check uses
the face mesh's angles in degrees (:mod:`faceauth.vision.landmarks`). Both share one sign convention:
yaw positive when the nose points towards the image's right edge, pitch positive when it points up."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceauth.domain import Face, RejectReason


@dataclass(frozen=True)
class QualityPolicy:
    min_face_px: int = 80
    min_sharpness: float = 30.0
    min_brightness: float = 50.0
    max_brightness: float = 215.0
    max_yaw_ratio: float = 0.35  # |yaw_ratio| above this: not frontal
    max_pitch_ratio: float = 0.35  # |pitch_ratio| above this: not frontal
    min_face_score: float = 0.90


@dataclass(frozen=True)
class FaceQuality:
    """Measurements of one face; units in each field's comment."""

    face_px: float  # shorter side of the detector box, in image pixels
    sharpness: float  # variance of the Laplacian of the grey 160 px crop
    brightness: float  # mean grey level of the crop, 0-255
    yaw_ratio: float  # -1 .. 0 (frontal) .. 1; positive: nose towards the image's right edge
    pitch_ratio: float  # -1 .. 0 (frontal) .. 1; positive: nose up, negative: nose down
    score: float  # detector confidence


def pose_ratios(face: Face) -> tuple[float, float]:
    """Rough (yaw_ratio, pitch_ratio) from the five landmarks, each about 0 for a frontal face and
    clipped to -1 .. 1 (1, 1 when the landmarks are degenerate).

    Yaw compares the nose's distance to each eye along the eye line (in the eyes' own frame, so head
    roll does not count): +1 with the nose at the image-right eye. Pitch compares the nose's height
    between the eye line and the mouth line with its frontal value (0.5 of the way down, measured
    0.47-0.55 on frontal photos): +1 with the nose at the eye line (looking up), -1 at the mouth."""
    left_eye, right_eye, nose, mouth_left, mouth_right = (
        np.asarray(p, dtype=np.float64) for p in face.landmarks
    )
    eye_axis = right_eye - left_eye
    eye_distance = float(np.linalg.norm(eye_axis))
    if eye_distance < 1e-6:
        return 1.0, 1.0
    unit = eye_axis / eye_distance
    normal = np.array([-unit[1], unit[0]])
    nose_along = float(np.dot(nose - left_eye, unit))
    yaw_ratio = (nose_along - (eye_distance - nose_along)) / eye_distance
    eye_mid = (left_eye + right_eye) / 2
    mouth_mid = (mouth_left + mouth_right) / 2
    mouth_down = float(np.dot(mouth_mid - eye_mid, normal))
    if mouth_down <= 1e-6:
        return float(np.clip(yaw_ratio, -1, 1)), 1.0
    nose_down = float(np.dot(nose - eye_mid, normal)) / mouth_down
    pitch_ratio = (0.5 - nose_down) / 0.5
    return float(np.clip(yaw_ratio, -1, 1)), float(np.clip(pitch_ratio, -1, 1))


def measure(face: Face, crop: np.ndarray) -> FaceQuality:
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    yaw_ratio, pitch_ratio = pose_ratios(face)
    return FaceQuality(
        face_px=min(face.width, face.height),
        sharpness=float(cv2.Laplacian(grey, cv2.CV_64F).var()),
        brightness=float(grey.mean()),
        yaw_ratio=yaw_ratio,
        pitch_ratio=pitch_ratio,
        score=face.score,
    )


def first_failure(quality: FaceQuality, policy: QualityPolicy) -> RejectReason | None:
    """The first gate the face fails, in the order a person should fix them, or None."""
    if quality.score < policy.min_face_score:
        return RejectReason.LOW_CONFIDENCE
    if quality.face_px < policy.min_face_px:
        return RejectReason.FACE_TOO_SMALL
    if quality.brightness < policy.min_brightness:
        return RejectReason.TOO_DARK
    if quality.brightness > policy.max_brightness:
        return RejectReason.TOO_BRIGHT
    if abs(quality.yaw_ratio) > policy.max_yaw_ratio or abs(quality.pitch_ratio) > policy.max_pitch_ratio:
        return RejectReason.NOT_FRONTAL
    if quality.sharpness < policy.min_sharpness:
        return RejectReason.TOO_BLURRY
    return None
