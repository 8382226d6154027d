"""A new user's first hour (issue 15), in a real ``faceauth serve`` and headless Chromium: start the
server and open the URL it prints, register (no phone number), enroll and verify through a liveness
challenge the fake camera can satisfy (set explicitly: one "turn_left" move, as in
test_browser_liveness.py), read /docs (Swagger UI served from this server, operations listed, no
CSP violation), then run ``faceauth compare`` and ``faceauth eval`` on the shared photos and on a
wrong folder: no traceback, no blank page."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (.[dev])")

from playwright.sync_api import expect

from support import (
    LiveServer,
    free_port,
    require_e2e,
    settings_from_environment,
    share_default_models,
    shared_data_root,
)
from support.browser import (
    LIVENESS_ENV,
    PERSON,
    Account,
    chromium_page,
    do_challenge,
    log_in,
    log_out,
    register,
    server_environment,
    skip_unless_ready,
    skip_without_mesh,
)
from support.camera import build_challenge_video, photos_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

NEWCOMER = Account("Nina Newcomer", "nina", "nina@example.org", "")  # no phone: it is optional
START_TIMEOUT_S = 300


@contextmanager
def faceauth_serve(data_dir: Path) -> Iterator[tuple[LiveServer, str]]:
    """``faceauth serve`` as the README runs it; yields the server and the line it printed."""
    require_e2e("starting `faceauth serve`")
    share_default_models(data_dir)  # the face-mesh files `faceauth models fetch` put in the default folder
    port = free_port()
    log_path = data_dir / "serve.log"
    env = {**os.environ, "FACEAUTH_DATA_DIR": str(data_dir), **server_environment(data_dir, LIVENESS_ENV)}
    command = [sys.executable, "-m", "faceauth.cli", "serve", "--port", str(port)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data_dir)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        line = ""
        while time.monotonic() < deadline and not line:
            assert process.poll() is None, log_path.read_text()
            line = next((t for t in log_path.read_text().splitlines() if "listening on" in t), "")
            time.sleep(0.2)
        match = re.search(r"listening on (http://\S+)", line)
        assert match, f"no 'listening on' line:\n{log_path.read_text()}"
        url = match.group(1)
        while time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        yield LiveServer(url, settings_from_environment(env)), line
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEAUTH_DATA_DIR": str(data_dir), **server_environment(data_dir)}
    command = [sys.executable, "-m", "faceauth.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    skip_unless_ready()
    skip_without_mesh()
    with faceauth_serve(tmp_path_factory.mktemp("first-use")) as running:
        yield running


@pytest.fixture(scope="module")
def turning_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    skip_unless_ready()
    photo = photos_of(PERSON)[0].path
    return build_challenge_video(photo, tmp_path_factory.mktemp("camera") / "turn-left.y4m", ["turn_left"])


def test_register_enroll_verify_from_the_printed_url(
    served: tuple[LiveServer, str], turning_video: Path
) -> None:
    server, line = served
    assert line.startswith("faceauth: listening on http://127.0.0.1:")
    with chromium_page(server, turning_video) as browser:
        page = browser.page
        browser.goto("/")
        expect(page).to_have_url(re.compile(r"/login$"))
        register(browser, NEWCOMER, None)
        log_in(browser, NEWCOMER.username, None)
        expect(page).to_have_url(re.compile(r"/face/enroll$"))
        assert do_challenge(browser, None, "first-enroll") == "success"
        log_out(browser)
        log_in(browser, NEWCOMER.username, None)
        expect(page).to_have_url(re.compile(r"/face/verify$"))
        assert do_challenge(browser, None, "first-verify") == "success"
        expect(page).to_have_url(re.compile(r"/apps$"), timeout=15_000)
        assert "similarity" not in page.content()
        assert browser.problems == []


def test_the_api_docs_render(served: tuple[LiveServer, str], turning_video: Path) -> None:
    server, _ = served
    with chromium_page(server, turning_video) as browser:
        page = browser.page
        browser.goto("/docs")
        expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=30_000)
        expect(page.locator(".opblock-summary-path", has_text="/api/v1/face/verify")).to_be_visible()
        assert page.locator(".opblock").count() >= 10
        assert browser.problems == [], browser.problems
        browser.goto("/redoc")
        expect(page.get_by_text("/api/v1/face/verify").first).to_be_attached(timeout=30_000)
        # ReDoc's "powered by" logo points at its CDN, which the policy rightly blocks; nothing else may be
        others = [p for p in browser.problems if "https://cdn.redoc.ly/" not in p]
        assert others == [], others


def test_compare_and_eval_on_the_shared_photos_and_on_a_wrong_folder(tmp_path: Path) -> None:
    source = shared_data_root() / "faces" / "deepface_tests"
    if not (source / "images.csv").is_file():
        pytest.skip(f"test photos not found under {shared_data_root()} (set FACEAUTH_TEST_DATA)")
    photos = sorted((source / "images").glob("*.jpg"))
    same = cli(tmp_path, "compare", str(photos[0]), str(photos[0]), "--json")
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["match"] is True
    rows = (source / "images.csv").read_text().splitlines()
    subset = tmp_path / "subset.csv"
    subset.write_text("\n".join(rows[:13]) + "\n")
    report = cli(tmp_path, "eval", "--images-csv", str(subset), "--root", str(source))
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["n_images"] == 12
    wrong = cli(tmp_path, "eval", "--images-csv", str(source / "images.csv"), "--root", str(tmp_path))
    assert wrong.returncode == 2 and "wrong --root?" in wrong.stderr
    missing = cli(tmp_path, "compare", str(tmp_path / "nope.jpg"), str(photos[0]))
    assert missing.returncode == 2 and "nope.jpg" in missing.stderr
    for result in (same, report, wrong, missing):
        assert "Traceback" not in result.stderr
