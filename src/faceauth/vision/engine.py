"""The vision pipeline as one object: decode, detect, gate, embed.

``FaceEngine.load`` loads every model once (at app or CLI start, never at import); the service
layer calls ``embed_burst`` for logins and enrollments, the CLI ``embed_image``.

The engine holds every recognition model it may need behind the one
:class:`~faceauth.vision.embedding.Embedder` interface: the served ones
(``Settings.recognition_models``, in that order) and FaceNet, which judges templates enrolled before
templates recorded their model and which the liveness identity check is calibrated for. A burst is
embedded by the models asked for: the first embeds every accepted frame, the others only the
``recognition_best_frames`` sharpest (every frame for an enrollment), which keeps the verify fast."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from faceauth.config import Settings
from faceauth.domain import (
    BurstEmbeddings,
    Embedding,
    Face,
    FaceRejected,
    FrameRejection,
    ImageError,
    ModelVectors,
    RejectReason,
)
from faceauth.model_zoo import registry
from faceauth.model_zoo.sessions import default_threads
from faceauth.vision.alignment import AlignmentMethod, extract_face
from faceauth.vision.detection import DetectorConfig, MTCNNDetector
from faceauth.vision.embedding import Embedder, FaceInImage, FaceNetEmbedder
from faceauth.vision.images import decode_image
from faceauth.vision.quality import QualityPolicy, first_failure, measure
from faceauth.vision.sface import SFaceEmbedder
from faceauth.vision.timing import timed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameResult:
    """One frame through detection and the gates: the face, ready to embed when ``reason`` is None."""

    face: FaceInImage | None
    reason: RejectReason | None
    sharpness: float = 0.0  # of the gated crop; ranks the frames the later models embed


IDENTITY_MODEL = "facenet"  # always loaded: old templates and the liveness identity check use it
KNOWN_MODELS = ("facenet", "sface")


class FaceEngine:
    """MTCNN detection, the quality gates and the recognition models (one
    :class:`~faceauth.vision.embedding.Embedder` each)."""

    def __init__(self, detector: MTCNNDetector, embedders: Sequence[Embedder], settings: Settings) -> None:
        self.detector = detector
        self.embedders = {embedder.name: embedder for embedder in embedders}
        self.served: tuple[str, ...] = tuple(settings.recognition_models)
        missing = [model for model in (*self.served, IDENTITY_MODEL) if model not in self.embedders]
        if missing:
            raise ValueError(f"no embedder for the model(s) {missing}")
        self.settings = settings
        self.policy = QualityPolicy(
            min_face_px=settings.quality_min_face_px,
            min_sharpness=settings.quality_min_sharpness,
            min_brightness=settings.quality_min_brightness,
            max_brightness=settings.quality_max_brightness,
            max_yaw_ratio=settings.quality_max_yaw,
            max_pitch_ratio=settings.quality_max_pitch,
            min_face_score=settings.quality_min_face_score,
        )

    @classmethod
    def load(cls, settings: Settings) -> FaceEngine:
        """Load MTCNN, FaceNet and the served models (translating or preparing a model for ONNX
        Runtime on the very first start)."""
        started = time.perf_counter()
        threads = settings.inference_threads or default_threads()
        cache_dir = settings.models_dir
        pnet, rnet, onet = (
            registry.open_session(model, threads, cache_dir)
            for model in (registry.MTCNN_PNET, registry.MTCNN_RNET, registry.MTCNN_ONET)
        )
        config = DetectorConfig(
            min_face_size=settings.min_face_size,
            thresholds=settings.detect_thresholds,
            pyramid_factor=settings.pyramid_factor,
            max_side=settings.detect_max_side,
        )
        # No spin-waiting: idle threads that spin between runs burn CPU that is counted against every
        # login (measured by bench/liveness_cost.py: 63 ms of CPU a face spinning, 34 ms not).
        facenet = registry.open_session(registry.FACENET, threads, cache_dir, spin=False)
        embedders: list[Embedder] = [FaceNetEmbedder(facenet, settings.alignment, settings.face_margin_px)]
        unknown = [model for model in settings.recognition_models if model not in KNOWN_MODELS]
        if unknown:
            raise ValueError(f"unknown recognition model(s) {unknown} (known: {', '.join(KNOWN_MODELS)})")
        if "sface" in settings.recognition_models:
            embedders.append(SFaceEmbedder(registry.open_session(registry.SFACE, threads, cache_dir)))
        engine = cls(MTCNNDetector(pnet, rnet, onet, config), embedders, settings)
        logger.info("vision models loaded in %.2f s (%d threads)", time.perf_counter() - started, threads)
        return engine

    # --- single frames ---------------------------------------------------------------------------

    def decode(self, data: bytes) -> np.ndarray:
        with timed("decode"):
            return decode_image(data, self.settings.max_image_bytes, self.settings.max_image_pixels)

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in the image. Small images (face crops rather than frames) get a black border
        first, so the detector sees the whole face with some context, as on a full frame; and
        since a crop is mostly face, faces down to half its shorter side are looked for."""
        with timed("detect"):
            return self._detect(image)

    def detect_around(
        self, image: np.ndarray, box: tuple[float, float, float, float], context: float = 1.0
    ) -> list[Face]:
        """Faces in the square region centred on ``box`` (a face tracked from the previous frame),
        ``context`` times the box's side on each side of it, at the frame's own resolution, in frame
        coordinates. The same detector on a third or so of the frame's pixels (a video's next frame:
        the face is where it was); faces outside the region are not seen."""
        x1, y1, x2, y2 = box
        side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * context)
        height, width = image.shape[:2]
        left = max(0, int((x1 + x2 - side) / 2) // 2 * 2)  # even: the pyramid's grid as on the frame
        top = max(0, int((y1 + y2 - side) / 2) // 2 * 2)
        right, bottom = min(width, int((x1 + x2 + side) / 2) + 1), min(height, int((y1 + y2 + side) / 2) + 1)
        if min(right - left, bottom - top) < 2 * self.settings.min_face_size:
            return self.detect(image)  # a face at the edge of the frame: look at all of it
        with timed("detect"):
            found = self.detector.detect(np.ascontiguousarray(image[top:bottom, left:right]))
        return [_shifted(f, left, top) for f in found]

    def _detect(self, image: np.ndarray) -> list[Face]:
        shorter = min(image.shape[:2])
        if shorter >= self.settings.detect_pad_below:
            return self.detector.detect(image)
        pad = round(shorter * 0.25)
        padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        min_face = max(12, min(self.settings.min_face_size, shorter // 2))
        return [_shifted(f, -pad, -pad) for f in self.detector.detect(padded, min_face_size=min_face)]

    def crop(self, image: np.ndarray, face: Face, method: AlignmentMethod | None = None) -> np.ndarray:
        """The 160 x 160 RGB crop the quality gates measure (sharpness and brightness)."""
        return extract_face(image, face, method or self.settings.alignment, self.settings.face_margin_px)

    def check_frame(self, image: np.ndarray) -> FrameResult:
        """Detect and apply every gate: exactly one face, big, confident, lit, frontal, sharp."""
        faces = self.detect(image)
        if not faces:
            return FrameResult(None, RejectReason.NO_FACE)
        if len(faces) > 1:
            return FrameResult(None, RejectReason.MULTIPLE_FACES)
        face = faces[0]
        quality = measure(face, self.crop(image, face))
        reason = first_failure(quality, self.policy)
        return FrameResult(None if reason else FaceInImage(image, face), reason, quality.sharpness)

    def largest_face(self, image: np.ndarray) -> FaceInImage:
        """The largest face, no quality gates (for evaluating labelled photo sets)."""
        faces = self.detect(image)
        if not faces:
            raise FaceRejected(RejectReason.NO_FACE)
        return FaceInImage(image, max(faces, key=lambda face: face.area))

    def embed_image(self, data: bytes, largest_face: bool = False, model: str | None = None) -> Embedding:
        """One model's (default: the first served) embedding of the one face in an image file.

        With ``largest_face`` the largest of several faces is used and the quality gates are
        skipped; otherwise the image must pass every gate a login frame passes."""
        embedder = self.embedders[model or self.served[0]]
        image = self.decode(data)
        if largest_face:
            return embedder.embed([self.largest_face(image)])[0]
        result = self.check_frame(image)
        if result.face is None:
            raise FaceRejected(result.reason or RejectReason.NO_FACE)
        return embedder.embed([result.face])[0]

    # --- bursts ----------------------------------------------------------------------------------

    def embed_burst(
        self, frames: Sequence[bytes], models: Sequence[str] | None = None, every_frame: bool = False
    ) -> BurstEmbeddings:
        """Every frame through decoding and the gates; the accepted ones embedded by ``models``
        (default: the served ones): the first every accepted frame, the others the
        ``recognition_best_frames`` sharpest (``every_frame``: all of them, as for an enrollment).

        Never raises for a bad frame: each becomes a ``FrameRejection`` with its index."""
        faces: list[FaceInImage] = []
        sharpness: list[float] = []
        accepted: list[int] = []
        rejected: list[FrameRejection] = []
        for index, data in enumerate(frames):
            try:
                result = self.check_frame(self.decode(data))
            except ImageError as error:
                rejected.append(FrameRejection(index, error.reason))
                continue
            if result.face is None:
                rejected.append(FrameRejection(index, result.reason or RejectReason.NO_FACE))
            else:
                faces.append(result.face)
                sharpness.append(result.sharpness)
                accepted.append(index)
        per_model = []
        for position, model in enumerate(models or self.served):
            chosen = list(range(len(faces)))
            if position > 0 and not every_frame:
                chosen = best_frame_positions(sharpness, self.settings.recognition_best_frames)
            embedder = self.embedders[model]
            vectors = embedder.embed([faces[i] for i in chosen])
            per_model.append(
                ModelVectors(model, embedder.version, tuple(vectors), tuple(accepted[i] for i in chosen))
            )
        return BurstEmbeddings(tuple(per_model), tuple(accepted), tuple(rejected))


def _shifted(face: Face, dx: float, dy: float) -> Face:
    """``face`` found in a part (or a padded copy) of an image, in that image's pixels."""
    x1, y1, x2, y2 = face.box
    return Face(
        box=(x1 + dx, y1 + dy, x2 + dx, y2 + dy),
        score=face.score,
        landmarks=tuple((x + dx, y + dy) for x, y in face.landmarks),
    )


def best_frame_positions(sharpness: Sequence[float], count: int) -> list[int]:
    """Positions of the ``count`` sharpest frames, in frame order (all of them when ``count`` is 0)."""
    if count <= 0 or count >= len(sharpness):
        return list(range(len(sharpness)))
    return sorted(int(i) for i in np.argsort(-np.asarray(sharpness), kind="stable")[:count])
