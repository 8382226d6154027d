"""Turning one decoded challenge frame into a ``FrameObservation``, with the models the app loaded."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faceauth.domain import ImageError, RejectReason
from faceauth.vision.embedding import FaceInImage
from faceauth.vision.engine import FaceEngine
from faceauth.vision.landmarks import FaceMesh
from faceauth.vision.liveness.observation import FrameObservation
from faceauth.vision.liveness.passive import PassiveEvidence, PassiveSignal
from faceauth.vision.quality import first_failure, measure


class LivenessAnalyzer:
    """Per-frame measurements for a challenge stream, with the models the app already loaded."""

    def __init__(
        self,
        engine: FaceEngine,
        mesh: FaceMesh,
        signals: Sequence[PassiveSignal],
        bystander_ratio: float = 0.5,
    ) -> None:
        """``bystander_ratio``: another face narrower than this share of the largest one is a
        bystander in the background (a blurred face in a crowd, a photo on the wall), not a second
        participant, and is ignored; a comparable face anywhere in a frame fails the challenge."""
        self.engine = engine
        self.mesh = mesh
        self.signals = list(signals)
        self.bystander_ratio = bystander_ratio

    def observe(self, rgb: np.ndarray, received_s: float) -> FrameObservation:
        """Detect (MTCNN), gate, embed (the engine's embedder) and measure (face mesh) one decoded RGB frame.

        The face is embedded whenever exactly one face is found and it passes the size and confidence
        gates, even when turned (the identity check covers the turned frames too); ``reason`` says
        whether it passes every gate, i.e. may be used for the match itself."""
        faces = self.engine.detect(rgb)
        if len(faces) > 1:
            largest = max(faces, key=lambda f: f.width)
            faces = [f for f in faces if f is largest or f.width >= self.bystander_ratio * largest.width]
        if len(faces) != 1:
            none_or_many = RejectReason.NO_FACE if not faces else RejectReason.MULTIPLE_FACES
            return FrameObservation(received_s, len(faces), none_or_many)
        face = faces[0]
        reason = first_failure(measure(face, self.engine.crop(rgb, face)), self.engine.policy)
        embedding = None
        if reason not in (RejectReason.FACE_TOO_SMALL, RejectReason.LOW_CONFIDENCE):
            embedding = self.engine.embedder.embed([FaceInImage(rgb, face)])[0]
        pose = self.mesh.measure(rgb, face.box)
        features = {signal.name: signal.frame_feature(rgb, face, pose) for signal in self.signals}
        return FrameObservation(
            received_s=received_s,
            faces=1,
            reason=reason,
            box=face.box,
            yaw_deg=round(pose.yaw_deg, 2) if pose else None,
            pitch_deg=round(pose.pitch_deg, 2) if pose else None,
            ear=round((pose.left_ear + pose.right_ear) / 2, 4) if pose else None,
            embedding=embedding,
            features=features,
        )

    def observe_bytes(self, data: bytes, received_s: float) -> FrameObservation:
        """``observe`` on an encoded image; an undecodable frame counts as a frame without a face."""
        try:
            rgb = self.engine.decode(data)
        except ImageError:
            return FrameObservation(received_s, 0, RejectReason.NOT_AN_IMAGE)
        return self.observe(rgb, received_s)

    def evaluate_passive(self, observations: Sequence[FrameObservation]) -> list[PassiveEvidence]:
        return [
            signal.evaluate([o.features.get(signal.name, []) for o in observations if o.faces == 1])
            for signal in self.signals
        ]
