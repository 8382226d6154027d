"""Web pages (HTML). A placeholder router until the web-pages module lands; it replaces this file."""

from fastapi import APIRouter

router = APIRouter()
