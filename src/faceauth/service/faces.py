"""Face enrollment and verification: bursts of frames in, encrypted templates stored, match results out.

Enrolling when a template exists needs ``replace=True`` (an explicit re-enrollment); otherwise it
raises FaceAlreadyEnrolled. Verifying without a template raises NoFaceEnrolled (409). Nothing is
written unless an enrollment succeeds.

A template records the models (and versions) that made it (``domain.FaceTemplate``). An enrollment
uses the served models (``Settings.recognition_models``). A verification is judged by the template's
own models, through ``vision.fusion.decide`` at that model set's threshold (the operator's
``FACEAUTH_MATCH_THRESHOLD`` when it is the served set). When the template's models are not the
served ones (a template enrolled before), a successful login whose score also clears the model set's
*upgrade* threshold (LFW FAR 1e-6, ``fusion.UPGRADE_THRESHOLDS``) replaces it with a template of the
served models made from this login's frames alone; a borderline match never does, so a template
cannot be walked towards an impostor by matches that only just pass. The upgrade is audited."""

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
    FaceTemplate,
    FrameRejection,
    InconsistentEnrollment,
    MatchResult,
    NoFaceEnrolled,
    NotEnoughGoodFrames,
    TemplateVector,
)
from faceauth.service.lockout import FACE_STEP, LockoutService, face_key
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.interface import StorageBackend, StoredTemplate
from faceauth.vision import fusion, matching

logger = logging.getLogger(__name__)


