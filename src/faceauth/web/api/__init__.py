"""JSON API v1: one router per resource, all under ``/api/v1``. Routes translate HTTP to service
calls and back; errors are domain errors, turned into status codes by ``faceauth.web.errors``."""

from fastapi import APIRouter

from faceauth.web.api import account, apps, auth, face, liveness, users

router = APIRouter(prefix="/api/v1", tags=["api v1"])
for resource in (users, auth, face, liveness, apps, account):
    router.include_router(resource.router)
