"""The identity check: does every frame of a challenge stream show the same person?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceauth.vision import matching
from faceauth.vision.liveness.observation import FrameObservation


@dataclass(frozen=True)
class IdentityResult:
    """Whether all the frames with a face show one person. Two tests, both against
    ``min_similarity``: every pair of frames usable for matching (frontal, sharp: the frames the match
    uses), so that a stream spliced from two people's frontal frames fails even when their mean sits
    between them; and every embedded frame (turned ones too) against the mean of the usable ones."""

    matching_frames: int  # frames that pass every gate: the match uses their mean
    embedded_frames: int
    min_similarity: float  # the lowest of both tests (1.0 when there is nothing to compare)
    consistent: bool


def check_identity(observations: Sequence[FrameObservation], min_similarity: float) -> IdentityResult:
    usable = [o.embedding for o in observations if o.usable_for_matching and o.embedding is not None]
    embedded = [o.embedding for o in observations if o.embedding is not None]
    if not usable:
        return IdentityResult(0, len(embedded), 0.0, False)
    stack = np.stack(usable).astype(np.float64)
    pairwise = float((stack @ stack.T).min())  # rows are L2-normalised: cosine similarities
    probe = matching.mean_embedding(usable)
    to_mean = min((matching.cosine_similarity(e, probe) for e in embedded), default=1.0)
    lowest = min(pairwise, to_mean)
    return IdentityResult(len(usable), len(embedded), round(lowest, 4), lowest >= min_similarity)
