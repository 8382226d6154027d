"""The web pages: server-rendered HTML (Jinja2) plus one small script for the webcam.

Sessions live in cookies, never in JavaScript:

- ``faceauth_token`` (HttpOnly, SameSite=Lax, Secure over HTTPS or in production) holds the JWT. The
  password step sets a password-stage token, which opens only the face pages; a successful face
  verification replaces it with a full-stage token, which opens the dashboard and the account page.
  The face pages post their frames to page endpoints here (``POST /face/enroll``, ``POST
  /face/verify``), which call the face service and, on a verified face, set the full-stage cookie
  themselves: the token never passes through JavaScript.
- ``faceauth_csrf`` (HttpOnly, SameSite=Lax) holds a random CSRF token, issued on the first page view
  and renewed at login and logout. Every HTML form carries it in the hidden field ``csrf_token``, and
  the webcam script sends it in the ``X-CSRF-Token`` header (it reads it from ``<meta
  name="csrf-token">``); both are compared with the cookie (double submit), as the JSON API does.

Every page answer carries a Content-Security-Policy without 'unsafe-inline': templates use no inline
script or style. Errors in page routes become friendly HTML pages (or ``{"ok": false, "message"}``
for the webcam script), never a raw 500 or JSON in the browser; ``render_error`` does the same for
errors the application's handlers answer (404 for unknown paths, for example)."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import phonenumbers
from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceauth.config import Settings
from faceauth.domain import (
    AccountDisabled,
    CsrfFailed,
    EmailTaken,
    FaceAuthError,
    FrameRejection,
    InconsistentEnrollment,
    InsufficientStage,
    InvalidCredentials,
    InvalidToken,
    NotEnoughGoodFrames,
    TooManyAttempts,
    User,
    UsernameTaken,
    ValidationFailed,
)
from faceauth.service.accounts import Registration
from faceauth.service.liveness import ChallengePurpose
from faceauth.service.tokens import IssuedToken, Stage, TokenClaims
from faceauth.web.api import run_inference
from faceauth.web.deps import CSRF_COOKIE, CSRF_HEADER, TOKEN_COOKIE, Services, client_address
from faceauth.web.errors import rejections_json, status_code_for
from faceauth.web.liveness_api import face_input

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

CSRF_FIELD = "csrf_token"
BURST_INTERVAL_MS = 150  # between the frames of a webcam burst

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}

# Fixed notices selected by ``?notice=``: never echo text from the URL into a page.
NOTICES = {
    "registered": "Account created. Log in to enroll your face.",
    "logged-out": "You are logged out.",
    "account-deleted": "Your account and everything in it have been deleted.",
    "face-deleted": "Your face template has been deleted. You will enroll again at your next login.",
    "app-added": "Application added.",
    "app-removed": "Application removed.",
}

FIELD_LABELS = {
    "name": "Name",
    "username": "Username",
    "email": "Email",
    "phone": "Phone",
    "password": "Password",
    "password_confirm": "The second password",
    "url": "The web address",
    "description": "The description",
}

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

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


# ------------------------------------------------------------------------------------------------
# Control flow inside page routes: raised by the guards, turned into responses by PageRoute.
# ------------------------------------------------------------------------------------------------


class RedirectToError(Exception):
    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.url = url


class LoginRequiredError(Exception):
    """No valid session cookie: the unauthorized page."""


class ServiceStartingError(Exception):
    """The models are still loading (``app.state.services`` is not set yet)."""


class PageRoute(APIRoute):
    """Runs a page route and turns whatever goes wrong into a friendly answer, then adds the
    security headers and, when this request created one, the CSRF cookie."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handle(request)
            except Exception as error:  # every failure of a page gets a page, not a stack trace
                response = failure_response(request, error)
            return finish(request, response)

        return page_handler


router = APIRouter(route_class=PageRoute, include_in_schema=False)


