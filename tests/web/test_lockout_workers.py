"""Lock-outs across the worker processes of ``faceauth serve --workers 2`` (end-to-end: a real
server in a subprocess, with the real models, on one SQLite database both workers share). A limit
kept in each worker's memory would let twice the attempts through; the database must decide."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from support import LiveServer, serve_in_subprocess
from support.api import PASSWORD, Cast, burst, enroll, login, register, verify

pytestmark = pytest.mark.e2e  # a real server with the real models, two processes


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``faceauth serve --workers 2`` in a subprocess, on a SQLite database both workers share."""
    data_dir = tmp_path_factory.mktemp("two-workers")
    env = {
        "FACEAUTH_SECRET_KEY": "two-workers-secret-key-0123456789-0123456789",
        "FACEAUTH_LIVENESS_REQUIRED": "false",
        "FACEAUTH_INFERENCE_THREADS": "1",
    }
    with serve_in_subprocess(data_dir, env, workers=2, timeout=180) as server:
        yield server


def wrong_login(client: httpx.Client, login_name: str) -> httpx.Response:
    return client.post(
        "/api/v1/auth/login", json={"login": login_name, "password": "not the password at all"}
    )


def test_the_password_lock_out_holds_across_two_workers(two_workers: LiveServer) -> None:
    """Twelve wrong passwords at once, each on its own connection, spread over both workers: at most
    five are judged (401), the rest are refused (423); a limit kept in each worker's memory would
    let up to ten through. The right password is refused afterwards, on fresh connections."""
    with httpx.Client(base_url=two_workers.base_url, timeout=60) as client:
        account = register(client, "workers")

    def attempt(_: int) -> int:
        with httpx.Client(base_url=two_workers.base_url, timeout=60) as own_connection:
            return wrong_login(own_connection, account.username).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = sorted(pool.map(attempt, range(12)))
    # at most five are judged (fewer when a refused attempt counted before an earlier one finished)
    assert 1 <= codes.count(401) <= 5 and codes.count(423) == 12 - codes.count(401), codes
    for _ in range(4):
        with httpx.Client(base_url=two_workers.base_url, timeout=60) as fresh:
            right = fresh.post("/api/v1/auth/login", json={"login": account.username, "password": PASSWORD})
            assert right.status_code == 423
            assert int(right.headers["retry-after"]) > 1700


def test_the_face_lock_out_holds_across_two_workers(two_workers: LiveServer, cast: Cast) -> None:
    with httpx.Client(base_url=two_workers.base_url, timeout=120) as client:
        account = register(client, "faceworkers")
        assert enroll(client, login(client, account)["access_token"], burst(cast.enroll)).status_code == 201
        tokens = [login(client, account)["access_token"] for _ in range(8)]
    impostor = next(iter(cast.impostors.values()))

    def attempt(token: str) -> int:
        with httpx.Client(base_url=two_workers.base_url, timeout=120) as own_connection:
            return verify(own_connection, token, burst(impostor)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(attempt, tokens))
    assert 1 <= codes.count(401) <= 5 and codes.count(423) == 8 - codes.count(401), codes
    with httpx.Client(base_url=two_workers.base_url, timeout=120) as fresh:
        assert verify(fresh, login(fresh, account)["access_token"], burst(cast.login)).status_code == 423
