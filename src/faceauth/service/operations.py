"""What an operator's probes read from the database: readiness (``/readyz``) and the lock-outs in force
(``/metrics``)."""

from __future__ import annotations

from datetime import UTC, datetime

from faceauth.storage.interface import AdminStore


class OperationsService:
    def __init__(self, admin: AdminStore) -> None:
        self.admin = admin

    def readiness_problem(self) -> str | None:
        """None when the database answers and its schema is current; else the reason (for a 503)."""
        return self.admin.readiness_problem()

    def active_lockouts(self) -> dict[str, int]:
        """Lock-outs in force now, by step (face, password)."""
        return self.admin.active_lockouts_by_step(datetime.now(UTC))
