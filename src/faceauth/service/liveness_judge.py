"""The whole liveness decision on a challenge's stream of observations, and what it says when it fails.

Steps, in order; the first failure is the verdict, with its ``step`` (what a page names and what a
deployment counts outcomes by) and a ``reason`` code:

| step | reasons |
|---|---|
| ``face`` | ``no_face``, ``multiple_faces``, ``not_facing_camera`` |
| ``light`` | ``light_too_few_frames``, ``light_no_response``, ``light_not_following``, ``light_flat`` |
| ``moves`` | ``wrong_move``, ``incomplete`` |
| ``identity`` | ``too_few_frames``, ``not_same_person`` |
| ``passive`` | ``passive_<signal>`` |"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from faceauth.config import Settings
from faceauth.domain import BurstEmbeddings, ModelVectors
from faceauth.service.liveness_light import LIGHT_MESSAGES, LightOutcome, LightSchedule, judge_light
from faceauth.vision.engine import IDENTITY_MODEL
from faceauth.vision.liveness import (
    FrameObservation,
    IdentityResult,
    LivenessAnalyzer,
    Move,
    PassiveEvidence,
    SequenceFailure,
    SequencePolicy,
    SequenceResult,
    check_identity,
    check_sequence,
)

FACE_FAILURES = {SequenceFailure.NO_FACE, SequenceFailure.MULTIPLE_FACES, SequenceFailure.NOT_FACING}

FAILURE_MESSAGES: dict[str, str] = {
    SequenceFailure.NO_FACE.value: "your face was not visible in enough of the pictures",
    SequenceFailure.MULTIPLE_FACES.value: "more than one face was in the picture",
    SequenceFailure.NOT_FACING.value: "start by looking straight at the camera",
    "not_same_person": "the pictures do not all show the same person",
    "too_few_frames": "too few clear, frontal pictures of your face: face the camera in good light",
    **LIGHT_MESSAGES,
}

MOVE_NOT_SEEN: dict[Move, str] = {
    Move.BLINK: "we did not see you blink: close both eyes for a moment, then open them",
    Move.TURN_LEFT: "we did not see a turn to your left, and back",
    Move.TURN_RIGHT: "we did not see a turn to your right, and back",
}


def step_of(reason: str) -> str:
    """The step a failure code belongs to."""
    if reason in {f.value for f in FACE_FAILURES}:
        return "face"
    if reason.startswith("light_"):
        return "light"
    if reason in (SequenceFailure.WRONG_MOVE.value, SequenceFailure.INCOMPLETE.value):
        return "moves"
    if reason.startswith("passive_"):
        return "passive"
    return "identity"


def move_message(sequence: SequenceResult) -> str:
    """What the moves step says: which asked move was not seen (or that another was seen instead)."""
    awaited = sequence.moves[sequence.done] if sequence.done < len(sequence.moves) else None
    if sequence.failure is SequenceFailure.WRONG_MOVE:
        asked = MOVE_NOT_SEEN[awaited].split(":")[0] if awaited else "no further move was asked"
        return f"a move other than the one asked was seen ({asked}): follow the prompts in order"
    return MOVE_NOT_SEEN[awaited] if awaited else "the asked moves were not all seen"


def sequence_policy(settings: Settings) -> SequencePolicy:
    return SequencePolicy(
        turn_min_deg=settings.liveness_turn_min_deg,
        neutral_max_deg=settings.liveness_neutral_max_deg,
        blink_closed_ratio=settings.liveness_blink_closed_ratio,
    )


@dataclass(frozen=True)
class StreamVerdict:
    live: bool
    reason: str | None  # failure code, None when live
    message: str
    moves_done: int
    sequence: SequenceResult
    identity: IdentityResult
    passive: list[PassiveEvidence] = field(default_factory=list)
    burst: BurstEmbeddings | None = None  # the frames usable for matching, when live
    light: LightOutcome | None = None  # None: no light step

    @property
    def step(self) -> str | None:
        return step_of(self.reason) if self.reason else None


def judge_stream(
    analyzer: LivenessAnalyzer,
    observations: Sequence[FrameObservation],
    moves: Sequence[Move],
    policy: SequencePolicy,
    settings: Settings,
    light: LightSchedule | None = None,
) -> StreamVerdict:
    """The whole liveness decision on a stream of observations, in arrival order."""
    sequence = check_sequence(observations, moves, policy, light.frames if light is not None else 0)
    identity = check_identity(observations, settings.liveness_min_consistency)
    passive = analyzer.evaluate_passive(observations)
    lit = judge_light(light, observations, settings) if light is not None else None

    def failed(reason: str, message: str) -> StreamVerdict:
        return StreamVerdict(False, reason, message, sequence.done, sequence, identity, passive, light=lit)

    if sequence.failure in FACE_FAILURES:
        assert sequence.failure is not None
        return failed(sequence.failure.value, FAILURE_MESSAGES[sequence.failure.value])
    if lit is not None and lit.blocks and lit.reason is not None:
        return failed(lit.reason, LIGHT_MESSAGES[lit.reason])
    if sequence.failure is not None or not sequence.complete:
        reason = sequence.failure.value if sequence.failure else SequenceFailure.INCOMPLETE.value
        return failed(reason, move_message(sequence))
    if identity.matching_frames < settings.liveness_matching_frames:
        return failed("too_few_frames", FAILURE_MESSAGES["too_few_frames"])
    if not identity.consistent:
        return failed("not_same_person", FAILURE_MESSAGES["not_same_person"])
    for evidence in passive:
        if evidence.spoof and evidence.name in settings.liveness_passive_blocking:
            return failed(
                f"passive_{evidence.name}", "this does not look like a live person in front of the camera"
            )
    usable = [(i, o) for i, o in enumerate(observations) if o.usable_for_matching and o.embedding is not None]
    # FaceNet (the identity model) embedded every usable frame, so it comes first in the burst (see
    # BurstEmbeddings); each served model embedded some of them (LivenessAnalyzer: StreamPlan).
    served = analyzer.engine.served
    models = (IDENTITY_MODEL, *(m for m in served if m != IDENTITY_MODEL))
    per_model = []
    for model in models:
        framed = [(i, o.model_vectors[model]) for i, o in usable if model in o.model_vectors]
        if (model == IDENTITY_MODEL and len(framed) != len(usable)) or (model in served and not framed):
            return failed("too_few_frames", FAILURE_MESSAGES["too_few_frames"])
        if framed:
            version = analyzer.engine.embedders[model].version
            vectors, indices = tuple(v for _, v in framed), tuple(i for i, _ in framed)
            per_model.append(ModelVectors(model, version, vectors, indices))
    burst = BurstEmbeddings(tuple(per_model), accepted_indices=tuple(i for i, _ in usable), rejected=())
    return StreamVerdict(True, None, "live", sequence.done, sequence, identity, passive, burst, lit)