class BurstEmbedder(Protocol):
    """What FaceService needs of ``faceauth.vision.engine.FaceEngine``."""

    def embed_burst(
        self, frames: Sequence[bytes], models: Sequence[str] | None = None, every_frame: bool = False
    ) -> BurstEmbeddings: ...


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
        served = self.settings.recognition_models
        try:
            burst = self._good_burst(frames, served, every_frame=True)
        except NotEnoughGoodFrames:
            self.storage.record_event("face_enroll", success=False, user_id=user_id, client=client)
            raise
        try:
            template = self.build_template(burst, served)
        except InconsistentEnrollment as error:
            self.storage.record_event("face_enroll", success=False, user_id=user_id, client=client)
            raise InconsistentEnrollment(_merge(error.rejected, burst.rejected)) from error
        ciphertext = self.cipher.encrypt_template(user_id, template)
        self.storage.save_template(user_id, ciphertext, self.cipher.key_id, len(burst.embeddings))
        self.storage.record_event(
            "face_enroll",
            success=True,
            user_id=user_id,
            client=client,
            detail=("replaced; " if had_template else "") + f"models={_models(template)}",
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
            template = self.cipher.decrypt_template(user_id, stored.ciphertext, stored.key_id)
            judges = template.models
            upgradable = set(judges) != set(self.settings.recognition_models)
            wanted = (*judges, *(m for m in self.settings.recognition_models if m not in judges))
            burst = self._good_burst(frames, wanted, every_frame=upgradable)
            probe = {model: _probe(burst, model, template.part(model)) for model in judges}
        except NotEnoughGoodFrames:
            self.lockouts.abandon(attempt)  # no comparison was made: not a guess
            self.storage.record_event("face_verify", success=False, user_id=user_id, client=client)
            raise
        except BaseException:
            self.lockouts.abandon(attempt)
            raise
        stored_vectors = {part.model: part.vector for part in template.vectors}
        decision = fusion.decide(
            probe, stored_vectors, judges, fusion.served_threshold(self.settings, judges)
        )
        match = MatchResult(similarity=decision.score, threshold=decision.threshold)
        if match.match:
            self.lockouts.succeed(attempt, clear=[face_key(user_id)])
        else:
            self.lockouts.fail(attempt)
        self.storage.record_event(
            "face_verify",
            success=match.match,
            user_id=user_id,
            client=client,
            score=match.similarity,
            detail=f"models={_models(template)}",
        )
        logger.info(
            "face verification of user %d by %s: score %.3f", user_id, "+".join(judges), match.similarity
        )
        if match.match and upgradable:
            self._upgrade(user_id, stored, template, burst, decision, client)
        return VerificationResult(match, len(burst.embeddings), burst.rejected)

    def build_template(self, burst: BurstEmbeddings, models: Sequence[str]) -> FaceTemplate:
        """A template of ``models`` from a burst that every one of them embedded frame by frame;
        each model's frames must agree (``matching.build_template``), or InconsistentEnrollment."""
        parts = []
        for model in models:
            vectors = burst.of(model)
            if vectors is None:
                raise ValueError(f"the burst was not embedded by {model}")
            vector = matching.build_template(
                list(vectors.vectors),
                self.settings.enroll_min_consistency,
                frame_indices=vectors.frame_indices,
            )
            parts.append(TemplateVector(model, vectors.version, vector))
        return FaceTemplate(tuple(parts))

    def _upgrade(
        self,
        user_id: int,
        stored: StoredTemplate,
        template: FaceTemplate,
        burst: BurstEmbeddings,
        decision: fusion.Decision,
        client: str | None,
    ) -> None:
        """Replace an older template by one of the served models made from this login's frames, only
        when the login cleared the old models' upgrade threshold (never on a borderline match)."""
        served = self.settings.recognition_models
        needed = fusion.upgrade_threshold(template.models)
        if decision.score < needed:
            logger.info(
                "template of user %d kept: score %.3f below the upgrade threshold %.3f",
                user_id,
                decision.score,
                needed,
            )
            return
        try:
            upgraded = self.build_template(burst, served)
        except InconsistentEnrollment:
            logger.info("template of user %d kept: the login's frames disagree", user_id)
            return
        ciphertext = self.cipher.encrypt_template(user_id, upgraded)
        # Compare and set: a template re-enrolled or deleted since this login began is left alone
        # (an upgrade must never bring back a deleted face).
        if not self.storage.replace_template_ciphertext(
            user_id, stored.ciphertext, ciphertext, self.cipher.key_id
        ):
            logger.info("template of user %d changed during the login; not upgraded", user_id)
            return
        self.storage.record_event(
            "face_template_upgrade",
            success=True,
            user_id=user_id,
            client=client,
            score=decision.score,
            detail=f"models={_models(template)} -> {_models(upgraded)}",
        )
        logger.info(
            "template of user %d upgraded from %s to %s", user_id, _models(template), _models(upgraded)
        )

    def delete(self, user_id: int, client: str | None = None) -> bool:
        deleted = self.storage.delete_template(user_id)
        self.storage.record_event("face_delete", success=deleted, user_id=user_id, client=client)
        return deleted

    def is_enrolled(self, user_id: int) -> bool:
        return self.storage.has_template(user_id)

    def _good_burst(
        self, frames: Sequence[bytes] | BurstEmbeddings, models: Sequence[str], every_frame: bool = False
    ) -> BurstEmbeddings:
        # A BurstEmbeddings comes from a liveness challenge, already embedded (service.liveness):
        # FaceNet on its liveness_matching_frames frames usable for matching, the served models on
        # some (a verify) or all (an enrollment) of them.
        if isinstance(frames, BurstEmbeddings):
            burst = frames
            needed = self.settings.liveness_matching_frames
        else:
            burst = self.engine.embed_burst(frames, models, every_frame=every_frame)
            needed = self.settings.min_good_frames
        if len(burst.embeddings) < needed:
            raise NotEnoughGoodFrames(needed, burst.rejected, len(burst.embeddings))
        return burst


def _probe(burst: BurstEmbeddings, model: str, part: TemplateVector | None) -> Embedding:
    """The burst's mean vector by ``model``, which must be the template part's model and version."""
    vectors = burst.of(model)
    if part is None or vectors is None or not vectors.vectors:
        raise NoFaceEnrolled()
    if vectors.version != part.version:
        # A template of weights this server no longer runs cannot be judged: the user re-enrolls.
        logger.warning("template made by %s %s, server runs %s", model, part.version, vectors.version)
        raise NoFaceEnrolled()
    return matching.mean_embedding(list(vectors.vectors))


def _models(template: FaceTemplate) -> str:
    return "+".join(f"{part.model}:{part.version}" for part in template.vectors)


def _merge(*groups: tuple[FrameRejection, ...]) -> tuple[FrameRejection, ...]:
    merged = {rejection.index: rejection for group in groups for rejection in group}
    return tuple(merged[index] for index in sorted(merged))
