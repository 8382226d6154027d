"""Registrations racing for one username or email on ``faceauth serve --workers 2`` against a real
PostgreSQL: the two worker processes each hold their own connection pool, so only the database's
unique indexes can decide. Every round gives exactly one 201 and 409s, never a 500.

Needs FACEAUTH_TEST_POSTGRES_URL (skipped otherwise); the database is wiped before and after."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support import serve_in_subprocess, wipe_postgres

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)

PASSWORD = "violet kettle on mars"
RACERS = 8
ROUNDS = 6


@pytest.fixture(scope="module")
def two_workers_on_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("FACEAUTH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FACEAUTH_TEST_POSTGRES_URL is not set")
    wipe_postgres(url)
    data_dir = tmp_path_factory.mktemp("race-workers")
    env = {
        "FACEAUTH_DATABASE_URL": url,
        "FACEAUTH_SECRET_KEY": "race-workers-secret-key-0123456789-0123456789",
        "FACEAUTH_LIVENESS_REQUIRED": "false",
        "FACEAUTH_RATE_LIMIT_REQUESTS": "100000",
    }
    try:
        with serve_in_subprocess(data_dir, env, workers=2) as server:
            yield server.base_url
    finally:
        wipe_postgres(url)


_rounds = itertools.count(1)


@pytest.mark.postgres
@pytest.mark.parametrize("clash", ["username", "email"])
def test_racing_registrations_on_two_workers_give_one_201(two_workers_on_postgres: str, clash: str) -> None:
    for _ in range(ROUNDS):
        name = f"racer{next(_rounds)}_{clash}"
        barrier = threading.Barrier(RACERS)

        def attempt(index: int, name: str = name, barrier: threading.Barrier = barrier) -> int:
            body = {
                "name": "Racer",
                "username": name if clash == "username" else f"{name}_{index}",
                "email": f"{name}@example.org" if clash == "email" else f"{name}_{index}@example.org",
                "phone": "+1 202 555 0143",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            }
            # A connection of its own each: the balancer spreads them over both workers.
            with httpx.Client(base_url=two_workers_on_postgres, timeout=120) as own_connection:
                own_connection.get("/healthz")  # connected before the start signal
                barrier.wait()
                response = own_connection.post("/api/v1/users", json=body)
                return response.status_code

        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            codes = sorted(pool.map(attempt, range(RACERS)))
        assert codes == [201] + [409] * (RACERS - 1), codes
