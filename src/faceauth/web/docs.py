"""The interactive API docs, served entirely from this server: ``/docs`` (Swagger UI) and ``/redoc``.

FastAPI's own docs pages load Swagger UI and ReDoc from a CDN and start Swagger UI with an inline
script; the Content-Security-Policy (rightly) allows neither, so those pages were blank. These pages
load the bundles shipped by the ``fastapi-offline`` wheel (Swagger UI 5, Apache-2.0; ReDoc, MIT),
from ``/docs/assets/``, and start Swagger UI from our own ``static/docs.js``: no inline script, no
CDN. Only the wheel's static files are used; its Python code is never imported."""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

router = APIRouter(include_in_schema=False)

ASSET_PACKAGE = "fastapi_offline"
ASSETS = frozenset({"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"})

SWAGGER_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API docs</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body>
</html>
"""

REDOC_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - API reference</title>
<link rel="icon" href="/static/favicon.svg">
</head>
<body>
<redoc spec-url="/openapi.json"></redoc>
<script src="/docs/assets/redoc.standalone.js"></script>
</body>
</html>
"""


@lru_cache(maxsize=1)
def assets_dir() -> Path | None:
    """The wheel's static folder, found without importing the package; None when it is missing."""
    spec = importlib.util.find_spec(ASSET_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if folder.is_dir() else None


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    return HTMLResponse(SWAGGER_PAGE.format(title="faceauth"))


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return HTMLResponse(REDOC_PAGE.format(title="faceauth"))


@router.get("/docs/assets/{name}")
def docs_asset(name: str) -> FileResponse:
    folder = assets_dir()
    if name not in ASSETS or folder is None or not (folder / name).is_file():
        raise StarletteHTTPException(status_code=404)
    return FileResponse(folder / name, headers={"Cache-Control": "public, max-age=86400"})
