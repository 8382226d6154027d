"""FastAPI dependencies with typed aliases: the services, the client address, and who is asking.

Authentication, the same for the JSON API and the web pages, reads a JWT from ``Authorization:
Bearer <token>`` or, for the pages, from the HttpOnly cookie ``faceauth_token``; a cookie-authenticated
state-changing request must pass the CSRF check (``web.csrf``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from faceauth.domain import InvalidToken, User
from faceauth.service.services import Services
from faceauth.service.tokens import Stage, TokenClaims
from faceauth.web.client_ip import client_ip
from faceauth.web.csrf import check_csrf
from faceauth.web.status_codes import ServiceStartingError

TOKEN_COOKIE = "faceauth_token"


@dataclass(frozen=True)
class Caller:
    """Who sent an authenticated request: the user and their token's claims."""

    user: User
    claims: TokenClaims

    @property
    def stage(self) -> Stage:
        return self.claims.stage

    @property
    def is_full(self) -> bool:
        return self.claims.stage is Stage.FULL


def get_services(request: Request) -> Services:
    """The services built at start-up; ServiceStartingError (503) while the models are loading."""
    services: Services | None = request.app.state.services
    if services is None:
        raise ServiceStartingError()
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
ClientDep = Annotated[str | None, Depends(client_ip)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def identify(request: Request, services: Services) -> Caller:
    """Whose valid, unrevoked token this request carries (the header first, then the cookie);
    raises InvalidToken (401). No CSRF check: use ``authenticate`` for anything but display."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    token = bearer_token(request) or request.cookies.get(TOKEN_COOKIE)
    if not token:
        raise InvalidToken("not authenticated")
    claims = services.tokens.decode(token)
    user = services.accounts.get(claims.user_id)
    if user is None:
        raise InvalidToken("the account no longer exists")
    services.tokens.check_subject(claims, user)
    caller = Caller(user=user, claims=claims)
    request.state.caller = caller
    return caller


async def authenticate(request: Request, services: ServicesDep) -> Caller:
    """The caller of this request; raises InvalidToken (401), or CsrfFailed (403) for a
    cookie-authenticated state-changing request without the CSRF token."""
    caller = identify(request, services)
    if bearer_token(request) is None:
        await check_csrf(request)
    return caller


def require_full_stage(caller: Annotated[Caller, Depends(authenticate)], services: ServicesDep) -> Caller:
    """The caller, when their token passed the face step; InsufficientStage (403) otherwise."""
    services.tokens.require_stage(caller.claims, Stage.FULL)
    return caller


# Any stage (after the password step, or after the face step).
CurrentCaller = Annotated[Caller, Depends(authenticate)]
# Stage "full" only: 403 for a password-stage token.
FullCaller = Annotated[Caller, Depends(require_full_stage)]
CsrfChecked = Depends(check_csrf)
