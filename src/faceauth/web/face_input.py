"""How enroll, verify and a liveness chunk bring their pictures, read in one place.

A body is JSON ``{"frames": [base64 or data URLs]}`` or ``{"challenge_id": "..."}`` (enroll and
verify only: the frames were streamed to the challenge before), or multipart files named ``frames``.
A malformed request (bad JSON, bad base64, no frames, too many, both frames and a challenge) raises
ValidationFailed (422)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.datastructures import UploadFile

from faceauth.domain import ValidationFailed
from faceauth.service.face_login import FaceInput
from faceauth.web.deps import ServicesDep

MAX_CHALLENGE_ID_LENGTH = 200
_DATA_URL = re.compile(r"^data:(?P<mime>[\w/+.-]*)(?P<params>(;[\w=.+-]+)*?)(?P<b64>;base64)?,", re.ASCII)


def decode_base64_frame(text: str) -> bytes:
    """A base64 string or a ``data:image/...;base64,`` URL -> bytes (whitespace is tolerated).
    Raises ValueError with the reason; whether the bytes are an image is the vision layer's call."""
    payload = text.strip()
    match = _DATA_URL.match(payload)
    if match:
        if not match.group("b64"):
            raise ValueError("data URL is not base64-encoded")
        payload = payload[match.end() :]
    payload = re.sub(r"\s+", "", payload)
    if not payload:
        raise ValueError("empty image")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("invalid base64") from error


async def json_body(request: Request) -> Any:
    """The request's JSON (Starlette keeps the body, so reading it twice is free)."""
    try:
        return await request.json()
    except ValueError as error:
        raise ValidationFailed({"body": "malformed JSON"}) from error


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").lower().startswith("multipart/form-data")


async def read_frames(request: Request, max_frames: int) -> tuple[bytes, ...]:
    """The plain burst of a request, at most ``max_frames`` of them."""
    if is_multipart(request):
        frames = await _multipart_frames(request, max_frames)
    else:
        frames = _json_frames(await json_body(request))
    if not frames:
        raise ValidationFailed({"frames": "at least one frame is required"})
    if len(frames) > max_frames:
        raise ValidationFailed({"frames": f"at most {max_frames} frames are allowed"})
    return tuple(frames)


def _json_frames(body: Any) -> list[bytes]:
    items = body.get("frames") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise ValidationFailed({"frames": "a list of base64-encoded images is required"})
    frames = []
    for index, item in enumerate(items):
        if not isinstance(item, str):
            raise ValidationFailed({"frames": f"frame {index} is not a base64 string"})
        frames.append(_decoded(index, item))
    return frames


async def _multipart_frames(request: Request, max_frames: int) -> list[bytes]:
    # A malformed form makes Starlette raise HTTPException(400), answered by web.errors.
    form = await request.form(max_files=max_frames + 1, max_fields=max_frames + 10)
    frames = []
    for index, item in enumerate(form.getlist("frames")):
        if isinstance(item, UploadFile):
            frames.append(await item.read())
        else:
            frames.append(_decoded(index, item))
    return frames


def _decoded(index: int, text: str) -> bytes:
    try:
        return decode_base64_frame(text)
    except ValueError as error:
        raise ValidationFailed({"frames": f"frame {index}: {error}"}) from error


async def _challenge_id(request: Request) -> str | None:
    if not request.headers.get("content-type", "").lower().startswith("application/json"):
        return None
    body = await json_body(request)
    if not isinstance(body, dict) or "challenge_id" not in body:
        return None
    value = body["challenge_id"]
    if not isinstance(value, str) or not 0 < len(value) <= MAX_CHALLENGE_ID_LENGTH:
        raise ValidationFailed({"challenge_id": "a challenge id string is required"})
    if "frames" in body:
        raise ValidationFailed({"frames": "send either frames or a challenge_id, not both"})
    return value


async def face_input(request: Request, services: ServicesDep) -> FaceInput:
    """The face of an enroll or verify request: a challenge id, or (when the server takes plain
    bursts: LivenessRequired otherwise, before the burst is read) the frames."""
    challenge_id = await _challenge_id(request)
    if challenge_id is not None:
        return FaceInput(challenge_id=challenge_id)
    services.face_login.check_plain_burst_allowed()
    return FaceInput(frames=await read_frames(request, services.settings.max_frames))


FaceInputDep = Annotated[FaceInput, Depends(face_input)]
