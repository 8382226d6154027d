"""What a hostile probe tried (issue 15), in process with a stand-in engine (fast: no models).

Every JSON endpoint, found by walking the app's routes, gets nested, huge, wrong-typed and null-byte
bodies and must answer 4xx, never 5xx; the static files, a Host-header redirect, a non-numeric app id,
the verify answers (no score) and the self-hosted API docs are checked too."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute

from faceauth.composition import VisionModels
from faceauth.config import Settings
from faceauth.web.app import create_app
from support import StandInEngine

PASSWORD = "correct horse battery staple"
MAX_REQUEST_BYTES = 1_000_000
FACE = b"face-a"
NESTED = "[" * 100_000 + "]" * 100_000  # 200 kB: deeper than Python's recursion limit
FIELDS = (
    "login", "password", "username", "email", "phone", "name", "password_confirm", "url",
    "description", "purpose", "frames", "challenge_id", "confirm_username",
)  # fmt: skip


def burst(content: bytes = FACE, count: int = 8) -> dict[str, list[str]]:
    return {"frames": [base64.b64encode(content).decode()] * count}


@pytest.fixture
def client(settings_factory) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings: Settings = settings_factory(liveness_required=False, max_request_bytes=MAX_REQUEST_BYTES)
    app = create_app(settings, VisionModels(StandInEngine(), liveness=None))
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


def full_stage_token(client: TestClient, username: str = "mallory") -> str:
    account = {
        "name": "Mallory",
        "username": username,
        "email": f"{username}@example.org",
        "phone": "+44 20 7946 0958",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    assert client.post("/api/v1/users", json=account).status_code == 201
    login = client.post("/api/v1/auth/login", json={"login": username, "password": PASSWORD})
    password_token = login.json()["access_token"]
    headers = {"Authorization": f"Bearer {password_token}"}
    assert client.post("/api/v1/face/enroll", json=burst(), headers=headers).status_code == 201
    verified = client.post("/api/v1/face/verify", json=burst(), headers=headers)
    assert verified.status_code == 200, verified.text
    return str(verified.json()["access_token"])


def hostile_bodies() -> list[tuple[str, bytes]]:
    def encoded(value: object) -> bytes:
        import json

        return json.dumps(value).encode()

    wrong_types: dict[str, object] = {field: [{"x": 1}] for field in FIELDS}
    null_bytes = {field: "a\x00b" for field in FIELDS}
    return [
        ("nested list", NESTED.encode()),
        ("nested under frames", b'{"frames": ' + NESTED.encode() + b"}"),
        ("nested under challenge_id", b'{"challenge_id": ' + NESTED.encode() + b"}"),
        ("nested objects", b'{"a": ' * 50_000 + b"1" + b"}" * 50_000),
        ("huge", b'{"frames": ["' + b"A" * (MAX_REQUEST_BYTES + 10) + b'"]}'),
        ("huge number", b'{"purpose": 1' + b"0" * 5000 + b"}"),
        ("null", b"null"),
        ("number", b"5"),
        ("string", b'"frames"'),
        ("wrong types", encoded(wrong_types)),
        ("numbers", encoded(dict.fromkeys(FIELDS, 12345678901234567890))),
        ("null bytes", encoded(null_bytes)),
        ("frames with null bytes", encoded({"frames": ["data:image/png;base64,\x00AAAA"]})),
        ("raw null byte", b'{"login": "a\x00b"}'),
        ("not UTF-8", b'{"login": "\xff\xfe"}'),
        ("truncated", b'{"frames": ["'),
    ]


def walk_routes(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """(full path, route) of every APIRoute; FastAPI >= 0.16x nests included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path_format, route
        elif hasattr(route, "original_router"):
            nested_prefix = prefix + getattr(getattr(route, "include_context", None), "prefix", "")
            yield from walk_routes(route.original_router.routes, nested_prefix)


