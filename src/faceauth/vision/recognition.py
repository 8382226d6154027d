"""Several face embedders side by side: the faces of stills (photos a person would use) and of
login bursts, embedded by every configured model.

A login burst goes through exactly the gates of ``FaceEngine.check_frame`` (one face, big, sharp,
lit, frontal); the first model embeds every accepted frame, later (slower) models only the
``best_frames`` accepted frames with the sharpest faces, which keeps the 8-frame verify within its
time budget (bench/recognition.py --speed). Stills (``compare``, ``eval``) are searched harder:
a smaller minimum face, and an upscaled retry when nothing is found; no gates."""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from faceauth.domain import Embedding, Face, FaceRejected, FrameRejection, ImageError, RejectReason
from faceauth.model_zoo.sface import sface_onnx_path
from faceauth.vision import runtime
from faceauth.vision.detection import MTCNNDetector
from faceauth.vision.engine import FaceEngine
from faceauth.vision.quality import measure
from faceauth.vision.sface import SFaceEmbedder

logger = logging.getLogger(__name__)

FACENET_NAME = "facenet"
FACENET_VERSION = "20180408-102900"


class Embedder(Protocol):
    """One face-embedding model; each does its own alignment and preprocessing."""

    name: str
    version: str
    dim: int

    def embed_faces(self, image_rgb: np.ndarray, faces: Sequence[Face]) -> list[Embedding]: ...


class FaceNetFaces:
    """FaceNet behind the ``Embedder`` interface: the engine's crop (margin or landmarks), then
    FaceNet. (To be replaced by vision's own FaceNet embedder when the interface lands there.)"""

    name = FACENET_NAME
    version = FACENET_VERSION
    dim = 512

    def __init__(self, engine: FaceEngine) -> None:
        self._engine = engine

    def embed_faces(self, image_rgb: np.ndarray, faces: Sequence[Face]) -> list[Embedding]:
        return self._engine.embedder.embed([self._engine.crop(image_rgb, face) for face in faces])


@dataclass(frozen=True)
class ModelBurst:
    """A burst through the gates: per model, the embeddings of the frames it embedded."""

    embeddings: dict[str, tuple[Embedding, ...]]
    accepted_indices: tuple[int, ...]
    rejected: tuple[FrameRejection, ...]


@dataclass(frozen=True)
class GatedFrame:
    """A frame that passed the login's gates: its image, its one face, and the face's sharpness."""

    index: int
    image: np.ndarray
    face: Face
    sharpness: float


@dataclass(frozen=True)
class StillSearch:
    """How hard to look for a face in a still photo."""

    min_face_px: int = 20  # at working resolution (the login's detector uses Settings.min_face_size)
    retry_upscale: float = 2.0  # when nothing is found, look again in the image enlarged this much
    retry_max_side: int = 1600  # the enlarged image is searched at up to this longer side


def load_embedders(engine: FaceEngine, models: Sequence[str]) -> list[Embedder]:
    """The named models (``facenet``, ``sface``), in the order given; loaded once, at start."""
    threads = engine.settings.inference_threads or runtime.default_threads()
    embedders: list[Embedder] = []
    for model in models:
        if model == FACENET_NAME:
            embedders.append(FaceNetFaces(engine))
        elif model == "sface":
            path = sface_onnx_path(engine.settings.data_dir / "models")
            embedders.append(SFaceEmbedder(runtime.create_session(path, threads, spin=True)))
        else:
            raise ValueError(f"unknown recognition model {model!r} (known: facenet, sface)")
    return embedders


