"""The protected "applications" of a user: named links in their dashboard."""

from __future__ import annotations

from urllib.parse import urlparse

from faceauth.domain import App, NotFound, ValidationFailed
from faceauth.storage.interface import StorageBackend

MAX_NAME_LENGTH = 100
MAX_URL_LENGTH = 2048
MAX_DESCRIPTION_LENGTH = 2000


def validate_app(name: str, url: str | None, description: str | None) -> tuple[str, str | None, str | None]:
    errors: dict[str, str] = {}
    name = " ".join(name.split())
    if not name:
        errors["name"] = "is required"
    elif len(name) > MAX_NAME_LENGTH:
        errors["name"] = f"must be at most {MAX_NAME_LENGTH} characters"
    url = (url or "").strip() or None
    if url is not None:
        parsed = urlparse(url)
        if len(url) > MAX_URL_LENGTH:
            errors["url"] = f"must be at most {MAX_URL_LENGTH} characters"
        elif parsed.scheme not in ("http", "https") or not parsed.netloc:
            errors["url"] = "must be an http:// or https:// address"
    description = (description or "").strip() or None
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        errors["description"] = f"must be at most {MAX_DESCRIPTION_LENGTH} characters"
    if errors:
        raise ValidationFailed(errors)
    return name, url, description


class AppService:
    def __init__(self, storage: StorageBackend) -> None:
        self.storage = storage

    def add(self, user_id: int, name: str, url: str | None = None, description: str | None = None) -> App:
        name, url, description = validate_app(name, url, description)
        return self.storage.add_app(user_id, name, url, description)

    def list(self, user_id: int) -> list[App]:
        return self.storage.list_apps(user_id)

    def get(self, user_id: int, app_id: int) -> App:
        app = self.storage.get_app(user_id, app_id)
        if app is None:
            raise NotFound("no such application")
        return app

    def remove(self, user_id: int, app_id: int) -> None:
        """Raises NotFound when the app does not exist or belongs to someone else."""
        if not self.storage.delete_app(user_id, app_id):
            raise NotFound("no such application")
