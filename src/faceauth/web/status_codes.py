"""Which HTTP status each named error gets; shared by the JSON errors (``web.errors``) and the
error pages (``web.pages.errors``), which word the same status for people."""

from __future__ import annotations

from typing import Any

from faceauth.domain import (
    AccountLocked,
    ChallengeExpired,
    Conflict,
    CsrfFailed,
    FaceAuthError,
    FrameRejection,
    ImageTooLarge,
    InsufficientStage,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    LivenessFailed,
    LivenessRequired,
    LivenessUnavailable,
    NotFound,
    RateLimited,
    RequestTooLarge,
)


class ServiceStartingError(FaceAuthError):
    """A request before start-up has built the services (the models are still loading; 503)."""

    def __init__(self) -> None:
        super().__init__("the service is starting: try again in a few seconds")


# Most specific first: the first class in an error's MRO found here gives its status.
STATUS_CODES: dict[type[FaceAuthError], int] = {
    LivenessRequired: 428,
    ChallengeExpired: 410,
    LivenessFailed: 422,
    LivenessUnavailable: 503,
    ServiceStartingError: 503,
    AccountLocked: 423,
    RateLimited: 429,
    ImageTooLarge: 413,
    RequestTooLarge: 413,
    InvalidInput: 422,
    Conflict: 409,
    NotFound: 404,
    InvalidCredentials: 401,
    InvalidToken: 401,
    InsufficientStage: 403,
    CsrfFailed: 403,
}


def status_code_for(error: FaceAuthError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return 500


def rejections_json(rejections: tuple[FrameRejection, ...]) -> list[dict[str, Any]]:
    return [{"index": r.index, "reason": r.reason.value, "message": r.message} for r in rejections]
