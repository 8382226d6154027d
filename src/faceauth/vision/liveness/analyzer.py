"""Turning the frames of a challenge stream into ``FrameObservation``s, with the models the app loaded.

A frame costs what it needs, not every model (the cost per login is measured by
``bench/liveness_cost.py``):

- **Track.** The face mesh follows the face from one frame to the next on its own tracking crop (one
  mesh pass, as MediaPipe tracks a video); the detector (MTCNN) runs only on the first frame, on a frame
  where the mesh lost the face (so tracking recovers on the very frame it was lost), and on the frames
  chosen for an embedding.
- **Embed some frames** (FaceNet, the expensive model), chosen as they arrive: the first frame of every
  track (so every stretch of tracked frames is tied to an embedding), the first turned frame of every
  turn and the first closed-eye frame of every blink (the frames that show the moves are checked to be
  the person matched), and between those at random gaps of ``min_gap`` to ``max_gap`` frames drawn from
  the system's random source, so a sender cannot know which frames are checked. The detector's run on a
  chosen frame also counts its faces, so the one-face rule is checked on a sample of the stream too.

The identity check and the match then use the embedded frames only
(:func:`faceauth.vision.liveness.identity.check_identity`)."""

from __future__ import annotations

import dataclasses
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from faceauth.domain import Face, ImageError, RejectReason
from faceauth.vision.embedding import FaceInImage
from faceauth.vision.engine import IDENTITY_MODEL, FaceEngine
from faceauth.vision.landmarks import FaceMesh, FacePose
from faceauth.vision.liveness.observation import FrameObservation
from faceauth.vision.liveness.passive import PassiveEvidence, PassiveSignal
from faceauth.vision.quality import first_failure, measure
from faceauth.vision.screen_light import light_sample

# Five points of the face mesh in MTCNN's order (image-left eye, image-right eye, nose tip, image-left
# and image-right mouth corner): the landmarks of a tracked frame's face for the passive signals.
MESH_FIVE_POINTS = (33, 263, 1, 61, 291)


@dataclass(frozen=True)
class SamplingPolicy:
    """Which frames get an embedding (see the module docstring). Gaps in frames; move thresholds as
    in :class:`~faceauth.vision.liveness.sequence.SequencePolicy`."""

    min_gap: int = 2  # frames from one sampled frame to the next, at least (then at random)
    max_gap: int = 5  # at most: a sampled frame every this many frames
    turn_min_deg: float = 12.0
    neutral_max_deg: float = 7.0
    blink_closed_ratio: float = 0.65
    min_track_overlap: float = 0.3  # detector box vs tracked box (IoU): below, another face
    # Frames usable for matching wanted before sampling thins out: every steady frame is embedded
    # until this many are, so a short challenge still has enough to match (min_good_frames + margin).
    min_matching_frames: int = 8


