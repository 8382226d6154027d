"""What is held about the user: ``GET /api/v1/users/me/export`` (the account's fields, apps, audit
events, and whether a face template exists with its dates, never its bytes) and ``GET
/api/v1/users/me/events`` (their audit events, newest first). Both need a full-stage token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from faceauth.service.privacy import event_json
from faceauth.web.deps import FullCaller, ServicesDep
from faceauth.web.schemas import EventsResponse, ExportResponse

router = APIRouter(prefix="/users/me")


@router.get("/export", response_model=ExportResponse)
def export_me(caller: FullCaller, services: ServicesDep) -> JSONResponse:
    # The service's own JSON, as it is: optional fields stay absent rather than null.
    return JSONResponse(services.privacy.export(caller.user.id))


@router.get("/events")
def my_events(
    caller: FullCaller, services: ServicesDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> EventsResponse:
    events = services.privacy.events(caller.user.id, limit)
    return EventsResponse.model_validate({"events": [event_json(event) for event in events]})
