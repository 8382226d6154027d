"""Abuse limits over HTTP, against the real app and database in-process with the stand-in engine
(fast: no model, no server): face and password lock-outs, rate limits per client address, trusted
proxies, login without account enumeration, tokens of deleted accounts, security headers on every
answer, and cookies. End-to-end elsewhere: the image limits, checked by the vision pipeline
(test_api.py), and lock-outs across the worker processes of ``faceauth serve --workers 2``
(test_lockout_workers.py)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from faceauth.composition import VisionModels
from faceauth.config import Settings
from faceauth.service import passwords
from faceauth.web.app import create_app
from support import StandInEngine, make_settings
from support.api import PASSWORD, bearer, burst, enroll, login, register, verify

GENUINE = [b"face-a"]  # frames of the enrolled person (support.StandInEngine)
IMPOSTOR = [b"face-b"]  # another person
NO_FACE = [b"a frame without a face"]
LOOPBACK = ("127.0.0.1", 50_000)  # the peer address, as uvicorn on the loopback sees it
# Rate limits count in fixed windows of the wall clock; the tests hold the limiter's clock one second
# into a window, so a run that straddles a minute boundary cannot reset a count halfway.
FROZEN_NOW_S = (int(time.time()) // 3600) * 3600 + 1.0

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[ClientFactory]:
    """Opens the app on its own data folder with ``make_settings`` overrides; closes them all."""
    opened: list[TestClient] = []

    def open_client(**overrides: Any) -> TestClient:
        settings = make_settings(tmp_path / f"app{len(opened)}", **overrides)
        app = create_app(settings, VisionModels(StandInEngine(), liveness=None))  # type: ignore[arg-type]
        client = TestClient(app, client=LOOPBACK, follow_redirects=False)
        opened.append(client.__enter__())
        app.state.services.rate_limits.clock = lambda: FROZEN_NOW_S
        return client

    yield open_client
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def http(client_for: ClientFactory) -> TestClient:
    """The default abuse limits (only liveness off, as everywhere in the API tests)."""
    return client_for()


def wrong_login(client: TestClient, login_name: str, **headers: str) -> Any:
    body = {"login": login_name, "password": "not the password at all"}
    return client.post("/api/v1/auth/login", json=body, headers=headers)


def enrolled_account(client: TestClient, prefix: str) -> Any:
    account = register(client, prefix)
    assert enroll(client, login(client, account)["access_token"], burst(GENUINE)).status_code == 201
    return account


# --- lock-outs -------------------------------------------------------------------------------


def test_seven_failed_face_verifications_lock_out_the_genuine_person(http: TestClient) -> None:
    account = enrolled_account(http, "victim")
    password_token = login(http, account)["access_token"]  # a failed verification keeps it
    answers = [verify(http, password_token, burst(IMPOSTOR)) for _ in range(7)]
    assert [answer.status_code for answer in answers] == [401] * 5 + [423] * 2
    locked = answers[-1]
    assert 1700 <= int(locked.headers["retry-after"]) <= 1800
    assert "try again in 30 minutes" in locked.json()["detail"]
    assert "similarity" not in locked.json()  # a locked step gives no score to climb on

    genuine = verify(http, login(http, account)["access_token"], burst(GENUINE))
    assert genuine.status_code == 423, genuine.text
    assert "access_token" not in genuine.json()
    # the password step itself still works (the face lock needs the password, so it is per account)
    assert login(http, account)["stage"] == "password"


def test_a_genuine_verification_clears_earlier_face_failures(http: TestClient) -> None:
    account = enrolled_account(http, "forgetful")
    for _ in range(2):  # four failures, then a success that starts the count again
        password_token = login(http, account)["access_token"]
        for _ in range(4):
            assert verify(http, password_token, burst(IMPOSTOR)).status_code == 401
        assert verify(http, password_token, burst(GENUINE)).status_code == 200


def test_unusable_frames_are_not_counted_as_face_failures(http: TestClient) -> None:
    account = enrolled_account(http, "blurry")
    password_token = login(http, account)["access_token"]
    for _ in range(7):
        assert verify(http, password_token, burst(NO_FACE)).status_code == 422
    assert verify(http, password_token, burst(GENUINE)).status_code == 200


def test_wrong_passwords_lock_one_address_out_of_one_account(client_for: ClientFactory) -> None:
    client = client_for(trusted_proxies=("127.0.0.1",))
    account = register(client, "pw")
    attacker = {"X-Forwarded-For": "203.0.113.66"}
    owner = {"X-Forwarded-For": "198.51.100.7"}
    codes = [wrong_login(client, account.username, **attacker).status_code for _ in range(7)]
    assert codes == [401] * 5 + [423] * 2
    right = {"login": account.username, "password": PASSWORD}
    refused = client.post("/api/v1/auth/login", json=right, headers=attacker)
    assert refused.status_code == 423
    assert 1700 <= int(refused.headers["retry-after"]) <= 1800
    # the owner, from another address, is not locked out by the attacker's guesses
    assert client.post("/api/v1/auth/login", json=right, headers=owner).status_code == 200

    # an unknown login is locked exactly like a real one: a 423 tells nothing about existence
    unknown = [wrong_login(client, "nobody_here", **attacker).status_code for _ in range(7)]
    assert unknown == codes


def test_many_addresses_together_lock_the_account_at_the_higher_threshold(client_for: ClientFactory) -> None:
    client = client_for(trusted_proxies=("127.0.0.1",), password_account_lockout_max_failures=8)
    account = register(client, "spread")
    codes = [
        wrong_login(client, account.username, **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(10)
    ]
    assert codes == [401] * 8 + [423] * 2
    right = {"login": account.username, "password": PASSWORD}
    fresh = client.post("/api/v1/auth/login", json=right, headers={"X-Forwarded-For": "192.0.2.1"})
    assert fresh.status_code == 423
    assert 800 <= int(fresh.headers["retry-after"]) <= 900


def test_a_locked_login_page_says_when_to_try_again(http: TestClient) -> None:
    account = register(http, "pagelock")
    form = http.get("/login", headers={"Accept": "text/html"})
    match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert match is not None
    fields = {"csrf_token": match.group(1), "login": account.username, "password": "wrong guess here"}
    codes = [http.post("/login", data=fields, headers={"Accept": "text/html"}).status_code for _ in range(5)]
    assert codes == [401] * 5
    locked = http.post("/login", data=fields, headers={"Accept": "text/html"})
    assert locked.status_code == 423
    assert "text/html" in locked.headers["content-type"]
    assert "try again in 30 minutes" in locked.text
    assert 1700 <= int(locked.headers["retry-after"]) <= 1800


# --- rate limits -----------------------------------------------------------------------------


def test_defaults_let_one_address_make_60_requests_a_minute(http: TestClient) -> None:
    assert Settings().rate_limit_requests >= 60
    assert Settings().rate_limit_window_seconds <= 60
    # 59 empty bodies (counted by the limiter before the body is read, refused before any hashing)
    # and one real attempt: 60 in the window, none refused by the limit
    codes = {http.post("/api/v1/auth/login", json={}).status_code for _ in range(59)}
    assert codes == {422}
    assert wrong_login(http, "someone").status_code == 401


def test_rate_limit_per_address_and_endpoint(client_for: ClientFactory) -> None:
    client = client_for(rate_limit_requests=5, rate_limit_window_seconds=60)
    codes = [wrong_login(client, f"flood{i}").status_code for i in range(6)]
    assert codes == [401] * 5 + [429]
    limited = wrong_login(client, "flood-again")
    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert "detail" in limited.json()
    # X-Forwarded-For is not believed by default: a made-up address does not reset the count
    assert wrong_login(client, "spoof", **{"X-Forwarded-For": "192.0.2.99"}).status_code == 429
    # the web page shares the endpoint's bucket, and answers with a page
    page = client.post("/login", data={"login": "x", "password": "y"}, headers={"Accept": "text/html"})
    assert page.status_code == 429
    assert "text/html" in page.headers["content-type"]
    assert "retry-after" in page.headers
    # other endpoints have buckets of their own
    assert client.post("/api/v1/users", json={}).status_code == 422
    assert client.get("/healthz").status_code == 200


def test_trusted_proxy_gives_each_forwarded_address_its_own_limit(client_for: ClientFactory) -> None:
    client = client_for(rate_limit_requests=3, trusted_proxies=("127.0.0.0/8",))
    first = {"X-Forwarded-For": "198.51.100.1"}
    second = {"X-Forwarded-For": "203.0.113.5, 198.51.100.2"}  # rightmost untrusted hop counts
    assert [wrong_login(client, f"a{i}", **first).status_code for i in range(4)] == [401] * 3 + [429]
    assert [wrong_login(client, f"b{i}", **second).status_code for i in range(4)] == [401] * 3 + [429]
    spoofed_left = {"X-Forwarded-For": "192.0.2.1, 198.51.100.2"}
    assert wrong_login(client, "c", **spoofed_left).status_code == 429


# --- login without enumeration ---------------------------------------------------------------


def test_unknown_login_costs_the_same_argon2_verification_as_a_wrong_password(
    http: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timing property, checked where a noisy machine cannot flip it: an unknown login runs the
    same argon2id verification (same hasher, same cost parameters) as a wrong password, exactly
    once, so both answers take one hash. (bench/ measures the times themselves.)"""
    account = register(http, "timing")
    hasher = passwords._hasher()
    verified_hashes: list[str] = []
    real_verify = hasher.verify

    def counting_verify(password: str, password_hash: str) -> bool:
        verified_hashes.append(password_hash)
        return real_verify(password, password_hash)

    monkeypatch.setattr(hasher, "verify", counting_verify)
    assert wrong_login(http, account.username).status_code == 401
    assert wrong_login(http, "nobody_by_that_name").status_code == 401
    assert len(verified_hashes) == 2, verified_hashes
    wrong_password_hash, unknown_user_hash = verified_hashes
    assert unknown_user_hash == passwords._dummy_hash() != wrong_password_hash

    def cost(password_hash: str) -> str:  # "$argon2id$v=19$m=...,t=...,p=..."
        return "$".join(password_hash.split("$")[:4])

    assert cost(unknown_user_hash) == cost(wrong_password_hash)
    assert cost(wrong_password_hash).startswith("$argon2id$")


