"""Liveness from a stream of frames: per-frame observations, the challenge sequence check, and
cheap passive signals. This package's names are imported from here; one module per concept:

- ``moves``: the moves a challenge asks for (``Move``) and their prompts;
- ``observation``: ``FrameObservation``, what one frame shows, kept between requests as JSON;
- ``analyzer``: ``LivenessAnalyzer.observe`` turns one decoded frame into an observation (MTCNN face
  count and box, the embedder's vector of the face, MediaPipe face-mesh yaw / pitch / eye openness,
  quality-gate verdict, passive-signal features);
- ``sequence``: ``check_sequence``, whether the observations show the requested moves in order;
- ``identity``: ``check_identity``, whether every frame shows the same person;
- ``passive``: ``PassiveSignal`` implementations, extra evidence (non-rigid motion, screen cues).

Nothing here knows about users, nonces or HTTP.

Sign conventions (see docs/liveness-landmarks.md): ``yaw_deg`` is in degrees, positive when the nose
points to the image's right edge. Frames from a webcam are not mirrored (only the on-screen preview is), so a
person turning to their own left moves the nose towards the image's right: ``turn_left`` means yaw
rising above the person's neutral level, ``turn_right`` falling below it."""

from faceauth.vision.liveness.analyzer import LivenessAnalyzer, SamplingPolicy, StreamPlan
from faceauth.vision.liveness.identity import IdentityResult, check_identity
from faceauth.vision.liveness.moves import MOVE_PROMPTS, Move
from faceauth.vision.liveness.observation import FrameObservation
from faceauth.vision.liveness.passive import (
    MotionSignal,
    PassiveEvidence,
    PassiveSignal,
    ScreenSignal,
    default_signals,
)
from faceauth.vision.liveness.sequence import (
    SequenceFailure,
    SequencePolicy,
    SequenceResult,
    check_sequence,
)

__all__ = [
    "MOVE_PROMPTS",
    "FrameObservation",
    "IdentityResult",
    "LivenessAnalyzer",
    "MotionSignal",
    "Move",
    "PassiveEvidence",
    "PassiveSignal",
    "SamplingPolicy",
    "ScreenSignal",
    "SequenceFailure",
    "SequencePolicy",
    "SequenceResult",
    "StreamPlan",
    "check_identity",
    "check_sequence",
    "default_signals",
]
