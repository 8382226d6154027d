"""JSON API v1 (DESIGN.md section 4). Routes translate HTTP to service calls and back; errors are
raised as domain errors and turned into status codes by ``faceauth.web.errors``.

Enrollment over an existing template is an explicit re-enrollment: ``POST /api/v1/face/enroll?replace=true``
with a full-stage token (without ``replace`` the answer is 409). Verification without an enrolled
face answers 409. ``DELETE /api/v1/face`` needs a full-stage token when a template exists, so the
password alone can neither replace nor remove someone's face."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from faceauth import metrics
from faceauth.domain import App, InsufficientStage, NotAnImage, ValidationFailed
from faceauth.service.accounts import Registration
from faceauth.service.liveness import ChallengePurpose
from faceauth.service.tokens import IssuedToken, Stage
from faceauth.vision.images import decode_base64_image
from faceauth.web import liveness_api
from faceauth.web.deps import (
    AccountsDep,
    AppsDep,
    ClientDep,
    CurrentSession,
    FacesDep,
    FullSession,
    ServicesDep,
    SettingsDep,
    TokensDep,
)
from faceauth.web.errors import rejections_json

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["api v1"])

T = TypeVar("T")


# --- request and response bodies ----------------------------------------------------------------


class RegisterRequest(BaseModel):
    name: str = Field("", max_length=1000)
    username: str = Field("", max_length=1000)
    email: str = Field("", max_length=1000)
    phone: str = Field("", max_length=100)
    password: str = Field("", max_length=1024)
    password_confirm: str = Field("", max_length=1024)


class UserCreated(BaseModel):
    id: int
    username: str
    email: str


class LoginRequest(BaseModel):
    login: str = Field(max_length=1000, description="username or email")
    password: str = Field(max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    stage: str
    expires_in: int
    face_enrolled: bool


class Rejection(BaseModel):
    index: int
    reason: str
    message: str


class EnrollResponse(BaseModel):
    frames_used: int
    frames_rejected: list[Rejection]
    replaced: bool


class VerifyResponse(BaseModel):
    verified: bool
    similarity: float
    threshold: float
    frames_used: int
    frames_rejected: list[Rejection]
    access_token: str | None = None
    token_type: str | None = None
    stage: str | None = None
    expires_in: int | None = None


class MeResponse(BaseModel):
    id: int
    username: str
    email: str
    name: str
    phone: str
    created_at: datetime
    face_enrolled: bool


class AppRequest(BaseModel):
    name: str = Field("", max_length=1000)
    url: str | None = Field(None, max_length=4096)
    description: str | None = Field(None, max_length=10_000)


class AppResponse(BaseModel):
    id: int
    name: str
    url: str | None
    description: str | None
    created_at: datetime


def app_response(app: App) -> AppResponse:
    return AppResponse(
        id=app.id, name=app.name, url=app.url, description=app.description, created_at=app.created_at
    )


# --- frames ----------------------------------------------------------------------------------


async def read_frames(request: Request, max_frames: int) -> list[bytes]:
    """The frames of an enroll or verify request: JSON ``{"frames": [base64 or data URLs]}`` or
    multipart files named ``frames``. Raises ValidationFailed for a malformed request (bad JSON,
    bad base64, no frames, too many)."""
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith("multipart/form-data"):
        frames = await _multipart_frames(request, max_frames)
    else:
        frames = await _json_frames(request)
    if not frames:
        raise ValidationFailed({"frames": "at least one frame is required"})
    if len(frames) > max_frames:
        raise ValidationFailed({"frames": f"at most {max_frames} frames are allowed"})
    return frames


async def _json_frames(request: Request) -> list[bytes]:
    try:
        body = await request.json()
    except ValueError as error:
        raise ValidationFailed({"body": "malformed JSON"}) from error
    items = body.get("frames") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ValidationFailed({"frames": "a list of base64-encoded images is required"})
    frames = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ValidationFailed({"frames": f"frame {index} is not a base64 string"})
        try:
            frames.append(decode_base64_image(item))
        except NotAnImage as error:
            raise ValidationFailed({"frames": f"frame {index}: {error}"}) from error
    return frames


async def _multipart_frames(request: Request, max_frames: int) -> list[bytes]:
    # A malformed form makes Starlette raise HTTPException(400), answered as JSON by web.errors.
    form = await request.form(max_files=max_frames + 1, max_fields=max_frames + 10)
    frames = []
    for index, item in enumerate(form.getlist("frames")):
        if isinstance(item, UploadFile):
            frames.append(await item.read())
        else:
            try:
                frames.append(decode_base64_image(item))
            except NotAnImage as error:
                raise ValidationFailed({"frames": f"frame {index}: {error}"}) from error
    return frames


async def run_inference(services: ServicesDep, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Runs ``function`` in a worker thread, at most ``inference_concurrency`` at a time, so the
    event loop keeps answering other requests while faces are detected and embedded."""
    call = functools.partial(function, *args, **kwargs)
    with metrics.inference_slot_waiting():
        await services.inference_limiter.acquire()
    try:
        with metrics.inference_running():
            return await anyio.to_thread.run_sync(call)
    finally:
        services.inference_limiter.release()


