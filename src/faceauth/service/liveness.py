"""Liveness challenges: issue one, take its frames as they stream in, and spend it once.

1. ``issue`` gives back the user's open challenge for that purpose while no frame was sent to it
   (same nonce, moves, light schedule and deadline: asking again is no new draw). One that already
   holds frames (a reload mid-stream) is spent as a failed attempt and a new one drawn, as is a verify
   challenge that expired unspent: a re-draw costs an attempt. The store refuses a second open
   challenge (a partial unique index), so two requests at once get the same one. A new challenge has
   ``liveness_moves_per_challenge`` distinct moves in random order (``secrets``), one of each kind
   (blink, turn) first so that no kind can be avoided, a screen-light schedule
   (``service.liveness_light``), and a random 256-bit nonce (the challenge id), with a deadline
   ``liveness_deadline_seconds`` away. The nonce's SHA-256 keys the row; the nonce itself is kept only
   sealed with the template cipher (bound to the user), to give the open challenge back.
2. ``add_frames`` (one call per chunk the client posts) stamps the chunk with the server's clock,
   refuses it after the deadline or when the stream runs ahead of real time (``StreamTooFast``), runs
   the frames through ``LivenessAnalyzer.observe_stream`` after the stream's earlier observations
   (face mesh tracking on every frame; MTCNN and FaceNet on the frames it chooses; passive features;
   the light sample) and stores the observations, never the images; the embeddings of the chosen
   frames only encrypted (the template cipher, bound to the user). It answers the progress the server
   sees (moves done so far, a definite failure with its step), which the web page shows; the browser
   decides nothing. After a definite failure, further chunks are neither analysed nor kept (a dead
   challenge costs no more CPU). Expired challenges' observations are purged by ``purge``, which the app runs
   periodically.
3. ``spend`` (called by enroll or verify with the challenge id instead of frames) marks the nonce used,
   atomically and before anything else, so it works once even if the stream then fails; judges the
   stored stream (``judge_stream``: the moves in order, one person throughout, the blocking passive
   signals) and returns the embeddings of the frames that pass every quality gate, which the face
   service matches or enrolls: the person who moved is the person who matched."""

from __future__ import annotations

import base64
import hashlib
import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from faceauth import metrics
from faceauth.config import Settings
from faceauth.domain import (
    BurstEmbeddings,
    ChallengeAlreadyOpen,
    ChallengeExpired,
    ChallengeNotFound,
    ChallengeUsed,
    FaceTemplate,
    LivenessFailed,
    LivenessUnavailable,
    StreamTooFast,
    TemplateVector,
    ValidationFailed,
)
from faceauth.service.liveness_challenge import ChallengeProgress, ChallengePurpose, IssuedChallenge
from faceauth.service.liveness_judge import (
    FAILURE_MESSAGES,
    StreamVerdict,
    judge_stream,
    move_message,
    sequence_policy,
)
from faceauth.service.liveness_light import LightSchedule, draw_schedule, judge_light
from faceauth.storage.crypto import TemplateCipher, TemplateDecryptionError
from faceauth.storage.interface import ChallengeStore, StorageBackend, StoredChallenge
from faceauth.vision.engine import IDENTITY_MODEL
from faceauth.vision.liveness import (
    FrameObservation,
    LivenessAnalyzer,
    Move,
    StreamPlan,
    check_sequence,
)

__all__ = [
    "FAILURE_MESSAGES",
    "ChallengeProgress",
    "ChallengePurpose",
    "IssuedChallenge",
    "LivenessService",
    "StreamVerdict",
    "judge_stream",
    "sequence_policy",
]

logger = logging.getLogger(__name__)

