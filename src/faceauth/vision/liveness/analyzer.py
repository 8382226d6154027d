"""Turning the frames of a challenge stream into ``FrameObservation``s, with the models the app loaded.

A frame costs what it needs, not every model (the CPU per login is measured by ``bench/liveness.py``):

- **Track.** The face mesh follows the face from one frame to the next on its own tracking crop (one
  mesh pass, as MediaPipe tracks a video; frames nothing is judged on, ``StreamPlan.skipped``, are
  passed over and the track goes on from the frame before); the detector (MTCNN) runs only on the
  first frame, on a frame where the mesh lost the face (so tracking recovers on the very frame it was
  lost), and on the frames chosen for an embedding (there around the tracked face only, at twice its width).
- **Eyes where a blink can count.** The iris model (two runs a frame) measures eye openness on every
  ``light_eyes_every``-th frame of the light phase (the open-eye level) and, after it, while the move
  awaited is the blink, on the frames near the neutral yaw, where the sequence check can see it; a
  turned frame, or a frame while a turn is awaited, needs no eyes.
- **Embed a few frames** (FaceNet, the expensive model), chosen as they arrive: the first frame of
  every track (so every stretch of tracked frames is tied to an embedding), the first turned frame of
  every turn (the turned view is checked to be the person matched), and ``StreamPlan.matching_frames``
  frames usable for matching at positions drawn from the system's random source over the light phase
  and the ``window_after_light`` frames after it (selection sampling among the frames facing as at
  neutral: each is taken with probability still-needed / frames-left), so a sender cannot know which
  frames are checked; past the window, every such frame until enough are usable. A drawn frame that
  fails a quality gate costs the detector only, not FaceNet. The served models besides FaceNet embed
  ``StreamPlan.served_frames`` of the usable frames, drawn the same way. The detector's run on a chosen
  frame also counts its faces, so the one-face rule is checked on a sample of the stream too (the whole
  frame where a track starts, the tracked face's surroundings on the others).

The identity check and the match then use the embedded frames only
(:func:`faceauth.vision.liveness.identity.check_identity`)."""

from __future__ import annotations

import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from faceauth.domain import Face, ImageError, RejectReason
from faceauth.vision.embedding import FaceInImage
from faceauth.vision.engine import IDENTITY_MODEL, FaceEngine
from faceauth.vision.landmarks import FaceMesh, FacePose
from faceauth.vision.liveness.moves import Move
from faceauth.vision.liveness.observation import FrameObservation
from faceauth.vision.liveness.passive import PassiveEvidence, PassiveSignal
from faceauth.vision.liveness.sequence import SequencePolicy, check_sequence
from faceauth.vision.quality import first_failure, measure
from faceauth.vision.screen_light import light_sample

# Five points of the face mesh in MTCNN's order (image-left eye, image-right eye, nose tip, image-left
# and image-right mouth corner): the landmarks of a tracked frame's face for the passive signals.
MESH_FIVE_POINTS = (33, 263, 1, 61, 291)
# Frames with eyes measured near neutral before the eyes may be skipped (the open-eye level needs them).
MIN_OPEN_LEVEL_FRAMES = 3


def _landmark_box(pose: FacePose) -> tuple[float, float, float, float]:
    """The box around the face mesh's landmarks, in frame pixels."""
    assert pose.landmarks is not None
    points = pose.landmarks[:, :2]
    return (
        float(points[:, 0].min()),
        float(points[:, 1].min()),
        float(points[:, 0].max()),
        float(points[:, 1].max()),
    )


class Chosen(Enum):
    """Why a frame goes to the detector (and, if it passes, to FaceNet)."""

    NOT = "not"  # tracked only
    TRACK_START = "track_start"  # no track, or the detector found another face: embedded whatever
    TURNED = "turned"  # the first turned frame of a turn: embedded whatever its pose
    FOR_MATCH = "for_match"  # drawn for the match: embedded only if it passes every gate


@dataclass(frozen=True)
class SamplingPolicy:
    """Which frames get eyes and embeddings (see the module docstring). Frames; degrees of yaw as in
    :class:`~faceauth.vision.liveness.sequence.SequencePolicy`."""

    window_after_light: int = 32  # their random positions: the light phase and this many frames after
    turn_min_deg: float = 12.0  # the first frame this far from neutral in a turn is embedded
    neutral_max_deg: float = 7.0  # the sequence check's "back at neutral"
    eyes_margin_deg: float = 5.0  # eyes are measured within neutral_max_deg + this of the neutral yaw
    light_eyes_every: int = 4  # in the light phase, eyes on every this many frames (the open level)
    min_track_overlap: float = 0.3  # detector box vs tracked box (IoU): below, another face
    detect_context: float = 0.5  # on a tracked frame the detector sees the face and this many face
    # widths around it on each side (faces beyond are not counted there; a track's first frame is
    # searched whole)


