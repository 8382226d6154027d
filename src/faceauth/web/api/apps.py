"""The user's applications (the dashboard's list): full-stage tokens only."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from faceauth.web.deps import FullCaller, ServicesDep
from faceauth.web.schemas import AppRequest, AppResponse

router = APIRouter(prefix="/apps")


@router.get("")
def list_apps(caller: FullCaller, services: ServicesDep) -> list[AppResponse]:
    return [AppResponse.of(app) for app in services.apps.list(caller.user.id)]


@router.post("", status_code=status.HTTP_201_CREATED)
def add_app(body: AppRequest, caller: FullCaller, services: ServicesDep) -> AppResponse:
    return AppResponse.of(services.apps.add(caller.user.id, body.name, body.url, body.description))


@router.get("/{app_id}")
def get_app(app_id: int, caller: FullCaller, services: ServicesDep) -> AppResponse:
    return AppResponse.of(services.apps.get(caller.user.id, app_id))


@router.delete("/{app_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_app(app_id: int, caller: FullCaller, services: ServicesDep) -> Response:
    services.apps.remove(caller.user.id, app_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