# An enroll or verify may spend a challenge this long after its deadline (the last chunk's
# processing and the final request in flight); frames themselves are refused after the deadline.
SPEND_GRACE_SECONDS = 10.0
PURGE_AFTER = timedelta(hours=1)  # expired challenges (rows) are deleted after this; frames at once
NONCE_SEAL = "liveness-nonce"  # associated-data label of the sealed nonce
MOVE_KINDS: dict[Move, str] = {Move.BLINK: "blink", Move.TURN_LEFT: "turn", Move.TURN_RIGHT: "turn"}


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
        on_abandoned: Callable[[int], None] | None = None,
    ) -> None:
        """``cipher``: encrypts the frames' embeddings while they are kept, and seals the nonce (the
        template cipher from the settings unless given). ``on_abandoned(user_id)``: called once for
        every verify challenge that expired unspent (the composition counts it as a failed face
        attempt towards the lock-out)."""
        self.analyzer = analyzer
        self.cipher = cipher or TemplateCipher.from_settings(settings)
        self.store = store
        self.storage = storage
        self.settings = settings
        self.policy = sequence_policy(settings)
        self.clock = clock
        self.on_abandoned = on_abandoned
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

    def purge(self) -> int:
        """Deletes the observations of every challenge past its deadline (plus the spending grace),
        and challenge rows an hour past it. The app runs this every
        ``liveness_purge_interval_seconds``; returns how many frames it deleted."""
        now = self._now()
        frames = self.store.purge_expired_frames(now - timedelta(seconds=SPEND_GRACE_SECONDS))
        self.store.purge_expired(now - PURGE_AFTER)
        if frames:
            logger.info("purged the observations of %d frames of expired liveness challenges", frames)
        return frames

    def draw_moves(self) -> tuple[Move, ...]:
        """Distinct moves in random order: one of each kind first (a blink, a turn either way), so no
        kind can be avoided, then the rest at random from what is left."""
        chooser = secrets.SystemRandom()
        count = self.settings.liveness_moves_per_challenge
        kinds = sorted({MOVE_KINDS[m] for m in self.moves})
        chooser.shuffle(kinds)
        chosen = [chooser.choice([m for m in self.moves if MOVE_KINDS[m] == kind]) for kind in kinds][:count]
        rest = [m for m in self.moves if m not in chosen]
        chosen += chooser.sample(rest, count - len(chosen))
        chooser.shuffle(chosen)
        return tuple(chosen)

    def issue(self, user_id: int, purpose: ChallengePurpose) -> IssuedChallenge:
        """The open challenge for this user and purpose while no frame was sent to it, else a new one.

        An open challenge that already holds frames (the page was reloaded or left mid-stream) is spent
        as a failure first, exactly as one left to expire: audited as abandoned and, for verify, a
        failed face attempt; its frames are deleted, so a new stream is never judged together with an
        old one. A re-draw therefore costs one failed attempt, never nothing. The store keeps at most
        one open challenge per user and purpose: two requests at once get the same one."""
        self._analyzer()
        now = self._now()
        self.purge()
        for _ in range(self.store.abandon_expired(user_id, purpose.value, now)):
            self._count_abandoned(user_id, purpose)
        for _ in range(3):  # a concurrent request may create or spend the open one in between
            reopened = self._reopen(self.store.open_challenge(user_id, purpose.value, now), purpose, now)
            if reopened is not None:
                return reopened
            try:
                return self._draw(user_id, purpose, now)
            except ChallengeAlreadyOpen:
                logger.info("liveness challenge for user %d created concurrently: reading it", user_id)
        raise ChallengeAlreadyOpen()

    def _count_abandoned(self, user_id: int, purpose: ChallengePurpose) -> None:
        self.storage.record_event("liveness", success=False, user_id=user_id, detail="abandoned")
        if purpose is ChallengePurpose.VERIFY and self.on_abandoned is not None:
            self.on_abandoned(user_id)

    def _draw(self, user_id: int, purpose: ChallengePurpose, now: datetime) -> IssuedChallenge:
        """A new challenge; raises ChallengeAlreadyOpen if one is open (created concurrently)."""
        moves = self.draw_moves()
        light = draw_schedule(self.settings)
        nonce = secrets.token_urlsafe(32)
        sealed = self.cipher.seal(user_id, NONCE_SEAL, nonce.encode("ascii"))
        deadline = now + timedelta(seconds=self.settings.liveness_deadline_seconds)
        self.store.create(
            StoredChallenge(
                nonce_key(nonce),
                user_id,
                purpose.value,
                tuple(m.value for m in moves),
                now,
                deadline,
                None,
                light=light.to_json() if light is not None else None,
                sealed_nonce=f"{self.cipher.key_id}:{base64.b64encode(sealed).decode('ascii')}",
            )
        )
        logger.info("liveness challenge for user %d (%s): %s", user_id, purpose.value, ",".join(moves))
        return IssuedChallenge(nonce, purpose, moves, now, deadline, light)

    def _reopen(
        self, open_one: StoredChallenge | None, purpose: ChallengePurpose, now: datetime
    ) -> IssuedChallenge | None:
        """The open challenge given back, or None after spending it: it holds frames (a failure), or
        its nonce cannot be given back (no failure: the server's keys, not the user)."""
        if open_one is None:
            return None
        user_id = open_one.user_id
        if self.store.frame_count(open_one.id) > 0:
            if self.store.spend(open_one.id, user_id, now):  # False: a concurrent request spent it
                self.store.delete_frames(open_one.id)
                self._count_abandoned(user_id, purpose)
                logger.info("liveness challenge of user %d asked again after frames: spent", user_id)
            return None
        key_id, _, blob = (open_one.sealed_nonce or "").rpartition(":")
        try:
            nonce = self.cipher.unseal(user_id, NONCE_SEAL, base64.b64decode(blob), key_id)
        except (TemplateDecryptionError, ValueError):
            logger.warning("an open liveness challenge's nonce does not unseal: issuing a new one")
            self.store.spend(open_one.id, user_id, now)
            return None
        moves = tuple(Move(m) for m in open_one.moves)
        light = LightSchedule.from_json(open_one.light) if open_one.light else None
        logger.info("liveness challenge for user %d (%s) asked again: the open one", user_id, purpose)
        return IssuedChallenge(
            nonce.decode("ascii"), purpose, moves, open_one.issued_at, open_one.deadline_at, light
        )

    def _open_challenge(self, user_id: int, challenge_id: str) -> StoredChallenge:
        challenge = self.store.get(nonce_key(challenge_id))
        if challenge is None or challenge.user_id != user_id:
            raise ChallengeNotFound()
        if challenge.used_at is not None:
            raise ChallengeUsed()
        return challenge

    def add_frames(self, user_id: int, challenge_id: str, frames: Sequence[bytes]) -> ChallengeProgress:
        """One chunk of the stream. Raises ChallengeNotFound, ChallengeUsed, ChallengeExpired (the
        chunk arrived after the deadline) or ValidationFailed (too many frames). Once the stream has
        failed for good, later chunks are neither analysed nor kept."""
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
        self._check_pace(len(earlier) + len(frames), offset)
        light = LightSchedule.from_json(challenge.light) if challenge.light else None
        plan = self._plan(challenge, light)
        before = self._progress(challenge, earlier, light, plan) if earlier else None
        if before is not None and before.failure is not None:
            # A definite failure: more frames cannot change the verdict, so they cost nothing (not
            # analysed, not kept); the client hears the failure again.
            return before
        observations = analyzer.observe_stream(frames, offset, earlier, plan)
        self.store.add_frames(key, [self._row(user_id, o) for o in observations])
        return self._progress(challenge, earlier + observations, light, plan)

    def _progress(
        self,
        challenge: StoredChallenge,
        stored: Sequence[FrameObservation],
        light: LightSchedule | None,
        plan: StreamPlan,
    ) -> ChallengeProgress:
        """What the server reads in the stream so far (moves done, a definite failure)."""
        moves = tuple(Move(m) for m in challenge.moves)
        sequence = check_sequence(stored, moves, self.policy, plan.moves_from)
        failure: str | None = sequence.failure.value if sequence.failure else None
        message: str | None = None
        if failure is None and light is not None and len(stored) >= light.frames:
            lit = judge_light(light, stored, self.settings)  # the light phase is over: say so now
            if lit.blocks and lit.reason is not None:
                failure, message = lit.reason, FAILURE_MESSAGES[lit.reason]
        if failure is not None and message is None:
            message = FAILURE_MESSAGES.get(failure) or move_message(sequence)
        return ChallengeProgress(
            frames_received=len(stored),
            moves=moves,
            moves_done=sequence.done,
            failure=failure,
            seconds_left=max(0.0, challenge.deadline_at.timestamp() - self.clock()),
            message=message,
            matching_frames=sum(1 for o in stored if o.passes_gates),
            matching_needed=plan.matching_frames,
        )

    def _plan(self, challenge: StoredChallenge, light: LightSchedule | None) -> StreamPlan:
        """What the analyzer samples in this challenge's stream: an enrollment's template takes every
        served model on every frame usable for matching, a verify's match ``recognition_best_frames``
        of them (0: all), drawn at random; eyes are measured only while the blink is the move awaited
        (the challenge's moves and the sequence policy say when); the light phase's settle frames,
        on which nothing is judged, are not analysed."""
        matching = self.settings.liveness_matching_frames
        best = self.settings.recognition_best_frames
        enroll = challenge.purpose == ChallengePurpose.ENROLL.value
        return StreamPlan(
            moves_from=light.frames if light is not None else 0,
            skipped=light.settle_frame_indices() if light is not None else frozenset(),
            matching_frames=matching,
            served_frames=matching if enroll or best <= 0 else min(best, matching),
            moves=tuple(Move(m) for m in challenge.moves),
            sequence=self.policy,
        )

    def _check_pace(self, frames: int, elapsed_s: float) -> None:
        """A camera takes frames at the challenge's rate: a stream ahead of real time (beyond the
        tolerance and a small burst) is a recording being played, and is refused."""
        settings = self.settings
        fps = 1000.0 / settings.liveness_frame_interval_ms
        allowed = max(0.0, elapsed_s) * fps * settings.liveness_frame_rate_tolerance
        allowed += settings.liveness_frame_burst_allowance
        if frames > allowed:
            wait = (frames - allowed) / (fps * settings.liveness_frame_rate_tolerance)
            raise StreamTooFast(frames, elapsed_s, math.ceil(wait))

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
                metrics.record_liveness(purpose.value, "expired", (), 0)
                raise ChallengeExpired()
            observations = [self._observation(user_id, item) for item in self.store.frames(key)]
        finally:
            self.store.delete_frames(key)
        moves = tuple(Move(m) for m in challenge.moves)
        light = LightSchedule.from_json(challenge.light) if challenge.light else None
        verdict = judge_stream(analyzer, observations, moves, self.policy, self.settings, light)
        detail = ";".join(f"{e.name}={e.score}" for e in verdict.passive)
        if verdict.light is not None:
            detail = f"{verdict.light.summary()};{detail}"
        outcome = f"{verdict.step}:{verdict.reason}" if verdict.reason else "live"
        self.storage.record_event(
            "liveness",
            success=verdict.live,
            user_id=user_id,
            client=client,
            # the event's score is a face-match similarity; a challenge matches no template, so its
            # identity consistency (one person throughout) is recorded under its own name instead
            detail=(
                f"{outcome};moves={verdict.moves_done}/{len(moves)};"
                f"consistency={verdict.identity.min_similarity:.3f};{detail}"
            )[:500],
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
        outcome = "live" if verdict.live else verdict.reason or "failed"
        metrics.record_liveness(purpose.value, outcome, challenge.moves, verdict.moves_done)
        if not verdict.live or verdict.burst is None:
            raise LivenessFailed(
                verdict.reason or "failed",
                verdict.message,
                verdict.moves_done,
                tuple(m.value for m in moves),
                verdict.step or "moves",
            )
        return verdict.burst