@dataclass(frozen=True)
class StreamPlan:
    """What the service knows of a challenge's stream that the sampling needs."""

    moves_from: int = 0  # frames of the light phase (moves are asked from this frame on)
    matching_frames: int = 4  # frames usable for matching wanted (the judge's minimum)
    served_frames: int = 2  # usable frames the served models besides FaceNet embed (the match's)
    # The challenge's moves, judged as the service judges them: eyes are measured only while the
    # move awaited is a blink. None: any challenge (eyes wherever a blink could count).
    moves: tuple[Move, ...] | None = None
    sequence: SequencePolicy = field(default_factory=SequencePolicy)
    # Frames nothing is judged on (the light phase's settle frames, while the screen changes colour):
    # decoded, not analysed; a frame that would start a track is analysed anyway.
    skipped: frozenset[int] = frozenset()


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
        self,
        rgb: np.ndarray,
        received_s: float,
        history: Sequence[FrameObservation] = (),
        plan: StreamPlan | None = None,
    ) -> FrameObservation:
        """One decoded RGB frame, after the stream's earlier observations ``history`` (arrival order).

        The face is embedded on a chosen frame when exactly one face is found and it passes the size and
        confidence gates, even when turned (the identity check covers the turned frames too); ``reason``
        says whether it passes every gate, i.e. may be used for the match itself."""
        plan = plan or StreamPlan()
        previous = history[-1] if history else None
        if len(history) in plan.skipped and previous is not None and previous.track is not None:
            # Nothing is judged on this frame: the track goes on from the frame before it.
            return FrameObservation(received_s, 1, skipped=True, detected=False, track=previous.track)
        pose = None
        if previous is not None and previous.track is not None:
            pose = self.mesh.measure(rgb, track=previous.track, eyes=False)
        chosen = self._chosen(pose, history, plan) if pose is not None else Chosen.TRACK_START
        if pose is not None and chosen is Chosen.NOT:
            return self._tracked(rgb, received_s, self._with_eyes(rgb, pose, history, plan))
        return self._detected(rgb, received_s, pose, history, plan, chosen)

    def observe_stream(
        self,
        frames: Sequence[bytes],
        received_s: float,
        history: Sequence[FrameObservation] = (),
        plan: StreamPlan | None = None,
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
            observed.append(self.observe(rgb, received_s, [*history, *observed], plan))
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
        box = _landmark_box(pose)
        five = tuple((float(points[i, 0]), float(points[i, 1])) for i in MESH_FIVE_POINTS)
        face = Face(box=box, score=pose.face_score, landmarks=five)
        every = [s for s in self.signals if getattr(s, "every_frame", True)]
        return self._observation(received_s, face, pose, None, {}, every, rgb, detected=False)

    def _detected(
        self,
        rgb: np.ndarray,
        received_s: float,
        tracked: FacePose | None,
        history: Sequence[FrameObservation],
        plan: StreamPlan,
        chosen: Chosen,
    ) -> FrameObservation:
        if tracked is not None and tracked.landmarks is not None:
            # A tracked face: the detector looks around it (a third of the pixels), not at the frame.
            faces = self.engine.detect_around(rgb, _landmark_box(tracked), self.sampling.detect_context)
        else:
            faces = self.engine.detect(rgb)  # a track starts: the whole frame, every face in it
        if len(faces) > 1:
            largest = max(faces, key=lambda f: f.width)
            faces = [f for f in faces if f is largest or f.width >= self.bystander_ratio * largest.width]
        if len(faces) != 1:
            none_or_many = RejectReason.NO_FACE if not faces else RejectReason.MULTIPLE_FACES
            return FrameObservation(received_s, len(faces), none_or_many)
        face = faces[0]
        if tracked is None or not self._same_face(face, tracked):
            tracked = self.mesh.measure(rgb, face.box, eyes=False)  # a new track: found by the detector
            chosen = Chosen.TRACK_START
        if tracked is not None:
            tracked = self._with_eyes(rgb, tracked, history, plan)
        reason = first_failure(measure(face, self.engine.crop(rgb, face)), self.engine.policy)
        vectors: dict[str, np.ndarray] = {}
        # A track's first frame and a turned frame are embedded whatever their pose (the identity
        # check covers them); a frame drawn for the match only when it may be used for it.
        wanted = reason is None or chosen is not Chosen.FOR_MATCH
        if wanted and reason not in (RejectReason.FACE_TOO_SMALL, RejectReason.LOW_CONFIDENCE):
            # FaceNet on every chosen frame (the identity check is calibrated for it); the other
            # served models on the usable frames drawn for the match (see the module docstring).
            models = [IDENTITY_MODEL]
            if reason is None and self._wants_served(history, plan):
                models += [m for m in self.engine.served if m != IDENTITY_MODEL]
            for model in models:
                vectors[model] = self.engine.embedders[model].embed([FaceInImage(rgb, face)])[0]
        return self._observation(
            received_s,
            face,
            tracked,
            reason,
            vectors if reason is None else {},
            self.signals,
            rgb,
            True,
            embedding=vectors.get(IDENTITY_MODEL),
        )

    def _observation(
        self,
        received_s: float,
        face: Face,
        pose: FacePose | None,
        reason: RejectReason | None,
        model_vectors: dict[str, np.ndarray],
        signals: Sequence[PassiveSignal],
        rgb: np.ndarray,
        detected: bool,
        embedding: np.ndarray | None = None,
    ) -> FrameObservation:
        light = light_sample(rgb, face)  # a few mean colours, for the screen-light judge
        ear = pose.ear if pose is not None else None
        return FrameObservation(
            received_s=received_s,
            faces=1,
            reason=reason,
            box=face.box,
            yaw_deg=round(pose.yaw_deg, 2) if pose else None,
            pitch_deg=round(pose.pitch_deg, 2) if pose else None,
            ear=round(ear, 4) if ear is not None else None,
            embedding=embedding,
            model_vectors=model_vectors,
            served=len(model_vectors) > 1,
            features={signal.name: signal.frame_feature(rgb, face, pose) for signal in signals},
            detected=detected,
            track=pose.track if pose else None,
            light=light.to_list() if light is not None else None,
        )

    # --- which frames get eyes and embeddings ------------------------------------------------------

    def _same_face(self, face: Face, pose: FacePose) -> bool:
        if pose.landmarks is None:
            return False
        ax1, ay1, ax2, ay2 = _landmark_box(pose)
        bx1, by1, bx2, by2 = face.box
        inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
        union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
        return union > 0 and inter / union >= self.sampling.min_track_overlap

    @staticmethod
    def _neutral_yaw(history: Sequence[FrameObservation]) -> float | None:
        """The stream's neutral yaw so far (median of the frames with a pose), None before three."""
        yaws = [o.yaw_deg for o in history if o.yaw_deg is not None]
        return float(np.median(yaws)) if len(yaws) >= 3 else None

    def _with_eyes(
        self, rgb: np.ndarray, pose: FacePose, history: Sequence[FrameObservation], plan: StreamPlan
    ) -> FacePose:
        """``pose`` with eyes measured where the sequence check may use them (module docstring)."""
        index = len(history)
        if index < plan.moves_from:  # the last frame of every few (the settled end of a colour step)
            every = self.sampling.light_eyes_every
            wanted = index % every == every - 1
        else:
            neutral = self._neutral_yaw(history)
            reach = self.sampling.neutral_max_deg + self.sampling.eyes_margin_deg
            wanted = (neutral is None or abs(pose.yaw_deg - neutral) <= reach) and (
                plan.moves is None
                or sum(o.ear is not None for o in history) < MIN_OPEN_LEVEL_FRAMES
                or self._blink_awaited(history, plan)
            )
        return self.mesh.measure_eyes(rgb, pose) if wanted else pose

    @staticmethod
    def _blink_awaited(history: Sequence[FrameObservation], plan: StreamPlan) -> bool:
        """Whether the move the sequence check awaits after ``history`` is a blink."""
        assert plan.moves is not None
        done = check_sequence(history, plan.moves, plan.sequence, plan.moves_from).done
        return done < len(plan.moves) and plan.moves[done] is Move.BLINK

    @staticmethod
    def _usable(history: Sequence[FrameObservation]) -> int:
        return sum(1 for o in history if o.passes_gates)

    def _chosen(self, pose: FacePose, history: Sequence[FrameObservation], plan: StreamPlan) -> Chosen:
        """Whether a tracked frame is detected and embedded, and why (see the module docstring)."""
        policy = self.sampling
        previous = history[-1] if history else None
        neutral = self._neutral_yaw(history)
        if (
            neutral is not None
            and previous is not None
            and previous.yaw_deg is not None
            and abs(pose.yaw_deg - neutral) >= policy.turn_min_deg > abs(previous.yaw_deg - neutral)
        ):
            return Chosen.TURNED  # the first turned frame of a turn
        needed = plan.matching_frames - self._usable(history)
        if needed <= 0 or (neutral is not None and abs(pose.yaw_deg - neutral) > policy.neutral_max_deg):
            return Chosen.NOT  # enough, or not facing as the match needs
        end = plan.moves_from + policy.window_after_light
        frames_left = sum(1 for i in range(len(history), end) if i not in plan.skipped)
        if frames_left <= needed or self.chooser.random() < needed / frames_left:
            return Chosen.FOR_MATCH  # drawn; past the window, every steady frame until enough
        return Chosen.NOT

    def _wants_served(self, history: Sequence[FrameObservation], plan: StreamPlan) -> bool:
        """Whether the served models embed this usable frame: ``plan.served_frames`` of the usable
        frames still to come, drawn at random."""
        needed = plan.served_frames - sum(1 for o in history if o.served)
        if needed <= 0:
            return False
        usable_left = plan.matching_frames - self._usable(history)
        return usable_left <= needed or self.chooser.random() < needed / usable_left
