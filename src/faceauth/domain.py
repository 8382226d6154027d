"""Domain types shared by every layer: frozen dataclasses and the named errors.

Only the web layer maps errors to HTTP status codes (``faceauth.web.errors``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import numpy as np
import numpy.typing as npt

Embedding = npt.NDArray[np.float32]  # one model's vector (FaceNet 512-d, SFace 128-d), L2-normalised


# ----------------------------------------------------------------------------------------------
# Vision types
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixel coordinates of the image it was found in."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float  # O-Net confidence, 0-1
    landmarks: tuple[tuple[float, float], ...]  # left eye, right eye, nose, mouth left, mouth right

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)


class RejectReason(StrEnum):
    """Why a frame cannot be used; the codes are part of the API (``frames_rejected[].reason``)."""

    NOT_AN_IMAGE = "not_an_image"
    IMAGE_TOO_LARGE = "image_too_large"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    FACE_TOO_SMALL = "face_too_small"
    TOO_BLURRY = "too_blurry"
    TOO_DARK = "too_dark"
    TOO_BRIGHT = "too_bright"
    NOT_FRONTAL = "not_frontal"
    LOW_CONFIDENCE = "low_confidence"
    NOT_SAME_PERSON = "not_same_person"


REASON_MESSAGES: dict[RejectReason, str] = {
    RejectReason.NOT_AN_IMAGE: "not a readable JPEG, PNG or WebP image",
    RejectReason.IMAGE_TOO_LARGE: "image too large",
    RejectReason.NO_FACE: "no face found",
    RejectReason.MULTIPLE_FACES: "more than one face in the picture",
    RejectReason.FACE_TOO_SMALL: "face too small: come closer",
    RejectReason.TOO_BLURRY: "too blurry: hold still",
    RejectReason.TOO_DARK: "too dark: add light",
    RejectReason.TOO_BRIGHT: "too bright: avoid direct light",
    RejectReason.NOT_FRONTAL: "look straight at the camera",
    RejectReason.LOW_CONFIDENCE: "face not clearly visible",
    RejectReason.NOT_SAME_PERSON: "does not show the same person as the other frames",
}


@dataclass(frozen=True)
class FrameRejection:
    index: int
    reason: RejectReason

    @property
    def message(self) -> str:
        return REASON_MESSAGES[self.reason]


@dataclass(frozen=True)
class ModelVectors:
    """One recognition model's embeddings of some of a burst's accepted frames."""

    model: str  # the model's short name ("facenet", "sface")
    version: str  # which weights; name and version together identify the vector space
    vectors: tuple[Embedding, ...]
    frame_indices: tuple[int, ...]  # the frame (index in the burst) of each vector


@dataclass(frozen=True)
class BurstEmbeddings:
    """The outcome of running a burst of frames through decoding, detection, the gates and the
    recognition models. The first of ``models`` embedded every accepted frame; the others may have
    embedded only some of them (the sharpest: ``Settings.recognition_best_frames``)."""

    models: tuple[ModelVectors, ...]
    accepted_indices: tuple[int, ...]
    rejected: tuple[FrameRejection, ...] = field(default_factory=tuple)

    @property
    def embeddings(self) -> tuple[Embedding, ...]:
        """The first model's vectors: one per accepted frame (none without a model)."""
        return self.models[0].vectors if self.models else ()

    def of(self, model: str) -> ModelVectors | None:
        return next((vectors for vectors in self.models if vectors.model == model), None)


# Templates written before a template recorded its models hold FaceNet 20180408-102900's vector only.
LEGACY_TEMPLATE_MODEL = ("facenet", "20180408-102900")


@dataclass(frozen=True)
class TemplateVector:
    """One model's part of a face template: the renormalised mean of that model's frame vectors."""

    model: str
    version: str
    vector: Embedding


@dataclass(frozen=True)
class FaceTemplate:
    """A face template: per model (name and version recorded), one vector. Judged only by the
    models it holds, each against a probe of the same model and version."""

    vectors: tuple[TemplateVector, ...]

    @property
    def models(self) -> tuple[str, ...]:
        return tuple(part.model for part in self.vectors)

    def part(self, model: str) -> TemplateVector | None:
        return next((part for part in self.vectors if part.model == model), None)


@dataclass(frozen=True)
class MatchResult:
    similarity: float
    threshold: float

    @property
    def match(self) -> bool:
        return self.similarity >= self.threshold


# ----------------------------------------------------------------------------------------------
# Accounts
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: int
    name: str
    username: str
    email: str  # lower-cased
    phone: str  # E.164
    password_hash: str = field(repr=False)
    created_at: datetime
    disabled_at: datetime | None = None  # set: an operator disabled the account; it cannot log in

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None


@dataclass(frozen=True)
class App:
    """One of a user's protected "applications" (a named link in their dashboard)."""

    id: int
    user_id: int
    name: str
    url: str | None
    description: str | None
    created_at: datetime


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


class FaceAuthError(Exception):
    """Base of every error the application raises on purpose."""


class InvalidInput(FaceAuthError):
    """The request itself is malformed (maps to 422)."""


class ImageError(InvalidInput):
    """An image that cannot be used at all."""

    reason: RejectReason = RejectReason.NOT_AN_IMAGE


class NotAnImage(ImageError):
    reason = RejectReason.NOT_AN_IMAGE


class ImageTooLarge(ImageError):
    """Too many bytes or pixels (maps to 413)."""

    reason = RejectReason.IMAGE_TOO_LARGE


class RequestTooLarge(InvalidInput):
    """A request body larger than ``Settings.max_request_bytes`` (maps to 413)."""