def failure_response(request: Request, error: Exception) -> Response:
    if isinstance(error, RedirectToError):
        return RedirectResponse(error.url, status_code=303)
    if isinstance(error, LoginRequiredError | InvalidToken):
        return unauthorized_response(request)
    if isinstance(error, CsrfFailed):
        return error_response(request, 403, CSRF_FAILED_MESSAGE)
    if isinstance(error, ServiceStartingError):
        return error_response(request, 503)
    if isinstance(error, TooManyAttempts):  # say when to try again, in words and in Retry-After
        response = error_response(request, status_code_for(error), sentence(str(error)))
        response.headers["Retry-After"] = str(error.retry_after)
        return response
    if isinstance(error, FaceAuthError):
        status_code = status_code_for(error)
        if status_code >= 500:
            logger.error(
                "%s on %s %s", type(error).__name__, request.method, request.url.path, exc_info=error
            )
            return error_response(request, status_code)
        # The webcam script shows the service's own explanation; pages use the standard wording.
        return error_response(request, status_code, sentence(str(error)) if wants_json(request) else None)
    if isinstance(error, RequestValidationError):
        return error_response(request, 400)
    if isinstance(error, StarletteHTTPException):
        return error_response(request, error.status_code)
    logger.error("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return error_response(request, 500)


def finish(request: Request, response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("Cache-Control", "no-store")
    new_token = getattr(request.state, "new_csrf_token", None)
    if new_token:
        set_csrf_cookie(request, response, new_token)
    return response


# ------------------------------------------------------------------------------------------------
# Services, cookies, CSRF and the viewer
# ------------------------------------------------------------------------------------------------


def services_of(request: Request) -> Services:
    services: Services | None = request.app.state.services
    if services is None:
        raise ServiceStartingError()
    return services


def cookie_secure(request: Request, settings: Settings) -> bool:
    """Secure cookies over HTTPS, and always in production (which must sit behind HTTPS)."""
    return request.url.scheme == "https" or settings.is_production or settings.cookie_secure


def set_token_cookie(request: Request, response: Response, issued: IssuedToken) -> None:
    response.set_cookie(
        TOKEN_COOKIE,
        issued.token,
        max_age=issued.max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, request.app.state.settings),
    )


def clear_token_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        TOKEN_COOKIE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request, request.app.state.settings),
    )


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        CSRF_COOKIE,
        token,
        path="/",
        httponly=True,  # the pages hand the token to forms and scripts; no script reads the cookie
        samesite="lax",
        secure=cookie_secure(request, request.app.state.settings),
    )


def csrf_token(request: Request) -> str:
    """This browser's CSRF token; a new one (set as a cookie on the way out) if it has none."""
    existing = getattr(request.state, "new_csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if existing:
        return str(existing)
    return renew_csrf_token(request)


def renew_csrf_token(request: Request) -> str:
    token = secrets.token_urlsafe(32)
    request.state.new_csrf_token = token
    return token


def check_form_csrf(request: Request, submitted: str) -> None:
    expected = request.cookies.get(CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), submitted.encode()):
        raise CsrfFailed("missing or wrong CSRF token in a form")


def check_header_csrf(request: Request) -> None:
    check_form_csrf(request, request.headers.get(CSRF_HEADER, ""))


@dataclass(frozen=True)
class Viewer:
    """Who is looking at a page: the user behind a valid session cookie, and its stage."""

    user: User
    claims: TokenClaims
    face_enrolled: bool

    @property
    def stage(self) -> Stage:
        return self.claims.stage

    @property
    def is_full(self) -> bool:
        return self.claims.stage is Stage.FULL

    @property
    def username(self) -> str:
        return self.user.username

    @property
    def name(self) -> str:
        return self.user.name


