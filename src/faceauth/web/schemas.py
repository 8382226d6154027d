"""Every request and response body of the JSON API v1, in one place (they make ``/openapi.json``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from faceauth.domain import App, FrameRejection
from faceauth.service.liveness import ChallengePurpose
from faceauth.service.tokens import IssuedToken

# --- accounts and login ------------------------------------------------------------------------


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

    @classmethod
    def of(cls, issued: IssuedToken, face_enrolled: bool) -> TokenResponse:
        return cls(
            access_token=issued.token,
            stage=issued.claims.stage.value,
            expires_in=issued.max_age,
            face_enrolled=face_enrolled,
        )


class MeResponse(BaseModel):
    id: int
    username: str
    email: str
    name: str
    phone: str
    created_at: datetime
    face_enrolled: bool


# --- face --------------------------------------------------------------------------------------


class FaceRequest(BaseModel):
    """Documentation only: enroll and verify read their body themselves (``web.face_input``), as
    JSON like this or as multipart files named ``frames``."""

    frames: list[str] | None = Field(None, description="base64 images or data URLs (a plain burst)")
    challenge_id: str | None = Field(None, description="a liveness challenge whose frames were streamed")


class Rejection(BaseModel):
    index: int
    reason: str
    message: str

    @classmethod
    def all(cls, rejections: tuple[FrameRejection, ...]) -> list[Rejection]:
        return [cls(index=r.index, reason=r.reason.value, message=r.message) for r in rejections]


class EnrollResponse(BaseModel):
    frames_used: int
    frames_rejected: list[Rejection]
    replaced: bool


class VerifyResponse(BaseModel):
    """200 with the full-stage token when the face matched; 401 without the token fields when not."""

    verified: bool
    similarity: float
    threshold: float
    frames_used: int
    frames_rejected: list[Rejection]
    access_token: str | None = None
    token_type: str | None = None
    stage: str | None = None
    expires_in: int | None = None


# --- liveness ----------------------------------------------------------------------------------


class ChallengeRequest(BaseModel):
    purpose: ChallengePurpose = ChallengePurpose.VERIFY


class ChallengeResponse(BaseModel):
    challenge_id: str
    purpose: str
    moves: list[str]
    prompts: list[str]
    issued_at: datetime
    expires_at: datetime
    expires_in: float
    frame_interval_ms: int
    max_frames: int
    max_chunk_frames: int


class ProgressResponse(BaseModel):
    frames_received: int
    moves: list[str]
    moves_done: int
    complete: bool
    failure: str | None
    seconds_left: float


# --- apps --------------------------------------------------------------------------------------


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

    @classmethod
    def of(cls, app: App) -> AppResponse:
        return cls(
            id=app.id, name=app.name, url=app.url, description=app.description, created_at=app.created_at
        )


# --- what is held about the user ---------------------------------------------------------------


class EventInfo(BaseModel):
    id: int
    time: str
    kind: str
    success: bool
    client: str | None
    similarity: float | None
    detail: str | None


class EventsResponse(BaseModel):
    events: list[EventInfo]


class AccountInfo(BaseModel):
    id: int
    name: str
    username: str
    email: str
    phone: str
    created_at: str


class FaceTemplateInfo(BaseModel):
    """Whether a template exists and its dates; never its bytes. The dates are absent without one."""

    exists: bool
    created_at: str | None = None
    updated_at: str | None = None
    frames_used: int | None = None
    key_id: str | None = None


class AppInfo(BaseModel):
    id: int
    name: str
    url: str | None
    description: str | None
    created_at: str


class ExportResponse(BaseModel):
    account: AccountInfo
    face_template: FaceTemplateInfo
    apps: list[AppInfo]
    events: list[EventInfo]
