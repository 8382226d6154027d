"""Helpers for the browser test: a real faceauth server in a subprocess, Chromium with a fake camera,
and numbered screenshots.

Kept apart from ``tests/conftest.py`` (owned by the API tests) so the two never clash."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fake_camera import shared_data_root

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("FACEAUTH_CHROMIUM", "/usr/bin/chromium"))
SERVER_START_TIMEOUT_S = float(os.environ.get("FACEAUTH_TEST_SERVER_TIMEOUT", "300"))
CHALLENGE_TIMEOUT_MS = 120_000  # a liveness challenge on a cold, busy CI machine


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


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def server_environment(data_dir: Path, overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the test server: its own data folder and SQLite file, no liveness step
    unless ``overrides`` (more FACEAUTH_* variables) say otherwise."""
    env = dict(os.environ)
    env.update(
        {
            "FACEAUTH_DATA_DIR": str(data_dir),
            "FACEAUTH_DATABASE_URL": f"sqlite:///{data_dir / 'faceauth.db'}",
            "FACEAUTH_LIVENESS_REQUIRED": "false",
            "FACEAUTH_ENV": "development",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides or {})
    return env


def _wait_until_healthy(server: LiveServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"the server exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"the server did not become healthy in {timeout_s:.0f} s:\n{server.log_tail()}")


@contextmanager
def live_server(data_dir: Path, environment: Mapping[str, str] | None = None) -> Iterator[LiveServer]:
    """uvicorn running ``faceauth.web.app:create_app`` on a free loopback port until the block ends."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = data_dir / "server.log"
    command = [
        sys.executable, "-m", "uvicorn", "faceauth.web.app:create_app", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "info",
    ]  # fmt: skip
    env = server_environment(data_dir, environment)
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir)
    server = LiveServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        _wait_until_healthy(server, SERVER_START_TIMEOUT_S)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


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


# --- skips and the Chromium page -------------------------------------------------------------


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


def skip_without_mesh() -> None:
    from faceauth.model_zoo.registry import ModelNotFoundError
    from faceauth.vision.landmarks import FaceMesh

    try:
        FaceMesh.load()
    except ModelNotFoundError as error:
        pytest.skip(str(error))


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
    """Headless Chromium with ``video`` as the webcam; collects script errors and CSP violations."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=chromium_args(video)
        )
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
