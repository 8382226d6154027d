"""The web pages without a browser: cookies, CSRF, stages, escaping, error pages and the capture
endpoints, against the real app and database with a stand-in for the vision engine (fast: no models).

The stand-in reads each frame's bytes: ``face-a`` and ``face-b`` are two different people, anything
else is a frame without a face. The real engine runs in test_browser.py."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Sequence
from http.cookies import SimpleCookie

import numpy as np
import pytest
from fastapi.testclient import TestClient

from faceauth.composition import VisionModels
from faceauth.config import Settings
from faceauth.domain import BurstEmbeddings, FrameRejection, RejectReason
from faceauth.web.app import create_app
from support import stand_in_burst

PASSWORD = "correct horse battery staple"
ALICE = {
    "name": "Alice Example",
    "username": "alice",
    "email": "alice@example.com",
    "phone": "+44 20 7946 0958",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
}


def unit_vector(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return vector / np.linalg.norm(vector)


PEOPLE = {b"face-a": unit_vector(1), b"face-b": unit_vector(2)}


class StandInEngine:
    """Frames whose bytes name a person embed as that person; others have no face."""

    def embed_burst(
        self, frames: Sequence[bytes], models: Sequence[str] | None = None, every_frame: bool = False
    ) -> BurstEmbeddings:
        embeddings, accepted, rejected = [], [], []
        for index, frame in enumerate(frames):
            if frame in PEOPLE:
                embeddings.append(PEOPLE[frame])
                accepted.append(index)
            else:
                rejected.append(FrameRejection(index, RejectReason.NO_FACE))
        return stand_in_burst(embeddings, accepted, rejected, models)


def frames(*contents: bytes) -> dict[str, list[str]]:
    return {"frames": ["data:image/jpeg;base64," + base64.b64encode(c).decode() for c in contents]}


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(
        create_app(settings, VisionModels(StandInEngine(), liveness=None)), follow_redirects=False
    ) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', html)
    assert match, "the page has no CSRF meta tag"
    return match.group(1)


def page_csrf(client: TestClient, path: str = "/login") -> str:
    response = client.get(path)
    assert response.status_code == 200
    return csrf_of(response.text)


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]*)</p>', html))


def register(client: TestClient, **overrides: str) -> None:
    data = {**ALICE, "csrf_token": page_csrf(client, "/register"), **overrides}
    response = client.post("/register", data=data)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/login?notice=registered"


def log_in(client: TestClient, login: str = "alice") -> str:
    token = page_csrf(client)
    response = client.post("/login", data={"csrf_token": token, "login": login, "password": PASSWORD})
    assert response.status_code == 303, response.text
    return str(response.headers["location"])


def capture(client: TestClient, path: str, *contents: bytes, csrf: str | None = None) -> dict[str, object]:
    token = csrf if csrf is not None else str(client.cookies.get("faceauth_csrf"))
    headers = {"X-CSRF-Token": token, "Accept": "application/json"}
    response = client.post(path, json=frames(*contents), headers=headers)
    body = response.json()
    body["status"] = response.status_code
    return dict(body)


def fully_logged_in(client: TestClient) -> None:
    register(client)
    assert log_in(client) == "/face/enroll"
    assert capture(client, "/face/enroll", *[b"face-a"] * 8)["ok"] is True
    assert log_in(client) == "/face/verify"
    assert capture(client, "/face/verify", *[b"face-a"] * 8)["ok"] is True


def set_cookie_headers(response: object) -> dict[str, str]:
    headers = response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
    return {SimpleCookie(header).popitem()[0]: header for header in headers}


# --- pages, headers, CSP -------------------------------------------------------------------------


def test_every_page_can_run_under_a_strict_content_security_policy(client: TestClient) -> None:
    fully_logged_in(client)
    paths = ["/apps", "/account", "/face/enroll", "/apps/12345"]
    anonymous = TestClient(client.app)
    responses = [client.get(path) for path in paths]
    responses += [anonymous.get(path) for path in ("/login", "/register", "/apps")]
    for response in responses:
        policy = response.headers["content-security-policy"]
        assert "unsafe-inline" not in policy and "script-src 'self'" in policy
        assert response.headers["x-frame-options"] == "DENY"
        html = response.text
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), "inline script"
        assert not re.search(r"\sstyle=", html), "inline style attribute"
        assert not re.search(r"\son[a-z]+=", html), "inline event handler"
        assert "http://" not in html.replace('hint">Starting with https:// or http://', "")


def test_static_files_are_served_locally_and_stay_inside_their_folder(client: TestClient) -> None:
    assert (
        client.get("/static/camera.js")
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/../pages.py").status_code == 404
    assert client.get("/static/%2e%2e/pages.py").status_code == 404


def test_unknown_page_is_a_friendly_html_page_and_the_api_keeps_json(client: TestClient) -> None:
    page = client.get("/no/such/page", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Not found</h1>" in page.text
    api = client.get("/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert api.status_code == 404
    assert api.headers["content-type"].startswith("application/json")


# --- registration and login --------------------------------------------------------------------


def test_register_shows_one_friendly_message_per_bad_field_and_keeps_the_good_values(
    client: TestClient,
) -> None:
    data = {
        "csrf_token": page_csrf(client, "/register"),
        "name": "Alice",
        "username": "a",
        "email": "not-an-email",
        "phone": "12",
        "password": "password",
        "password_confirm": "different",
    }
    response = client.post("/register", data=data)
    assert response.status_code == 422
    errors = field_errors(response.text)
    assert set(errors) == {"username", "email", "phone", "password", "password_confirm"}
    assert errors["username"].startswith("Username must be")
    assert all(message.endswith(".") for message in errors.values())
    assert 'value="not-an-email"' in response.text
    assert 'value="password"' not in response.text  # passwords are never echoed back


def test_a_taken_username_is_reported_on_its_field(client: TestClient) -> None:
    register(client)
    data = {**ALICE, "email": "other@example.com", "csrf_token": page_csrf(client, "/register")}
    response = client.post("/register", data=data)
    assert response.status_code == 409
    assert "taken" in field_errors(response.text)["username"]


def test_form_posts_without_the_csrf_token_are_refused_and_change_nothing(client: TestClient) -> None:
    page_csrf(client, "/register")  # the browser has a CSRF cookie, but the form does not carry it
    response = client.post("/register", data={**ALICE, "csrf_token": "forged"})
    assert response.status_code == 403
    assert "form has expired" in response.text
    register(client)  # the username is still free


def test_wrong_password_gives_the_same_message_for_unknown_users(client: TestClient) -> None:
    register(client)
    token = page_csrf(client)
    wrong = client.post("/login", data={"csrf_token": token, "login": "alice", "password": "nope nope"})
    unknown = client.post("/login", data={"csrf_token": token, "login": "bob", "password": "nope nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert "faceauth_token" not in set_cookie_headers(wrong)
    message = "That username or email and password do not match"
    assert message in wrong.text and message in unknown.text


def test_session_cookies_are_httponly_samesite_and_secure_over_https(settings: Settings) -> None:
    with TestClient(
        create_app(settings, VisionModels(StandInEngine(), liveness=None)),
        base_url="https://testserver",
        follow_redirects=False,
    ) as secure_client:
        register(secure_client)
        token = page_csrf(secure_client)
        response = secure_client.post(
            "/login", data={"csrf_token": token, "login": "alice@example.com", "password": PASSWORD}
        )
    cookies = set_cookie_headers(response)
    for name in ("faceauth_token", "faceauth_csrf"):
        header = cookies[name].lower()
        assert "httponly" in header and "samesite=lax" in header and "secure" in header
    assert cookies["faceauth_csrf"].split(";")[0] != f"faceauth_csrf={token}"  # renewed at login


# --- stages ------------------------------------------------------------------------------------


def test_the_password_step_opens_only_the_face_pages(client: TestClient) -> None:
    register(client)
    assert client.get("/apps").status_code == 401  # not logged in: the unauthorized page
    assert log_in(client) == "/face/enroll"
    for path in ("/apps", "/account", "/face/verify"):
        response = client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/face/enroll"), path
    assert client.get("/face/enroll").status_code == 200
    assert client.get("/api/v1/me").status_code == 403


def test_enrollment_lists_rejected_frames_and_a_failed_one_stores_nothing(client: TestClient) -> None:
    register(client)
    log_in(client)
    failed = capture(client, "/face/enroll", *[b"cat"] * 4, *[b"face-a"] * 4)
    assert failed["status"] == 422 and failed["ok"] is False
    assert [r["reason"] for r in failed["frames_rejected"]] == ["no_face"] * 4  # type: ignore[attr-defined]
    assert client.get("/face/verify").headers["location"] == "/face/enroll"  # still no template
    enrolled = capture(client, "/face/enroll", b"cat", *[b"face-a"] * 7)
    assert enrolled["status"] == 201 and enrolled["ok"] is True
    assert enrolled["frames_rejected"] == [{"index": 0, "reason": "no_face", "message": "no face found"}]
    assert "enrolled" in str(enrolled["message"])


def test_a_capture_after_the_session_ended_points_to_the_login_page(client: TestClient) -> None:
    register(client)
    page_csrf(client)
    ended = capture(client, "/face/verify", *[b"face-a"] * 8)
    assert ended["status"] == 401 and ended["login_url"] == "/login"


def test_capture_posts_need_the_csrf_header(client: TestClient) -> None:
    register(client)
    log_in(client)
    refused = capture(client, "/face/enroll", *[b"face-a"] * 8, csrf="")
    assert refused["status"] == 403 and refused["ok"] is False
    assert client.get("/face/verify").headers["location"] == "/face/enroll"


def test_a_matching_face_upgrades_the_cookie_to_the_full_stage(client: TestClient) -> None:
    register(client)
    log_in(client)
    capture(client, "/face/enroll", *[b"face-a"] * 8)
    log_in(client)
    password_token = client.cookies.get("faceauth_token")
    refused = capture(client, "/face/verify", *[b"face-b"] * 8)
    assert refused["status"] == 401 and refused["ok"] is False
    assert "did not match" in str(refused["message"])
    assert client.get("/apps").status_code == 303

    verified = capture(client, "/face/verify", *[b"face-a"] * 8)
    assert verified["status"] == 200 and verified["redirect"] == "/apps"
    assert client.cookies.get("faceauth_token") != password_token
    assert client.get("/apps").status_code == 200
    assert client.get("/api/v1/me").json()["username"] == "alice"
    stale = client.get("/api/v1/me", headers={"Authorization": f"Bearer {password_token}"})
    assert stale.status_code == 401  # the password-stage token was revoked


def test_replacing_a_face_needs_the_face_step(client: TestClient) -> None:
    register(client)
    log_in(client)
    capture(client, "/face/enroll", *[b"face-a"] * 8)
    log_in(client)
    assert client.get("/face/enroll").headers["location"] == "/face/verify"
    hijack = capture(client, "/face/enroll", *[b"face-b"] * 8)
    assert hijack["status"] == 403
    assert capture(client, "/face/verify", *[b"face-a"] * 8)["ok"] is True
    replaced = capture(client, "/face/enroll", *[b"face-b"] * 8)
    assert replaced["status"] == 201 and "replaced" in str(replaced["message"])


# --- dashboard and account --------------------------------------------------------------------


def test_apps_are_added_shown_escaped_and_removed(client: TestClient) -> None:
    fully_logged_in(client)
    token = str(client.cookies.get("faceauth_csrf"))
    bad = client.post("/apps", data={"csrf_token": token, "name": "", "url": "ftp://files"})
    assert bad.status_code == 422
    assert set(field_errors(bad.text)) == {"name", "url"}
    added = client.post(
        "/apps", data={"csrf_token": token, "name": "<script>alert(1)</script>", "url": "https://a.example"}
    )
    assert added.headers["location"] == "/apps?notice=app-added"
    page = client.get("/apps?notice=app-added").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert" not in page
    assert "Application added." in page
    app_id = re.findall(r'href="/apps/(\d+)"', page)[0]
    assert client.get(f"/apps/{app_id}").status_code == 200
    assert client.post(f"/apps/{app_id}/delete", data={"csrf_token": "wrong"}).status_code == 403
    assert client.post(f"/apps/{app_id}/delete", data={"csrf_token": token}).status_code == 303
    assert client.get(f"/apps/{app_id}").status_code == 404


def test_notices_come_from_a_fixed_list(client: TestClient) -> None:
    page = client.get("/login?notice=<b>phish</b>").text
    assert "phish" not in page


def test_logout_revokes_the_session(client: TestClient) -> None:
    fully_logged_in(client)
    cookie = str(client.cookies.get("faceauth_token"))
    response = client.post("/logout", data={"csrf_token": str(client.cookies.get("faceauth_csrf"))})
    assert response.headers["location"] == "/login?notice=logged-out"
    assert "faceauth_token" not in client.cookies
    replay = TestClient(client.app, cookies={"faceauth_token": cookie})
    assert replay.get("/apps").status_code == 401


def test_deleting_the_account_needs_the_username_typed(client: TestClient) -> None:
    fully_logged_in(client)
    token = str(client.cookies.get("faceauth_csrf"))
    refused = client.post("/account/delete", data={"csrf_token": token, "confirm_username": "bob"})
    assert refused.status_code == 422 and "exactly to confirm" in refused.text
    deleted = client.post("/account/delete", data={"csrf_token": token, "confirm_username": "Alice"})
    assert deleted.headers["location"] == "/login?notice=account-deleted"
    login = client.post(
        "/login", data={"csrf_token": page_csrf(client), "login": "alice", "password": PASSWORD}
    )
    assert login.status_code == 401


def test_deleting_the_face_sends_the_next_login_to_enrollment(client: TestClient) -> None:
    fully_logged_in(client)
    token = str(client.cookies.get("faceauth_csrf"))
    response = client.post("/account/face/delete", data={"csrf_token": token})
    assert response.headers["location"] == "/account?notice=face-deleted"
    account = client.get("/account").text
    assert "not enrolled" in account and "+44 20 7946 0958" in account
    client.post("/logout", data={"csrf_token": token})
    assert log_in(client) == "/face/enroll"
