"""All page routes, one router per area."""

from fastapi import APIRouter

from faceauth.web.pages import account, apps, auth, face

router = APIRouter(include_in_schema=False)
for area in (auth, face, apps, account):
    router.include_router(area.router)