def token_response(issued: IssuedToken, face_enrolled: bool) -> TokenResponse:
    return TokenResponse(
        access_token=issued.token,
        stage=issued.claims.stage.value,
        expires_in=issued.max_age,
        face_enrolled=face_enrolled,
    )


# --- accounts and login ------------------------------------------------------------------------


@router.post("/users", status_code=status.HTTP_201_CREATED)
def register(body: RegisterRequest, accounts: AccountsDep, client: ClientDep) -> UserCreated:
    form = Registration(
        name=body.name,
        username=body.username,
        email=body.email,
        phone=body.phone,
        password=body.password,
        password_confirm=body.password_confirm,
    )
    user = accounts.register(form, client=client)
    return UserCreated(id=user.id, username=user.username, email=user.email)


@router.post("/auth/login")
def login(body: LoginRequest, accounts: AccountsDep, tokens: TokensDep, client: ClientDep) -> TokenResponse:
    user = accounts.authenticate(body.login, body.password, client=client)
    issued = tokens.issue(user.id, Stage.PASSWORD)
    return token_response(issued, accounts.face_enrolled(user.id))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(session: CurrentSession, tokens: TokensDep) -> Response:
    tokens.revoke(session.claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me")
def me(session: FullSession, accounts: AccountsDep) -> MeResponse:
    user = session.user
    return MeResponse(
        id=user.id,
        username=user.username,
        email=user.email,
        name=user.name,
        phone=user.phone,
        created_at=user.created_at,
        face_enrolled=accounts.face_enrolled(user.id),
    )


@router.delete("/users/me", status_code=status.HTTP_204_NO_CONTENT)
def delete_me(session: FullSession, accounts: AccountsDep, tokens: TokensDep, client: ClientDep) -> Response:
    tokens.revoke(session.claims)
    accounts.delete(session.user.id, client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- face ------------------------------------------------------------------------------------


@router.post("/face/enroll", status_code=status.HTTP_201_CREATED)
async def enroll_face(
    request: Request,
    session: CurrentSession,
    services: ServicesDep,
    settings: SettingsDep,
    client: ClientDep,
    replace: Annotated[
        bool, Query(description="replace an enrolled face (needs a full-stage token)")
    ] = False,
) -> EnrollResponse:
    if replace and not session.is_full and services.faces.is_enrolled(session.user.id):
        raise InsufficientStage("verify your face before replacing it")
    face = await liveness_api.face_input(request, services, session.user.id, ChallengePurpose.ENROLL, client)
    result = await run_inference(
        services, services.faces.enroll, session.user.id, face.frames, replace, client
    )
    return EnrollResponse(
        frames_used=result.frames_used,
        frames_rejected=[Rejection(**r) for r in rejections_json(result.frames_rejected)],
        replaced=result.replaced,
    )


@router.post("/face/verify", responses={401: {"description": "not the same person"}})
async def verify_face(
    request: Request,
    session: CurrentSession,
    services: ServicesDep,
    settings: SettingsDep,
    client: ClientDep,
) -> JSONResponse:
    face = await liveness_api.face_input(request, services, session.user.id, ChallengePurpose.VERIFY, client)
    result = await run_inference(services, services.faces.verify, session.user.id, face.frames, client)
    body = VerifyResponse(
        verified=result.verified,
        similarity=result.match.similarity,
        threshold=result.match.threshold,
        frames_used=result.frames_used,
        frames_rejected=[Rejection(**r) for r in rejections_json(result.frames_rejected)],
    )
    if not result.verified:
        return JSONResponse(body.model_dump(exclude_none=True), status_code=status.HTTP_401_UNAUTHORIZED)
    issued = services.tokens.issue(session.user.id, Stage.FULL)
    if session.stage is Stage.PASSWORD:
        services.tokens.revoke(session.claims)  # the password-stage token has done its job
    body.access_token = issued.token
    body.token_type = "bearer"
    body.stage = issued.claims.stage.value
    body.expires_in = issued.max_age
    return JSONResponse(body.model_dump(), status_code=status.HTTP_200_OK)


@router.delete("/face", status_code=status.HTTP_204_NO_CONTENT)
def delete_face(session: CurrentSession, faces: FacesDep, client: ClientDep) -> Response:
    if faces.is_enrolled(session.user.id):
        if not session.is_full:
            raise InsufficientStage("verify your face before deleting it")
        faces.delete(session.user.id, client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- apps ------------------------------------------------------------------------------------


@router.get("/apps")
def list_apps(session: FullSession, apps: AppsDep) -> list[AppResponse]:
    return [app_response(app) for app in apps.list(session.user.id)]


@router.post("/apps", status_code=status.HTTP_201_CREATED)
def add_app(body: AppRequest, session: FullSession, apps: AppsDep) -> AppResponse:
    return app_response(apps.add(session.user.id, body.name, body.url, body.description))


@router.get("/apps/{app_id}")
def get_app(app_id: int, session: FullSession, apps: AppsDep) -> AppResponse:
    return app_response(apps.get(session.user.id, app_id))


@router.delete("/apps/{app_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_app(app_id: int, session: FullSession, apps: AppsDep) -> Response:
    apps.remove(session.user.id, app_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