def current_viewer(request: Request, services: Services) -> Viewer | None:
    """The viewer of a valid, unrevoked session cookie, or None."""
    cached: Viewer | None = getattr(request.state, "viewer", None)
    if cached is not None:
        return cached
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return None
    try:
        claims = services.tokens.decode(token)
    except InvalidToken:
        return None
    user = services.accounts.get(claims.user_id)
    if user is None:
        return None
    try:
        services.tokens.check_subject(claims, user)
    except InvalidToken:
        return None
    viewer = Viewer(user=user, claims=claims, face_enrolled=services.faces.is_enrolled(user.id))
    request.state.viewer = viewer
    return viewer


def require_viewer(request: Request, services: Services) -> Viewer:
    viewer = current_viewer(request, services)
    if viewer is None:
        raise LoginRequiredError()
    return viewer


def face_step_url(viewer: Viewer) -> str:
    return "/face/verify" if viewer.face_enrolled else "/face/enroll"


def require_full(request: Request, services: Services) -> Viewer:
    """A fully authenticated viewer; a password-stage viewer is sent to the face step."""
    viewer = require_viewer(request, services)
    if not viewer.is_full:
        raise RedirectToError(face_step_url(viewer))
    return viewer


# ------------------------------------------------------------------------------------------------
# Rendering
# ------------------------------------------------------------------------------------------------


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    active: str = "",
) -> HTMLResponse:
    services: Services | None = request.app.state.services
    viewer = current_viewer(request, services) if services is not None else None
    notice_key = request.query_params.get("notice", "")
    full_context: dict[str, Any] = {
        "viewer": viewer,
        "csrf_token": csrf_token(request),
        "notice": NOTICES.get(notice_key, ""),
        "active": active,
        "errors": {},
        "values": {},
        "form_message": "",
    }
    full_context.update(context or {})
    return templates.TemplateResponse(request, template, full_context, status_code=status_code)


def error_response(request: Request, status_code: int, message: str | None = None) -> Response:
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
    """The HTML answer to an error raised outside the page routes (``app.state.html_error_renderer``):
    ``detail`` is logged for 5xx, never shown, since it may be technical."""
    if status_code >= 500:
        logger.error("error page %d for %s %s: %s", status_code, request.method, request.url.path, detail)
    if status_code == 401:
        return finish(request, unauthorized_response(request))
    return finish(request, error_response(request, status_code))


def wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def sentence(text: str) -> str:
    """ "no face enrolled" -> "No face enrolled."."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def friendly_field_errors(errors: Mapping[str, str]) -> dict[str, str]:
    """``{"email": "is required"}`` -> ``{"email": "Email is required."}``; full sentences stay."""
    friendly = {}
    for name, message in errors.items():
        text = message.strip()
        if text[:1].islower():
            text = f"{FIELD_LABELS.get(name, name.capitalize())} {text}"
        friendly[name] = sentence(text)
    return friendly


# ------------------------------------------------------------------------------------------------
# Start, static files
# ------------------------------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    services = services_of(request)
    viewer = current_viewer(request, services)
    if viewer is None:
        return redirect("/login")
    return redirect("/apps" if viewer.is_full else face_step_url(viewer))


@router.get("/static/{path:path}")
def static_file(path: str) -> Response:
    """The pages' own CSS, script and icon, served locally (no CDN)."""
    candidate = (STATIC_DIR / path).resolve()
    if not candidate.is_relative_to(STATIC_DIR) or not candidate.is_file():
        raise StarletteHTTPException(status_code=404)
    return FileResponse(candidate, headers={"Cache-Control": "no-cache"})


# ------------------------------------------------------------------------------------------------
# Register, log in, log out
# ------------------------------------------------------------------------------------------------

FormField = Annotated[str, Form(max_length=10_000)]


@router.get("/register")
def register_page(request: Request) -> Response:
    return render(request, "register.html", active="register")


