"""Abuse limits against real servers with the real models and photos (docs/security.md): face and
password lock-outs (also across the worker processes of ``faceauth serve --workers 2``), rate limits
per client address, trusted proxies, login without account enumeration, tokens of deleted accounts,
security headers on every answer, and the input limits."""

from __future__ import annotations

import base64
import io
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from test_api import (  # the API tests' helpers, and their ``cast`` fixture: photos of three people
    PASSWORD,
    Cast,
    b64,
    bearer,
    burst,
    enroll,
    login,
    register,
    verify,
)
from test_api import cast as api_cast  # noqa: F401  (a fixture: registered as api_cast)

from faceauth.config import Settings
from support import LiveServer, make_settings, serve_in_subprocess, serve_in_thread


@pytest.fixture(scope="module")
def cast(api_cast: Cast) -> Cast:  # noqa: F811
    """Usable photos of three people, as chosen for the API tests."""
    return api_cast


def thread_server(settings: Settings, engine: Any) -> AbstractContextManager[LiveServer]:
    from faceauth.composition import load_vision
    from faceauth.web.app import create_app

    return serve_in_thread(create_app(settings, load_vision(settings, engine)), settings)


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory, face_engine: Any) -> Iterator[LiveServer]:
    """The default abuse limits (only liveness off, as everywhere in the API tests)."""
    settings = make_settings(tmp_path_factory.mktemp("abuse-defaults"))
    with thread_server(settings, face_engine) as server:
        yield server


@pytest.fixture(scope="module")
def http(default_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=default_server.base_url, timeout=120) as client:
        yield client


# --- lock-outs -------------------------------------------------------------------------------


def test_seven_failed_face_verifications_lock_out_the_genuine_person(
    http: httpx.Client, cast: Cast, default_server: LiveServer
) -> None:
    account = register(http, "victim")
    assert enroll(http, login(http, account)["access_token"], burst(cast.enroll)).status_code == 201
    impostor_photos = list(cast.impostors.values())
    answers = []
    for attempt in range(7):
        token = login(http, account)["access_token"]
        answers.append(verify(http, token, burst(impostor_photos[attempt % len(impostor_photos)])))
    assert [answer.status_code for answer in answers] == [401] * 5 + [423] * 2
    locked = answers[-1]
    assert 1700 <= int(locked.headers["retry-after"]) <= 1800
    assert "try again in 30 minutes" in locked.json()["detail"]
    assert "similarity" not in locked.json()  # a locked step gives no score to climb on

    genuine = verify(http, login(http, account)["access_token"], burst(cast.login))
    assert genuine.status_code == 423, genuine.text
    assert "access_token" not in genuine.json()
    # the password step itself still works (the face lock needs the password, so it is per account)
    assert login(http, account)["stage"] == "password"


def test_a_genuine_verification_clears_earlier_face_failures(http: httpx.Client, cast: Cast) -> None:
    account = register(http, "forgetful")
    assert enroll(http, login(http, account)["access_token"], burst(cast.enroll)).status_code == 201
    impostor = next(iter(cast.impostors.values()))
    for _ in range(4):
        assert verify(http, login(http, account)["access_token"], burst(impostor)).status_code == 401
    assert verify(http, login(http, account)["access_token"], burst(cast.login)).status_code == 200
    for _ in range(4):  # counting starts again: four more failures do not lock
        assert verify(http, login(http, account)["access_token"], burst(impostor)).status_code == 401
    assert verify(http, login(http, account)["access_token"], burst(cast.login)).status_code == 200


def test_unusable_frames_are_not_counted_as_face_failures(http: httpx.Client, cast: Cast) -> None:
    account = register(http, "blurry")
    assert enroll(http, login(http, account)["access_token"], burst(cast.enroll)).status_code == 201
    blank = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 90, 90)).save(blank, format="JPEG")
    for _ in range(7):
        assert verify(http, login(http, account)["access_token"], [blank.getvalue()] * 8).status_code == 422
    assert verify(http, login(http, account)["access_token"], burst(cast.login)).status_code == 200


def wrong_login(client: httpx.Client, login_name: str, **headers: str) -> httpx.Response:
    body = {"login": login_name, "password": "not the password at all"}
    return client.post("/api/v1/auth/login", json=body, headers=headers)


def test_wrong_passwords_lock_one_address_out_of_one_account(
    tmp_path: Path, face_engine: Any, cast: Cast
) -> None:
    settings = make_settings(tmp_path, trusted_proxies=("127.0.0.1",))
    with thread_server(settings, face_engine) as server, httpx.Client(base_url=server.base_url) as client:
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


