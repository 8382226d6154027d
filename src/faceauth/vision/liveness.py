"""Liveness from a stream of frames: per-frame observations, the challenge sequence check, and
cheap passive signals.

Nothing here knows about users, nonces or HTTP. ``LivenessAnalyzer.observe`` turns one decoded frame
into a ``FrameObservation`` (MTCNN face count and box, FaceNet embedding of the face, MediaPipe face
mesh yaw / pitch / eye openness, quality-gate verdict, passive-signal features); ``check_sequence``
decides whether a list of observations shows the requested moves in order; ``check_identity`` whether
every frame shows the same person; ``PassiveSignal`` implementations give extra evidence.

Sign conventions (see docs/liveness-landmarks.md): yaw is in degrees, positive when the nose points to
the image's right edge. Frames from a webcam are not mirrored (only the on-screen preview is), so a
person turning to their own left moves the nose towards the image's right: ``turn_left`` means yaw
rising above the person's neutral level, ``turn_right`` falling below it."""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

import cv2
import numpy as np

from faceauth.domain import Embedding, Face, ImageError, RejectReason
from faceauth.vision import matching
from faceauth.vision.engine import FaceEngine
from faceauth.vision.landmarks import FaceMesh, FacePose
from faceauth.vision.quality import first_failure, measure
from faceauth.vision.timing import timed

logger = logging.getLogger(__name__)


