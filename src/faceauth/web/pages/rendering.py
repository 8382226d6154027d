"""Rendering the pages: templates with their common context, cookies, redirects and wording."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from faceauth.config import Settings
from faceauth.domain import InvalidToken
from faceauth.service.services import Services
from faceauth.service.tokens import IssuedToken
from faceauth.web.csrf import CSRF_COOKIE, csrf_token
from faceauth.web.deps import TOKEN_COOKIE, Caller, identify

WEB_DIR = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

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

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def viewer_of(request: Request) -> Caller | None:
    """Who is looking at the page, for display only (the navigation): None when nobody valid."""
    services: Services | None = request.app.state.services
    if services is None:
        return None
    try:
        return identify(request, services)
    except InvalidToken:
        return None


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
    active: str = "",
) -> HTMLResponse:
    notice_key = request.query_params.get("notice", "")
    full_context: dict[str, Any] = {
        "viewer": viewer_of(request),
        "csrf_token": csrf_token(request),
        "notice": NOTICES.get(notice_key, ""),
        "active": active,
        "errors": {},
        "values": {},
        "form_message": "",
    }
    full_context.update(context or {})
    return templates.TemplateResponse(request, template, full_context, status_code=status_code)


def finish(request: Request, response: Response) -> Response:
    """Sets the CSRF cookie when this request created a new token."""
    new_token = getattr(request.state, "new_csrf_token", None)
    if new_token:
        response.set_cookie(
            CSRF_COOKIE,
            new_token,
            path="/",
            httponly=True,  # the pages hand the token to forms and scripts; no script reads the cookie
            samesite="lax",
            secure=cookie_secure(request),
        )
    return response


def cookie_secure(request: Request) -> bool:
    """Secure cookies over HTTPS, and always in production (which must sit behind HTTPS)."""
    settings: Settings = request.app.state.settings
    return request.url.scheme == "https" or settings.is_production or settings.cookie_secure


def set_token_cookie(request: Request, response: Response, issued: IssuedToken) -> None:
    response.set_cookie(
        TOKEN_COOKIE,
        issued.token,
        max_age=issued.max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=cookie_secure(request),
    )


def clear_token_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        TOKEN_COOKIE, path="/", httponly=True, samesite="lax", secure=cookie_secure(request)
    )


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
