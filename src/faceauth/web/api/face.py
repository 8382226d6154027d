"""The face step (``service.face_login``): enroll, verify, delete.

Enrolling over an existing template is an explicit re-enrollment: ``POST /api/v1/face/enroll?replace=true``
with a full-stage token (without ``replace`` the answer is 409). Verifying without an enrolled face
answers 409. ``DELETE /api/v1/face`` needs a full-stage token when a template exists, so the password
alone can neither replace nor remove someone's face."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import JSONResponse

from faceauth.web.deps import ClientDep, CurrentCaller, ServicesDep
from faceauth.web.face_input import FaceInputDep
from faceauth.web.inference import run_inference
from faceauth.web.schemas import EnrollResponse, FaceRequest, Rejection, VerifyResponse

router = APIRouter(prefix="/face")

FACE_BODY = {"requestBody": {"content": {"application/json": {"schema": FaceRequest.model_json_schema()}}}}


@router.post("/enroll", status_code=status.HTTP_201_CREATED, openapi_extra=FACE_BODY)
async def enroll_face(
    request: Request,
    caller: CurrentCaller,
    face: FaceInputDep,
    services: ServicesDep,
    client: ClientDep,
    replace: Annotated[
        bool, Query(description="replace an enrolled face (needs a full-stage token)")
    ] = False,
) -> EnrollResponse:
    enrolled = await run_inference(request, services.face_login.enroll, caller.claims, face, replace, client)
    return EnrollResponse(
        frames_used=enrolled.result.frames_used,
        frames_rejected=Rejection.all(enrolled.result.frames_rejected),
        replaced=enrolled.result.replaced,
    )


@router.post(
    "/verify",
    response_model=VerifyResponse,
    responses={401: {"model": VerifyResponse, "description": "not the same person (no token)"}},
    openapi_extra=FACE_BODY,
)
async def verify_face(
    request: Request, caller: CurrentCaller, face: FaceInputDep, services: ServicesDep, client: ClientDep
) -> JSONResponse:
    verified = await run_inference(request, services.face_login.verify, caller.claims, face, client)
    result = verified.result
    body = VerifyResponse(
        verified=result.verified,
        similarity=result.match.similarity,
        threshold=result.match.threshold,
        frames_used=result.frames_used,
        frames_rejected=Rejection.all(result.frames_rejected),
    )
    if verified.token is None:
        return JSONResponse(body.model_dump(exclude_none=True), status_code=status.HTTP_401_UNAUTHORIZED)
    body.access_token = verified.token.token
    body.token_type = "bearer"
    body.stage = verified.token.claims.stage.value
    body.expires_in = verified.token.max_age
    return JSONResponse(body.model_dump(), status_code=status.HTTP_200_OK)


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def delete_face(caller: CurrentCaller, services: ServicesDep, client: ClientDep) -> Response:
    services.face_login.delete(caller.claims, client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
