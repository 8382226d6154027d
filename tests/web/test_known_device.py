"""Known devices (issue 15): wrong passwords from many addresses lock an account's password step,
but not for the browser that completed a full login to it before, whose own per-device limit still
holds. In process, with the real app and database and a stand-in engine (fast: no models)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from faceauth.composition import VisionModels
from faceauth.web.app import create_app
from support import StandInEngine

PASSWORD = "correct horse battery staple"
DEVICE_COOKIE = "faceauth_device"
ACCOUNT_LIMIT = 3  # wrong passwords per account, from anywhere
DEVICE_LIMIT = 2  # wrong passwords from one known device


@pytest.fixture
def app(settings_factory) -> Iterator[FastAPI]:  # type: ignore[no-untyped-def]
    settings = settings_factory(
        liveness_required=False,
        password_lockout_max_failures=100,  # the per-address rule out of the way: one test client
        password_account_lockout_max_failures=ACCOUNT_LIMIT,
        device_lockout_max_failures=DEVICE_LIMIT,
    )
    application = create_app(settings, VisionModels(StandInEngine(), liveness=None))
    with TestClient(application):  # runs the start-up once; the clients below share it
        yield application


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, follow_redirects=False)


def csrf(client: TestClient, path: str = "/register") -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get(path).text)
    assert match
    return match.group(1)


def log_in(client: TestClient, password: str = PASSWORD, login: str = "alice") -> int:
    data = {"csrf_token": csrf(client), "login": login, "password": password}
    return client.post("/login", data=data).status_code


def register(client: TestClient, username: str) -> None:
    form = {
        "name": username.title(),
        "username": username,
        "email": f"{username}@example.org",
        "phone": "",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "csrf_token": csrf(client),
    }
    assert client.post("/register", data=form).status_code == 303


def capture(client: TestClient, path: str) -> object:
    headers = {"X-CSRF-Token": str(client.cookies.get("faceauth_csrf")), "Accept": "application/json"}
    body = {"frames": [base64.b64encode(b"face-a").decode()] * 8}
    return client.post(path, json=body, headers=headers)


def full_login(client: TestClient, username: str = "alice") -> str:
    """Registers, enrolls and logs in with the face; returns the Set-Cookie of the device cookie."""
    register(client, username)
    assert log_in(client, login=username) == 303
    assert capture(client, "/face/enroll").status_code == 201  # type: ignore[attr-defined]
    assert log_in(client, login=username) == 303
    verified = capture(client, "/face/verify")
    assert verified.status_code == 200  # type: ignore[attr-defined]
    headers = verified.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    [device] = [h for h in headers if h.startswith(f"{DEVICE_COOKIE}=")]
    logout = client.post("/logout", data={"csrf_token": csrf(client)})  # the owner comes back later
    assert logout.status_code == 303
    assert client.cookies.get(DEVICE_COOKIE)  # kept across a logout
    return str(device)


def lock_the_account_from_elsewhere(app: FastAPI) -> None:
    attacker = browser(app)
    for _ in range(ACCOUNT_LIMIT):
        assert log_in(attacker, "wrong password") == 401
    assert log_in(attacker) == 423  # the right password from elsewhere: locked


def test_a_full_login_sets_a_long_lived_httponly_device_cookie(app: FastAPI) -> None:
    header = full_login(browser(app))
    cookie = SimpleCookie(header)[DEVICE_COOKIE]
    assert cookie["httponly"] and cookie["samesite"].lower() == "strict" and cookie["path"] == "/login"
    assert int(cookie["max-age"]) == 180 * 24 * 3600
    assert not cookie["secure"]  # plain HTTP in this test; Secure over HTTPS (cookie_secure)


def test_the_owners_known_device_logs_in_while_the_account_is_locked_for_others(app: FastAPI) -> None:
    owner = browser(app)
    full_login(owner)
    lock_the_account_from_elsewhere(app)
    assert log_in(owner) == 303  # the owner's browser is exempt from the per-account lock
    assert log_in(browser(app)) == 423  # a browser without the cookie is not


def test_a_known_device_has_its_own_limit(app: FastAPI) -> None:
    owner = browser(app)
    full_login(owner)
    for _ in range(DEVICE_LIMIT):
        assert log_in(owner, "wrong password") == 401
    assert log_in(owner) == 423  # the device is locked out of the account ...
    assert log_in(browser(app)) == 303  # ... and the guesses did not count against the account


def test_a_forged_or_foreign_device_cookie_is_no_exemption(app: FastAPI) -> None:
    mallory = browser(app)
    mallorys_device = SimpleCookie(full_login(mallory, "mallory"))[DEVICE_COOKIE].value
    full_login(browser(app))
    lock_the_account_from_elsewhere(app)
    for value in (mallorys_device, mallorys_device[:-2] + "xx", "garbage"):
        stranger = browser(app)
        stranger.cookies.set(DEVICE_COOKIE, value)
        assert log_in(stranger) == 423, value
