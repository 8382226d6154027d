"""Liveness challenges: issue one, take its frames as they stream in, and spend it once.

1. ``issue`` draws ``liveness_moves_per_challenge`` distinct moves in random order (``secrets``), and a
   random 256-bit nonce (the challenge id), with a deadline ``liveness_deadline_seconds`` away. Only the
   nonce's SHA-256 is stored.
2. ``add_frames`` (one call per chunk the client posts) stamps the chunk with the server's clock, refuses
   it after the deadline, runs the frames through ``LivenessAnalyzer.observe_stream`` after the stream's
   earlier observations (face mesh tracking on every frame; MTCNN and FaceNet on the frames it chooses;
   passive features) and stores the observations, never the images; the embeddings of the chosen frames
   only encrypted (the template cipher, bound to the user). It answers the progress the server sees
   (moves done so far), which the web page shows; the browser decides nothing.
3. ``spend`` (called by enroll or verify with the challenge id instead of frames) marks the nonce used,
   atomically and before anything else, so it works once even if the stream then fails; judges the
   stored stream (``judge_stream``: the moves in order, one person throughout, the blocking passive
   signals) and returns the embeddings of the frames that pass every quality gate, which the face
   service matches or enrolls: the person who moved is the person who matched."""

from __future__ import annotations