# --- tokens ----------------------------------------------------------------------------------


def test_password_stage_tokens_open_only_the_face_steps(http: TestClient) -> None:
    token = login(http, register(http, "stage"))["access_token"]
    schema = http.get("/openapi.json").json()
    face_paths = ("/api/v1/face", "/api/v1/liveness")
    open_paths = {("post", "/api/v1/users"), ("post", "/api/v1/auth/login"), ("post", "/api/v1/auth/logout")}
    checked = 0
    for path, operations in schema["paths"].items():
        for method in operations:
            if path.startswith(face_paths) or (method, path) in open_paths or not path.startswith("/api/"):
                continue
            url = path.replace("{app_id}", "1").replace("{challenge_id}", "x")
            response = http.request(method.upper(), url, json={}, headers=bearer(token))
            assert response.status_code == 403, f"{method.upper()} {path}: {response.status_code}"
            checked += 1
    assert checked >= 5


def test_a_token_of_a_deleted_account_does_not_open_an_account_that_reuses_its_id(http: TestClient) -> None:
    doomed = enrolled_account(http, "doomed")
    other_device = login(http, doomed)["access_token"]  # never used for deletion, never revoked
    full = verify(http, login(http, doomed)["access_token"], burst(GENUINE)).json()["access_token"]
    assert http.delete("/api/v1/users/me", headers=bearer(full)).status_code == 204
    time.sleep(1.1)  # tokens carry whole seconds
    register(http, "newcomer")  # on SQLite it usually gets the deleted account's id
    assert enroll(http, other_device, burst(GENUINE)).status_code == 401
    assert http.post("/api/v1/auth/logout", headers=bearer(other_device)).status_code == 401


