"""Rate limits per client address on the endpoints that cost the most or guess the most: register,
log in, enroll, verify and new liveness challenges. Beyond ``rate_limit_requests`` in a fixed window
of ``rate_limit_window_seconds`` a request is refused with RateLimited (429 with ``Retry-After``).

The counters live in the database (the abuse store), so the limit holds across worker processes and
server instances. Per-account lock-outs (``service.lockout``) do the fine-grained work; this limit
only stops floods, and is generous because many people can share one address. The web layer decides
which requests belong to which endpoint bucket (``web.ratelimit``) and calls ``check`` before the
body is read."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from faceauth.config import Settings
from faceauth.domain import RateLimited

if TYPE_CHECKING:
    from faceauth.storage.interface import AbuseStore

logger = logging.getLogger(__name__)


class RateLimitService:
    def __init__(self, store: AbuseStore, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.limit = settings.rate_limit_requests
        self.window_seconds = max(1, settings.rate_limit_window_seconds)
        # failures older than the longest lock-out window no longer count anywhere
        self.failure_retention = timedelta(
            seconds=max(
                settings.face_lockout_window_seconds,
                settings.password_lockout_window_seconds,
                settings.password_account_lockout_window_seconds,
            )
        )
        self.clock = clock
        self._purged_window = -1

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def check(self, endpoint: str, client: str | None) -> None:
        """Counts one request of ``client`` to ``endpoint``; raises RateLimited beyond the limit.
        Once per window it also forgets stale counters, failures and ended lock-outs."""
        if not self.enabled:
            return
        now = self.clock()
        window_start = int(now // self.window_seconds) * self.window_seconds
        bucket = f"{endpoint}|{client or 'unknown'}"
        count = self.store.hit(bucket, window_start)
        if window_start != self._purged_window:
            self._purged_window = window_start
            self._purge(now, window_start)
        if count > self.limit:
            logger.info("rate limit: %s over %d requests in %d s", bucket, self.limit, self.window_seconds)
            raise RateLimited(math.ceil(window_start + self.window_seconds - now))

    def _purge(self, now: float, window_start: int) -> None:
        moment = datetime.fromtimestamp(now, UTC)
        removed = self.store.purge(
            moment - self.failure_retention, window_start - self.window_seconds, moment
        )
        if removed:
            logger.debug("purged %d stale abuse-limit rows", removed)
