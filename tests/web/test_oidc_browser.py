"""Sign in with faceauth, end to end: a relying party (tests/support/relying_party.py: requests-oauthlib
and PyJWT, not the server's Authlib) sends a real headless Chromium to faceauth, which walks it
through password, face enrollment (the user has no face yet), face verification and consent, and
back; the relying party verifies the ID token against discovery and the JWKS, reads userinfo and
shows the verified sub and email. Then the dashboard lists the application, and the relying party's
logout ends the faceauth session through the end_session_endpoint.

Liveness settings, set explicitly here: liveness is REQUIRED (so the ID token's acr must say the
liveness challenge was passed), and challenges draw only "turn_left", one move each, which the fake
camera can satisfy: it loops a video rendered from a real photo in which the head turns to its left
and back (faceauth.vision.synthetic, as in tests/web/test_browser_liveness.py).

Runs on SQLite, and on PostgreSQL when FACEAUTH_TEST_POSTGRES_URL is set. Skips like the other
browser tests (fails with FACEAUTH_REQUIRE_BROWSER=1)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (.[dev])")
pytest.importorskip("requests_oauthlib", reason="requests-oauthlib is not installed (.[dev])")

from playwright.sync_api import expect

from support import LiveServer, free_port, load_face_mesh, wipe_postgres
from support.browser import (
    BrowserPage,
    Screenshots,
    artifacts_dir,
    chromium_page,
    live_server,
    server_environment,
    skip_unless_ready,
)
from support.camera import build_challenge_video, photos_of
from support.relying_party import RelyingPartyState, serve_relying_party

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

PERSON = "person01"  # whose photo the fake camera shows
PASSWORD = "correct horse battery staple"
CHALLENGE_TIMEOUT_MS = 120_000
# Liveness required, with challenges the fake camera can satisfy (see the module docstring).
LIVENESS_ENV = {
    "FACEAUTH_LIVENESS_REQUIRED": "true",
    "FACEAUTH_LIVENESS_MOVES": '["turn_left"]',
    "FACEAUTH_LIVENESS_MOVES_PER_CHALLENGE": "1",
    "FACEAUTH_LIVENESS_LIGHT": "report",  # a fake camera cannot answer the screen's light
    "FACEAUTH_LIVENESS_DEADLINE_SECONDS": "30",
}

USER = {
    "name": "Frank Oidc",
    "username": "frank_oidc",
    "email": "frank@example.com",
    "phone": "+44 20 7946 0961",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
}


def _skip_without_mesh() -> None:
    load_face_mesh()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}
        return
    url = os.environ.get("FACEAUTH_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("FACEAUTH_TEST_POSTGRES_URL is not set")
    wipe_postgres(url)
    yield {"FACEAUTH_DATABASE_URL": url}
    wipe_postgres(url)


@pytest.fixture(scope="module")
def server_env(
    tmp_path_factory: pytest.TempPathFactory, database: dict[str, str]
) -> tuple[Path, dict[str, str]]:
    skip_unless_ready()
    _skip_without_mesh()
    data_dir = tmp_path_factory.mktemp("oidc-browser-server")
    return data_dir, {**LIVENESS_ENV, **database}


@pytest.fixture(scope="module")
def server(server_env: tuple[Path, dict[str, str]]) -> Iterator[LiveServer]:
    data_dir, env = server_env
    with live_server(data_dir, env) as running:
        yield running


@pytest.fixture(scope="module")
def turning_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_ready()
    photo = photos_of(PERSON)[0].path
    return build_challenge_video(photo, tmp_path_factory.mktemp("camera") / "turn-left.y4m", ["turn_left"])


def add_client(server_env: tuple[Path, dict[str, str]], rp_url: str) -> dict[str, str]:
    """``faceauth clients add`` as an administrator runs it, against the server's database."""
    data_dir, env = server_env
    command = [
        sys.executable, "-m", "faceauth.cli", "clients", "add", "--name", "Test RP",
        "--redirect-uri", f"{rp_url}/callback", "--post-logout-redirect-uri", f"{rp_url}/logged-out",
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env={**os.environ, "FACEAUTH_DATA_DIR": str(data_dir), **server_environment(data_dir, env)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    created: dict[str, str] = json.loads(done.stdout)
    return created


def do_challenge(browser: BrowserPage) -> None:
    page = browser.page
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_enabled(timeout=30_000)
    start.click()
    camera = page.locator("[data-camera][data-liveness]")
    expect(camera).to_have_attribute(
        "data-state", re.compile("success|failure"), timeout=CHALLENGE_TIMEOUT_MS
    )
    assert camera.get_attribute("data-state") == "success", page.locator(".camera-status").inner_text()


def test_sign_in_with_faceauth_in_a_relying_party(
    server: LiveServer,
    server_env: tuple[Path, dict[str, str]],
    turning_video: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The relying party talks to faceauth over plain http on the loopback interface.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    httpx.post(f"{server.base_url}/api/v1/users", json=USER, timeout=60).raise_for_status()
    rp_port = free_port()
    rp_url = f"http://127.0.0.1:{rp_port}"
    client = add_client(server_env, rp_url)
    state = RelyingPartyState(server.base_url, client["client_id"], client["client_secret"])
    shots = Screenshots(artifacts_dir(), prefix="oidc-")
    with serve_relying_party(state, rp_port), chromium_page(server, turning_video) as browser:
        page = browser.page
        page.goto(rp_url)
        page.locator("#sign-in").click()

        # faceauth: password first; no face enrolled yet, so enrollment, then verification.
        expect(page).to_have_url(re.compile(r"/login$"))
        page.get_by_label("Username or email").fill(USER["username"])
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        do_challenge(browser)
        page.get_by_role("link", name=re.compile("Continue")).click()
        expect(page).to_have_url(re.compile(r"/face/verify$"))
        do_challenge(browser)

        # Back to the authorization request: consent.
        expect(page.get_by_role("heading", name="Sign in to Test RP?")).to_be_visible(timeout=30_000)
        shots.take(page, "consent")
        page.get_by_role("button", name="Allow").click()

        # The relying party verified the ID token and read userinfo.
        expect(page).to_have_url(rp_url + "/", timeout=30_000)
        assert state.errors == []
        expect(page.locator("#email")).to_have_text("Email: frank@example.com")
        expect(page.locator("#sub")).to_contain_text("Verified sub: ")
        expect(page.locator("#acr")).to_have_text("acr: urn:faceauth:acr:face+liveness")
        shots.take(page, "relying-party-signed-in")

        # The dashboard lists the application.
        browser.goto("/apps")
        expect(page.locator(".signed-in-app")).to_contain_text("Test RP")
        shots.take(page, "dashboard")

        # Logout from the relying party ends the faceauth session.
        page.goto(rp_url)
        page.locator("#sign-out").click()
        expect(page.locator("#logged-out")).to_have_text("Signed out of faceauth")
        browser.goto("/apps")
        expect(page.get_by_role("heading", name="Please log in")).to_be_visible()
        assert browser.problems == []
