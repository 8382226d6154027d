"""The applications dashboard: list, add, show, remove."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from faceauth.domain import ValidationFailed
from faceauth.service.services import Services
from faceauth.web.deps import Caller, ServicesDep
from faceauth.web.pages.rendering import friendly_field_errors, redirect, render
from faceauth.web.pages.routing import FormField, FullPageCaller, PageRoute

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def apps_page_response(
    request: Request,
    services: Services,
    caller: Caller,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    full_context = {"apps": services.apps.list(caller.user.id), **(context or {})}
    return render(request, "apps.html", full_context, status_code=status_code, active="apps")


@router.get("/apps")
def apps_page(request: Request, caller: FullPageCaller, services: ServicesDep) -> Response:
    return apps_page_response(request, services, caller)


@router.post("/apps")
def add_app(
    request: Request,
    caller: FullPageCaller,
    services: ServicesDep,
    name: FormField = "",
    url: FormField = "",
    description: FormField = "",
) -> Response:
    try:
        services.apps.add(caller.user.id, name, url, description)
    except ValidationFailed as error:
        context = {
            "errors": friendly_field_errors(error.errors),
            "values": {"name": name, "url": url, "description": description},
        }
        return apps_page_response(request, services, caller, context, status_code=422)
    return redirect("/apps?notice=app-added")


@router.get("/apps/{app_id}")
def app_page(request: Request, app_id: int, caller: FullPageCaller, services: ServicesDep) -> Response:
    app = services.apps.get(caller.user.id, app_id)
    return render(request, "app_detail.html", {"app": app}, active="apps")


@router.post("/apps/{app_id}/delete")
def remove_app(app_id: int, caller: FullPageCaller, services: ServicesDep) -> Response:
    services.apps.remove(caller.user.id, app_id)
    return redirect("/apps?notice=app-removed")
