"""Accounts: register, who am I, delete my account."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from faceauth.service.accounts import Registration
from faceauth.web.deps import ClientDep, FullCaller, ServicesDep
from faceauth.web.schemas import MeResponse, RegisterRequest, UserCreated

router = APIRouter()


@router.post("/users", status_code=status.HTTP_201_CREATED)
def register(body: RegisterRequest, services: ServicesDep, client: ClientDep) -> UserCreated:
    form = Registration(
        name=body.name,
        username=body.username,
        email=body.email,
        phone=body.phone,
        password=body.password,
        password_confirm=body.password_confirm,
    )
    user = services.accounts.register(form, client=client)
    return UserCreated(id=user.id, username=user.username, email=user.email)


@router.get("/me")
def me(caller: FullCaller, services: ServicesDep) -> MeResponse:
    user = caller.user
    return MeResponse(
        id=user.id,
        username=user.username,
        email=user.email,
        name=user.name,
        phone=user.phone,
        created_at=user.created_at,
        face_enrolled=services.accounts.face_enrolled(user.id),
    )


@router.delete("/users/me", status_code=status.HTTP_204_NO_CONTENT)
def delete_me(caller: FullCaller, services: ServicesDep, client: ClientDep) -> Response:
    services.tokens.revoke(caller.claims)
    services.accounts.delete(caller.user.id, client=client)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
