"""The account page: the user's details, deleting the face template, deleting the account."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers
from fastapi import APIRouter, Request
from fastapi.responses import Response

from faceauth.service.services import Services
from faceauth.web.csrf import renew_csrf_token
from faceauth.web.deps import Caller, ClientDep, ServicesDep
from faceauth.web.pages.rendering import clear_token_cookie, redirect, render
from faceauth.web.pages.routing import FormField, FullPageCaller, PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def account_page_response(
    request: Request,
    services: Services,
    caller: Caller,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    user = caller.user
    account = {
        "name": user.name,
        "username": user.username,
        "email": user.email,
        "phone": readable_phone(user.phone),
        "face_enrolled": services.faces.is_enrolled(user.id),
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
def account_page(request: Request, caller: FullPageCaller, services: ServicesDep) -> Response:
    return account_page_response(request, services, caller)


@router.post("/account/face/delete")
def delete_face(caller: FullPageCaller, services: ServicesDep, client: ClientDep) -> Response:
    services.face_login.delete(caller.claims, client)
    return redirect("/account?notice=face-deleted")


@router.post("/account/delete")
def delete_account(
    request: Request,
    caller: FullPageCaller,
    services: ServicesDep,
    client: ClientDep,
    confirm_username: FormField = "",
) -> Response:
    username = caller.user.username
    if confirm_username.strip().lower() != username:
        errors = {"confirm_username": f"Type your username, {username}, exactly to confirm."}
        return account_page_response(request, services, caller, {"errors": errors}, status_code=422)
    services.tokens.revoke(caller.claims)
    services.accounts.delete(caller.user.id, client=client)
    response = redirect("/login?notice=account-deleted")
    clear_token_cookie(request, response)
    renew_csrf_token(request)
    return response