@router.post("/register")
def register(
    request: Request,
    csrf_token: FormField = "",
    name: FormField = "",
    username: FormField = "",
    email: FormField = "",
    phone: FormField = "",
    password: FormField = "",
    password_confirm: FormField = "",
) -> Response:
    check_form_csrf(request, csrf_token)
    services = services_of(request)
    form = Registration(name, username, email, phone, password, password_confirm)
    try:
        services.accounts.register(form, client=client_address(request))
    except ValidationFailed as error:
        return register_form_again(request, form, friendly_field_errors(error.errors))
    except UsernameTaken:
        errors = {"username": "This username is taken. Try another one."}
        return register_form_again(request, form, errors, status_code=409)
    except EmailTaken:
        errors = {"email": "An account with this email already exists. Log in instead?"}
        return register_form_again(request, form, errors, status_code=409)
    return redirect("/login?notice=registered")


def register_form_again(
    request: Request, form: Registration, errors: dict[str, str], status_code: int = 422
) -> Response:
    """The form again, with one message per bad field; the passwords are never sent back."""
    values = {"name": form.name, "username": form.username, "email": form.email, "phone": form.phone}
    context = {"errors": errors, "values": values}
    return render(request, "register.html", context, status_code=status_code, active="register")


@router.get("/login")
def login_page(request: Request) -> Response:
    services = services_of(request)
    viewer = current_viewer(request, services)
    if viewer is not None and viewer.is_full:
        return redirect("/apps")
    return render(request, "login.html", active="login")


@router.post("/login")
def login(
    request: Request, csrf_token: FormField = "", login: FormField = "", password: FormField = ""
) -> Response:
    check_form_csrf(request, csrf_token)
    services = services_of(request)
    try:
        user = services.accounts.authenticate(login, password, client=client_address(request))
    except AccountDisabled:  # raised only after the right password: the owner may know
        context = {
            "values": {"login": login},
            "form_message": "This account has been disabled by the administrator, so it cannot log in.",
        }
        return render(request, "login.html", context, status_code=403, active="login")
    except InvalidCredentials:
        context = {
            "values": {"login": login},
            "form_message": "That username or email and password do not match. Please try again.",
        }
        return render(request, "login.html", context, status_code=401, active="login")
    revoke_cookie_token(request, services)
    issued = services.tokens.issue(user.id, Stage.PASSWORD)
    enrolled = services.faces.is_enrolled(user.id)
    response = redirect("/face/verify" if enrolled else "/face/enroll")
    set_token_cookie(request, response, issued)
    renew_csrf_token(request)  # a fresh CSRF token for the new session
    return response


def revoke_cookie_token(request: Request, services: Services) -> None:
    """Revokes the token in the session cookie, if it is still valid."""
    token = request.cookies.get(TOKEN_COOKIE)
    if not token:
        return
    with contextlib.suppress(InvalidToken):
        services.tokens.revoke(services.tokens.decode(token))


@router.post("/logout")
def logout(request: Request, csrf_token: FormField = "") -> Response:
    check_form_csrf(request, csrf_token)
    services = services_of(request)
    revoke_cookie_token(request, services)
    response = redirect("/login?notice=logged-out")
    clear_token_cookie(request, response)
    renew_csrf_token(request)
    return response


# ------------------------------------------------------------------------------------------------
# Face enrollment and verification
# ------------------------------------------------------------------------------------------------


def camera_context(settings: Settings, **page: str) -> dict[str, Any]:
    return {
        "burst_frames": settings.burst_frames,
        "burst_interval_ms": BURST_INTERVAL_MS,
        # A liveness challenge (static/liveness.js) instead of a plain burst when the server requires it.
        "liveness": settings.liveness_required,
        **page,
    }


@router.get("/face/enroll")
def enroll_page(request: Request) -> Response:
    services = services_of(request)
    viewer = require_viewer(request, services)
    if viewer.face_enrolled and not viewer.is_full:
        raise RedirectToError("/face/verify")  # replacing a face needs the face step first
    reenroll = viewer.face_enrolled
    context = camera_context(
        services.settings,
        camera_endpoint="/face/enroll",
        camera_mode="enroll",
        camera_button="Capture",
        camera_success_url="/account" if viewer.is_full else "/face/verify",
        camera_continue="Back to my account" if viewer.is_full else "Continue: log in with my face",
    )
    context["reenroll"] = reenroll
    return render(request, "enroll.html", context, active="account" if viewer.is_full else "")


