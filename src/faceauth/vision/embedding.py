"""FaceNet (Inception-ResNet-v1, 20180408-102900, CASIA-WebFace) embeddings in ONNX Runtime."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from faceauth.domain import Embedding
from faceauth.vision.convert import INPUT_NAME

logger = logging.getLogger(__name__)

EMBEDDING_SIZE = 512


def prewhiten(face: np.ndarray) -> np.ndarray:
    """Per-image standardisation, as FaceNet was trained: zero mean, unit variance (the deviation is
    floored at 1/sqrt(pixels), so a flat image does not blow up)."""
    pixels = face.astype(np.float32)
    std = max(float(pixels.std()), 1.0 / np.sqrt(pixels.size))
    return (pixels - pixels.mean()) / std


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-10)).astype(np.float32)


class FaceNetEmbedder:
    """Turns 160 x 160 RGB face crops into L2-normalised 512-d embeddings, a batch at a time."""

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session

    def embed(self, faces: Sequence[np.ndarray]) -> list[Embedding]:
        if not faces:
            return []
        batch = np.stack([prewhiten(face).transpose(2, 0, 1) for face in faces]).astype(np.float32)
        (raw,) = self._session.run(None, {INPUT_NAME: batch})
        return list(l2_normalise(raw))
