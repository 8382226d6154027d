"""The one place where errors become HTTP answers; bad input never gives a 500.

Every named error class maps to a status code (``web.status_codes``). Who gets what:

- a web page route (marked by ``pages.routing.PageRoute``): a page for people, or ``{"ok": false,
  "message"}`` for the webcam script (``pages.errors.page_failure``);
- a browser asking for HTML outside ``/api/`` (an unknown path, say): the error page for the status;
- everyone else: JSON ``{"detail": ...}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceauth.domain import (
    FaceAuthError,
    InconsistentEnrollment,
    LivenessFailed,
    NotEnoughGoodFrames,
    TooManyAttempts,
    ValidationFailed,
)
from faceauth.web.pages import errors as page_errors
from faceauth.web.status_codes import rejections_json, status_code_for

logger = logging.getLogger(__name__)

PAGE_ROUTE = "faceauth.page_route"  # scope key: set by pages.routing.PageRoute


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


def field_name(location: tuple[int | str, ...]) -> str:
    """("body", "email") -> "email"; ("query", "replace") -> "replace"; ("body",) -> "body"."""
    parts = [str(part) for part in location[1:]] if len(location) > 1 else [str(p) for p in location]
    return ".".join(parts) or "body"


def validation_errors(error: RequestValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for item in error.errors():
        if item.get("type") == "json_invalid":
            errors["body"] = "malformed JSON"
            continue
        errors.setdefault(field_name(tuple(item.get("loc", ()))), str(item.get("msg", "invalid")))
    return errors


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get("accept", "")


def error_response(request: Request, error: Exception) -> Response:
    """The answer to ``error`` raised while serving ``request``."""
    if request.scope.get(PAGE_ROUTE):
        return page_errors.page_failure(request, error)
    status_code, body, headers = _json_error(request, error)
    if wants_html(request):
        response = page_errors.render_error(request, status_code, body.get("detail"))
        response.headers.update(headers)
        return response
    return JSONResponse(body, status_code=status_code, headers=headers)


def _json_error(request: Request, error: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    if isinstance(error, FaceAuthError):
        status_code = status_code_for(error)
        if status_code == 500:
            logger.error(
                "%s on %s %s", type(error).__name__, request.method, request.url.path, exc_info=error
            )
        headers = {"WWW-Authenticate": "Bearer"} if status_code == 401 else {}
        if isinstance(error, TooManyAttempts):
            headers["Retry-After"] = str(error.retry_after)
        return status_code, error_body(error), headers
    if isinstance(error, RequestValidationError):
        return 422, {"detail": validation_errors(error)}, {}
    if isinstance(error, StarletteHTTPException):
        return error.status_code, {"detail": error.detail}, dict(error.headers or {})
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return 500, {"detail": "internal server error"}, {}


async def handle_error(request: Request, error: Exception) -> Response:
    return error_response(request, error)


async def handle_unexpected(request: Request, error: Exception) -> Response:
    # Starlette answers this one outside the middleware: plain JSON, whoever asked.
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return JSONResponse({"detail": "internal server error"}, status_code=500)


def register_error_handlers(app: FastAPI) -> None:
    for error_class in (FaceAuthError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(error_class, handle_error)
    app.add_exception_handler(Exception, handle_unexpected)