# --- headers and cookies ---------------------------------------------------------------------


def test_security_headers_on_every_kind_of_answer(http: TestClient) -> None:
    answers = {
        "api error": http.get("/api/v1/me"),
        "api": http.post("/api/v1/auth/login", json={"login": "x", "password": "y"}),
        "schema": http.get("/openapi.json"),
        "health": http.get("/healthz"),
        "page": http.get("/login"),
        "missing page": http.get("/no-such-page", headers={"Accept": "text/html"}),
        "missing api": http.get("/api/v1/nothing"),
        "docs": http.get("/docs"),
    }
    for name, response in answers.items():
        headers = response.headers
        policy = headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in policy, name
        script_sources = next((d for d in policy.split(";") if d.strip().startswith("script-src")), "")
        assert "'unsafe-inline'" not in script_sources, name
        assert headers["x-content-type-options"] == "nosniff", name
        assert headers["referrer-policy"] == "same-origin", name
        assert headers["x-frame-options"] == "DENY", name
    assert answers["api"].headers["cache-control"] == "no-store"
    assert "default-src 'none'" in answers["api"].headers["content-security-policy"]


def test_docs_have_no_inline_script_and_load_nothing_from_elsewhere(http: TestClient) -> None:
    """/docs is self-hosted (web/docs.py): no inline script, scripts from this origin only."""
    docs = http.get("/docs")
    assert docs.status_code == 200
    assert b"<script>" not in docs.content and b"https://" not in docs.content
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "https://" not in policy and "sha256-" not in policy


def test_cookies_are_secure_when_the_setting_says_https(client_for: ClientFactory) -> None:
    page = client_for(cookie_secure=True).get("/login")
    cookie = page.headers["set-cookie"].lower()
    assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert page.headers["strict-transport-security"].startswith("max-age=")
    plain = client_for().get("/login").headers["set-cookie"].lower()
    assert "secure" not in plain and "httponly" in plain and "samesite=lax" in plain
