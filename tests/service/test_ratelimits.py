"""RateLimitService on a real database, with a clock the test moves."""

from __future__ import annotations

from typing import Any

import pytest

from faceauth.domain import RateLimited
from faceauth.service.ratelimits import RateLimitService
from faceauth.storage.sql.abuse import SqlAbuseStore
from faceauth.storage.sql.backend import SqlStorage


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_040.0  # 20 s into a 60 s window (they start at multiples of 60)

    def __call__(self) -> float:
        return self.now


def test_the_limit_counts_per_endpoint_and_client_and_resets_with_the_window(
    settings_factory: Any, storage: SqlStorage
) -> None:
    clock = Clock()
    settings = settings_factory(rate_limit_requests=3, rate_limit_window_seconds=60)
    limits = RateLimitService(SqlAbuseStore(storage.database), settings, clock=clock)
    for _ in range(3):
        limits.check("login", "10.0.0.1")
    with pytest.raises(RateLimited) as refused:
        limits.check("login", "10.0.0.1")
    assert refused.value.retry_after == 40  # the rest of the window
    limits.check("login", "10.0.0.2")  # another client
    limits.check("verify", "10.0.0.1")  # another endpoint
    clock.now += 40  # the next window
    limits.check("login", "10.0.0.1")


def test_a_limit_of_zero_turns_the_limit_off(settings_factory: Any, storage: SqlStorage) -> None:
    limits = RateLimitService(SqlAbuseStore(storage.database), settings_factory(rate_limit_requests=0))
    assert not limits.enabled
    for _ in range(50):
        limits.check("login", None)
