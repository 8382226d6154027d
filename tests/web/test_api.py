"""JSON API v1 against a real uvicorn server, the real vision models and real photos.

Photos come from faces/deepface_tests in the shared data folder. Each photo is first run through the
engine on its own, so that the bursts below are built from photos the quality gates accept: a burst
is one person's photos repeated to 8 frames, as a webcam burst repeats nearly the same picture."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from support import LiveServer
from support.api import BURST, PASSWORD, Account, Cast, b64, bearer, burst, enroll, login, register, verify

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)


@pytest.fixture(scope="module")
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.base_url, timeout=120) as http:
        yield http


@pytest.fixture(scope="module")
def enrolled(client: httpx.Client, cast: Cast, live_server: LiveServer) -> Account:
    account = register(client, "genuine")
    token = login(client, account)["access_token"]
    response = enroll(client, token, burst(cast.enroll))
    assert response.status_code == 201, response.text
    assert response.json() == {"frames_used": BURST, "frames_rejected": [], "replaced": False}
    assert live_server.count_rows("face_templates", account.id) == 1
    return account


def full_token(client: httpx.Client, account: Account, cast: Cast) -> str:
    response = verify(client, login(client, account)["access_token"], burst(cast.login))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


# --- health, registration and login ---------------------------------------------------------


def test_health(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200


def test_registration_conflicts_and_field_errors(client: httpx.Client) -> None:
    account = register(client, "reg")
    duplicate = {
        "name": "Other",
        "username": account.username,
        "email": "someone.else@example.org",
        "phone": "+12025550143",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    taken = client.post("/api/v1/users", json=duplicate)
    assert taken.status_code == 409
    assert "username" in taken.json()["detail"]
    same_email = client.post(
        "/api/v1/users", json={**duplicate, "username": "fresh_name", "email": account.email.upper()}
    )
    assert same_email.status_code == 409

    invalid = client.post(
        "/api/v1/users",
        json={"name": "", "username": "x", "email": "nope", "phone": "12", "password": "12345678"},
    )
    assert invalid.status_code == 422
    assert set(invalid.json()["detail"]) == {
        "name",
        "username",
        "email",
        "phone",
        "password",
        "password_confirm",
    }


def test_login_answers_alike_for_unknown_user_and_wrong_password(client: httpx.Client) -> None:
    account = register(client, "login")
    answer = login(client, account)
    assert answer["token_type"] == "bearer"
    assert answer["stage"] == "password"
    assert answer["face_enrolled"] is False

    wrong = client.post("/api/v1/auth/login", json={"login": account.username, "password": PASSWORD + "x"})
    unknown = client.post("/api/v1/auth/login", json={"login": "no_such_user", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    by_email = client.post("/api/v1/auth/login", json={"login": account.email.upper(), "password": PASSWORD})
    assert by_email.status_code == 200


# --- the face steps --------------------------------------------------------------------------


def test_genuine_person_verifies_and_gets_a_full_token(
    client: httpx.Client, enrolled: Account, cast: Cast
) -> None:
    first = login(client, enrolled)
    assert first["face_enrolled"] is True
    assert client.get("/api/v1/me", headers=bearer(first["access_token"])).status_code == 403

    response = verify(client, first["access_token"], burst(cast.login))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["verified"] is True
    assert "similarity" not in body and "threshold" not in body  # no score to hill-climb on
    assert body["stage"] == "full"

    me = client.get("/api/v1/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["username"] == enrolled.username
    assert me.json()["face_enrolled"] is True
    # the password-stage token was spent on the face step
    assert verify(client, first["access_token"], burst(cast.login)).status_code == 401


def test_impostors_are_refused(client: httpx.Client, enrolled: Account, cast: Cast) -> None:
    for photos in cast.impostors.values():
        response = verify(client, login(client, enrolled)["access_token"], burst(photos))
        assert response.status_code == 401, response.text
        body = response.json()
        assert body["verified"] is False
        assert "similarity" not in body and "threshold" not in body
        assert "access_token" not in body


def test_enrolling_again_needs_replace_and_a_full_token(
    client: httpx.Client, enrolled: Account, cast: Cast
) -> None:
    password_token = login(client, enrolled)["access_token"]
    assert enroll(client, password_token, burst(cast.enroll)).status_code == 409
    assert enroll(client, password_token, burst(cast.enroll), replace="true").status_code == 403

    replaced = enroll(client, full_token(client, enrolled, cast), burst(cast.enroll), replace="true")
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["replaced"] is True


def test_multipart_frames_are_accepted(client: httpx.Client, cast: Cast, live_server: LiveServer) -> None:
    account = register(client, "multipart")
    token = login(client, account)["access_token"]
    files = [("frames", (f"frame{i}.jpg", frame, "image/jpeg")) for i, frame in enumerate(burst(cast.enroll))]
    response = client.post("/api/v1/face/enroll", files=files, headers=bearer(token))
    assert response.status_code == 201, response.text
    assert live_server.count_rows("face_templates", account.id) == 1


def truncated_jpeg(photo: bytes) -> bytes:
    return photo[: len(photo) // 2]


def huge_png() -> bytes:
    """A small file of 20 megapixels: past max_image_pixels (16 M), refused before decoding."""
    buffer = io.BytesIO()
    Image.new("L", (5_000, 4_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def blank_photo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 140, 200)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("case", "expected_reason"),
    [
        ("random bytes", "not_an_image"),
        ("truncated jpeg", "not_an_image"),
        ("text", "not_an_image"),
        ("too many pixels", "image_too_large"),
        ("no face", "no_face"),
    ],
)
def test_unusable_frames_get_422_with_reasons_and_store_nothing(
    client: httpx.Client, cast: Cast, live_server: LiveServer, case: str, expected_reason: str
) -> None:
    frames = {
        "random bytes": lambda: [os.urandom(5000) for _ in range(BURST)],
        "truncated jpeg": lambda: [truncated_jpeg(photo) for photo in burst(cast.enroll)],
        "text": lambda: [b"this is not a picture of a face"] * BURST,
        "too many pixels": lambda: [huge_png()] * 2,
        "no face": lambda: [blank_photo()] * BURST,
    }[case]()
    account = register(client, "unusable")
    token = login(client, account)["access_token"]
    response = enroll(client, token, frames)
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["frames_used"] == 0
    assert {item["reason"] for item in body["frames_rejected"]} == {expected_reason}
    assert [item["index"] for item in body["frames_rejected"]] == list(range(len(frames)))
    assert live_server.count_rows("face_templates", account.id) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"frames": ["%%% not base64 %%%"]}, "frames"),
        ({"frames": []}, "frames"),
        ({}, "frames"),
        ({"frames": "abc"}, "frames"),
        ({"frames": [12]}, "frames"),
        ({"frames": ["aGVsbG8="] * 17}, "frames"),
    ],
)
def test_malformed_frame_requests_get_422(
    client: httpx.Client, live_server: LiveServer, body: dict[str, Any], field: str
) -> None:
    account = register(client, "malformed")
    token = login(client, account)["access_token"]
    response = client.post("/api/v1/face/enroll", json=body, headers=bearer(token))
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"]
    assert live_server.count_rows("face_templates", account.id) == 0


def test_malformed_json_gets_422(client: httpx.Client) -> None:
    account = register(client, "json")
    token = login(client, account)["access_token"]
    headers = {**bearer(token), "Content-Type": "application/json"}
    for path in ("/api/v1/face/enroll", "/api/v1/face/verify"):
        response = client.post(path, content=b'{"frames": [', headers=headers)
        assert response.status_code == 422
        assert response.json() == {"detail": {"body": "malformed JSON"}}
    login_response = client.post(
        "/api/v1/auth/login", content=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert login_response.status_code == 422
    assert "detail" in login_response.json()


def test_oversized_request_gets_413(client: httpx.Client, live_server: LiveServer) -> None:
    account = register(client, "big")
    token = login(client, account)["access_token"]
    payload = b'{"frames": ["' + b"A" * (live_server.settings.max_request_bytes + 10) + b'"]}'
    response = client.post(
        "/api/v1/face/enroll", content=payload, headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "detail" in response.json()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is counted as the body streams
        yield b'{"frames": ["'
        for _ in range(live_server.settings.max_request_bytes // (1 << 20) + 2):
            yield b"A" * (1 << 20)
        yield b'"]}'

    streamed = client.post(
        "/api/v1/face/enroll", content=chunks(), headers={**bearer(token), "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert live_server.count_rows("face_templates", account.id) == 0


def test_verify_without_enrollment_is_a_conflict(client: httpx.Client, cast: Cast) -> None:
    account = register(client, "unenrolled")
    response = verify(client, login(client, account)["access_token"], burst(cast.login))
    assert response.status_code == 409


# --- tokens ----------------------------------------------------------------------------------


def test_missing_tampered_and_revoked_tokens_get_401(client: httpx.Client) -> None:
    account = register(client, "tokens")
    token = login(client, account)["access_token"]
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBB'}"
    assert client.post("/api/v1/face/verify", json={"frames": []}).status_code == 401
    response = client.post("/api/v1/face/verify", json={"frames": []}, headers=bearer(tampered))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/v1/me", headers=bearer("garbage")).status_code == 401

    assert client.post("/api/v1/auth/logout", headers=bearer(token)).status_code == 204
    assert client.post("/api/v1/face/verify", json={"frames": []}, headers=bearer(token)).status_code == 401


def test_cookie_authentication_needs_a_csrf_header_for_changes(
    client: httpx.Client, enrolled: Account, cast: Cast, live_server: LiveServer
) -> None:
    token = full_token(client, enrolled, cast)
    with httpx.Client(base_url=live_server.base_url, timeout=60) as browser:
        browser.cookies.set("faceauth_token", token)
        browser.cookies.set("faceauth_csrf", "csrf-value-123")
        assert browser.get("/api/v1/me").status_code == 200
        without = browser.post("/api/v1/apps", json={"name": "Mail"})
        assert without.status_code == 403
        wrong = browser.post("/api/v1/apps", json={"name": "Mail"}, headers={"X-CSRF-Token": "other"})
        assert wrong.status_code == 403
        right = browser.post(
            "/api/v1/apps", json={"name": "Mail"}, headers={"X-CSRF-Token": "csrf-value-123"}
        )
        assert right.status_code == 201


# --- the protected area ----------------------------------------------------------------------


def test_apps_need_the_full_stage_and_belong_to_their_user(
    client: httpx.Client, enrolled: Account, cast: Cast
) -> None:
    password_token = login(client, enrolled)["access_token"]
    assert client.get("/api/v1/apps", headers=bearer(password_token)).status_code == 403

    token = full_token(client, enrolled, cast)
    created = client.post(
        "/api/v1/apps",
        json={"name": "Wiki", "url": "https://wiki.example.org", "description": "team notes"},
        headers=bearer(token),
    )
    assert created.status_code == 201
    app = created.json()
    assert (app["name"], app["url"], app["description"]) == ("Wiki", "https://wiki.example.org", "team notes")
    listed = client.get("/api/v1/apps", headers=bearer(token)).json()
    assert app["id"] in [item["id"] for item in listed]
    bad = client.post("/api/v1/apps", json={"name": "x", "url": "javascript:alert(1)"}, headers=bearer(token))
    assert bad.status_code == 422
    assert set(bad.json()["detail"]) == {"url"}

    intruder = register(client, "intruder")
    intruder_token = login(client, intruder)["access_token"]
    response = enroll(client, intruder_token, burst(next(iter(cast.impostors.values()))))
    assert response.status_code == 201, response.text
    intruder_full = full_token_for(client, intruder, next(iter(cast.impostors.values())))
    assert client.delete(f"/api/v1/apps/{app['id']}", headers=bearer(intruder_full)).status_code == 404
    assert client.delete(f"/api/v1/apps/{app['id']}", headers=bearer(token)).status_code == 204
    assert client.delete(f"/api/v1/apps/{app['id']}", headers=bearer(token)).status_code == 404


def full_token_for(client: httpx.Client, account: Account, photos: list[bytes]) -> str:
    response = verify(client, login(client, account)["access_token"], burst(photos))
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_deleting_the_face_and_then_the_account(
    client: httpx.Client, cast: Cast, live_server: LiveServer
) -> None:
    account = register(client, "leaver")
    assert enroll(client, login(client, account)["access_token"], burst(cast.enroll)).status_code == 201
    password_token = login(client, account)["access_token"]
    assert client.delete("/api/v1/face", headers=bearer(password_token)).status_code == 403
    assert client.delete("/api/v1/users/me", headers=bearer(password_token)).status_code == 403

    token = full_token(client, account, cast)
    client.post("/api/v1/apps", json={"name": "Mail"}, headers=bearer(token))
    assert client.delete("/api/v1/face", headers=bearer(token)).status_code == 204
    assert live_server.count_rows("face_templates", account.id) == 0
    assert client.get("/api/v1/me", headers=bearer(token)).json()["face_enrolled"] is False

    assert client.delete("/api/v1/users/me", headers=bearer(token)).status_code == 204
    assert live_server.count_rows("apps", account.id) == 0
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    gone = client.post("/api/v1/auth/login", json={"login": account.username, "password": PASSWORD})
    assert gone.status_code == 401


# --- concurrency -----------------------------------------------------------------------------


def test_server_answers_other_requests_while_a_verification_runs(
    client: httpx.Client, enrolled: Account, cast: Cast, live_server: LiveServer
) -> None:
    """Inference runs off the event loop: health checks are answered, start to finish, while a
    verification is in flight. An order of events, not a latency bound (bench/ measures those): a
    blocked loop would answer none of them before the verification's own answer."""
    token = login(client, enrolled)["access_token"]
    frames = burst(cast.login, live_server.settings.max_frames)
    timings: dict[str, float] = {}

    def long_verification() -> None:
        with httpx.Client(base_url=live_server.base_url, timeout=120) as other:
            timings["start"] = time.monotonic()
            other.post("/api/v1/face/verify", json={"frames": b64(frames)}, headers=bearer(token))
            timings["end"] = time.monotonic()

    thread = threading.Thread(target=long_verification)
    thread.start()
    health_checks = []
    while thread.is_alive():
        started = time.monotonic()
        assert client.get("/healthz").status_code == 200
        health_checks.append((started, time.monotonic()))
        time.sleep(0.02)
    thread.join()
    answered_during = [
        (started, finished)
        for started, finished in health_checks
        if timings["start"] < started and finished < timings["end"]
    ]
    assert len(answered_during) >= 2, (timings, health_checks[:5])


def test_oversized_frames_in_bytes_or_pixels_are_refused(
    client: httpx.Client, live_server: LiveServer
) -> None:
    """The image limits are checked by the vision pipeline (header first, before decoding)."""
    account = register(client, "limits")
    token = login(client, account)["access_token"]
    too_many_bytes = b"\xff\xd8\xff" + b"\0" * live_server.settings.max_image_bytes
    bomb = io.BytesIO()
    Image.new("L", (5000, 4000)).save(bomb, format="PNG")  # 20 Mpx in a few kB
    assert len(bomb.getvalue()) < 100_000
    for frame in (too_many_bytes, bomb.getvalue()):
        response = client.post("/api/v1/face/enroll", json={"frames": b64([frame])}, headers=bearer(token))
        assert response.status_code == 422, response.text
        reasons = {item["reason"] for item in response.json().get("frames_rejected", [])}
        assert reasons == {"image_too_large"}, response.text
    assert live_server.count_rows("face_templates", account.id) == 0
