"""The start page, static files, and the password step: register, log in, log out."""

from __future__ import annotations

import contextlib

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from faceauth.domain import EmailTaken, InvalidCredentials, InvalidToken, UsernameTaken, ValidationFailed
from faceauth.service.accounts import Registration
from faceauth.service.services import Services
from faceauth.service.tokens import Stage
from faceauth.web.client_ip import client_ip
from faceauth.web.csrf import renew_csrf_token
from faceauth.web.deps import TOKEN_COOKIE, CsrfChecked, ServicesDep
from faceauth.web.pages.rendering import (
    STATIC_DIR,
    clear_token_cookie,
    friendly_field_errors,
    redirect,
    render,
    set_token_cookie,
    viewer_of,
)
from faceauth.web.pages.routing import FormField, PageRoute, face_step_url

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/")
def home(request: Request, services: ServicesDep) -> Response:
    viewer = viewer_of(request)
    if viewer is None:
        return redirect("/login")
    return redirect("/apps" if viewer.is_full else face_step_url(services.faces.is_enrolled(viewer.user.id)))


@router.get("/static/{path:path}")
def static_file(path: str) -> Response:
    """The pages' own CSS, script and icon, served locally (no CDN)."""
    candidate = (STATIC_DIR / path).resolve()
    if not candidate.is_relative_to(STATIC_DIR) or not candidate.is_file():
        raise StarletteHTTPException(status_code=404)
    return FileResponse(candidate, headers={"Cache-Control": "no-cache"})


@router.get("/register")
def register_page(request: Request) -> Response:
    return render(request, "register.html", active="register")


@router.post("/register", dependencies=[CsrfChecked])
def register(
    request: Request,
    services: ServicesDep,
    name: FormField = "",
    username: FormField = "",
    email: FormField = "",
    phone: FormField = "",
    password: FormField = "",
    password_confirm: FormField = "",
) -> Response:
    form = Registration(name, username, email, phone, password, password_confirm)
    try:
        services.accounts.register(form, client=client_ip(request))
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
def login_page(request: Request, services: ServicesDep) -> Response:
    viewer = viewer_of(request)
    if viewer is not None and viewer.is_full:
        return redirect("/apps")
    return render(request, "login.html", active="login")


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request, services: ServicesDep, login: FormField = "", password: FormField = ""
) -> Response:
    try:
        user = services.accounts.authenticate(login, password, client=client_ip(request))
    except InvalidCredentials:
        context = {
            "values": {"login": login},
            "form_message": "That username or email and password do not match. Please try again.",
        }
        return render(request, "login.html", context, status_code=401, active="login")
    revoke_cookie_token(request, services)
    issued = services.tokens.issue(user.id, Stage.PASSWORD)
    response = redirect(face_step_url(services.faces.is_enrolled(user.id)))
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


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request, services: ServicesDep) -> Response:
    revoke_cookie_token(request, services)
    response = redirect("/login?notice=logged-out")
    clear_token_cookie(request, response)
    renew_csrf_token(request)
    return response
