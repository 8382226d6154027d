"""The face step of a login, as one use case for the JSON API and the web pages alike.

A face arrives either as a plain burst of frames or as the id of a liveness challenge whose frames
were streamed before (``service.liveness``). The rules, each in this one place:

- a plain burst is refused (LivenessRequired) when the server requires liveness;
- replacing or deleting an enrolled face needs a full-stage token: the password alone can neither
  swap nor remove someone's face;
- a verification is refused while the face step is locked, before a challenge is spent, so a locked
  account spends no challenge and learns nothing about it;
- a challenge is spent once, whatever the outcome; a verification whose challenge fails liveness is
  a failed face attempt (a photo held to the camera is a guess like any other) and counts towards
  the face lock-out;
- a verified face earns a full-stage token, and the password-stage token that asked is revoked.

Every method is synchronous and may run for a second or more (face detection and embedding): the web
layer runs it in a worker thread."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from faceauth.config import Settings
from faceauth.domain import BurstEmbeddings, InsufficientStage, LivenessFailed, LivenessRequired
from faceauth.service.faces import EnrollmentResult, FaceService, VerificationResult
from faceauth.service.liveness import ChallengePurpose, LivenessService
from faceauth.service.tokens import IssuedToken, Stage, TokenClaims, TokenService

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FaceInput:
    """What an enroll or verify request brings: a plain burst of encoded frames, or a challenge id."""

    frames: tuple[bytes, ...] = ()
    challenge_id: str | None = None


@dataclass(frozen=True)
class FaceEnrolled:
    result: EnrollmentResult
    pictures: int  # frames posted, or challenge frames usable for matching


@dataclass(frozen=True)
class FaceVerified:
    result: VerificationResult
    pictures: int
    token: IssuedToken | None  # the full-stage token, when the face matched

    @property
    def verified(self) -> bool:
        return self.result.verified


class FaceLoginService:
    def __init__(
        self, faces: FaceService, liveness: LivenessService, tokens: TokenService, settings: Settings
    ) -> None:
        self.faces = faces
        self.liveness = liveness
        self.tokens = tokens
        self.settings = settings

    def check_plain_burst_allowed(self) -> None:
        """Raises LivenessRequired when the server takes faces only through a liveness challenge.
        The web layer calls it before it reads a burst, so the client learns what to send first."""
        if self.settings.liveness_required:
            raise LivenessRequired()

    def enroll(
        self, claims: TokenClaims, face: FaceInput, replace: bool, client: str | None = None
    ) -> FaceEnrolled:
        """Enrolls (``replace``: or re-enrolls) the face of the token's user. Raises
        InsufficientStage (replacing with a password-stage token), FaceAlreadyEnrolled, the
        liveness errors, NotEnoughGoodFrames or InconsistentEnrollment."""
        user_id = claims.user_id
        if replace:
            self._require_full_stage_to_change(claims, "verify your face before replacing it")
        frames = self._burst(user_id, face, ChallengePurpose.ENROLL, client)
        result = self.faces.enroll(user_id, frames, replace, client)
        return FaceEnrolled(result, _pictures(frames))

    def verify(self, claims: TokenClaims, face: FaceInput, client: str | None = None) -> FaceVerified:
        """Compares the face with the enrolled one; on a match, issues a full-stage token and revokes
        a password-stage one. A different person is a result (``verified`` false), not an error."""
        user_id = claims.user_id
        frames = self._burst(user_id, face, ChallengePurpose.VERIFY, client)
        result = self.faces.verify(user_id, frames, client)
        if not result.verified:
            return FaceVerified(result, _pictures(frames), token=None)
        issued = self.tokens.issue(user_id, Stage.FULL)
        if claims.stage is Stage.PASSWORD:
            self.tokens.revoke(claims)  # the password-stage token has done its job
        return FaceVerified(result, _pictures(frames), token=issued)

    def delete(self, claims: TokenClaims, client: str | None = None) -> bool:
        """Deletes the enrolled face, if any; raises InsufficientStage for a password-stage token."""
        self._require_full_stage_to_change(claims, "verify your face before deleting it")
        if not self.faces.is_enrolled(claims.user_id):
            return False
        return self.faces.delete(claims.user_id, client=client)

    def _require_full_stage_to_change(self, claims: TokenClaims, message: str) -> None:
        """An enrolled face is changed (replaced, deleted) only with a full-stage token."""
        if claims.stage is not Stage.FULL and self.faces.is_enrolled(claims.user_id):
            raise InsufficientStage(message)

    def _burst(
        self, user_id: int, face: FaceInput, purpose: ChallengePurpose, client: str | None
    ) -> Sequence[bytes] | BurstEmbeddings:
        if face.challenge_id is None:
            self.check_plain_burst_allowed()
            return face.frames
        verifying = purpose is ChallengePurpose.VERIFY
        if verifying:
            self.faces.check_face_step_open(user_id)
        try:
            return self.liveness.spend(user_id, face.challenge_id, purpose, client)
        except LivenessFailed:
            if verifying:
                self.faces.count_failed_liveness(user_id)
            raise


def _pictures(frames: Sequence[bytes] | BurstEmbeddings) -> int:
    return len(frames.embeddings) if isinstance(frames, BurstEmbeddings) else len(frames)
