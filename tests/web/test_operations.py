"""/readyz, /metrics, X-Request-ID and disabled accounts, against the real app and database with the
stand-in vision engine (``support.StandInEngine``; no models: these are about the web and the database)."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from faceauth.composition import VisionModels
from faceauth.config import Settings
from faceauth.storage.sql.admin import SqlAdminStore
from faceauth.storage.sql.backend import SqlStorage
from faceauth.web.app import create_app
from support import StandInEngine
from support import scrape_sample as sample

TOKEN = "scrape-token-0123456789"
PASSWORD = "correct horse battery staple"
ALICE = {
    "name": "Alice Example",
    "username": "alice",
    "email": "alice@example.com",
    "phone": "+44 20 7946 0958",
    "password": PASSWORD,
    "password_confirm": PASSWORD,
}


def app_client(settings: Settings) -> TestClient:
    return TestClient(
        create_app(settings, VisionModels(StandInEngine(), liveness=None)), follow_redirects=False
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with app_client(settings) as test_client:
        yield test_client


def frames(*contents: bytes) -> dict[str, list[str]]:
    return {"frames": [base64.b64encode(c).decode() for c in contents]}


def page_csrf(client: TestClient) -> str:
    match = re.search(r'<meta name="csrf-token" content="([^"]+)">', client.get("/login").text)
    assert match, "the login page has no CSRF meta tag"
    return match.group(1)


# --- /readyz ---------------------------------------------------------------------------------------


def test_readyz_is_200_when_the_database_answers_and_its_schema_is_current(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    assert client.get("/healthz").json() == {"status": "ok"}  # unchanged


def test_readyz_is_503_with_the_reason_when_the_schema_is_behind(
    client: TestClient, settings: Settings
) -> None:
    storage = SqlStorage.from_url(settings.resolved_database_url)
    try:
        with storage.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    finally:
        storage.close()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "not ready"
    assert "schema at 0003" in response.json()["reason"]
    assert client.get("/healthz").status_code == 200  # alive, but not to be sent traffic


def test_readyz_is_503_when_the_database_is_gone(client: TestClient, settings: Settings) -> None:
    storage: SqlStorage = client.app.state.services.accounts.storage  # type: ignore[attr-defined]
    storage.engine.dispose()
    database = settings.resolved_database_url.removeprefix("sqlite:///")
    Path(database).rename(database + ".moved")
    Path(database).mkdir()  # a folder where the file was: SQLite cannot open it
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"].startswith("database unreachable")


# --- /metrics ----------------------------------------------------------------------------------------


def test_metrics_are_off_by_default(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 404


def test_metrics_need_the_bearer_token_when_one_is_set(settings_factory: object) -> None:
    settings = settings_factory(metrics_enabled=True, metrics_token=TOKEN)  # type: ignore[operator]
    with app_client(settings) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")


def test_production_refuses_metrics_without_a_token(settings_factory: object) -> None:
    from faceauth.domain import ConfigurationError

    settings = settings_factory(  # type: ignore[operator]
        env="production", metrics_enabled=True, template_key="A" * 43 + "=", secret_key="s" * 64
    )
    with pytest.raises(ConfigurationError, match="METRICS_TOKEN"), app_client(settings):
        pass


def test_metrics_count_requests_logins_face_outcomes_and_lockouts(settings_factory: object) -> None:
    settings = settings_factory(metrics_enabled=True, face_lockout_max_failures=2)  # type: ignore[operator]
    with app_client(settings) as client:
        before = client.get("/metrics").text
        client.post("/api/v1/users", json={**ALICE})
        wrong = client.post("/api/v1/auth/login", json={"login": "alice", "password": "not it at all"})
        assert wrong.status_code == 401
        token = client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        assert (
            client.post("/api/v1/face/enroll", json=frames(*[b"face-a"] * 8), headers=auth).status_code == 201
        )
        for _ in range(2):  # someone else's face, twice: the face step locks
            assert (
                client.post("/api/v1/face/verify", json=frames(*[b"face-b"] * 8), headers=auth).status_code
                == 401
            )
        assert (
            client.post("/api/v1/face/verify", json=frames(*[b"face-a"] * 8), headers=auth).status_code == 423
        )
        after = client.get("/metrics").text

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("faceauth_http_requests_total", method="POST", route="/api/v1/auth/login", status="401") == 1
    assert (
        delta("faceauth_http_requests_total", method="POST", route="/api/v1/face/verify", status="423") == 1
    )
    assert delta("faceauth_login_attempts_total", step="password", outcome="wrong_password") == 1
    assert delta("faceauth_login_attempts_total", step="password", outcome="success") == 1
    assert delta("faceauth_login_attempts_total", step="face", outcome="no_match") == 2
    assert delta("faceauth_login_attempts_total", step="face", outcome="locked") == 1
    assert sample(after, "faceauth_lockouts_active", step="face") == 1
    assert sample(after, "faceauth_inference_queue_depth") == 0
    assert (
        delta("faceauth_http_request_duration_seconds_count", method="POST", route="/api/v1/face/verify") == 3
    )


def test_unknown_paths_share_one_route_label(settings_factory: object) -> None:
    settings = settings_factory(metrics_enabled=True)  # type: ignore[operator]
    with app_client(settings) as client:
        for path in ("/nope-1", "/nope-2", "/wp-admin.php"):
            client.get(path)
        text_out = client.get("/metrics").text
    assert "nope" not in text_out and "wp-admin" not in text_out
    assert (
        sample(text_out, "faceauth_http_requests_total", method="GET", route="unmatched", status="404") >= 3
    )


def test_a_route_with_a_parameter_is_labelled_by_its_whole_template(settings_factory: object) -> None:
    settings = settings_factory(metrics_enabled=True)  # type: ignore[operator]
    with app_client(settings) as client:
        for app_id in ("7", "8", "9"):
            assert client.get(f"/api/v1/apps/{app_id}").status_code == 401
        text_out = client.get("/metrics").text
    labels = {"method": "GET", "route": "/api/v1/apps/{app_id}", "status": "401"}
    assert sample(text_out, "faceauth_http_requests_total", **labels) == 3
    assert 'route="/api/v1/apps/7"' not in text_out and 'route="/apps/{app_id}"' not in text_out


# --- X-Request-ID ------------------------------------------------------------------------------------


def test_a_valid_request_id_is_returned_and_an_invalid_one_replaced(client: TestClient) -> None:
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123.DEF:9"}).headers["x-request-id"] == (
        "abc-123.DEF:9"
    )
    for bad in ("a b", "x" * 129, "line\tbreak", ""):
        returned = client.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
        assert returned != bad and re.fullmatch(r"[0-9a-f]{32}", returned)
    assert re.fullmatch(r"[0-9a-f]{32}", client.get("/healthz").headers["x-request-id"])


# --- disabled accounts ---------------------------------------------------------------------------


def disable(settings: Settings, username: str) -> None:
    storage = SqlStorage.from_url(settings.resolved_database_url)
    try:
        user = storage.find_user_by_login(username)
        assert user is not None
        SqlAdminStore(storage.database).set_disabled(user.id, datetime.now(UTC))
    finally:
        storage.close()


def test_a_disabled_account_gets_the_wrong_password_answer_from_the_api(
    client: TestClient, settings: Settings
) -> None:
    assert client.post("/api/v1/users", json={**ALICE}).status_code == 201
    token = client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD}).json()
    disable(settings, "alice")
    right = client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    wrong = client.post("/api/v1/auth/login", json={"login": "alice", "password": "not the password"})
    assert (
        (right.status_code, right.json())
        == (wrong.status_code, wrong.json())
        == (
            401,
            {"detail": "invalid login or password"},
        )
    )
    # a token issued before stops working at once
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token['access_token']}"})
    assert me.status_code == 401


def test_the_login_page_tells_the_owner_after_the_right_password(
    client: TestClient, settings: Settings
) -> None:
    assert client.post("/api/v1/users", json={**ALICE}).status_code == 201
    disable(settings, "alice")
    csrf = page_csrf(client)
    wrong = client.post("/login", data={"csrf_token": csrf, "login": "alice", "password": "not it at all"})
    assert wrong.status_code == 401 and "disabled" not in wrong.text
    right = client.post("/login", data={"csrf_token": csrf, "login": "alice", "password": PASSWORD})
    assert right.status_code == 403
    assert "disabled by the administrator" in right.text
    assert "faceauth_token" not in right.headers.get("set-cookie", "")
