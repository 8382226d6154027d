"""The liveness challenge in a real headless Chromium: the fake webcam plays a video rendered from a
real photo in which the face turns to its left and back (faceauth.vision.synthetic), in a loop. The
server requires liveness and, so that a looping video can answer, draws one-move challenges from
"turn_left" only (FACEAUTH_LIVENESS_MOVES); the protocol with two moves in random order is tested
through the API (tests/web/test_liveness_api.py). The fake camera's video is itself an animated
photo and cannot reflect the screen's colours, so this server runs the screen-light step in
``report`` mode (FACEAUTH_LIVENESS_LIGHT, set explicitly here; the default is ``blocking``): the page
still shows the colours and sends the frames, and ``test_the_light_step_shows_each_colour_by_frame_index``
checks what it shows and sends; that a face not following the light fails with step "light" under the
default is tested through the API.

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

from playwright.sync_api import expect

from support import LiveServer
from support.browser import (
    CHALLENGE_TIMEOUT_MS,
    LIVENESS_ENV,
    PERSON,
    Account,
    Screenshots,
    artifacts_dir,
    chromium_page,
    do_challenge,
    live_server,
    log_in,
    log_out,
    register,
    skip_unless_ready,
    skip_without_mesh,
)
from support.camera import build_challenge_video, build_fake_camera_video, photos_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

DAVE = Account("Dave Live", "dave_live", "dave@example.com", "+44 20 7946 0959")
ERIN = Account("Erin Still", "erin_still", "erin@example.com", "+44 20 7946 0960")
FRED = Account("Fred Light", "fred_light", "fred@example.com", "+44 20 7946 0961")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    skip_unless_ready()
    skip_without_mesh()
    with live_server(tmp_path_factory.mktemp("liveness-server-data"), LIVENESS_ENV) as running:
        yield running


@pytest.fixture(scope="module")
def screenshots() -> Screenshots:
    return Screenshots(artifacts_dir(), prefix="liveness-")


@pytest.fixture(scope="module")
def turning_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_ready()
    skip_without_mesh()
    photo = photos_of(PERSON)[0].path
    return build_challenge_video(photo, tmp_path_factory.mktemp("camera") / "turn-left.y4m", ["turn_left"])


@pytest.fixture(scope="module")
def still_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_ready()
    return build_fake_camera_video(
        [photos_of(PERSON)[0].path], tmp_path_factory.mktemp("camera") / "still.y4m"
    )


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
        expect(page.locator(".camera-status")).to_contain_text(
            re.compile("we did not see a turn to your left", re.I)
        )
        expect(page.locator("[data-camera]")).to_have_attribute("data-failed-step", "moves")
        expect(page.locator("[data-camera]")).to_have_attribute("data-moves-done", "0")
        screenshots.take(page, "still-refused")
        browser.goto("/apps")
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        assert browser.problems == []


def test_the_light_step_shows_each_colour_by_frame_index(server: LiveServer, turning_video: Path) -> None:
    """What a fake camera cannot act out, the page's side of it: before Start the page says what will
    happen; during the light phase a full-screen overlay shows the schedule's colours, the colour of
    the step each grabbed frame belongs to (recorded per grab in data-light-log), then the move
    prompts; and the frames it sends start with those frames, in order."""
    with chromium_page(server, turning_video) as browser:
        page = browser.page
        register(browser, FRED, None)
        log_in(browser, FRED.username, None)
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        intro = page.locator(".challenge-intro")
        expect(intro).to_contain_text("brightness up")
        expect(intro).to_contain_text("40-60 cm")
        expect(intro).to_contain_text("counts as a failed attempt")
        expect(intro).to_contain_text("Reloading or leaving the page once the challenge has started")
        sent: list[int] = []
        page.on(
            "request",
            lambda request: (
                sent.append(len(request.post_data_json["frames"]))
                if request.url.endswith("/frames") and request.method == "POST"
                else None
            ),
        )
        start = page.get_by_role("button", name="Start")
        expect(start).to_be_enabled(timeout=30_000)
        with page.expect_response(lambda r: r.url.endswith("/api/v1/liveness/challenges")) as issued:
            start.click()
        light = issued.value.json()["light"]
        expected = [step["colour"] for step in light["steps"] for _ in range(step["frames"])]
        overlay = page.locator(".light-overlay")
        expect(overlay).to_be_visible(timeout=10_000)
        first = light["steps"][0]["colour"]
        red, green, blue = (int(first[i : i + 2], 16) for i in (1, 3, 5))
        expect(overlay).to_have_css("background-color", f"rgb({red}, {green}, {blue})")
        expect(overlay).to_have_css("position", "fixed")
        camera = page.locator("[data-camera]")
        expect(page.locator(".challenge-prompt")).to_contain_text(
            "Turn your head to your left", timeout=30_000
        )
        expect(overlay).to_be_hidden()
        assert camera.get_attribute("data-light-log") == ",".join(expected)
        expect(camera).to_have_attribute(
            "data-state", re.compile("success|failure"), timeout=CHALLENGE_TIMEOUT_MS
        )
        assert sum(sent) >= len(expected) and all(0 < n <= 16 for n in sent)
        assert browser.problems == []