def json_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route that takes a body, the ones that end the session last."""
    routes = set()
    for path, route in walk_routes(client.app.routes):  # type: ignore[attr-defined]
        for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            routes.add((method, path.replace("{app_id}", "1").replace("{challenge_id}", "abc")))
    openapi = client.get("/openapi.json").json()["paths"]
    for path, operations in openapi.items():  # the walk found every documented operation
        for method in operations.keys() & {"post", "put", "patch", "delete"}:
            concrete = path.replace("{app_id}", "1").replace("{challenge_id}", "abc")
            assert (method.upper(), concrete) in routes, (method, path)
    ends_session = ("logout", "/users/me", "/account/delete")
    return sorted(routes, key=lambda r: (r[0] == "DELETE" or r[1].endswith(ends_session), r))


def test_every_json_endpoint_answers_hostile_bodies_with_a_4xx(client: TestClient) -> None:
    token = full_stage_token(client)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    routes = json_routes(client)
    assert ("POST", "/api/v1/face/verify") in routes
    assert ("POST", "/api/v1/liveness/challenges/abc/frames") in routes
    answers = {}
    for method, path in routes:
        for name, body in hostile_bodies():
            response = client.request(method, path, content=body, headers=headers)
            answers[(method, path, name)] = response.status_code
    # a well-formed challenge request reaches the service, which has no liveness analyzer here (503)
    no_analyzer = ("POST", "/api/v1/liveness/challenges")
    server_errors = {
        key: code
        for key, code in answers.items()
        if code >= 500 and not (key[:2] == no_analyzer and code == 503)
    }
    assert not server_errors
    # what the probe found: nested JSON to verify and to a challenge's frames must be refused
    for path in ("/api/v1/face/verify", "/api/v1/liveness/challenges/abc/frames", "/face/verify"):
        assert 400 <= answers[("POST", path, "nested list")] < 500
        assert 400 <= answers[("POST", path, "nested under frames")] < 500


def test_deeply_nested_json_says_why(client: TestClient) -> None:
    token = full_stage_token(client)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = client.post("/api/v1/face/verify", content=NESTED, headers=headers)
    assert response.status_code == 422
    assert response.json() == {"detail": {"body": "JSON nested too deeply"}}


def test_a_null_byte_in_a_static_path_is_not_found(client: TestClient) -> None:
    assert client.get("/static/style.css%00.png").status_code == 404
    assert client.get("/static/%00").status_code == 404
    assert client.get("/static/style.css").status_code == 200


def test_no_redirect_is_built_from_the_host_header(client: TestClient) -> None:
    for path in ("/apps/", "/login/", "/api/v1/apps/", "/docs/"):
        response = client.get(path, headers={"Host": "evil.example"})
        assert response.status_code == 404, path
        assert "location" not in response.headers
    response = client.get("/", headers={"Host": "evil.example"})  # the pages' redirects: relative
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


def test_a_non_numeric_app_page_is_not_found(client: TestClient) -> None:
    token = full_stage_token(client)
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/apps/abc", headers=headers).status_code == 404
    assert client.get("/apps/999", headers=headers).status_code == 404


def test_verify_answers_carry_no_score(client: TestClient) -> None:
    full_stage_token(client, "alice")
    login = client.post("/api/v1/auth/login", json={"login": "alice", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    no_match = client.post("/api/v1/face/verify", json=burst(b"face-b"), headers=headers)
    assert no_match.status_code == 401  # someone else (support.StandInEngine): no score in the answer
    assert "similarity" not in no_match.text and "threshold" not in no_match.text
    for answer in (
        client.post("/api/v1/face/verify", json=burst(), headers=headers),
        client.post("/face/verify", json=burst(), headers={**headers, "Accept": "application/json"}),
    ):
        body = answer.json()
        assert answer.status_code in (200, 401), answer.text
        assert "similarity" not in body and "threshold" not in body, body
        assert "similarity" not in str(body.get("message", ""))


def test_api_docs_are_served_from_this_server_under_a_strict_policy(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "http" not in policy
    assert "<script>" not in page.text and "cdn" not in page.text.lower()
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css", "/static/docs.js"):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/docs/assets/..%2fcore.py").status_code == 404
    redoc = client.get("/redoc")
    assert redoc.status_code == 200 and "<script>" not in redoc.text
    assert client.get("/docs/assets/redoc.standalone.js").status_code == 200
