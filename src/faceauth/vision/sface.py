"""SFace embeddings (OpenCV Zoo, 2021dec, 128-d) in ONNX Runtime.

Preprocessing as the model's authors intend: the five MTCNN landmarks are mapped by a least-squares
similarity transform (rotation, uniform scale, shift; Umeyama) onto the 112 x 112 ArcFace template,
and the warped face goes in as raw BGR 0-255 floats, channels first, with no normalisation. The
128-d output is L2-normalised. The session comes from ``faceauth.model_zoo.registry`` (SFACE)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import onnxruntime as ort

from faceauth.domain import Embedding, Face
from faceauth.vision.embedding import FaceInImage

NAME = "sface"
VERSION = "2021dec-int8bq"  # the shipped file the weights come from (model_zoo.registry.SFACE)
DIM = 128
INPUT_NAME = "data"
FACE_SIZE = 112

# Where the left eye, right eye, nose tip and mouth corners sit in a 112 x 112 ArcFace crop
# (the template InsightFace and OpenCV's FaceRecognizerSF align to).
ARCFACE_TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 matrix of the rotation, uniform scale and shift that maps ``source`` points onto
    ``target`` points with the least squared error (Umeyama, 1991), reflections excluded."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    source_variance = float((source_centred**2).sum()) / len(source)
    if source_variance < 1e-12:
        raise ValueError("landmarks do not define a transform")
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(singular) @ sign)) / source_variance
    shift = target_mean - scale * rotation @ source_mean
    return np.hstack([scale * rotation, shift[:, None]])


def align(image_rgb: np.ndarray, face: Face) -> np.ndarray:
    """The 112 x 112 RGB crop of ``face`` with its landmarks on the ArcFace template."""
    matrix = similarity_transform(np.asarray(face.landmarks), ARCFACE_TEMPLATE)
    return cv2.warpAffine(image_rgb, matrix, (FACE_SIZE, FACE_SIZE), flags=cv2.INTER_LINEAR)


def to_input(aligned_rgb: Sequence[np.ndarray]) -> np.ndarray:
    """A batch as SFace takes it: BGR, 0-255 float32, N x 3 x 112 x 112."""
    return np.stack([crop[:, :, ::-1].transpose(2, 0, 1) for crop in aligned_rgb]).astype(np.float32)


class SFaceEmbedder:
    """SFace behind the :class:`~faceauth.vision.embedding.Embedder` interface."""

    name = NAME
    version = VERSION
    dim = DIM

    def __init__(self, session: ort.InferenceSession) -> None:
        self._session = session

    def embed(self, faces: Sequence[FaceInImage]) -> list[Embedding]:
        """One embedding per face; faces of different images go in one batch."""
        return self.embed_aligned([align(face.image, face.face) for face in faces])

    def embed_aligned(self, aligned_rgb: Sequence[np.ndarray]) -> list[Embedding]:
        """Embeddings of faces already aligned by :func:`align` (a burst aligns frame by frame)."""
        if not aligned_rgb:
            return []
        (raw,) = self._session.run(None, {INPUT_NAME: to_input(aligned_rgb)})
        vectors = np.asarray(raw, dtype=np.float32)
        norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-10)
        return list((vectors / norms).astype(np.float32))
