"""The liveness challenge in a real headless Chromium: the fake webcam plays a video rendered from a
real photo in which the face turns to its left and back (faceauth.vision.synthetic), in a loop. The
server requires liveness and, so that a looping video can answer, draws one-move challenges from
"turn_left" only (FACEAUTH_LIVENESS_MOVES); the protocol with two moves in random order is tested
through the API (tests/web/test_liveness_api.py).

Walks: register, log in, enroll through a challenge (prompts and progress shown), log out, log in,
verify through a challenge, the dashboard opens. Then a still photo on the camera: the challenge is
never completed and the face step stays shut. Skips like tests/web/test_browser.py (or fails with
FACEAUTH_REQUIRE_BROWSER=1), and when the face-mesh model wheel is missing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (.[dev])")

from browser_support import LiveServer, Screenshots, artifacts_dir, live_server
from fake_camera import build_challenge_video, build_fake_camera_video, photos_of
from playwright.sync_api import expect
from test_browser import (
    PERSON,
    Account,
    BrowserPage,
    _skip_unless_ready,
    chromium_page,
    log_in,
    log_out,
    register,
)

from faceauth.model_zoo.registry import ModelNotFoundError
from faceauth.vision.landmarks import FaceMesh

pytestmark = pytest.mark.browser

DAVE = Account("Dave Live", "dave_live", "dave@example.com", "+44 20 7946 0959")
ERIN = Account("Erin Still", "erin_still", "erin@example.com", "+44 20 7946 0960")
CHALLENGE_TIMEOUT_MS = 120_000
LIVENESS_ENV = {
    "FACEAUTH_LIVENESS_REQUIRED": "true",
    "FACEAUTH_LIVENESS_MOVES": '["turn_left"]',
    "FACEAUTH_LIVENESS_MOVES_PER_CHALLENGE": "1",
}


def _skip_without_mesh() -> None:
    try:
        FaceMesh.load()
    except ModelNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    _skip_unless_ready()
    _skip_without_mesh()
    with live_server(tmp_path_factory.mktemp("liveness-server-data"), LIVENESS_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def screenshots() -> Screenshots:
    return Screenshots(artifacts_dir(), prefix="liveness-")


@pytest.fixture(scope="module")
def turning_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _skip_unless_ready()
    _skip_without_mesh()
    photo = photos_of(PERSON)[0].path
    return build_challenge_video(photo, tmp_path_factory.mktemp("camera") / "turn-left.y4m", ["turn_left"])


@pytest.fixture(scope="module")
def still_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _skip_unless_ready()
    return build_fake_camera_video(
        [photos_of(PERSON)[0].path], tmp_path_factory.mktemp("camera") / "still.y4m"
    )


def do_challenge(browser: BrowserPage, shots: Screenshots | None, step: str) -> str:
    """Press Start, see the prompt and the progress indicator, wait for the outcome."""
    page = browser.page
    camera = page.locator("[data-camera][data-liveness]")
    start = page.get_by_role("button", name="Start")
    expect(start).to_be_enabled(timeout=30_000)
    start.click()
    expect(page.locator(".challenge-prompt")).to_contain_text("Turn your head to your left", timeout=30_000)
    expect(page.locator("progress.challenge-progress")).to_be_visible()
    expect(page.locator(".challenge-steps li")).to_have_count(1)
    if shots:
        shots.take(page, f"{step}-prompt")
    expect(camera).to_have_attribute(
        "data-state", re.compile("success|failure"), timeout=CHALLENGE_TIMEOUT_MS
    )
    if shots:
        shots.take(page, f"{step}-done")
    return str(camera.get_attribute("data-state"))


def test_enroll_and_verify_through_a_challenge(
    server: LiveServer, turning_video: Path, screenshots: Screenshots
) -> None:
    with chromium_page(server, turning_video) as browser:
        page = browser.page
        register(browser, DAVE, None)
        log_in(browser, DAVE.username, None)
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        state = do_challenge(browser, screenshots, "enroll")
        assert state == "success", page.locator(".camera-status").inner_text()
        expect(page.locator(".camera-status")).to_contain_text("enrolled")
        expect(page.locator("[data-camera]")).to_have_attribute("data-moves-done", "1")

        log_out(browser)
        log_in(browser, DAVE.email, None)
        expect(page).to_have_url(re.compile(r"/face/verify$"))
        state = do_challenge(browser, screenshots, "verify")
        assert state == "success", page.locator(".camera-status").inner_text()
        expect(page).to_have_url(re.compile(r"/apps$"), timeout=15_000)
        expect(page.get_by_role("heading", name="Your applications")).to_be_visible()
        assert browser.problems == []


def test_a_still_photo_never_completes_the_challenge(
    server: LiveServer, still_video: Path, screenshots: Screenshots
) -> None:
    with chromium_page(server, still_video) as browser:
        page = browser.page
        register(browser, ERIN, None)
        log_in(browser, ERIN.username, None)
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        assert do_challenge(browser, None, "still") == "failure"
        expect(page.locator(".camera-status")).to_contain_text("not all seen")
        expect(page.locator("[data-camera]")).to_have_attribute("data-moves-done", "0")
        screenshots.take(page, "still-refused")
        browser.goto("/apps")
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        assert browser.problems == []
