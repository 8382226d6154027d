"""The password step: log in for a password-stage token; log out revokes the token."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from faceauth.service.tokens import Stage
from faceauth.web.deps import ClientDep, CurrentCaller, ServicesDep
from faceauth.web.schemas import LoginRequest, TokenResponse

router = APIRouter(prefix="/auth")


@router.post("/login")
def login(body: LoginRequest, services: ServicesDep, client: ClientDep) -> TokenResponse:
    user = services.accounts.authenticate(body.login, body.password, client=client)
    issued = services.tokens.issue(user.id, Stage.PASSWORD)
    return TokenResponse.of(issued, services.accounts.face_enrolled(user.id))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(caller: CurrentCaller, services: ServicesDep) -> Response:
    services.tokens.revoke(caller.claims)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