class LivenessAnalyzer:
    """Per-frame measurements for a challenge stream, with the models the app already loaded."""

    def __init__(
        self,
        engine: FaceEngine,
        mesh: FaceMesh,
        signals: Sequence[PassiveSignal],
        bystander_ratio: float = 0.5,
        sampling: SamplingPolicy | None = None,
        chooser: random.Random | None = None,
    ) -> None:
        """``bystander_ratio``: another face narrower than this share of the largest one is a
        bystander in the background (a blurred face in a crowd, a photo on the wall), not a second
        participant, and is ignored; a comparable face anywhere in a frame fails the challenge.
        ``chooser``: the random source of the sampling gaps (the system's, unless a test fixes one)."""
        self.engine = engine
        self.mesh = mesh
        self.signals = list(signals)
        self.bystander_ratio = bystander_ratio
        self.sampling = sampling or SamplingPolicy()
        self.chooser = chooser or secrets.SystemRandom()

    def observe(
        self, rgb: np.ndarray, received_s: float, history: Sequence[FrameObservation] = ()
    ) -> FrameObservation:
        """One decoded RGB frame, after the stream's earlier observations ``history`` (arrival order).

        The face is embedded on a chosen frame when exactly one face is found and it passes the size and
        confidence gates, even when turned (the identity check covers the turned frames too); ``reason``
        says whether it passes every gate, i.e. may be used for the match itself."""
        previous = history[-1] if history else None
        pose = self.mesh.measure(rgb, track=previous.track) if previous and previous.track else None
        if pose is not None and not self._wants_embedding(pose, history):
            return self._tracked(rgb, received_s, pose)
        return self._detected(rgb, received_s, pose)

    def observe_stream(
        self, frames: Sequence[bytes], received_s: float, history: Sequence[FrameObservation] = ()
    ) -> list[FrameObservation]:
        """``observe`` on each encoded frame of a chunk, in order; an undecodable frame counts as a frame
        without a face (and the face is detected again on the next one)."""
        observed: list[FrameObservation] = []
        for data in frames:
            try:
                rgb = self.engine.decode(data)
            except ImageError:
                observed.append(FrameObservation(received_s, 0, RejectReason.NOT_AN_IMAGE))
                continue
            observed.append(self.observe(rgb, received_s, [*history, *observed]))
        return observed

    def observe_bytes(self, data: bytes, received_s: float) -> FrameObservation:
        """``observe`` on one encoded image on its own (no stream before it)."""
        return self.observe_stream([data], received_s)[0]

    def evaluate_passive(self, observations: Sequence[FrameObservation]) -> list[PassiveEvidence]:
        return [
            signal.evaluate(
                [o.features[signal.name] for o in observations if o.faces == 1 and signal.name in o.features]
            )
            for signal in self.signals
        ]

    # --- one frame ---------------------------------------------------------------------------------

    def _tracked(self, rgb: np.ndarray, received_s: float, pose: FacePose) -> FrameObservation:
        assert pose.landmarks is not None
        points = pose.landmarks[:, :2]
        box = (
            float(points[:, 0].min()),
            float(points[:, 1].min()),
            float(points[:, 0].max()),
            float(points[:, 1].max()),
        )
        five = tuple((float(points[i, 0]), float(points[i, 1])) for i in MESH_FIVE_POINTS)
        face = Face(box=box, score=pose.face_score, landmarks=five)
        every = [s for s in self.signals if getattr(s, "every_frame", True)]
        return self._observation(received_s, face, pose, None, None, every, rgb, detected=False)

    def _detected(self, rgb: np.ndarray, received_s: float, tracked: FacePose | None) -> FrameObservation:
        faces = self.engine.detect(rgb)
        if len(faces) > 1:
            largest = max(faces, key=lambda f: f.width)
            faces = [f for f in faces if f is largest or f.width >= self.bystander_ratio * largest.width]
        if len(faces) != 1:
            none_or_many = RejectReason.NO_FACE if not faces else RejectReason.MULTIPLE_FACES
            return FrameObservation(received_s, len(faces), none_or_many)
        face = faces[0]
        if tracked is None or not self._same_face(face, tracked):
            tracked = self.mesh.measure(rgb, face.box)  # a new track: found by the detector
        reason = first_failure(measure(face, self.engine.crop(rgb, face)), self.engine.policy)
        vectors: dict[str, np.ndarray] = {}
        if reason not in (RejectReason.FACE_TOO_SMALL, RejectReason.LOW_CONFIDENCE):
            # FaceNet on every chosen frame (the identity check is calibrated for it); the served
            # models too on the frames the match uses (those passing every gate).
            models = [IDENTITY_MODEL, *(m for m in self.engine.served if m != IDENTITY_MODEL)]
            for model in models if reason is None else models[:1]:
                vectors[model] = self.engine.embedders[model].embed([FaceInImage(rgb, face)])[0]
        observation = self._observation(
            received_s, face, tracked, reason, vectors.get(IDENTITY_MODEL), self.signals, rgb, True
        )
        return dataclasses.replace(observation, model_vectors=vectors if reason is None else {})

    def _observation(
        self,
        received_s: float,
        face: Face,
        pose: FacePose | None,
        reason: RejectReason | None,
        embedding: np.ndarray | None,
        signals: Sequence[PassiveSignal],
        rgb: np.ndarray,
        detected: bool,
    ) -> FrameObservation:
        light = light_sample(rgb, face)  # a few mean colours, for the screen-light judge
        return FrameObservation(
            received_s=received_s,
            faces=1,
            reason=reason,
            box=face.box,
            yaw_deg=round(pose.yaw_deg, 2) if pose else None,
            pitch_deg=round(pose.pitch_deg, 2) if pose else None,
            ear=round((pose.left_ear + pose.right_ear) / 2, 4) if pose else None,
            embedding=embedding,
            features={signal.name: signal.frame_feature(rgb, face, pose) for signal in signals},
            detected=detected,
            track=pose.track if pose else None,
            light=light.to_list() if light is not None else None,
        )

    # --- which frames are embedded -----------------------------------------------------------------

    def _same_face(self, face: Face, pose: FacePose) -> bool:
        if pose.landmarks is None:
            return False
        points = pose.landmarks[:, :2]
        ax1, ay1 = float(points[:, 0].min()), float(points[:, 1].min())
        ax2, ay2 = float(points[:, 0].max()), float(points[:, 1].max())
        bx1, by1, bx2, by2 = face.box
        inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
        union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
        return union > 0 and inter / union >= self.sampling.min_track_overlap

    def _wants_embedding(self, pose: FacePose, history: Sequence[FrameObservation]) -> bool:
        policy = self.sampling
        since = next(
            (age for age, o in enumerate(reversed(history), start=1) if o.detected), len(history) + 1
        )
        if since >= policy.max_gap:
            return True
        if (
            sum(1 for o in history if o.detected and o.faces == 1 and o.reason is None)
            < policy.min_matching_frames
        ):
            return True  # not yet enough frames to match: embed until there are
        posed = [o for o in history if o.has_pose]
        previous = history[-1] if history else None
        if len(posed) >= 3 and previous is not None and previous.has_pose:
            assert previous.yaw_deg is not None and previous.ear is not None
            neutral = float(np.median([o.yaw_deg for o in posed if o.yaw_deg is not None]))
            if abs(pose.yaw_deg - neutral) >= policy.turn_min_deg > abs(previous.yaw_deg - neutral):
                return True  # the first turned frame of a turn
            near = [
                o.ear
                for o in posed
                if o.ear is not None and abs((o.yaw_deg or 0.0) - neutral) <= policy.neutral_max_deg
            ]
            if near:
                closed = policy.blink_closed_ratio * float(np.median(near))
                if (pose.left_ear + pose.right_ear) / 2 <= closed < previous.ear:
                    return True  # the first closed-eye frame of a blink
        if since < policy.min_gap:
            return False
        return self.chooser.random() < 1.0 / (policy.max_gap - policy.min_gap + 1)