@router.post("/face/enroll")
async def enroll(request: Request) -> Response:
    services = services_of(request)
    viewer = require_viewer(request, services)
    check_header_csrf(request)
    replace = services.faces.is_enrolled(viewer.user.id)
    if replace and not viewer.is_full:
        raise InsufficientStage("verify your face before replacing it")
    client = client_address(request)
    face = await face_input(request, services, viewer.user.id, ChallengePurpose.ENROLL, client)
    try:
        result = await run_inference(
            services, services.faces.enroll, viewer.user.id, face.frames, replace, client
        )
    except (NotEnoughGoodFrames, InconsistentEnrollment, ValidationFailed) as error:
        return capture_failure(error, face.count)
    message = f"Your face is enrolled: {result.frames_used} of {face.count} pictures were used."
    if result.replaced:
        message = f"Your face template is replaced: {result.frames_used} of {face.count} pictures were used."
    return capture_answer(
        True, message, result.frames_rejected, status_code=201, frames_used=result.frames_used
    )


@router.get("/face/verify")
def verify_page(request: Request) -> Response:
    services = services_of(request)
    viewer = require_viewer(request, services)
    if not viewer.face_enrolled:
        raise RedirectToError("/face/enroll")
    if viewer.is_full:
        raise RedirectToError("/apps")
    context = camera_context(
        services.settings,
        camera_endpoint="/face/verify",
        camera_mode="verify",
        camera_button="Verify",
        camera_success_url="/apps",
        camera_continue="Open my applications",
    )
    return render(request, "verify.html", context)


@router.post("/face/verify")
async def verify(request: Request) -> Response:
    """On a match: a full-stage token in the session cookie (the password-stage one is revoked)."""
    services = services_of(request)
    viewer = require_viewer(request, services)
    check_header_csrf(request)
    client = client_address(request)
    face = await face_input(request, services, viewer.user.id, ChallengePurpose.VERIFY, client)
    try:
        result = await run_inference(services, services.faces.verify, viewer.user.id, face.frames, client)
    except (NotEnoughGoodFrames, ValidationFailed) as error:
        return capture_failure(error, face.count)
    scores: dict[str, Any] = {
        "similarity": round(result.match.similarity, 4),
        "threshold": result.match.threshold,
    }
    if not result.verified:
        message = (
            "Your face did not match the enrolled one "
            f"(similarity {result.match.similarity:.2f}, {result.match.threshold:.2f} needed). "
            "Face the camera in good light and try again."
        )
        return capture_answer(False, message, result.frames_rejected, status_code=401, **scores)
    issued = services.tokens.issue(viewer.user.id, Stage.FULL)
    if not viewer.is_full:
        services.tokens.revoke(viewer.claims)
    message = f"Welcome, {viewer.name or viewer.username}! Opening your applications…"
    response = capture_answer(True, message, result.frames_rejected, redirect="/apps", **scores)
    set_token_cookie(request, response, issued)
    return response


def capture_answer(
    ok: bool, message: str, rejected: tuple[FrameRejection, ...], status_code: int = 200, **extra: Any
) -> JSONResponse:
    """The answer the webcam script reads: ``{ok, message, frames_rejected: [{index, reason,
    message}], ...}``."""
    body = {"ok": ok, "message": message, "frames_rejected": rejections_json(rejected), **extra}
    return JSONResponse(body, status_code=status_code)


def capture_failure(error: FaceAuthError, frame_count: int) -> JSONResponse:
    if isinstance(error, NotEnoughGoodFrames):
        message = (
            f"Only {error.accepted} of {frame_count} pictures could be used; {error.needed} are needed. "
            "See the note under each picture, adjust and try again."
        )
        return capture_answer(False, message, error.rejected, status_code=422, frames_used=error.accepted)
    if isinstance(error, InconsistentEnrollment):
        message = (
            "The pictures do not all show the same person. Make sure only you are in view and try again."
        )
        return capture_answer(False, message, error.rejected, status_code=422)
    message = "The pictures could not be read. Reload the page and try again."
    return capture_answer(False, message, (), status_code=422)


