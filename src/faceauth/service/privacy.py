"""What is held about a user, for them to read: their data export and their audit events.

The export lists the account's fields, apps, audit events, and whether a face template exists with
its dates and key id; never the template's bytes, encrypted or not, and never the password hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from faceauth.domain import NotFound
from faceauth.storage.interface import AuditEvent, StorageBackend

MAX_EXPORTED_EVENTS = 10_000


def event_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "time": event.created_at.isoformat(),
        "kind": event.kind,
        "success": event.success,
        "client": event.client,
        "similarity": event.score,
        "detail": event.detail,
    }


def _iso(value: datetime) -> str:
    return value.isoformat()


class PrivacyService:
    def __init__(self, storage: StorageBackend) -> None:
        self.storage = storage

    def events(self, user_id: int, limit: int = 100) -> list[AuditEvent]:
        """The user's own audit events, newest first."""
        return self.storage.list_events(user_id=user_id, limit=limit)

    def export(self, user_id: int) -> dict[str, Any]:
        """Everything held about the user, as JSON-ready data. Raises NotFound for a missing user."""
        user = self.storage.get_user(user_id)
        if user is None:
            raise NotFound("no such user")
        stored = self.storage.get_template(user_id)
        template: dict[str, Any] = {"exists": stored is not None}
        if stored is not None:
            template.update(
                created_at=_iso(stored.created_at),
                updated_at=_iso(stored.updated_at),
                frames_used=stored.frames_used,
                key_id=stored.key_id,
            )
        return {
            "account": {
                "id": user.id,
                "name": user.name,
                "username": user.username,
                "email": user.email,
                "phone": user.phone,
                "created_at": _iso(user.created_at),
            },
            "face_template": template,
            "apps": [
                {
                    "id": app.id,
                    "name": app.name,
                    "url": app.url,
                    "description": app.description,
                    "created_at": _iso(app.created_at),
                }
                for app in self.storage.list_apps(user_id)
            ],
            "events": [event_json(event) for event in self.events(user_id, MAX_EXPORTED_EVENTS)],
        }
