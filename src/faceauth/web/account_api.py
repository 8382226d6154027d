"""JSON API v1, what is held about the user: ``GET /api/v1/users/me/export`` (the account's fields,
apps, audit events, and whether a face template exists with its dates, never its bytes) and
``GET /api/v1/users/me/events`` (their audit events, newest first). Both need a full-stage token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from faceauth.service.privacy import PrivacyService, event_json
from faceauth.web.deps import FullSession, ServicesDep

router = APIRouter(prefix="/api/v1/users/me", tags=["api v1"])


def get_privacy(services: ServicesDep) -> PrivacyService:
    return PrivacyService(services.storage)


PrivacyDep = Annotated[PrivacyService, Depends(get_privacy)]


@router.get("/export")
def export_me(session: FullSession, privacy: PrivacyDep) -> dict[str, Any]:
    return privacy.export(session.user.id)


@router.get("/events")
def my_events(
    session: FullSession, privacy: PrivacyDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    return {"events": [event_json(event) for event in privacy.events(session.user.id, limit)]}
