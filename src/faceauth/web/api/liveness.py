"""Liveness challenges (docs/liveness.md).

    POST /api/v1/liveness/challenges                      {"purpose": "verify" | "enroll"}
      201 {challenge_id, purpose, moves, prompts, issued_at, expires_at, expires_in,
           frame_interval_ms, max_frames, max_chunk_frames, light}
          the open one while no frame was sent to it; one with frames is spent as a failed attempt
    POST /api/v1/liveness/challenges/{challenge_id}/frames   frames, as for enroll and verify
      200 {frames_received, moves, moves_done, complete, failure, seconds_left, step, message}
      429 faster than real time, or too many chunks a minute for the user
    then POST /api/v1/face/verify (or /enroll)            {"challenge_id": "..."} instead of frames

Both need a bearer token (or the session cookie with its CSRF header) of the user the challenge is
for. The progress is the server's own reading of the frames; enroll or verify judge the whole stream
again and spend the challenge whatever the outcome (``service.face_login``)."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, status

from faceauth.web.deps import CurrentCaller, ServicesDep
from faceauth.web.face_input import read_frames
from faceauth.web.inference import run_inference
from faceauth.web.schemas import ChallengeRequest, ChallengeResponse, ProgressResponse

router = APIRouter(prefix="/liveness", tags=["liveness"])


@router.post("/challenges", status_code=status.HTTP_201_CREATED)
async def create_challenge(
    request: Request, body: ChallengeRequest, caller: CurrentCaller, services: ServicesDep
) -> ChallengeResponse:
    issued = await run_inference(request, services.liveness.issue, caller.user.id, body.purpose)
    settings = services.settings
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
        light=issued.light.public() if issued.light is not None else None,
    )


@router.post("/challenges/{challenge_id}/frames")
async def add_frames(
    challenge_id: str, request: Request, caller: CurrentCaller, services: ServicesDep
) -> ProgressResponse:
    bucket = f"liveness_chunks|user:{caller.user.id}"  # per user; per challenge: the real-time pace
    limit = services.settings.liveness_chunks_per_minute
    await anyio.to_thread.run_sync(services.rate_limits.check_bucket, bucket, limit)
    frames = await read_frames(request, services.settings.liveness_max_chunk_frames)
    progress = await run_inference(
        request, services.liveness.add_frames, caller.user.id, challenge_id, list(frames)
    )
    return ProgressResponse(
        frames_received=progress.frames_received,
        moves=[m.value for m in progress.moves],
        moves_done=progress.moves_done,
        complete=progress.complete,
        failure=progress.failure,
        seconds_left=round(progress.seconds_left, 2),
        step=progress.step,
        message=progress.message,
    )
