"""FastAPI dependencies with typed aliases: settings, services, and who is asking.

Authentication reads a JWT from ``Authorization: Bearer <token>`` or, for the web pages, from the
HttpOnly cookie ``faceauth_token``. Cookies travel with cross-site requests, so a state-changing
request (anything but GET, HEAD, OPTIONS) authenticated by the cookie must also carry the header
``X-CSRF-Token`` equal to the ``faceauth_csrf`` cookie (double-submit: another site can make the
browser send our cookies but cannot read them to copy one into a header). Bearer tokens need no
CSRF check: a browser never adds them by itself."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated

import anyio
from fastapi import Depends, Request

from faceauth.config import Settings
from faceauth.domain import CsrfFailed, InvalidToken, User
from faceauth.logs import note_user
from faceauth.service.accounts import AccountService
from faceauth.service.apps import AppService
from faceauth.service.faces import FaceService
from faceauth.service.liveness import LivenessService
from faceauth.service.tokens import Stage, TokenClaims, TokenService
from faceauth.storage import Storage
from faceauth.web.client_ip import client_ip

TOKEN_COOKIE = "faceauth_token"
CSRF_COOKIE = "faceauth_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Services:
    """Everything the routes use, built once at start-up by ``create_app``."""

    settings: Settings
    storage: Storage
    accounts: AccountService
    tokens: TokenService
    faces: FaceService
    apps: AppService
    liveness: LivenessService
    inference_limiter: anyio.CapacityLimiter  # bounds concurrent face bursts per worker


@dataclass(frozen=True)
class Session:
    """An authenticated request: the user, their token's claims, and whether the token came from
    the cookie (web pages) or the Authorization header (API clients)."""

    user: User
    claims: TokenClaims
    via_cookie: bool

    @property
    def stage(self) -> Stage:
        return self.claims.stage

    @property
    def is_full(self) -> bool:
        return self.claims.stage is Stage.FULL


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


SettingsDep = Annotated[Settings, Depends(get_settings)]
ServicesDep = Annotated[Services, Depends(get_services)]


def get_storage(services: ServicesDep) -> Storage:
    return services.storage


def get_accounts(services: ServicesDep) -> AccountService:
    return services.accounts


def get_tokens(services: ServicesDep) -> TokenService:
    return services.tokens


def get_faces(services: ServicesDep) -> FaceService:
    return services.faces


def get_apps(services: ServicesDep) -> AppService:
    return services.apps


StorageDep = Annotated[Storage, Depends(get_storage)]
AccountsDep = Annotated[AccountService, Depends(get_accounts)]
TokensDep = Annotated[TokenService, Depends(get_tokens)]
FacesDep = Annotated[FaceService, Depends(get_faces)]
AppsDep = Annotated[AppService, Depends(get_apps)]


def client_address(request: Request) -> str | None:
    """The peer address, or the one a trusted proxy reports (``web.client_ip``)."""
    return client_ip(request)


ClientDep = Annotated[str | None, Depends(client_address)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def check_csrf(request: Request) -> None:
    """Double-submit check for cookie-authenticated state-changing requests."""
    if request.method in SAFE_METHODS:
        return
    cookie = request.cookies.get(CSRF_COOKIE, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not secrets.compare_digest(cookie.encode(), header.encode()):
        raise CsrfFailed("missing or wrong CSRF token")


def authenticate(request: Request, services: Services) -> Session:
    """The session of this request; raises InvalidToken (401) or CsrfFailed (403)."""
    token = bearer_token(request)
    via_cookie = False
    if token is None:
        token = request.cookies.get(TOKEN_COOKIE)
        via_cookie = True
    if not token:
        raise InvalidToken("not authenticated")
    claims = services.tokens.decode(token)
    if via_cookie:
        check_csrf(request)
    user = services.storage.get_user(claims.user_id)
    if user is None:
        raise InvalidToken("the account no longer exists")
    services.tokens.check_subject(claims, user)
    note_user(user.id)
    return Session(user=user, claims=claims, via_cookie=via_cookie)


def get_session(request: Request, services: ServicesDep) -> Session:
    return authenticate(request, services)


def get_optional_session(request: Request, services: ServicesDep) -> Session | None:
    """The session, or None when there is no valid token (for pages that redirect to login)."""
    try:
        return authenticate(request, services)
    except InvalidToken:
        return None


def get_full_session(session: Annotated[Session, Depends(get_session)], tokens: TokensDep) -> Session:
    tokens.require_stage(session.claims, Stage.FULL)
    return session


# Any stage (after the password step, or after the face step).
CurrentSession = Annotated[Session, Depends(get_session)]
OptionalSession = Annotated[Session | None, Depends(get_optional_session)]
# Stage "full" only: 403 for a password-stage token.
FullSession = Annotated[Session, Depends(get_full_session)]


def get_current_user(session: CurrentSession) -> User:
    return session.user


def get_fully_authenticated_user(session: FullSession) -> User:
    return session.user


CurrentUser = Annotated[User, Depends(get_current_user)]
FullyAuthenticatedUser = Annotated[User, Depends(get_fully_authenticated_user)]