class Recognition:
    def __init__(self, engine: FaceEngine, embedders: Sequence[Embedder], best_frames: int = 0) -> None:
        if not embedders:
            raise ValueError("at least one embedder")
        self.engine = engine
        self.embedders = list(embedders)
        self.best_frames = best_frames  # 0: every model embeds every accepted frame

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(embedder.name for embedder in self.embedders)

    def embed_still(self, data: bytes, search: StillSearch | None = None) -> dict[str, Embedding]:
        """Every model's embedding of the largest face in a photo (no quality gates)."""
        image = self.engine.decode(data)
        faces = detect_in_still(self.engine, image, search or StillSearch())
        if not faces:
            raise FaceRejected(RejectReason.NO_FACE)
        largest = max(faces, key=lambda face: face.area)
        return {embedder.name: embedder.embed_faces(image, [largest])[0] for embedder in self.embedders}

    def gate(self, frames: Sequence[bytes]) -> tuple[list[GatedFrame], list[FrameRejection]]:
        """Every frame through decoding and the login's gates (``FaceEngine.check_frame``)."""
        gated: list[GatedFrame] = []
        rejected: list[FrameRejection] = []
        for index, data in enumerate(frames):
            try:
                image = self.engine.decode(data)
                result = self.engine.check_frame(image)
            except ImageError as error:
                rejected.append(FrameRejection(index, error.reason))
                continue
            if result.crop is None or result.face is None:
                rejected.append(FrameRejection(index, result.reason or RejectReason.NO_FACE))
                continue
            gated.append(GatedFrame(index, image, result.face, measure(result.face, result.crop).sharpness))
        return gated, rejected

    def embed_gated(
        self, gated: Sequence[GatedFrame], all_frames: bool = False
    ) -> dict[str, tuple[Embedding, ...]]:
        """Per model, the embeddings of the frames it embeds: the first model every frame, the
        others the ``best_frames`` sharpest (every frame when ``all_frames``, as for enrollment)."""
        sharpness = [frame.sharpness for frame in gated]
        embeddings: dict[str, tuple[Embedding, ...]] = {}
        for position, embedder in enumerate(self.embedders):
            chosen: list[int] = list(range(len(gated)))
            if position > 0 and not all_frames:
                chosen = best_frame_positions(sharpness, self.best_frames)
            embeddings[embedder.name] = tuple(
                embedder.embed_faces(gated[i].image, [gated[i].face])[0] for i in chosen
            )
        return embeddings

    def embed_burst(self, frames: Sequence[bytes], all_frames: bool = False) -> ModelBurst:
        """A login (or, with ``all_frames``, an enrollment) burst: gated, then embedded per model."""
        gated, rejected = self.gate(frames)
        embeddings = self.embed_gated(gated, all_frames)
        return ModelBurst(embeddings, tuple(frame.index for frame in gated), tuple(rejected))


def best_frame_positions(sharpness: Sequence[float], count: int) -> list[int]:
    """Positions of the ``count`` sharpest frames, in frame order (all of them when ``count`` is 0)."""
    if count <= 0 or count >= len(sharpness):
        return list(range(len(sharpness)))
    return sorted(int(i) for i in np.argsort(-np.asarray(sharpness), kind="stable")[:count])


def detect_in_still(engine: FaceEngine, image: np.ndarray, search: StillSearch) -> list[Face]:
    """Faces in a photo: the engine's detection with a smaller minimum face, then, if none is
    found, once more in the image enlarged by ``search.retry_upscale``."""
    finder = _detector_with(engine.detector, min_face_size=search.min_face_px)
    faces = _detect_padded(engine, finder, image, search.min_face_px)
    if faces or search.retry_upscale <= 1.0:
        return faces
    factor = min(search.retry_upscale, search.retry_max_side / max(image.shape[:2]))
    if factor <= 1.0:
        return []
    enlarged = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
    finder = _detector_with(
        engine.detector, min_face_size=search.min_face_px, max_side=max(enlarged.shape[:2])
    )
    return [
        _scaled(face, 1.0 / factor) for face in _detect_padded(engine, finder, enlarged, search.min_face_px)
    ]


def _detector_with(detector: MTCNNDetector, min_face_size: int, max_side: int | None = None) -> MTCNNDetector:
    """The same networks with other search settings (the sessions are shared, not reloaded)."""
    other = copy.copy(detector)
    other.config = dataclasses.replace(
        detector.config, min_face_size=min_face_size, max_side=max_side or detector.config.max_side
    )
    return other


def _detect_padded(
    engine: FaceEngine, detector: MTCNNDetector, image: np.ndarray, min_face: int
) -> list[Face]:
    """As ``FaceEngine.detect``: a small image (a face crop) is searched with a border around it."""
    shorter = min(image.shape[:2])
    if shorter >= engine.settings.detect_pad_below:
        return detector.detect(image)
    pad = round(shorter * 0.25)
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    found = detector.detect(padded, min_face_size=max(12, min(min_face, shorter // 2)))
    return [_shifted(face, -pad) for face in found]


def _shifted(face: Face, offset: float) -> Face:
    x1, y1, x2, y2 = face.box
    return Face(
        box=(x1 + offset, y1 + offset, x2 + offset, y2 + offset),
        score=face.score,
        landmarks=tuple((x + offset, y + offset) for x, y in face.landmarks),
    )


def _scaled(face: Face, factor: float) -> Face:
    return Face(
        box=tuple(value * factor for value in face.box),  # type: ignore[arg-type]
        score=face.score,
        landmarks=tuple((x * factor, y * factor) for x, y in face.landmarks),
    )
