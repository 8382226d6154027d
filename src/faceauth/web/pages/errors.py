"""Error pages: what a person (or the webcam script) sees when a page request fails.

``page_failure`` answers failures inside page routes; ``render_error`` answers errors outside them
for browsers asking for HTML (an unknown path, a rate limit before the route runs). Both are called
by ``web.errors``, the one place that decides how an error is answered."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceauth.domain import CsrfFailed, FaceAuthError, InvalidToken, TooManyAttempts
from faceauth.web.deps import TOKEN_COOKIE
from faceauth.web.pages.rendering import clear_token_cookie, finish, render, sentence, wants_json
from faceauth.web.status_codes import ServiceStartingError, status_code_for

logger = logging.getLogger(__name__)

ERROR_PAGES: dict[int, tuple[str, str]] = {
    400: ("Bad request", "The request could not be understood. Go back and try again."),
    403: ("Not allowed", "You do not have access to this page."),
    404: ("Not found", "We could not find that page. It may have been removed, or the address is wrong."),
    405: ("Not allowed", "This page cannot be used that way."),
    409: ("Conflict", "That clashes with the current state of your account. Reload the page and try again."),
    413: ("Too large", "What you sent is too large."),
    422: ("Cannot use that", "Some of what you sent could not be used. Go back and check it."),
    423: ("Locked for now", "Too many failed attempts. Wait a while, then try again."),
    429: ("Too many attempts", "Too many attempts. Wait a few minutes, then try again."),
    500: ("Something went wrong", "Something went wrong on our side. Please try again in a moment."),
    503: ("Starting up", "The service is starting. Please try again in a few seconds."),
}
CSRF_FAILED_MESSAGE = (
    "This form has expired or did not come from this site. Go back, reload the page and try again."
)


class RedirectToError(Exception):
    """Raised by a page dependency to send the browser elsewhere (303), e.g. to the face step."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


def page_failure(request: Request, error: Exception) -> Response:
    """The answer to ``error`` raised in a page route: every failure gets a page, never a trace."""
    if isinstance(error, RedirectToError):
        return RedirectResponse(error.url, status_code=303)
    if isinstance(error, InvalidToken):
        return unauthorized_response(request)
    if isinstance(error, CsrfFailed):
        return error_page(request, 403, CSRF_FAILED_MESSAGE)
    if isinstance(error, TooManyAttempts):  # say when to try again, in words and in Retry-After
        response = error_page(request, status_code_for(error), sentence(str(error)))
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, FaceAuthError):
        status_code = status_code_for(error)
        if status_code >= 500:
            if not isinstance(error, ServiceStartingError):
                logger.error(
                    "%s on %s %s", type(error).__name__, request.method, request.url.path, exc_info=error
                )
            return error_page(request, status_code)
        # The webcam script shows the service's own explanation; pages use the standard wording.
        return error_page(request, status_code, sentence(str(error)) if wants_json(request) else None)
    if isinstance(error, RequestValidationError):
        return error_page(request, 400)
    if isinstance(error, StarletteHTTPException):
        return error_page(request, error.status_code)
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return error_page(request, 500)


def error_page(request: Request, status_code: int, message: str | None = None) -> Response:
    title, default_message = ERROR_PAGES.get(status_code, ERROR_PAGES[500 if status_code >= 500 else 400])
    text = message or default_message
    if wants_json(request):
        return JSONResponse({"ok": False, "message": text}, status_code=status_code)
    context = {"status_code": status_code, "title": title, "message": text}
    return render(request, "error.html", context, status_code=status_code)


def unauthorized_response(request: Request) -> Response:
    message = "Log in to see this page. If you were logged in, your session has ended."
    if wants_json(request):
        body = {"ok": False, "message": "Your session has ended. Log in again.", "login_url": "/login"}
        return JSONResponse(body, status_code=401)
    response = render(request, "unauthorized.html", {"message": message}, status_code=401)
    if request.cookies.get(TOKEN_COOKIE):
        clear_token_cookie(request, response)
    return response


def render_error(request: Request, status_code: int, detail: Any) -> Response:
    """The HTML answer to an error raised outside the page routes: ``detail`` is logged for 5xx,
    never shown, since it may be technical."""
    if status_code >= 500:
        logger.error("error page %d for %s %s: %s", status_code, request.method, request.url.path, detail)
    if status_code == 401:
        return finish(request, unauthorized_response(request))
    return finish(request, error_page(request, status_code))
