"""The whole web flow in a real headless Chromium against a real server, with a fake webcam.

register -> login -> enroll -> logout -> login -> verify -> dashboard (add, view, remove an app),
with a screenshot of every page in ``$FACEAUTH_ARTIFACTS_DIR`` (default ``artifacts/screenshots``).
Two more walks: a camera without a face (per-frame feedback, nothing stored) and someone else who
knows an enrolled user's password (refused at the face step). Script errors and Content-Security-
Policy violations seen by the browser fail the tests.

Needs /usr/bin/chromium (or $FACEAUTH_CHROMIUM), the playwright package and the shared photos;
skips with the reason if not, or fails when FACEAUTH_REQUIRE_BROWSER=1."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (.[dev])")

from playwright.sync_api import expect

from support import LiveServer
from support.browser import (
    ALICE,
    BOB,
    CAROL,
    IMPOSTOR,
    PASSWORD,
    PERSON,
    BrowserPage,
    Screenshots,
    artifacts_dir,
    capture,
    chromium_page,
    live_server,
    log_in,
    log_out,
    register,
    register_and_enroll_via_api,
    register_with_mistakes,
    skip_unless_ready,
)
from support.camera import (
    build_fake_camera_video,
    compose_frame,
    frame_as_jpeg_data_url,
    photos_of,
    shared_data_root,
)

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    skip_unless_ready()
    with live_server(tmp_path_factory.mktemp("server-data")) as running:
        yield running


@pytest.fixture(scope="module")
def screenshots() -> Screenshots:
    shots = Screenshots(artifacts_dir())
    shots.clear_old()
    return shots


@pytest.fixture(scope="module")
def face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_ready()
    photo = photos_of(PERSON)[0].path
    return build_fake_camera_video([photo], tmp_path_factory.mktemp("camera") / "face.y4m")


@pytest.fixture(scope="module")
def impostor_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_ready()
    photo = photos_of(IMPOSTOR)[0].path
    return build_fake_camera_video([photo], tmp_path_factory.mktemp("camera") / "impostor.y4m")


@pytest.fixture(scope="module")
def no_face_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_ready()
    photo = shared_data_root() / "faces" / "nonface" / "skimage_coffee.png"
    if not photo.is_file():
        pytest.skip(f"{photo} not found")
    return build_fake_camera_video([photo], tmp_path_factory.mktemp("camera") / "no-face.y4m")


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


def test_register_enroll_verify_and_manage_apps(
    server: LiveServer, face_video: Path, screenshots: Screenshots
) -> None:
    with chromium_page(server, face_video) as browser:
        page = browser.page
        register_with_mistakes(browser, screenshots)
        register(browser, ALICE, screenshots)
        screenshots.take(page, "registered")

        # Password only: the face pages open, the dashboard does not.
        log_in(browser, ALICE.username, screenshots)
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        browser.goto("/apps")
        expect(page).to_have_url(re.compile(r"/face/enroll$"))

        expect(page.get_by_role("button", name="Capture")).to_be_enabled(timeout=30_000)
        screenshots.take(page, "enroll-camera")
        assert capture(browser, "Capture") == "success", page.locator(".camera-status").inner_text()
        frames = page.locator(".frame-strip .frame")
        expect(frames).to_have_count(8)
        assert page.locator(".frame-strip .frame.ok").count() >= 5
        expect(page.locator(".camera-status")).to_contain_text("enrolled")
        screenshots.take(page, "enrolled")

        log_out(browser)
        expect(page.get_by_role("status").first).to_contain_text("logged out")
        screenshots.take(page, "logged-out")
        browser.goto("/apps")
        expect(page.get_by_role("heading", name="Please log in")).to_be_visible()
        screenshots.take(page, "unauthorized")

        # Second login, by email: password, then the face.
        log_in(browser, ALICE.email, None)
        expect(page).to_have_url(re.compile(r"/face/verify$"))
        expect(page.get_by_role("button", name="Verify")).to_be_enabled(timeout=30_000)
        screenshots.take(page, "verify-camera")
        assert capture(browser, "Verify") == "success", page.locator(".camera-status").inner_text()
        screenshots.take(page, "verified")
        expect(page).to_have_url(re.compile(r"/apps$"), timeout=15_000)
        expect(page.get_by_role("heading", name="Your applications")).to_be_visible()
        screenshots.take(page, "dashboard-empty")

        add_view_and_remove_app(browser, screenshots)

        browser.goto("/account")
        expect(page.get_by_role("heading", name="Your account", exact=True)).to_be_visible()
        expect(page.locator(".details")).to_contain_text("enrolled")
        screenshots.take(page, "account")

        browser.goto("/apps/987654")
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
        screenshots.take(page, "error-not-found")

        delete_account(browser, screenshots)
        assert browser.problems == []


def delete_account(browser: BrowserPage, shots: Screenshots) -> None:
    """A wrong confirmation is refused with a message; the right one deletes the account."""
    page = browser.page
    browser.goto("/account")
    confirm = page.get_by_label(re.compile("to confirm"))
    confirm.fill("someone_else")
    page.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#confirm_username-error")).to_contain_text("exactly to confirm")
    shots.take(page, "account-delete-refused")
    page.get_by_label(re.compile("to confirm")).fill(ALICE.username)
    page.get_by_role("button", name="Delete my account").click()
    expect(page).to_have_url(re.compile(r"/login\?notice=account-deleted$"))
    expect(page.get_by_role("status").first).to_contain_text("deleted")
    shots.take(page, "account-deleted")
    log_in(browser, ALICE.username, None)
    expect(page.get_by_role("alert")).to_contain_text("do not match")


def add_view_and_remove_app(browser: BrowserPage, shots: Screenshots) -> None:
    page = browser.page
    page.get_by_label("Name").fill("Payroll")
    page.get_by_label("Web address").fill("https://payroll.example.com/")
    page.get_by_label("Description").fill("Monthly payslips and expenses")
    page.get_by_role("button", name="Add application").click()
    expect(page).to_have_url(re.compile(r"/apps\?notice=app-added$"))
    expect(page.get_by_role("status").first).to_contain_text("Application added")
    entry = page.locator(".app-item", has_text="Payroll")
    expect(entry).to_contain_text("https://payroll.example.com/")
    expect(entry).to_contain_text("Monthly payslips")
    shots.take(page, "dashboard-with-app")

    entry.get_by_role("link", name="Payroll").click()
    expect(page.get_by_role("heading", name="Payroll")).to_be_visible()
    expect(page.get_by_role("link", name="https://payroll.example.com/")).to_be_visible()
    shots.take(page, "app-detail")

    page.get_by_role("link", name="All applications").click()
    page.get_by_role("button", name="Remove Payroll").click()
    expect(page).to_have_url(re.compile(r"/apps\?notice=app-removed$"))
    expect(page.locator(".app-item")).to_have_count(0)
    expect(page.get_by_text("Nothing here yet")).to_be_visible()
    shots.take(page, "dashboard-app-removed")


def test_enrollment_without_a_face_explains_each_frame(
    server: LiveServer, no_face_video: Path, screenshots: Screenshots
) -> None:
    with chromium_page(server, no_face_video) as browser:
        page = browser.page
        register(browser, BOB, None)
        log_in(browser, BOB.username, None)
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        assert capture(browser, "Capture") == "failure"
        expect(page.locator(".frame-strip .frame.rejected")).to_have_count(8)
        expect(page.locator(".frame-strip .frame").first).to_contain_text("No face found")
        expect(page.get_by_role("button", name="Try again")).to_be_enabled()
        shots_path = screenshots.take(page, "enroll-no-face")
        assert shots_path.stat().st_size > 10_000

        # Nothing was stored: the next login still asks for enrollment, and the dashboard stays shut.
        browser.goto("/apps")
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        assert browser.problems == []


def test_someone_else_with_the_password_is_refused_at_the_face_step(
    server: LiveServer, impostor_video: Path, screenshots: Screenshots
) -> None:
    """Carol enrolled (through the API) with her own face; someone else who knows her password
    passes the password step, but the camera shows a different person and the dashboard stays shut."""
    carol_frame = frame_as_jpeg_data_url(compose_frame(photos_of(PERSON)[0].path))
    fields = {
        "name": CAROL.name,
        "username": CAROL.username,
        "email": CAROL.email,
        "phone": CAROL.phone,
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    register_and_enroll_via_api(server.base_url, fields, [carol_frame] * 8)
    with chromium_page(server, impostor_video) as browser:
        page = browser.page
        log_in(browser, CAROL.username, None)
        expect(page).to_have_url(re.compile(r"/face/verify$"))
        assert capture(browser, "Verify") == "failure"
        expect(page.locator(".camera-status")).to_contain_text("did not match")
        expect(page.get_by_role("button", name="Try again")).to_be_enabled()
        screenshots.take(page, "verify-refused")
        browser.goto("/apps")
        expect(page).to_have_url(re.compile(r"/face/verify$"))
        assert browser.problems == []