# ------------------------------------------------------------------------------------------------
# Applications dashboard
# ------------------------------------------------------------------------------------------------


def apps_page_response(
    request: Request,
    services: Services,
    viewer: Viewer,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    full_context = {"apps": services.apps.list(viewer.user.id), **(context or {})}
    return render(request, "apps.html", full_context, status_code=status_code, active="apps")


@router.get("/apps")
def apps_page(request: Request) -> Response:
    services = services_of(request)
    viewer = require_full(request, services)
    return apps_page_response(request, services, viewer)


@router.post("/apps")
def add_app(
    request: Request,
    csrf_token: FormField = "",
    name: FormField = "",
    url: FormField = "",
    description: FormField = "",
) -> Response:
    services = services_of(request)
    viewer = require_full(request, services)
    check_form_csrf(request, csrf_token)
    try:
        services.apps.add(viewer.user.id, name, url, description)
    except ValidationFailed as error:
        context = {
            "errors": friendly_field_errors(error.errors),
            "values": {"name": name, "url": url, "description": description},
        }
        return apps_page_response(request, services, viewer, context, status_code=422)
    return redirect("/apps?notice=app-added")


@router.get("/apps/{app_id}")
def app_page(request: Request, app_id: int) -> Response:
    services = services_of(request)
    viewer = require_full(request, services)
    app = services.apps.get(viewer.user.id, app_id)
    return render(request, "app_detail.html", {"app": app}, active="apps")


@router.post("/apps/{app_id}/delete")
def remove_app(request: Request, app_id: int, csrf_token: FormField = "") -> Response:
    services = services_of(request)
    viewer = require_full(request, services)
    check_form_csrf(request, csrf_token)
    services.apps.remove(viewer.user.id, app_id)
    return redirect("/apps?notice=app-removed")


# ------------------------------------------------------------------------------------------------
# Account
# ------------------------------------------------------------------------------------------------


def account_page_response(
    request: Request, viewer: Viewer, context: Mapping[str, Any] | None = None, status_code: int = 200
) -> Response:
    user = viewer.user
    account = {
        "name": user.name,
        "username": user.username,
        "email": user.email,
        "phone": readable_phone(user.phone),
        "face_enrolled": viewer.face_enrolled,
    }
    full_context = {"account": account, **(context or {})}
    return render(request, "account.html", full_context, status_code=status_code, active="account")


def readable_phone(e164: str) -> str:
    """``+442079460958`` -> ``+44 20 7946 0958``; anything unparsable is shown as stored."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


@router.get("/account")
def account_page(request: Request) -> Response:
    services = services_of(request)
    viewer = require_full(request, services)
    return account_page_response(request, viewer)


@router.post("/account/face/delete")
def delete_face(request: Request, csrf_token: FormField = "") -> Response:
    services = services_of(request)
    viewer = require_full(request, services)
    check_form_csrf(request, csrf_token)
    services.faces.delete(viewer.user.id, client=client_address(request))
    return redirect("/account?notice=face-deleted")


@router.post("/account/delete")
def delete_account(
    request: Request, csrf_token: FormField = "", confirm_username: FormField = ""
) -> Response:
    services = services_of(request)
    viewer = require_full(request, services)
    check_form_csrf(request, csrf_token)
    if confirm_username.strip().lower() != viewer.username:
        errors = {"confirm_username": f"Type your username, {viewer.username}, exactly to confirm."}
        return account_page_response(request, viewer, {"errors": errors}, status_code=422)
    services.tokens.revoke(viewer.claims)
    services.accounts.delete(viewer.user.id, client=client_address(request))
    response = redirect("/login?notice=account-deleted")
    clear_token_cookie(request, response)
    renew_csrf_token(request)
    return response