class Move(StrEnum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"  # the person's own left
    TURN_RIGHT = "turn_right"


MOVE_PROMPTS: dict[Move, str] = {
    Move.BLINK: "Blink slowly",
    Move.TURN_LEFT: "Turn your head to your left, then back",
    Move.TURN_RIGHT: "Turn your head to your right, then back",
}

# Face-mesh landmarks whose motion the passive motion signal follows: nose tip and bridge, eye
# corners and eyelids, mouth corners and lips, chin, cheeks, forehead, jaw. Spread in depth, so a
# real head's 3-D motion moves them non-rigidly, while a flat picture moves them by a plane's motion.
MOTION_POINTS: tuple[int, ...] = (
    1, 4, 6, 168, 33, 133, 159, 145, 362, 263, 386, 374, 61, 291, 13, 14,
    152, 10, 234, 454, 50, 280, 172, 397, 109, 338,
)  # fmt: skip
EYE_OUTER = (33, 263)


# ------------------------------------------------------------------------------------------------
# Per-frame observations
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameObservation:
    """What one challenge frame shows. ``received_s``: seconds after the challenge was issued, by the
    server's clock when the frame arrived (never a time the client reports)."""

    received_s: float
    faces: int  # faces MTCNN found
    reason: RejectReason | None = None  # first quality gate failed; None: usable for matching
    box: tuple[float, float, float, float] | None = None
    yaw: float | None = None  # degrees (face mesh), None when the mesh found no face
    pitch: float | None = None
    ear: float | None = None  # mean eye aspect ratio of both eyes
    embedding: Embedding | None = field(default=None, compare=False, repr=False)
    features: dict[str, list[float]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def has_pose(self) -> bool:
        return self.yaw is not None and self.ear is not None

    @property
    def usable_for_matching(self) -> bool:
        return self.faces == 1 and self.reason is None and self.embedding is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the embedding as base64 of float32), for keeping between requests."""
        return {
            "t": self.received_s,
            "faces": self.faces,
            "reason": self.reason.value if self.reason else None,
            "box": list(self.box) if self.box else None,
            "yaw": self.yaw,
            "pitch": self.pitch,
            "ear": self.ear,
            "emb": (
                base64.b64encode(np.asarray(self.embedding, np.float32).tobytes()).decode("ascii")
                if self.embedding is not None
                else None
            ),
            "features": self.features,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameObservation:
        emb = data.get("emb")
        box = data.get("box")
        return cls(
            received_s=float(data["t"]),
            faces=int(data["faces"]),
            reason=RejectReason(data["reason"]) if data.get("reason") else None,
            box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])) if box else None,
            yaw=data.get("yaw"),
            pitch=data.get("pitch"),
            ear=data.get("ear"),
            embedding=np.frombuffer(base64.b64decode(emb), dtype=np.float32).copy() if emb else None,
            features={name: [float(v) for v in values] for name, values in data.get("features", {}).items()},
        )


# ------------------------------------------------------------------------------------------------
# Passive signals
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PassiveEvidence:
    """One passive signal's verdict on a whole challenge stream. ``score``: the signal's own measure
    (documented per signal); ``spoof``: whether it says this looks like an attack."""

    name: str
    score: float
    spoof: bool
    detail: str = ""


class PassiveSignal(Protocol):
    """A cheap presentation-attack cue. ``frame_feature`` runs on every frame as it arrives (its
    result is kept with the observation, so the signal never needs the images again); ``evaluate``
    judges the features of a whole stream. A learned passive model fits the same interface
    (per-frame spoof probability, then e.g. the mean)."""

    @property
    def name(self) -> str: ...

    def frame_feature(self, rgb: np.ndarray, face: Face, pose: FacePose | None) -> list[float]: ...

    def evaluate(self, features: Sequence[list[float]]) -> PassiveEvidence: ...


@dataclass(frozen=True)
class MotionSignal:
    """Non-rigid motion of the face: the largest residual, over the stream, of an affine fit between
    the landmarks of a frame and those of the first frame, in units of the outer-eye-corner distance.

    A flat picture (printed, or on a screen), however it is moved, tilted or held still, moves its
    landmarks by (nearly) a plane's motion, which an affine map absorbs: residual about 0.01-0.03.
    A real head turning or blinking moves nose, cheeks and eyelids differently: residual well above.
    ``min_residual``: below it, the stream is called a spoof ("no motion at all" is the extreme case)."""

    name: str = "motion"
    min_residual: float = 0.04

    def frame_feature(self, rgb: np.ndarray, face: Face, pose: FacePose | None) -> list[float]:
        if pose is None or pose.landmarks is None:
            return []
        points = pose.landmarks[list(MOTION_POINTS), :2].astype(np.float64)
        return [round(float(v), 2) for v in points.reshape(-1)]

    def evaluate(self, features: Sequence[list[float]]) -> PassiveEvidence:
        clouds = [
            np.asarray(f, np.float64).reshape(-1, 2) for f in features if len(f) == 2 * len(MOTION_POINTS)
        ]
        if len(clouds) < 2:
            return PassiveEvidence(self.name, 0.0, True, "fewer than two frames with landmarks")
        reference = clouds[0]
        eye_a, eye_b = MOTION_POINTS.index(EYE_OUTER[0]), MOTION_POINTS.index(EYE_OUTER[1])
        scale = float(np.linalg.norm(reference[eye_a] - reference[eye_b])) or 1.0
        design = np.hstack([reference, np.ones((len(reference), 1))])
        residual = 0.0
        for cloud in clouds[1:]:
            solution, *_ = np.linalg.lstsq(design, cloud, rcond=None)
            error = np.linalg.norm(design @ solution - cloud, axis=1)
            residual = max(residual, float(np.percentile(error, 90)) / scale)
        return PassiveEvidence(
            self.name,
            round(residual, 4),
            residual < self.min_residual,
            f"non-rigid landmark motion {residual:.3f} eye widths (spoof below {self.min_residual})",
        )


@dataclass(frozen=True)
class ScreenSignal:
    """Screen or paper cues around the face: long straight edges close to the face (the border of a
    phone, a monitor or a print held up to the camera) and periodic high-frequency peaks in the face
    crop (moiré of a screen's pixel grid re-photographed).

    Per frame: [number of sides (0-4) of the face's neighbourhood with a long straight edge, moiré
    peak ratio]. Over the stream: the median of each. Called a spoof when the median sees edges on at
    least ``min_sides`` sides or the moiré ratio exceeds ``max_moire``."""

    name: str = "screen"
    min_sides: float = 3.0
    max_moire: float = 40.0

    def frame_feature(self, rgb: np.ndarray, face: Face, pose: FacePose | None) -> list[float]:
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return [float(self._border_sides(grey, face)), round(self._moire_ratio(grey, face), 2)]

    @staticmethod
    def _border_sides(grey: np.ndarray, face: Face) -> int:
        h, w = grey.shape
        x1, y1, x2, y2 = face.box
        fw, fh = x2 - x1, y2 - y1
        edges = cv2.Canny(cv2.GaussianBlur(grey, (5, 5), 0), 50, 150)
        lines = cv2.HoughLinesP(
            edges, 1, np.pi / 180, threshold=60, minLineLength=int(0.8 * max(fw, fh)), maxLineGap=8
        )
        if lines is None:
            return 0
        sides: set[str] = set()
        for line in np.asarray(lines).reshape(-1, 4):
            ax, ay, bx, by = (float(v) for v in line)
            horizontal = abs(by - ay) <= 0.15 * abs(bx - ax)
            vertical = abs(bx - ax) <= 0.15 * abs(by - ay)
            mx, my = (ax + bx) / 2, (ay + by) / 2
            if horizontal and x1 - fw < mx < x2 + fw:
                if y2 < my < y2 + 1.5 * fh:
                    sides.add("bottom")
                elif y1 - 1.0 * fh < my < y1:
                    sides.add("top")
            elif vertical and y1 - fh < my < y2 + fh:
                if x2 < mx < x2 + 1.2 * fw:
                    sides.add("right")
                elif x1 - 1.2 * fw < mx < x1:
                    sides.add("left")
        del h, w
        return len(sides)

    @staticmethod
    def _moire_ratio(grey: np.ndarray, face: Face) -> float:
        x1, y1, x2, y2 = (round(v) for v in face.box)
        crop = grey[max(y1, 0) : max(y2, 0), max(x1, 0) : max(x2, 0)]
        if crop.size < 32 * 32:
            return 0.0
        patch = cv2.resize(crop, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32)
        patch -= patch.mean()
        spectrum = np.abs(np.fft.fftshift(np.fft.fft2(patch * np.outer(np.hanning(128), np.hanning(128)))))
        yy, xx = np.mgrid[-64:64, -64:64]
        radius = np.hypot(xx, yy)
        band = spectrum[(radius > 20) & (radius < 62)]
        median = float(np.median(band)) or 1e-6
        return float(band.max() / median)

    def evaluate(self, features: Sequence[list[float]]) -> PassiveEvidence:
        rows = [f for f in features if len(f) == 2]
        if not rows:
            return PassiveEvidence(self.name, 0.0, False, "no frame measured")
        sides = float(np.median([r[0] for r in rows]))
        moire = float(np.median([r[1] for r in rows]))
        spoof = sides >= self.min_sides or moire > self.max_moire
        return PassiveEvidence(
            self.name,
            round(max(sides / 4.0, moire / (2 * self.max_moire)), 3),
            spoof,
            f"straight edges around the face on {sides:g} side(s); moire peak ratio {moire:.1f}",
        )


def default_signals() -> list[PassiveSignal]:
    return [MotionSignal(), ScreenSignal()]


# ------------------------------------------------------------------------------------------------
# Observing frames
# ------------------------------------------------------------------------------------------------


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
        """Detect (MTCNN), gate, embed (FaceNet) and measure (face mesh) one decoded RGB frame.

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
        crop = self.engine.crop(rgb, face)
        reason = first_failure(measure(face, crop), self.engine.policy)
        embedding = None
        if reason not in (RejectReason.FACE_TOO_SMALL, RejectReason.LOW_CONFIDENCE):
            with timed("embed"):
                embedding = self.engine.embedder.embed([crop])[0]
        with timed("mesh"):
            pose = self.mesh.measure(rgb, face.box)
        features = {signal.name: signal.frame_feature(rgb, face, pose) for signal in self.signals}
        return FrameObservation(
            received_s=received_s,
            faces=1,
            reason=reason,
            box=face.box,
            yaw=round(pose.yaw, 2) if pose else None,
            pitch=round(pose.pitch, 2) if pose else None,
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


# ------------------------------------------------------------------------------------------------
# The sequence check
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SequencePolicy:
    """Thresholds of the move detector (degrees of the face mesh's yaw, which reads about 50-70 % of
    a real head's rotation, and eye-aspect-ratio ratios to the person's own open-eye level)."""

    turn_min_deg: float = 12.0  # a turn: yaw this far from neutral, the asked way
    neutral_max_deg: float = 7.0  # back at neutral: yaw within this of the neutral level
    start_max_deg: float = 15.0  # the neutral level itself must face the camera this well
    blink_closed_ratio: float = 0.65  # eyes closed: mean EAR at most this share of the open level
    blink_open_ratio: float = 0.85  # reopened: at least this share
    min_posed_frames: int = 3  # frames with a face-mesh pose needed before anything is judged
    max_faceless_share: float = 0.25  # of all frames, those without exactly one face
    # Frames with a second face of comparable size are dropped, as a plain burst drops them; more
    # than this share of them fails the stream (a detector's occasional false face is not a person).
    max_multiple_share: float = 0.1
    # A turn must pass through at least one frame between neutral and turned (a head rotates; a
    # swap from a frontal photo to a turned one jumps). At 8 fps a real turn takes several frames.
    require_transition: bool = True


class SequenceFailure(StrEnum):
    NO_FACE = "no_face"  # too many frames without a face
    MULTIPLE_FACES = "multiple_faces"
    NOT_FACING = "not_facing_camera"  # the stream does not start facing the camera
    WRONG_MOVE = "wrong_move"  # a turn that was not asked for, or not now
    INCOMPLETE = "incomplete"  # the stream ended before every move was seen


@dataclass(frozen=True)
class SequenceResult:
    moves: tuple[Move, ...]
    done: int  # moves completed, in order
    failure: SequenceFailure | None  # a definite failure (more frames cannot fix it)
    completed_at: list[float] = field(default_factory=list)  # received_s of each completed move

    @property
    def complete(self) -> bool:
        return self.failure is None and self.done == len(self.moves)


def check_sequence(
    observations: Sequence[FrameObservation], moves: Sequence[Move], policy: SequencePolicy
) -> SequenceResult:
    """Whether the frames, in arrival order, show ``moves`` in that order.

    A turn counts when yaw leaves the neutral level by ``turn_min_deg`` the asked way and then comes
    back within ``neutral_max_deg``; a blink when, near neutral, the mean eye aspect ratio falls to
    ``blink_closed_ratio`` of the open level (the median of the near-neutral frames so far) and rises
    back to ``blink_open_ratio`` of it. A turn the other way, or any turn while a blink is awaited,
    fails the sequence; spontaneous blinks while a turn is awaited are ignored. Moves after the last
    asked one are ignored only if they are blinks; a further turn fails."""
    moves = tuple(moves)
    multiple = sum(1 for o in observations if o.faces > 1)
    if observations and multiple > policy.max_multiple_share * len(observations):
        return SequenceResult(moves, 0, SequenceFailure.MULTIPLE_FACES)
    faceless = sum(1 for o in observations if not o.has_pose)
    if observations and faceless > policy.max_faceless_share * len(observations):
        return SequenceResult(moves, 0, SequenceFailure.NO_FACE)
    posed = [o for o in observations if o.has_pose]
    if len(posed) < policy.min_posed_frames:
        return SequenceResult(moves, 0, None)
    # The neutral level: the median yaw of the whole stream (a person asked to turn spends most of a
    # challenge facing the camera). The check starts at the first frame at neutral, so a movement
    # already under way when the stream starts is neither counted nor held against anyone.
    neutral = float(np.median([o.yaw for o in posed]))
    if abs(neutral) > policy.start_max_deg:
        return SequenceResult(moves, 0, SequenceFailure.NOT_FACING)
    first = next(
        (i for i, o in enumerate(posed) if abs((o.yaw or 0.0) - neutral) <= policy.neutral_max_deg), None
    )
    if first is None:
        return SequenceResult(moves, 0, None)
    posed = posed[first:]

    done = 0
    completed_at: list[float] = []
    phase = "wait"  # "wait": for the move to start; "return": turned / eyes closed, awaiting the end
    open_levels: list[float] = []
    in_between = False  # a frame between neutral and turned since the last neutral one
    for obs in posed:
        assert obs.yaw is not None and obs.ear is not None
        offset = obs.yaw - neutral
        near_neutral = abs(offset) <= policy.neutral_max_deg
        turned = (
            "left" if offset >= policy.turn_min_deg else "right" if offset <= -policy.turn_min_deg else None
        )
        if near_neutral:
            open_levels.append(obs.ear)
        transition_seen = in_between or not policy.require_transition
        in_between = (not near_neutral and turned is None) or (in_between and not near_neutral)
        open_level = float(np.median(open_levels)) if len(open_levels) >= 2 else None
        current = moves[done] if done < len(moves) else None

        if current is None:
            if turned is not None:
                return SequenceResult(moves, done, SequenceFailure.WRONG_MOVE, completed_at)
            continue
        if current is Move.BLINK:
            if turned is not None:
                return SequenceResult(moves, done, SequenceFailure.WRONG_MOVE, completed_at)
            if open_level is None or not near_neutral:
                continue
            if phase == "wait" and obs.ear <= policy.blink_closed_ratio * open_level:
                phase = "return"
            elif phase == "return" and obs.ear >= policy.blink_open_ratio * open_level:
                phase, done = "wait", done + 1
                completed_at.append(obs.received_s)
            continue
        wanted = "left" if current is Move.TURN_LEFT else "right"
        if turned is not None and turned != wanted:
            return SequenceResult(moves, done, SequenceFailure.WRONG_MOVE, completed_at)
        if phase == "wait" and turned == wanted and transition_seen:
            phase = "return"
        elif phase == "return" and near_neutral:
            phase, done = "wait", done + 1
            completed_at.append(obs.received_s)
    return SequenceResult(moves, done, None, completed_at)


# ------------------------------------------------------------------------------------------------
# The identity check
# ------------------------------------------------------------------------------------------------


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


def yaw_range(observations: Sequence[FrameObservation]) -> tuple[float, float]:
    yaws = [o.yaw for o in observations if o.yaw is not None]
    return (min(yaws), max(yaws)) if yaws else (math.nan, math.nan)