def test_many_addresses_together_lock_the_account_at_the_higher_threshold(
    tmp_path: Path, face_engine: Any
) -> None:
    settings = make_settings(
        tmp_path, trusted_proxies=("127.0.0.1",), password_account_lockout_max_failures=8
    )
    with thread_server(settings, face_engine) as server, httpx.Client(base_url=server.base_url) as client:
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


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``faceauth serve --workers 2`` in a subprocess, on a SQLite database both workers share."""
    data_dir = tmp_path_factory.mktemp("two-workers")
    env = {
        "FACEAUTH_SECRET_KEY": "two-workers-secret-key-0123456789-0123456789",
        "FACEAUTH_LIVENESS_REQUIRED": "false",
        "FACEAUTH_INFERENCE_THREADS": "1",
    }
    with serve_in_subprocess(data_dir, env, workers=2, timeout=180) as base_url:
        yield base_url


def test_the_password_lock_out_holds_across_two_workers(two_workers: str) -> None:
    """Twelve wrong passwords at once, each on its own connection, spread over both workers: at most
    five are judged (401), the rest are refused (423); a limit kept in each worker's memory would
    let up to ten through. The right password is refused afterwards, on fresh connections."""
    with httpx.Client(base_url=two_workers, timeout=60) as client:
        account = register(client, "workers")

    def attempt(_: int) -> int:
        with httpx.Client(base_url=two_workers, timeout=60) as own_connection:
            return wrong_login(own_connection, account.username).status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = sorted(pool.map(attempt, range(12)))
    # at most five are judged (fewer when a refused attempt counted before an earlier one finished)
    assert 1 <= codes.count(401) <= 5 and codes.count(423) == 12 - codes.count(401), codes
    for _ in range(4):
        with httpx.Client(base_url=two_workers, timeout=60) as fresh:
            right = fresh.post("/api/v1/auth/login", json={"login": account.username, "password": PASSWORD})
            assert right.status_code == 423
            assert int(right.headers["retry-after"]) > 1700


def test_the_face_lock_out_holds_across_two_workers(two_workers: str, cast: Cast) -> None:
    with httpx.Client(base_url=two_workers, timeout=120) as client:
        account = register(client, "faceworkers")
        assert enroll(client, login(client, account)["access_token"], burst(cast.enroll)).status_code == 201
        tokens = [login(client, account)["access_token"] for _ in range(8)]
    impostor = next(iter(cast.impostors.values()))

    def attempt(token: str) -> int:
        with httpx.Client(base_url=two_workers, timeout=120) as own_connection:
            return verify(own_connection, token, burst(impostor)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = sorted(pool.map(attempt, tokens))
    assert 1 <= codes.count(401) <= 5 and codes.count(423) == 8 - codes.count(401), codes
    with httpx.Client(base_url=two_workers, timeout=120) as fresh:
        assert verify(fresh, login(fresh, account)["access_token"], burst(cast.login)).status_code == 423


# --- rate limits -----------------------------------------------------------------------------


def test_defaults_let_one_address_make_60_requests_a_minute(http: httpx.Client) -> None:
    assert Settings().rate_limit_requests >= 60
    assert Settings().rate_limit_window_seconds <= 60
    codes = {wrong_login(http, f"someone{i}").status_code for i in range(60)}
    assert codes == {401}


def test_rate_limit_per_address_and_endpoint(tmp_path: Path, face_engine: Any) -> None:
    settings = make_settings(tmp_path, rate_limit_requests=5, rate_limit_window_seconds=60)
    with thread_server(settings, face_engine) as server, httpx.Client(base_url=server.base_url) as client:
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


def test_trusted_proxy_gives_each_forwarded_address_its_own_limit(tmp_path: Path, face_engine: Any) -> None:
    settings = make_settings(tmp_path, rate_limit_requests=3, trusted_proxies=("127.0.0.0/8",))
    with thread_server(settings, face_engine) as server, httpx.Client(base_url=server.base_url) as client:
        first = {"X-Forwarded-For": "198.51.100.1"}
        second = {"X-Forwarded-For": "203.0.113.5, 198.51.100.2"}  # rightmost untrusted hop counts
        assert [wrong_login(client, f"a{i}", **first).status_code for i in range(4)] == [401] * 3 + [429]
        assert [wrong_login(client, f"b{i}", **second).status_code for i in range(4)] == [401] * 3 + [429]
        spoofed_left = {"X-Forwarded-For": "192.0.2.1, 198.51.100.2"}
        assert wrong_login(client, "c", **spoofed_left).status_code == 429


# --- login without enumeration ---------------------------------------------------------------


def test_unknown_login_and_wrong_password_take_similar_time(http: httpx.Client) -> None:
    """Behaviour, not a benchmark: both paths hash once, so their medians are within a factor of 3
    (skipping the hash would make the unknown login ~50x faster)."""
    account = register(http, "timing")

    def median_seconds(login_name: str) -> float:
        durations = []
        for _ in range(5):
            started = time.perf_counter()
            response = wrong_login(http, login_name)
            durations.append(time.perf_counter() - started)
            assert response.status_code == 401
        return statistics.median(durations)

    # five each is the per-address lock-out threshold: use the account once for both rounds
    unknown = median_seconds("nobody_by_that_name")
    wrong = median_seconds(account.username)
    assert 1 / 3 < unknown / wrong < 3, (unknown, wrong)


# --- tokens ----------------------------------------------------------------------------------


def test_password_stage_tokens_open_only_the_face_steps(http: httpx.Client) -> None:
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


def test_a_token_of_a_deleted_account_does_not_open_an_account_that_reuses_its_id(
    http: httpx.Client, cast: Cast
) -> None:
    doomed = register(http, "doomed")
    assert enroll(http, login(http, doomed)["access_token"], burst(cast.enroll)).status_code == 201
    other_device = login(http, doomed)["access_token"]  # never used for deletion, never revoked
    full = verify(http, login(http, doomed)["access_token"], burst(cast.login)).json()["access_token"]
    assert http.delete("/api/v1/users/me", headers=bearer(full)).status_code == 204
    time.sleep(1.1)  # tokens carry whole seconds
    newcomer = register(http, "newcomer")
    assert enroll(http, other_device, burst(cast.enroll)).status_code == 401
    assert http.post("/api/v1/auth/logout", headers=bearer(other_device)).status_code == 401
    # (on SQLite the newcomer usually got the deleted account's id; the refusal holds either way)
    assert newcomer.id >= doomed.id


# --- headers ---------------------------------------------------------------------------------


def test_security_headers_on_every_kind_of_answer(http: httpx.Client) -> None:
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


def test_docs_inline_script_is_allowed_by_its_hash_only(http: httpx.Client) -> None:
    import hashlib
    import re

    docs = http.get("/docs")
    assert docs.status_code == 200
    scripts = re.findall(rb"<script>(.*?)</script>", docs.content, re.DOTALL)
    assert scripts
    policy = docs.headers["content-security-policy"]
    for script in scripts:
        digest = base64.b64encode(hashlib.sha256(script).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert int(docs.headers["content-length"]) == len(docs.content)


def test_cookies_are_secure_when_the_setting_says_https(tmp_path: Path, face_engine: Any) -> None:
    settings = make_settings(tmp_path, cookie_secure=True)
    with thread_server(settings, face_engine) as server, httpx.Client(base_url=server.base_url) as client:
        page = client.get("/login")
        cookie = page.headers["set-cookie"].lower()
        assert "secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        assert page.headers["strict-transport-security"].startswith("max-age=")
    with thread_server(make_settings(tmp_path / "plain"), face_engine) as server:
        plain = httpx.get(f"{server.base_url}/login").headers["set-cookie"].lower()
        assert "secure" not in plain and "httponly" in plain and "samesite=lax" in plain


# --- input limits ----------------------------------------------------------------------------


def test_oversized_frames_in_bytes_or_pixels_are_refused(
    http: httpx.Client, default_server: LiveServer
) -> None:
    account = register(http, "limits")
    token = login(http, account)["access_token"]
    settings = default_server.settings
    too_many_bytes = b"\xff\xd8\xff" + b"\0" * settings.max_image_bytes
    bomb = io.BytesIO()
    Image.new("L", (5000, 4000)).save(bomb, format="PNG")  # 20 Mpx in a few kB
    assert len(bomb.getvalue()) < 100_000
    for frame in (too_many_bytes, bomb.getvalue()):
        response = http.post("/api/v1/face/enroll", json={"frames": b64([frame])}, headers=bearer(token))
        assert response.status_code in (413, 422), response.text
        reasons = {item["reason"] for item in response.json().get("frames_rejected", [])}
        assert reasons == {"image_too_large"}, response.text
    assert default_server.count_rows("face_templates", account.id) == 0


def test_a_locked_login_page_says_when_to_try_again(http: httpx.Client) -> None:
    import re

    account = register(http, "pagelock")
    with httpx.Client(base_url=http.base_url, timeout=60) as browser:
        form = browser.get("/login", headers={"Accept": "text/html"})
        match = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert match is not None
        fields = {"csrf_token": match.group(1), "login": account.username, "password": "wrong guess here"}
        codes = [
            browser.post("/login", data=fields, headers={"Accept": "text/html"}).status_code for _ in range(5)
        ]
        assert codes == [401] * 5
        locked = browser.post("/login", data=fields, headers={"Accept": "text/html"})
    assert locked.status_code == 423
    assert "text/html" in locked.headers["content-type"]
    assert "try again in 30 minutes" in locked.text
    assert 1700 <= int(locked.headers["retry-after"]) <= 1800
