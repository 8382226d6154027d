"""/metrics of ``faceauth serve --workers 2``: every scrape, whichever worker answers it, reports the
requests and login outcomes of both workers (prometheus-client's multiprocess mode, set up by serve).
End to end: a real ``faceauth serve`` with the real models."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from support import scrape_sample as sample
from support import serve_in_subprocess

pytestmark = pytest.mark.e2e

LOGINS = 12
TOKEN = "scrape-token-0123456789"


def test_every_scrape_counts_the_requests_of_both_workers(tmp_path: Path) -> None:
    env = {
        "FACEAUTH_METRICS_ENABLED": "true",
        "FACEAUTH_METRICS_TOKEN": TOKEN,
        "FACEAUTH_LIVENESS_REQUIRED": "false",
        "FACEAUTH_DATABASE_URL": f"sqlite:///{tmp_path / 'faceauth.db'}",
    }
    with serve_in_subprocess(tmp_path, env, workers=2) as server:
        base_url = server.base_url
        for number in range(LOGINS):  # a new connection each: the kernel spreads them over the workers
            answer = httpx.post(
                f"{base_url}/api/v1/auth/login", json={"login": f"nobody{number}", "password": "x" * 12}
            )
            assert answer.status_code == 401
        scrapes = [
            httpx.get(f"{base_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
            for _ in range(6)
        ]
    for text in scrapes:
        assert (
            sample(text, "faceauth_login_attempts_total", step="password", outcome="wrong_password") == LOGINS
        )
        assert (
            sample(
                text, "faceauth_http_requests_total", method="POST", route="/api/v1/auth/login", status="401"
            )
            == LOGINS
        )
        assert sample(text, "faceauth_lockouts_active", step="password") == 0
