"""The one place where errors become HTTP answers: every named error class maps to a status code
and a JSON body ``{"detail": ...}``; bad input never gives a 500.

For browser requests outside ``/api/`` the web pages may render a friendly page instead: when
``faceauth.web.pages`` defines ``render_error(request, status_code, detail) -> Response``,
``create_app`` stores it as ``app.state.html_error_renderer`` and it is used here."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceauth.domain import (
    AccountLocked,
    ChallengeExpired,
    Conflict,
    CsrfFailed,
    FaceAuthError,
    FrameRejection,
    ImageTooLarge,
    InconsistentEnrollment,
    InsufficientStage,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    LivenessFailed,
    LivenessRequired,
    LivenessUnavailable,
    NotEnoughGoodFrames,
    NotFound,
    RateLimited,
    RequestTooLarge,
    TooManyAttempts,
    ValidationFailed,
)

logger = logging.getLogger(__name__)

HtmlErrorRenderer = Callable[[Request, int, Any], Response]


# Most specific first: the first class in an error's MRO found here gives its status.
STATUS_CODES: dict[type[FaceAuthError], int] = {
    LivenessRequired: 428,
    ChallengeExpired: 410,
    LivenessFailed: 422,
    LivenessUnavailable: 503,
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


def error_body(error: FaceAuthError) -> dict[str, Any]:
    if isinstance(error, ValidationFailed):
        return {"detail": error.errors}
    if isinstance(error, NotEnoughGoodFrames):
        return {
            "detail": f"too few usable frames: {error.accepted} passed the checks, {error.needed} needed",
            "frames_used": error.accepted,
            "frames_needed": error.needed,
            "frames_rejected": rejections_json(error.rejected),
        }
    if isinstance(error, InconsistentEnrollment):
        return {"detail": str(error), "frames_rejected": rejections_json(error.rejected)}
    if isinstance(error, LivenessFailed):
        return {
            "detail": f"liveness check failed: {error}",
            "reason": error.reason,
            "moves": list(error.moves),
            "moves_done": error.moves_done,
        }
    if status_code_for(error) == 500:
        return {"detail": "internal server error"}
    return {"detail": str(error)}


def respond(
    request: Request, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    renderer: HtmlErrorRenderer | None = getattr(request.app.state, "html_error_renderer", None)
    if renderer is not None and wants_html(request):
        response = renderer(request, status_code, body.get("detail"))
        response.headers.update(headers or {})
        return response
    return JSONResponse(body, status_code=status_code, headers=headers)


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


async def handle_faceauth_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, FaceAuthError)
    status_code = status_code_for(error)
    if status_code == 500:
        logger.error("%s on %s %s", type(error).__name__, request.method, request.url.path, exc_info=error)
    headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else {}
    if isinstance(error, TooManyAttempts):
        headers["Retry-After"] = str(error.retry_after)
    return respond(request, status_code, error_body(error), headers)


def field_name(location: tuple[int | str, ...]) -> str:
    """("body", "email") -> "email"; ("query", "replace") -> "replace"; ("body",) -> "body"."""
    parts = [str(part) for part in location[1:]] if len(location) > 1 else [str(p) for p in location]
    return ".".join(parts) or "body"


async def handle_request_validation(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    errors: dict[str, str] = {}
    for item in error.errors():
        if item.get("type") == "json_invalid":
            errors["body"] = "malformed JSON"
            continue
        errors.setdefault(field_name(tuple(item.get("loc", ()))), str(item.get("msg", "invalid")))
    return respond(request, 422, {"detail": errors})


async def handle_http_exception(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    return respond(request, error.status_code, {"detail": error.detail}, dict(error.headers or {}))


async def handle_unexpected(request: Request, error: Exception) -> Response:
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(FaceAuthError, handle_faceauth_error)
    app.add_exception_handler(RequestValidationError, handle_request_validation)
    app.add_exception_handler(StarletteHTTPException, handle_http_exception)
    app.add_exception_handler(Exception, handle_unexpected)