import base64
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from faceauth.config import Settings
from faceauth.domain import (
    BurstEmbeddings,
    ChallengeExpired,
    ChallengeNotFound,
    ChallengeUsed,
    FaceTemplate,
    LivenessFailed,
    LivenessUnavailable,
    ModelVectors,
    TemplateVector,
    ValidationFailed,
)
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.interface import ChallengeStore, StorageBackend, StoredChallenge
from faceauth.vision.engine import IDENTITY_MODEL
from faceauth.vision.liveness import (
    MOVE_PROMPTS,
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

logger = logging.getLogger(__name__)

# An enroll or verify may spend a challenge this long after its deadline (the last chunk's
# processing and the final request in flight); frames themselves are refused after the deadline.
SPEND_GRACE_SECONDS = 10.0
PURGE_AFTER = timedelta(hours=1)  # expired challenges (and any frames left) are deleted after this

FAILURE_MESSAGES: dict[str, str] = {
    SequenceFailure.NO_FACE.value: "your face was not visible in enough of the pictures",
    SequenceFailure.MULTIPLE_FACES.value: "more than one face was in the picture",
    SequenceFailure.NOT_FACING.value: "start by looking straight at the camera",
    SequenceFailure.WRONG_MOVE.value: "a move other than the one asked was seen: follow the prompts in order",
    SequenceFailure.INCOMPLETE.value: "the asked moves were not all seen before the time ran out",
    "not_same_person": "the pictures do not all show the same person",
    "too_few_frames": "too few pictures arrived",
}


class ChallengePurpose(StrEnum):
    ENROLL = "enroll"
    VERIFY = "verify"


@dataclass(frozen=True)
class IssuedChallenge:
    challenge_id: str  # the nonce: give it back to enroll or verify, once
    purpose: ChallengePurpose
    moves: tuple[Move, ...]
    issued_at: datetime
    deadline_at: datetime

    @property
    def prompts(self) -> list[str]:
        return [MOVE_PROMPTS[move] for move in self.moves]


@dataclass(frozen=True)
class ChallengeProgress:
    """What the server has seen so far: the web page's progress indicator shows this."""

    frames_received: int
    moves: tuple[Move, ...]
    moves_done: int
    failure: str | None  # a definite failure code: more frames cannot fix it
    seconds_left: float

    @property
    def complete(self) -> bool:
        return self.failure is None and self.moves_done == len(self.moves)


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


def sequence_policy(settings: Settings) -> SequencePolicy:
    return SequencePolicy(
        turn_min_deg=settings.liveness_turn_min_deg,
        neutral_max_deg=settings.liveness_neutral_max_deg,
        blink_closed_ratio=settings.liveness_blink_closed_ratio,
    )


def judge_stream(
    analyzer: LivenessAnalyzer,
    observations: Sequence[FrameObservation],
    moves: Sequence[Move],
    policy: SequencePolicy,
    settings: Settings,
) -> StreamVerdict:
    """The whole liveness decision on a stream of observations, in arrival order."""
    sequence = check_sequence(observations, moves, policy)
    identity = check_identity(observations, settings.liveness_min_consistency)
    passive = analyzer.evaluate_passive(observations)

    def failed(reason: str, message: str) -> StreamVerdict:
        return StreamVerdict(False, reason, message, sequence.done, sequence, identity, passive)

    if sequence.failure is not None:
        return failed(sequence.failure.value, FAILURE_MESSAGES[sequence.failure.value])
    if not sequence.complete:
        return failed(SequenceFailure.INCOMPLETE.value, FAILURE_MESSAGES[SequenceFailure.INCOMPLETE.value])
    if identity.matching_frames < settings.min_good_frames:
        return failed(
            "too_few_frames", "too few clear, frontal pictures of your face: face the camera in good light"
        )
    if not identity.consistent:
        return failed("not_same_person", FAILURE_MESSAGES["not_same_person"])
    for evidence in passive:
        if evidence.spoof and evidence.name in settings.liveness_passive_blocking:
            return failed(
                f"passive_{evidence.name}", "this does not look like a live person in front of the camera"
            )
    usable = [(i, o) for i, o in enumerate(observations) if o.usable_for_matching and o.embedding is not None]
    served = analyzer.engine.served
    models = (*served, *(m for m in analyzer.engine.embedders if m not in served))
    per_model = []
    for model in models:
        framed = [(i, o.model_vectors[model]) for i, o in usable if model in o.model_vectors]
        if model == models[0] and len(framed) != len(usable):
            return failed("too_few_frames", "too few clear, frontal pictures of your face")
        if framed:
            version = analyzer.engine.embedders[model].version
            vectors, indices = tuple(v for _, v in framed), tuple(i for i, _ in framed)
            per_model.append(ModelVectors(model, version, vectors, indices))
    burst = BurstEmbeddings(tuple(per_model), accepted_indices=tuple(i for i, _ in usable), rejected=())
    return StreamVerdict(True, None, "live", sequence.done, sequence, identity, passive, burst)


def nonce_key(challenge_id: str) -> str:
    return hashlib.sha256(challenge_id.encode("utf-8")).hexdigest()


class LivenessService:
    def __init__(
        self,
        analyzer: LivenessAnalyzer | None,
        store: ChallengeStore,
        storage: StorageBackend,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        cipher: TemplateCipher | None = None,
    ) -> None:
        """``cipher``: encrypts the frames' embeddings while they are kept (the template cipher from
        the settings unless given)."""
        self.analyzer = analyzer
        self.cipher = cipher or TemplateCipher.from_settings(settings)
        self.store = store
        self.storage = storage
        self.settings = settings
        self.policy = sequence_policy(settings)
        self.clock = clock
        self.moves = tuple(Move(m) for m in settings.liveness_moves)
        if not 1 <= settings.liveness_moves_per_challenge <= len(self.moves):
            raise ValueError(
                "liveness_moves_per_challenge must be between 1 and the number of liveness_moves"
            )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def _analyzer(self) -> LivenessAnalyzer:
        if self.analyzer is None:
            raise LivenessUnavailable()
        return self.analyzer

    def issue(self, user_id: int, purpose: ChallengePurpose) -> IssuedChallenge:
        self._analyzer()
        now = self._now()
        self.store.purge_expired(now - PURGE_AFTER)
        pool = list(self.moves)
        chooser = secrets.SystemRandom()
        moves = tuple(chooser.sample(pool, self.settings.liveness_moves_per_challenge))
        nonce = secrets.token_urlsafe(32)
        deadline = now + timedelta(seconds=self.settings.liveness_deadline_seconds)
        self.store.create(
            StoredChallenge(
                nonce_key(nonce), user_id, purpose.value, tuple(m.value for m in moves), now, deadline, None
            )
        )
        logger.info("liveness challenge for user %d (%s): %s", user_id, purpose.value, ",".join(moves))
        return IssuedChallenge(nonce, purpose, moves, now, deadline)

    def _open_challenge(self, user_id: int, challenge_id: str) -> StoredChallenge:
        challenge = self.store.get(nonce_key(challenge_id))
        if challenge is None or challenge.user_id != user_id:
            raise ChallengeNotFound()
        if challenge.used_at is not None:
            raise ChallengeUsed()
        return challenge

    def add_frames(self, user_id: int, challenge_id: str, frames: Sequence[bytes]) -> ChallengeProgress:
        """One chunk of the stream. Raises ChallengeNotFound, ChallengeUsed, ChallengeExpired (the
        chunk arrived after the deadline) or ValidationFailed (too many frames)."""
        received = self.clock()  # before any work: the chunk's arrival time
        analyzer = self._analyzer()
        challenge = self._open_challenge(user_id, challenge_id)
        if received > challenge.deadline_at.timestamp():
            raise ChallengeExpired()
        key = nonce_key(challenge_id)
        if len(frames) > self.settings.liveness_max_chunk_frames:
            raise ValidationFailed(
                {"frames": f"at most {self.settings.liveness_max_chunk_frames} frames a chunk"}
            )
        if self.store.frame_count(key) + len(frames) > self.settings.liveness_max_frames:
            raise ValidationFailed(
                {"frames": f"at most {self.settings.liveness_max_frames} frames a challenge"}
            )
        offset = received - challenge.issued_at.timestamp()
        earlier = [FrameObservation.from_json(item) for item in self.store.frames(key)]  # no embeddings
        observations = analyzer.observe_stream(frames, offset, earlier)
        self.store.add_frames(key, [self._row(user_id, o) for o in observations])
        stored = earlier + observations
        moves = tuple(Move(m) for m in challenge.moves)
        sequence = check_sequence(stored, moves, self.policy)
        return ChallengeProgress(
            frames_received=len(stored),
            moves=moves,
            moves_done=sequence.done,
            failure=sequence.failure.value if sequence.failure else None,
            seconds_left=max(0.0, challenge.deadline_at.timestamp() - self.clock()),
        )

    def _row(self, user_id: int, observation: FrameObservation) -> dict[str, Any]:
        """The stored form of an observation: its JSON, and its embedding (if any) encrypted."""
        row = observation.to_json()
        if observation.embedding is not None:
            # FaceNet's vector (the identity check's) and, on a frame usable for matching, every
            # served model's, in one template-format blob (``TemplateCipher.encrypt_template``).
            vectors = {IDENTITY_MODEL: observation.embedding, **observation.model_vectors}
            parts = tuple(TemplateVector(model, "", vector) for model, vector in vectors.items())
            blob = self.cipher.encrypt_template(user_id, FaceTemplate(parts))
            row["emb"] = {"key": self.cipher.key_id, "blob": base64.b64encode(blob).decode("ascii")}
        return row

    def _observation(self, user_id: int, row: dict[str, Any]) -> FrameObservation:
        sealed = row.get("emb")
        if not isinstance(sealed, dict):
            return FrameObservation.from_json(row)
        blob = base64.b64decode(sealed["blob"])
        parts = self.cipher.decrypt_template(user_id, blob, str(sealed["key"])).vectors
        vectors = {part.model: part.vector for part in parts}
        usable = row.get("reason") is None
        return FrameObservation.from_json(row, vectors.get(IDENTITY_MODEL), vectors if usable else None)

    def spend(
        self, user_id: int, challenge_id: str, purpose: ChallengePurpose, client: str | None = None
    ) -> BurstEmbeddings:
        """Use the challenge (once) and return the burst to match or enroll. Raises ChallengeNotFound
        (unknown, another user's, or issued for the other purpose), ChallengeUsed, ChallengeExpired,
        or LivenessFailed with a reason code."""
        analyzer = self._analyzer()
        now = self.clock()
        challenge = self._open_challenge(user_id, challenge_id)
        if challenge.purpose != purpose.value:
            raise ChallengeNotFound()
        key = nonce_key(challenge_id)
        if not self.store.spend(key, user_id, self._now()):
            raise ChallengeUsed()
        try:
            if now > challenge.deadline_at.timestamp() + SPEND_GRACE_SECONDS:
                self.storage.record_event(
                    "liveness", success=False, user_id=user_id, client=client, detail="expired"
                )
                raise ChallengeExpired()
            observations = [self._observation(user_id, item) for item in self.store.frames(key)]
        finally:
            self.store.delete_frames(key)
        moves = tuple(Move(m) for m in challenge.moves)
        verdict = judge_stream(analyzer, observations, moves, self.policy, self.settings)
        detail = ";".join(f"{e.name}={e.score}" for e in verdict.passive)
        self.storage.record_event(
            "liveness",
            success=verdict.live,
            user_id=user_id,
            client=client,
            score=verdict.identity.min_similarity,
            detail=f"{verdict.reason or 'live'};moves={verdict.moves_done}/{len(moves)};{detail}"[:500],
        )
        logger.info(
            "liveness challenge of user %d: %s (%d frames, moves %d/%d, %s)",
            user_id,
            verdict.reason or "live",
            len(observations),
            verdict.moves_done,
            len(moves),
            detail,
        )
        if not verdict.live or verdict.burst is None:
            raise LivenessFailed(
                verdict.reason or "failed", verdict.message, verdict.moves_done, tuple(m.value for m in moves)
            )
        return verdict.burst
