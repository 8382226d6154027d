"""The page route class and the dependencies page routes share.

``PageRoute`` marks a request as a page request (so ``web.errors`` answers it with a page), turns
whatever goes wrong into that answer, and sets the CSRF cookie when the request created one. Pages
authenticate with the API's dependency (``deps.authenticate``: an invalid or missing session gives
the "log in" page); a page that needs the face step done sends a password-stage caller to it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Form, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from faceauth.web.deps import Caller, CurrentCaller, ServicesDep
from faceauth.web.errors import PAGE_ROUTE, error_response
from faceauth.web.pages.errors import RedirectToError
from faceauth.web.pages.rendering import finish

FormField = Annotated[str, Form(max_length=10_000)]


class PageRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            request.scope[PAGE_ROUTE] = True
            try:
                response = await handle(request)
            except Exception as error:  # every failure of a page gets a page, not a stack trace
                response = error_response(request, error)
            return finish(request, response)

        return page_handler


def face_step_url(face_enrolled: bool) -> str:
    return "/face/verify" if face_enrolled else "/face/enroll"


def full_page_caller(caller: CurrentCaller, services: ServicesDep) -> Caller:
    """A caller past the face step; a password-stage caller is sent to the face step instead."""
    if not caller.is_full:
        raise RedirectToError(face_step_url(services.faces.is_enrolled(caller.user.id)))
    return caller


# A page for a fully authenticated user (password and face).
FullPageCaller = Annotated[Caller, Depends(full_page_caller)]
