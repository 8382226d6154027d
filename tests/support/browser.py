"""Helpers for the browser tests: a real faceauth server (``support.serve_in_subprocess``), Chromium
with a fake camera, and numbered screenshots."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from support import LiveServer, load_face_mesh, require_e2e, serve_in_subprocess
from support.camera import shared_data_root

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FACEAUTH_CHROMIUM", "/usr/bin/chromium"))
SERVER_START_TIMEOUT_S = float(os.environ.get("FACEAUTH_TEST_SERVER_TIMEOUT", "300"))


def chromium_missing_reason() -> str | None:
    """Why the browser test cannot run, or None when it can."""
    if not CHROMIUM.is_file():
        return f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set FACEAUTH_CHROMIUM)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


def artifacts_dir() -> Path:
    """Where screenshots go: ``$FACEAUTH_ARTIFACTS_DIR`` or ``<repo>/artifacts/screenshots``."""
    configured = os.environ.get("FACEAUTH_ARTIFACTS_DIR")
    folder = Path(configured) if configured else REPO_ROOT / "artifacts" / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium_args(fake_video: Path) -> list[str]:
    """Headless Chromium that grants camera access and plays ``fake_video`` as the webcam."""
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_video}",
    ]


def server_environment(data_dir: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """FACEAUTH_* variables of the browser tests' server: its own SQLite file, no liveness step
    unless ``overrides`` say otherwise."""
    env = {
        "FACEAUTH_DATABASE_URL": f"sqlite:///{data_dir / 'faceauth.db'}",
        "FACEAUTH_LIVENESS_REQUIRED": "false",
        "FACEAUTH_ENV": "development",
        "PYTHONUNBUFFERED": "1",
    }
    env.update(overrides or {})
    return env


@contextmanager
def live_server(data_dir: Path, environment: Mapping[str, str] | None = None) -> Iterator[LiveServer]:
    """``faceauth serve`` (one worker) for a browser test, until the block ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env = server_environment(data_dir, environment)
    with serve_in_subprocess(data_dir, env, workers=1, timeout=SERVER_START_TIMEOUT_S) as server:
        yield server


def launch_chromium(playwright: Any, fake_video: Path) -> Any:
    """Headless Chromium playing ``fake_video`` as its webcam (e2e tests only)."""
    require_e2e("launching Chromium")
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=chromium_args(fake_video)
    )


@dataclass
class Screenshots:
    """Full-page PNGs named ``NN-step.png`` in the artifacts folder, in the order they were taken."""

    folder: Path
    prefix: str = ""
    taken: list[Path] = field(default_factory=list)

    def take(self, page: object, step: str) -> Path:
        path = self.folder / f"{self.prefix}{len(self.taken) + 1:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)  # type: ignore[attr-defined]
        self.taken.append(path)
        return path

    def clear_old(self) -> None:
        for old in self.folder.glob(f"{self.prefix}[0-9][0-9]-*.png"):
            old.unlink()


def register_and_enroll_via_api(base_url: str, account: dict[str, str], frames: list[str]) -> None:
    """Creates an account and enrolls its face through the JSON API, as an integrator would, so a
    browser test can start from an enrolled user. ``account`` holds the registration fields."""
    with httpx.Client(base_url=base_url, timeout=120) as client:
        created = client.post("/api/v1/users", json=account)
        created.raise_for_status()
        login = client.post(
            "/api/v1/auth/login", json={"login": account["username"], "password": account["password"]}
        )
        login.raise_for_status()
        token = login.json()["access_token"]
        enrolled = client.post(
            "/api/v1/face/enroll", json={"frames": frames}, headers={"Authorization": f"Bearer {token}"}
        )
        if enrolled.status_code != 201:
            raise AssertionError(f"enrollment through the API failed: {enrolled.status_code} {enrolled.text}")


PERSON = "person01"
IMPOSTOR = "person03"
PASSWORD = "correct horse battery staple"
CAPTURE_TIMEOUT_MS = 120_000  # a burst on a cold, busy CI machine


@dataclass(frozen=True)
class Account:
    name: str
    username: str
    email: str
    phone: str


ALICE = Account("Alice Example", "alice_ex", "alice@example.com", "+44 20 7946 0958")
BOB = Account("Bob Nobody", "bob.nobody", "bob@example.org", "+1 202 555 0143")
CAROL = Account("Carol Target", "carol", "carol@example.net", "+33 1 42 68 53 00")


