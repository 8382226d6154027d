"""The served recognition models side by side, for labelled captures (``faceauth compare``,
``eval`` and ``calibrate``): the faces of stills (photos a person would use) and of login frames.

Login frames go through exactly the gates of ``FaceEngine.check_frame`` (one face, big, sharp, lit,
frontal). Stills are searched harder: a smaller minimum face, and an upscaled retry when nothing is
found; no gates. Every model here is one of the engine's embedders."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from faceauth.domain import Embedding, Face, FaceRejected, FrameRejection, ImageError, RejectReason
from faceauth.vision.detection import MTCNNDetector
from faceauth.vision.embedding import Embedder, FaceInImage
from faceauth.vision.engine import FaceEngine


@dataclass(frozen=True)
class GatedFrame:
    """A frame that passed the login's gates: its face (with the image) and the face's sharpness."""

    index: int
    face: FaceInImage
    sharpness: float


@dataclass(frozen=True)
class StillSearch:
    """How hard to look for a face in a still photo."""

    min_face_px: int = 20  # at working resolution (the login's detector uses Settings.min_face_size)
    retry_upscale: float = 2.0  # when nothing is found, look again in the image enlarged this much
    retry_max_side: int = 1600  # the enlarged image is searched at up to this longer side


class Recognition:
    """The engine's served models (``Settings.recognition_models``), for stills and single frames."""

    def __init__(self, engine: FaceEngine) -> None:
        self.engine = engine

    @property
    def models(self) -> tuple[str, ...]:
        return self.engine.served

    @property
    def embedders(self) -> list[Embedder]:
        return [self.engine.embedders[model] for model in self.models]

    def embed_still(self, data: bytes, search: StillSearch | None = None) -> dict[str, Embedding]:
        """Every served model's embedding of the largest face in a photo (no quality gates)."""
        image = self.engine.decode(data)
        faces = detect_in_still(self.engine, image, search or StillSearch())
        if not faces:
            raise FaceRejected(RejectReason.NO_FACE)
        largest = FaceInImage(image, max(faces, key=lambda face: face.area))
        return {embedder.name: embedder.embed([largest])[0] for embedder in self.embedders}

    def gate(self, frames: Sequence[bytes]) -> tuple[list[GatedFrame], list[FrameRejection]]:
        """Every frame through decoding and the login's gates (``FaceEngine.check_frame``)."""
        gated: list[GatedFrame] = []
        rejected: list[FrameRejection] = []
        for index, data in enumerate(frames):
            try:
                result = self.engine.check_frame(self.engine.decode(data))
            except ImageError as error:
                rejected.append(FrameRejection(index, error.reason))
                continue
            if result.face is None:
                rejected.append(FrameRejection(index, result.reason or RejectReason.NO_FACE))
                continue
            gated.append(GatedFrame(index, result.face, result.sharpness))
        return gated, rejected

    def embed_gated(self, gated: Sequence[GatedFrame]) -> dict[str, tuple[Embedding, ...]]:
        """Per served model, the embeddings of every gated frame."""
        faces = [frame.face for frame in gated]
        return {embedder.name: tuple(embedder.embed(faces)) for embedder in self.embedders}


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
