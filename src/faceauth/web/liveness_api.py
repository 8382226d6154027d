"""JSON API v1, liveness challenges (docs/liveness.md), and how enroll and verify take their input.

    POST /api/v1/liveness/challenges                      {"purpose": "verify" | "enroll"}
      201 {challenge_id, purpose, moves, prompts, issued_at, expires_at, expires_in,
           frame_interval_ms, max_frames, max_chunk_frames}
    POST /api/v1/liveness/challenges/{challenge_id}/frames   frames, as for enroll and verify
      200 {frames_received, moves, moves_done, complete, failure, seconds_left}
    then POST /api/v1/face/verify (or /enroll)            {"challenge_id": "..."} instead of frames

Both need a bearer token (or the session cookie with its CSRF header), of the user the challenge is
for. The progress is the server's own reading of the frames; enroll or verify judge the whole stream
again and spend the challenge whatever the outcome."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import anyio.to_thread
from fastapi import APIRouter, Request, status
from pydantic import BaseModel

from faceauth.domain import BurstEmbeddings, LivenessFailed, LivenessRequired, ValidationFailed
from faceauth.service.liveness import ChallengePurpose
from faceauth.web import api
from faceauth.web.deps import CurrentSession, Services, ServicesDep, SettingsDep

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/liveness", tags=["api v1", "liveness"])


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


@router.post("/challenges", status_code=status.HTTP_201_CREATED)
async def create_challenge(
    body: ChallengeRequest, session: CurrentSession, services: ServicesDep, settings: SettingsDep
) -> ChallengeResponse:
    issued = await anyio.to_thread.run_sync(services.liveness.issue, session.user.id, body.purpose)
    return ChallengeResponse(
        challenge_id=issued.challenge_id,
        purpose=issued.purpose.value,
        moves=[m.value for m in issued.moves],
        prompts=issued.prompts,
        issued_at=issued.issued_at,
        expires_at=issued.deadline_at,
        expires_in=settings.liveness_deadline_seconds,
        frame_interval_ms=settings.liveness_frame_interval_ms,
        max_frames=settings.liveness_max_frames,
        max_chunk_frames=settings.liveness_max_chunk_frames,
    )


@router.post("/challenges/{challenge_id}/frames")
async def add_frames(
    challenge_id: str, request: Request, session: CurrentSession, services: ServicesDep, settings: SettingsDep
) -> ProgressResponse:
    frames = await api.read_frames(request, settings.liveness_max_chunk_frames)
    progress = await api.run_inference(
        services, services.liveness.add_frames, session.user.id, challenge_id, frames
    )
    return ProgressResponse(
        frames_received=progress.frames_received,
        moves=[m.value for m in progress.moves],
        moves_done=progress.moves_done,
        complete=progress.complete,
        failure=progress.failure,
        seconds_left=round(progress.seconds_left, 2),
    )


@dataclass(frozen=True)
class FaceInput:
    """What an enroll or verify request brings: a plain burst, or the burst of a spent challenge."""

    frames: list[bytes] | BurstEmbeddings
    count: int  # pictures: frames posted, or challenge frames usable for matching

    @property
    def liveness_checked(self) -> bool:
        """The frames come from a spent (passed) liveness challenge."""
        return isinstance(self.frames, BurstEmbeddings)


async def face_input(
    request: Request, services: Services, user_id: int, purpose: ChallengePurpose, client: str | None
) -> FaceInput:
    """``{"challenge_id": ...}`` spends that challenge (LivenessFailed, ChallengeUsed, ... when it
    does not hold); a plain burst is read as before, unless liveness is required (LivenessRequired)."""
    challenge_id = await _challenge_id(request)
    if challenge_id is not None:
        return FaceInput(*await _spend(services, user_id, challenge_id, purpose, client))
    if services.settings.liveness_required:
        raise LivenessRequired()
    frames = await api.read_frames(request, services.settings.max_frames)
    return FaceInput(frames, len(frames))


async def _spend(
    services: Services, user_id: int, challenge_id: str, purpose: ChallengePurpose, client: str | None
) -> tuple[BurstEmbeddings, int]:
    """Spend a challenge; for a verification, a locked face step refuses first, and a challenge that
    fails liveness counts towards the face lock-out like a failed match."""
    verifying = purpose is ChallengePurpose.VERIFY
    if verifying:
        services.faces.check_face_step_open(user_id)
    try:
        burst = await anyio.to_thread.run_sync(
            services.liveness.spend, user_id, challenge_id, purpose, client
        )
    except LivenessFailed:
        if verifying:
            services.faces.count_failed_liveness(user_id)
        raise
    return burst, len(burst.embeddings)


async def _challenge_id(request: Request) -> str | None:
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        return None
    try:
        body = await request.json()  # Starlette keeps the body: read_frames can read it again
    except ValueError as error:
        raise ValidationFailed({"body": "malformed JSON"}) from error
    if not isinstance(body, dict) or "challenge_id" not in body:
        return None
    value = body["challenge_id"]
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise ValidationFailed({"challenge_id": "a challenge id string is required"})
    if "frames" in body:
        raise ValidationFailed({"frames": "send either frames or a challenge_id, not both"})
    return value