class FaceRejected(InvalidInput):
    """A single image (``faceauth compare``) whose face cannot be used."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(REASON_MESSAGES[reason])
        self.reason = reason


class NotEnoughGoodFrames(InvalidInput):
    """Too few frames of a burst passed the quality gates."""

    def __init__(self, needed: int, rejected: tuple[FrameRejection, ...], accepted: int) -> None:
        super().__init__(f"{accepted} usable frame(s), {needed} needed")
        self.needed = needed
        self.accepted = accepted
        self.rejected = rejected


class InconsistentEnrollment(InvalidInput):
    """The frames of an enrollment do not all show the same person."""

    def __init__(self, rejected: tuple[FrameRejection, ...]) -> None:
        super().__init__("the frames do not all show the same person")
        self.rejected = rejected


class ValidationFailed(InvalidInput):
    """Input fields that break the rules, with one message per field (maps to 422)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = errors


class Conflict(FaceAuthError):
    """The request clashes with the current state (maps to 409)."""


class UsernameTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("this username is already taken")


class EmailTaken(Conflict):
    def __init__(self) -> None:
        super().__init__("an account with this email already exists")


class NoFaceEnrolled(Conflict):
    def __init__(self) -> None:
        super().__init__("no face enrolled for this account")


class FaceAlreadyEnrolled(Conflict):
    def __init__(self) -> None:
        super().__init__("a face is already enrolled: re-enroll explicitly to replace it")


class NotFound(FaceAuthError):
    """The thing does not exist, or belongs to someone else (maps to 404)."""


class InvalidCredentials(FaceAuthError):
    """Unknown login or wrong password: the same error for both (maps to 401)."""

    def __init__(self) -> None:
        super().__init__("invalid login or password")


class AccountDisabled(InvalidCredentials):
    """The password was right but an operator disabled the account. Same status and message as
    InvalidCredentials for API clients (a stranger learns nothing); the login page tells the owner."""


class InvalidToken(FaceAuthError):
    """Missing, malformed, tampered, expired or revoked token (maps to 401)."""


class InsufficientStage(FaceAuthError):
    """A valid token whose stage does not open this resource (maps to 403)."""


class CsrfFailed(FaceAuthError):
    """A cookie-authenticated state-changing request without a matching CSRF token (maps to 403)."""


class ConfigurationError(FaceAuthError):
    """The server cannot start as configured (missing secrets, database schema behind)."""


# --- abuse limits (docs/security.md) -----------------------------------------------------------


class TooManyAttempts(FaceAuthError):
    """Refused for a while; ``retry_after``: whole seconds until another try can succeed."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class AccountLocked(TooManyAttempts):
    """Too many failed password or face attempts on this account (maps to 423)."""

    def __init__(self, step: str, retry_after: int) -> None:
        super().__init__(
            f"too many failed {step} attempts: try again in {_minutes(retry_after)}", retry_after
        )
        self.step = step


class RateLimited(TooManyAttempts):
    """Too many requests from this client address to one endpoint (maps to 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests: try again in {_minutes(retry_after)}", retry_after)


def _minutes(seconds: int) -> str:
    if seconds < 60:
        return f"{max(1, seconds)} second{'s' if seconds != 1 else ''}"
    minutes = -(-seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# --- liveness (docs/liveness.md) ---------------------------------------------------------------


class LivenessRequired(FaceAuthError):
    """A plain burst where the server requires a liveness challenge (maps to 428)."""

    def __init__(self) -> None:
        super().__init__(
            "a liveness challenge is required: POST /api/v1/liveness/challenges, stream the frames to "
            "it, then send its challenge_id instead of frames"
        )


class ChallengeNotFound(NotFound):
    """No such challenge for this user (unknown, someone else's, or for the other purpose)."""

    def __init__(self) -> None:
        super().__init__("no such liveness challenge")


class ChallengeUsed(Conflict):
    """The challenge's nonce was already spent by an enroll or verify (maps to 409)."""

    def __init__(self) -> None:
        super().__init__("this liveness challenge has already been used: request a new one")


class ChallengeAlreadyOpen(Conflict):
    """The user already has an open (unused) challenge for this purpose: at most one at a time, so
    asking twice at once is no second draw (the database refuses the second row; maps to 409 if it
    ever reaches a client, though the service answers the open one instead)."""

    def __init__(self) -> None:
        super().__init__("a liveness challenge is already open for this purpose")


class ChallengeExpired(FaceAuthError):
    """The challenge's deadline has passed (maps to 410)."""

    def __init__(self) -> None:
        super().__init__("this liveness challenge has expired: request a new one")


class LivenessFailed(FaceAuthError):
    """The challenge stream does not show a live person doing the asked moves (maps to 422).

    ``reason`` is a stable code (see docs/liveness.md), ``message`` says what to do."""

    def __init__(
        self, reason: str, message: str, moves_done: int, moves: tuple[str, ...], step: str = "moves"
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.moves_done = moves_done
        self.moves = moves
        self.step = step  # "face", "light", "moves", "identity" or "passive": what to count and name


class StreamTooFast(TooManyAttempts):
    """Challenge frames arriving faster than a camera takes them: a recording, not a camera (429)."""

    def __init__(self, frames: int, seconds: float, retry_after: int) -> None:
        super().__init__(
            f"frames arrive faster than real time ({frames} frames {seconds:.1f} s after the challenge "
            "was issued): send them as the camera takes them",
            retry_after,
        )


class LivenessUnavailable(FaceAuthError):
    """The face-mesh models are not installed, so no challenge can be judged (maps to 503)."""

    def __init__(self) -> None:
        super().__init__("liveness checks are not available on this server")
