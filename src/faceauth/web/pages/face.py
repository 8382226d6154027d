"""The face step in the browser: the enroll and verify pages and the captures their webcam script
posts (a burst of frames, or the id of a liveness challenge streamed before). The rules are the face
login use case's (``service.face_login``), the same as the JSON API's."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from faceauth.config import Settings
from faceauth.domain import (
    FaceAuthError,
    FrameRejection,
    InconsistentEnrollment,
    NotEnoughGoodFrames,
    ValidationFailed,
)
from faceauth.service.face_login import FaceInput
from faceauth.web.deps import ClientDep, CurrentCaller, ServicesDep
from faceauth.web.face_input import FaceInputDep
from faceauth.web.inference import run_inference
from faceauth.web.pages.errors import RedirectToError
from faceauth.web.pages.rendering import render, set_token_cookie
from faceauth.web.pages.routing import PageRoute
from faceauth.web.status_codes import rejections_json

router = APIRouter(route_class=PageRoute, include_in_schema=False)

BURST_INTERVAL_MS = 150  # between the frames of a webcam burst


def camera_context(settings: Settings, **page: str) -> dict[str, Any]:
    return {
        "burst_frames": settings.burst_frames,
        "burst_interval_ms": BURST_INTERVAL_MS,
        # A liveness challenge (static/liveness.js) instead of a plain burst when the server requires it.
        "liveness": settings.liveness_required,
        **page,
    }


@router.get("/face/enroll")
def enroll_page(request: Request, caller: CurrentCaller, services: ServicesDep) -> Response:
    enrolled = services.faces.is_enrolled(caller.user.id)
    if enrolled and not caller.is_full:
        raise RedirectToError("/face/verify")  # replacing a face needs the face step first
    context = camera_context(
        services.settings,
        camera_endpoint="/face/enroll",
        camera_mode="enroll",
        camera_button="Capture",
        camera_success_url="/account" if caller.is_full else "/face/verify",
        camera_continue="Back to my account" if caller.is_full else "Continue: log in with my face",
    )
    context["reenroll"] = enrolled
    return render(request, "enroll.html", context, active="account" if caller.is_full else "")


@router.post("/face/enroll")
async def enroll(
    request: Request, caller: CurrentCaller, face: FaceInputDep, services: ServicesDep, client: ClientDep
) -> Response:
    """Enrolls, or replaces the enrolled face (which needs the face step done first)."""
    try:
        enrolled = await run_inference(request, services.face_login.enroll, caller.claims, face, True, client)
    except (NotEnoughGoodFrames, InconsistentEnrollment, ValidationFailed) as error:
        return capture_failure(error, face)
    result = enrolled.result
    done = "Your face template is replaced" if result.replaced else "Your face is enrolled"
    message = f"{done}: {result.frames_used} of {enrolled.pictures} pictures were used."
    return capture_answer(
        True, message, result.frames_rejected, status_code=201, frames_used=result.frames_used
    )


@router.get("/face/verify")
def verify_page(request: Request, caller: CurrentCaller, services: ServicesDep) -> Response:
    if not services.faces.is_enrolled(caller.user.id):
        raise RedirectToError("/face/enroll")
    if caller.is_full:
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
async def verify(
    request: Request, caller: CurrentCaller, face: FaceInputDep, services: ServicesDep, client: ClientDep
) -> Response:
    """On a match: the full-stage token in the session cookie (the password-stage one is revoked)."""
    try:
        verified = await run_inference(request, services.face_login.verify, caller.claims, face, client)
    except (NotEnoughGoodFrames, ValidationFailed) as error:
        return capture_failure(error, face)
    result = verified.result
    scores: dict[str, Any] = {
        "similarity": round(result.match.similarity, 4),
        "threshold": result.match.threshold,
    }
    if verified.token is None:
        message = (
            "Your face did not match the enrolled one "
            f"(similarity {result.match.similarity:.2f}, {result.match.threshold:.2f} needed). "
            "Face the camera in good light and try again."
        )
        return capture_answer(False, message, result.frames_rejected, status_code=401, **scores)
    user = caller.user
    message = f"Welcome, {user.name or user.username}! Opening your applications…"
    response = capture_answer(True, message, result.frames_rejected, redirect="/apps", **scores)
    set_token_cookie(request, response, verified.token)
    return response


def capture_answer(
    ok: bool, message: str, rejected: tuple[FrameRejection, ...], status_code: int = 200, **extra: Any
) -> JSONResponse:
    """The answer the webcam script reads: ``{ok, message, frames_rejected: [{index, reason,
    message}], ...}``."""
    body = {"ok": ok, "message": message, "frames_rejected": rejections_json(rejected), **extra}
    return JSONResponse(body, status_code=status_code)


def capture_failure(error: FaceAuthError, face: FaceInput) -> JSONResponse:
    if isinstance(error, NotEnoughGoodFrames):
        # a challenge's pictures are the ones it kept for matching
        pictures = len(face.frames) if face.challenge_id is None else error.accepted
        message = (
            f"Only {error.accepted} of {pictures} pictures could be used; {error.needed} are needed. "
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
