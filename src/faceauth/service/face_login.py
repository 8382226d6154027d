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
- a verified face earns a full-stage token, and the password-stage token that asked is revoked; the
  token says when the face was verified (``auth_time``) and whether through a liveness challenge
  (the OpenID Connect provider reports both in ``acr``/``amr``);
- after a verified face, a pending OpenID Connect sign-in (``service.oidc_signin``) is where the
  browser goes back to.
- every verification's outcome is counted for ``/metrics`` (success, no_match, not_live, locked,
  too_few_frames).

Every method is synchronous and may run for a second or more (face detection and embedding): the web
layer runs it in a worker thread."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from faceauth import metrics
from faceauth.config import Settings
from faceauth.domain import (
    AccountLocked,
    BurstEmbeddings,
    InsufficientStage,
    LivenessFailed,
    LivenessRequired,
    NotEnoughGoodFrames,
)
from faceauth.service.faces import EnrollmentResult, FaceService, VerificationResult
from faceauth.service.liveness import ChallengePurpose, LivenessService
from faceauth.service.oidc_signin import PendingSignIns
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
    return_url: str | None = None  # a verified face's pending OpenID Connect sign-in, to go back to

    @property
    def verified(self) -> bool:
        return self.result.verified


class FaceLoginService:
    def __init__(
        self,
        faces: FaceService,
        liveness: LivenessService,
        tokens: TokenService,
        settings: Settings,
        sign_ins: PendingSignIns,
    ) -> None:
        self.faces = faces
        self.liveness = liveness
        self.tokens = tokens
        self.settings = settings
        self.sign_ins = sign_ins

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

    def verify(
        self, claims: TokenClaims, face: FaceInput, client: str | None = None, sign_in: str | None = None
    ) -> FaceVerified:
        """Compares the face with the enrolled one; on a match, issues a full-stage token (marked as
        liveness-checked when the face came through a challenge) and revokes a password-stage one. A
        different person is a result (``verified`` false), not an error. ``sign_in``: the sealed
        pending OpenID Connect sign-in the browser carries, if any (its URL is ``return_url``)."""
        user_id = claims.user_id
        try:
            frames = self._burst(user_id, face, ChallengePurpose.VERIFY, client)
            result = self.faces.verify(user_id, frames, client)
        except AccountLocked:
            metrics.record_login("face", "locked")
            raise
        except LivenessFailed:
            metrics.record_login("face", "not_live")
            raise
        except NotEnoughGoodFrames:
            metrics.record_login("face", "too_few_frames")
            raise
        metrics.record_login("face", "success" if result.verified else "no_match")
        # the score stays on the server (log and audit log): a client given it could hill-climb
        logger.info(
            "face verification of user %d: similarity %.4f, threshold %.4f, %s",
            user_id,
            result.match.similarity,
            result.match.threshold,
            "match" if result.verified else "no match",
        )
        if not result.verified:
            return FaceVerified(result, _pictures(frames), token=None)
        liveness_checked = face.challenge_id is not None  # the challenge was spent: it passed
        issued = self.tokens.issue(user_id, Stage.FULL, liveness=liveness_checked)
        if claims.stage is Stage.PASSWORD:
            self.tokens.revoke(claims)  # the password-stage token has done its job
        pending = self.sign_ins.open(sign_in) if sign_in else None
        return_url = pending.return_url if pending is not None else None
        return FaceVerified(result, _pictures(frames), token=issued, return_url=return_url)

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
