"""Face enrollment and verification: bursts of frames in, encrypted templates stored, match results out.

Enrolling when a template exists needs ``replace=True`` (an explicit re-enrollment); otherwise it
raises FaceAlreadyEnrolled. Verifying without a template raises NoFaceEnrolled (409). Nothing is
written unless an enrollment succeeds."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from faceauth.config import Settings
from faceauth.domain import (
    AccountLocked,
    BurstEmbeddings,
    Embedding,
    FaceAlreadyEnrolled,
    FrameRejection,
    InconsistentEnrollment,
    MatchResult,
    NoFaceEnrolled,
    NotEnoughGoodFrames,
)
from faceauth.service.lockout import FACE_STEP, LockoutService, face_key
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.interface import StorageBackend
from faceauth.vision import matching

logger = logging.getLogger(__name__)


class BurstEmbedder(Protocol):
    """What FaceService needs of ``faceauth.vision.engine.FaceEngine``."""

    def embed_burst(self, frames: Sequence[bytes]) -> BurstEmbeddings: ...


@dataclass(frozen=True)
class EnrollmentResult:
    frames_used: int
    frames_rejected: tuple[FrameRejection, ...]
    replaced: bool


@dataclass(frozen=True)
class VerificationResult:
    match: MatchResult
    frames_used: int
    frames_rejected: tuple[FrameRejection, ...]

    @property
    def verified(self) -> bool:
        return self.match.match


class FaceService:
    def __init__(
        self,
        engine: BurstEmbedder,
        storage: StorageBackend,
        cipher: TemplateCipher,
        settings: Settings,
        lockouts: LockoutService,
    ) -> None:
        self.engine = engine
        self.storage = storage
        self.cipher = cipher
        self.settings = settings
        # Failed verifications lock the face step (docs/security.md); the state is in the database.
        self.lockouts = lockouts

    def enroll(
        self,
        user_id: int,
        frames: Sequence[bytes] | BurstEmbeddings,
        replace: bool = False,
        client: str | None = None,
    ) -> EnrollmentResult:
        """Raises FaceAlreadyEnrolled (a template exists and ``replace`` is false),
        NotEnoughGoodFrames or InconsistentEnrollment; stores the template only on success."""
        had_template = self.storage.has_template(user_id)
        if had_template and not replace:
            raise FaceAlreadyEnrolled()
        try:
            burst = self._good_burst(frames)
        except NotEnoughGoodFrames:
            self.storage.record_event("face_enroll", success=False, user_id=user_id, client=client)
            raise
        try:
            template = matching.build_template(
                list(burst.embeddings),
                self.settings.enroll_min_consistency,
                frame_indices=burst.accepted_indices,
            )
        except InconsistentEnrollment as error:
            self.storage.record_event("face_enroll", success=False, user_id=user_id, client=client)
            raise InconsistentEnrollment(_merge(error.rejected, burst.rejected)) from error
        ciphertext = self.cipher.encrypt(user_id, template)
        self.storage.save_template(user_id, ciphertext, self.cipher.key_id, len(burst.embeddings))
        self.storage.record_event(
            "face_enroll",
            success=True,
            user_id=user_id,
            client=client,
            detail="replaced" if had_template else None,
        )
        logger.info("enrolled face of user %d from %d frames", user_id, len(burst.embeddings))
        return EnrollmentResult(len(burst.embeddings), burst.rejected, replaced=had_template)

    def check_face_step_open(self, user_id: int) -> None:
        """Raises AccountLocked while the face step is locked, so a locked account spends no
        liveness challenge and gets no answer about it."""
        self.lockouts.check(FACE_STEP, self.lockouts.face_rules(user_id))

    def count_failed_liveness(self, user_id: int) -> None:
        """A verification whose liveness challenge failed is a failed face attempt: a photo held to
        the camera is a guess like any other, and must run into the same lock-out."""
        self.lockouts.fail(self.lockouts.begin(FACE_STEP, self.lockouts.face_rules(user_id)))

    def verify(
        self, user_id: int, frames: Sequence[bytes] | BurstEmbeddings, client: str | None = None
    ) -> VerificationResult:
        """Compares the burst's mean embedding with the template. Raises NoFaceEnrolled,
        NotEnoughGoodFrames or AccountLocked (too many failures: ``service.lockout``); a different
        person is a result (``verified`` false), not an error."""
        stored = self.storage.get_template(user_id)
        if stored is None:
            raise NoFaceEnrolled()
        try:
            attempt = self.lockouts.begin(FACE_STEP, self.lockouts.face_rules(user_id))
        except AccountLocked:
            self.storage.record_event(
                "face_verify", success=False, user_id=user_id, client=client, detail="locked"
            )
            raise
        try:
            template = self.cipher.decrypt(user_id, stored.ciphertext, stored.key_id)
            burst = self._good_burst(frames)
        except NotEnoughGoodFrames:
            self.lockouts.abandon(attempt)  # no comparison was made: not a guess
            self.storage.record_event("face_verify", success=False, user_id=user_id, client=client)
            raise
        except BaseException:
            self.lockouts.abandon(attempt)
            raise
        probe = matching.mean_embedding(list(burst.embeddings))
        match = compare(probe, template, self.settings.match_threshold)
        if match.match:
            self.lockouts.succeed(attempt, clear=[face_key(user_id)])
        else:
            self.lockouts.fail(attempt)
        self.storage.record_event(
            "face_verify", success=match.match, user_id=user_id, client=client, score=match.similarity
        )
        logger.info("face verification of user %d: similarity %.3f", user_id, match.similarity)
        return VerificationResult(match, len(burst.embeddings), burst.rejected)

    def delete(self, user_id: int, client: str | None = None) -> bool:
        deleted = self.storage.delete_template(user_id)
        self.storage.record_event("face_delete", success=deleted, user_id=user_id, client=client)
        return deleted

    def is_enrolled(self, user_id: int) -> bool:
        return self.storage.has_template(user_id)

    def _good_burst(self, frames: Sequence[bytes] | BurstEmbeddings) -> BurstEmbeddings:
        # A BurstEmbeddings comes from a liveness challenge, already embedded (service.liveness).
        burst = frames if isinstance(frames, BurstEmbeddings) else self.engine.embed_burst(frames)
        needed = self.settings.min_good_frames
        if len(burst.embeddings) < needed:
            raise NotEnoughGoodFrames(needed, burst.rejected, len(burst.embeddings))
        return burst


def compare(probe: Embedding, template: Embedding, threshold: float) -> MatchResult:
    return MatchResult(similarity=matching.cosine_similarity(probe, template), threshold=threshold)


def _merge(*groups: tuple[FrameRejection, ...]) -> tuple[FrameRejection, ...]:
    merged = {rejection.index: rejection for group in groups for rejection in group}
    return tuple(merged[index] for index in sorted(merged))
