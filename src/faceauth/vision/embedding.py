"""Face embedders: the one interface every recognition model implements, and FaceNet.

The engine detects faces (MTCNN: a box and five landmarks each) and hands them, with the RGB image
they were found in, to an :class:`Embedder`. Each embedder cuts out and normalises the face the way
its model was trained, so adding a model means adding one class here (or beside this module), never
changing the detector or the gates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import onnxruntime as ort

from faceauth.domain import Embedding, Face
from faceauth.vision.alignment import AlignmentMethod, extract_face


@dataclass(frozen=True)
class FaceInImage:
    """A detected face and the image it was found in.

    ``image``: RGB ``uint8``, H x W x 3. ``face``: the detector's box (x1, y1, x2, y2) and its five
    landmarks (left eye, right eye, nose, mouth left, mouth right; image-left first for the eyes and
    mouth corners as MTCNN orders them), all in pixels of ``image``."""

    image: np.ndarray
    face: Face


class Embedder(Protocol):
    """A face recognition model: faces in, one L2-normalised vector per face out.

    ``name``: the model's short name ("facenet"); ``version``: which weights ("20180408-102900"); the
    two together identify the vector space, so a stored template records them and is only ever
    compared with vectors of the same name and version. ``dim``: the vector length.

    ``embed(faces)`` returns, in order, one ``float32`` vector of length ``dim`` and unit L2 norm per
    face. It does all of its model's own preprocessing from the image and the detector's box and
    landmarks (cropping or aligning, resizing, colour order, scaling), so faces from different images
    can be embedded in one batch. An empty sequence gives an empty list. It raises ``ValueError`` for a
    face it cannot cut out (a box outside the image, landmarks that define no transform)."""

    name: str
    version: str
    dim: int

    def embed(self, faces: Sequence[FaceInImage]) -> list[Embedding]: ...


def prewhiten(face: np.ndarray) -> np.ndarray:
    """Per-image standardisation, as FaceNet was trained: zero mean, unit variance (the deviation is
    floored at 1/sqrt(pixels), so a flat image does not blow up)."""
    pixels = face.astype(np.float32)
    std = max(float(pixels.std()), 1.0 / np.sqrt(pixels.size))
    standardised: np.ndarray = (pixels - pixels.mean()) / std
    return standardised


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit: np.ndarray = (vectors / np.maximum(norms, 1e-10)).astype(np.float32)
    return unit


class FaceNetEmbedder:
    """FaceNet (Inception-ResNet-v1, 20180408-102900, trained on CASIA-WebFace), 512-d.

    Preprocessing as its authors aligned their training data: the face cut out as a 160 x 160 RGB crop
    (``alignment``: "margin", the MTCNN box grown by ``margin_px`` of the 160, or "landmarks", see
    :mod:`faceauth.vision.alignment`), then prewhitened."""

    name = "facenet"
    version = "20180408-102900"
    dim = 512

    def __init__(self, session: ort.InferenceSession, alignment: AlignmentMethod, margin_px: float) -> None:
        self._session = session
        self._input = session.get_inputs()[0].name
        self.alignment: AlignmentMethod = alignment
        self.margin_px = margin_px

    def crop(self, face: FaceInImage) -> np.ndarray:
        """The 160 x 160 RGB ``uint8`` crop FaceNet sees."""
        return extract_face(face.image, face.face, self.alignment, self.margin_px)

    def embed(self, faces: Sequence[FaceInImage]) -> list[Embedding]:
        if not faces:
            return []
        crops = [self.crop(face) for face in faces]
        batch = np.stack([prewhiten(crop).transpose(2, 0, 1) for crop in crops]).astype(np.float32)
        (raw,) = self._session.run(None, {self._input: batch})
        return list(l2_normalise(raw))