def skip_unless_ready() -> None:
    """Skips with the reason when Chromium or the photos are missing; with FACEAUTH_REQUIRE_BROWSER=1
    (for CI, where both must be present) that is a failure instead."""
    reason = chromium_missing_reason()
    if not reason and not (shared_data_root() / "faces" / "deepface_tests" / "images.csv").is_file():
        reason = f"test photos not found under {shared_data_root()} (set FACEAUTH_TEST_DATA)"
    if reason and os.environ.get("FACEAUTH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"FACEAUTH_REQUIRE_BROWSER=1 but {reason}")
    if reason:
        pytest.skip(reason)


@dataclass
class BrowserPage:
    """A Playwright page plus what went wrong inside it: script errors and CSP violations."""

    page: Page
    base_url: str
    problems: list[str]

    def goto(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def url_path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.page.url)


@contextmanager
def chromium_page(server: LiveServer, video: Path) -> Iterator[BrowserPage]:
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, video)
        try:
            context = browser.new_context(viewport={"width": 1100, "height": 820})
            context.set_default_timeout(20_000)
            page = context.new_page()
            wrapped = BrowserPage(page, server.base_url, [])
            page.on("pageerror", lambda error: wrapped.problems.append(f"script error: {error}"))
            page.on("console", lambda message: _note_console(wrapped, message.type, message.text))
            yield wrapped
        finally:
            browser.close()


def _note_console(wrapped: BrowserPage, kind: str, text: str) -> None:
    if "Content Security Policy" in text or "Refused to" in text:
        wrapped.problems.append(f"console {kind}: {text}")


# --------------------------------------------------------------------------------------------
# Steps
# --------------------------------------------------------------------------------------------


def register(browser: BrowserPage, account: Account, shots: Screenshots | None) -> None:
    page = browser.page
    browser.goto("/register")
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    page.get_by_label("Full name").fill(account.name)
    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Phone").fill(account.phone)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password again").fill(PASSWORD)
    if shots:
        shots.take(page, "register")
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("status").first).to_contain_text("Account created")


def register_with_mistakes(browser: BrowserPage, shots: Screenshots) -> None:
    """Per-field messages: a bad email, a short common password, passwords that differ."""
    page = browser.page
    browser.goto("/register")
    page.get_by_label("Full name").fill("Mallory")
    page.get_by_label("Username").fill("m")
    page.get_by_label("Email").fill("not-an-email")
    page.get_by_label("Phone").fill("12")
    page.get_by_label("Password", exact=True).fill("password")
    page.get_by_label("Password again").fill("something else")
    page.get_by_role("button", name="Create account").click()
    for field_name in ("username", "email", "phone", "password", "password_confirm"):
        expect(page.locator(f"#{field_name}-error")).to_be_visible()
        expect(page.locator(f"#{field_name}")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#name-error")).to_have_count(0)
    expect(page.get_by_label("Email")).to_have_value("not-an-email")  # kept for correction
    expect(page.get_by_label("Password", exact=True)).to_have_value("")  # never echoed back
    shots.take(page, "register-errors")


def log_in(browser: BrowserPage, login: str, shots: Screenshots | None, step: str = "login") -> None:
    page = browser.page
    browser.goto("/login")
    page.get_by_label("Username or email").fill(login)
    page.get_by_label("Password").fill(PASSWORD)
    if shots:
        shots.take(page, step)
    page.get_by_role("button", name="Continue").click()


def capture(browser: BrowserPage, button: str) -> str:
    """Press the capture button once the camera runs; returns the final state of the widget."""
    page = browser.page
    camera = page.locator("[data-camera]")
    capture_button = page.get_by_role("button", name=button)
    expect(capture_button).to_be_enabled(timeout=30_000)
    capture_button.click()
    expect(camera).to_have_attribute("data-state", re.compile("success|failure"), timeout=CAPTURE_TIMEOUT_MS)
    return str(camera.get_attribute("data-state"))


def log_out(browser: BrowserPage) -> None:
    browser.page.get_by_role("button", name=re.compile("^Log out")).click()
    expect(browser.page).to_have_url(re.compile(r"/login"))


CHALLENGE_TIMEOUT_MS = 120_000
# Liveness a looping fake-camera video can satisfy: one-move challenges drawn from "turn_left" only.
LIVENESS_ENV = {
    "FACEAUTH_LIVENESS_REQUIRED": "true",
    "FACEAUTH_LIVENESS_MOVES": '["turn_left"]',
    "FACEAUTH_LIVENESS_MOVES_PER_CHALLENGE": "1",
    "FACEAUTH_LIVENESS_LIGHT": "report",  # a fake camera cannot answer the screen's light
    "FACEAUTH_LIVENESS_DEADLINE_SECONDS": "30",  # the light phase's 3 s on a loaded 2-core machine
}


def skip_without_mesh() -> None:
    """Skip (the face-mesh model files are missing; a failure in CI) rather than fail confusingly."""
    load_face_mesh()


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
    # At once: a verified face redirects to /apps 800 ms after success (slow screenshots under load
    # used to lose the element here).
    state = page.evaluate(
        "() => { const c = document.querySelector('[data-camera]');"
        " return c ? c.dataset.state : (location.pathname === '/apps' ? 'success' : 'gone'); }"
    )
    if shots:
        shots.take(page, f"{step}-done")
    return str(state)
