"""Templates and comparisons: cosine similarity of L2-normalised embeddings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceauth.domain import Embedding, FrameRejection, InconsistentEnrollment, RejectReason


def mean_embedding(embeddings: Sequence[Embedding]) -> Embedding:
    """The renormalised mean of several embeddings of one person."""
    if not embeddings:
        raise ValueError("no embeddings to average")
    mean = np.mean(np.stack(embeddings), axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6:
        raise ValueError("embeddings cancel out")
    template: Embedding = (mean / norm).astype(np.float32)
    return template


def cosine_similarity(a: Embedding, b: Embedding) -> float:
    """Cosine similarity in [-1, 1]; both vectors are L2-normalised, so this is their dot product."""
    return float(np.dot(a.astype(np.float64), b.astype(np.float64)))


def build_template(
    embeddings: Sequence[Embedding], min_consistency: float, frame_indices: Sequence[int] | None = None
) -> Embedding:
    """The enrollment template: the renormalised mean of the frames' embeddings.

    Every frame must be at least ``min_consistency`` similar to the mean of the *other* frames
    (leave-one-out, so one frame cannot vouch for itself); if any is not, the burst does not show
    one person throughout and the enrollment is refused with ``InconsistentEnrollment`` naming the
    offending frames (by ``frame_indices`` when given, else by position)."""
    indices = list(frame_indices) if frame_indices is not None else list(range(len(embeddings)))
    if len(embeddings) < 2:
        return mean_embedding(embeddings)
    stacked = np.stack(embeddings).astype(np.float64)
    total = stacked.sum(axis=0)
    outliers = []
    for position, vector in enumerate(stacked):
        others = total - vector
        similarity = float(np.dot(vector, others) / max(np.linalg.norm(others), 1e-10))
        if similarity < min_consistency:
            outliers.append(FrameRejection(index=indices[position], reason=RejectReason.NOT_SAME_PERSON))
    if outliers:
        raise InconsistentEnrollment(tuple(outliers))
    return mean_embedding(embeddings)
