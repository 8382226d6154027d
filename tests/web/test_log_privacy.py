"""Every log line of a whole flow, in the JSON and the text format, at the most verbose level, from a
real ``faceauth serve`` with the real models and real photos: register, log in, enroll, log in
again, verify, add and list apps, export, log out. No line may carry the password, a token, a frame
(base64) or the stored template; the JSON lines must each be one object with the documented keys."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from faceauth.storage.sql.backend import SqlStorage
from support import serve_in_subprocess
from support.api import PASSWORD, b64, burst

pytestmark = pytest.mark.e2e

REQUEST_ID = "flow-0123456789"
PERSON = "person01"  # one look across their photos (as in tests/web/test_api.py)


@dataclass(frozen=True)
class Cast:
    """One person's photos: some to enroll with, the others to log in with."""

    enroll: list[bytes]
    login: list[bytes]


@pytest.fixture(scope="module")
def cast(photos_by_identity: dict[str, list[Path]], face_engine: Any) -> Cast:
    photos = [path.read_bytes() for path in photos_by_identity.get(PERSON, [])]
    usable = [photo for photo in photos if face_engine.embed_burst([photo]).embeddings]
    if len(usable) < 5:
        pytest.skip(f"need five usable photos of {PERSON} in faces/deepface_tests")
    return Cast(enroll=usable[:3], login=usable[3:])


def whole_flow(base_url: str, cast: Cast) -> tuple[list[str], list[str], int]:
    """Runs the flow; returns the secrets it handled (password, tokens, frames) and the user id."""
    secrets = [PASSWORD]
    frames = b64(burst(cast.enroll)) + b64(burst(cast.login))
    with httpx.Client(base_url=base_url, timeout=120, headers={"X-Request-ID": REQUEST_ID}) as client:
        body = {
            "name": "Log Privacy",
            "username": "logprivacy",
            "email": "logprivacy@example.org",
            "phone": "+1 202 555 0143",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        }
        created = client.post("/api/v1/users", json=body)
        assert created.status_code == 201, created.text
        wrong = client.post("/api/v1/auth/login", json={"login": "logprivacy", "password": PASSWORD + "x"})
        assert wrong.status_code == 401
        secrets.append(PASSWORD + "x")
        token = client.post("/api/v1/auth/login", json={"login": "logprivacy", "password": PASSWORD}).json()
        secrets.append(token["access_token"])
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        enrolled = client.post("/api/v1/face/enroll", json={"frames": b64(burst(cast.enroll))}, headers=auth)
        assert enrolled.status_code == 201, enrolled.text
        token = client.post("/api/v1/auth/login", json={"login": "logprivacy", "password": PASSWORD}).json()
        secrets.append(token["access_token"])
        auth = {"Authorization": f"Bearer {token['access_token']}"}
        verified = client.post("/api/v1/face/verify", json={"frames": b64(burst(cast.login))}, headers=auth)
        assert verified.status_code == 200, verified.text
        full = verified.json()["access_token"]
        secrets.append(full)
        auth = {"Authorization": f"Bearer {full}"}
        app = {"name": "Wiki", "url": "https://wiki.example.org", "description": "notes"}
        assert client.post("/api/v1/apps", json=app, headers=auth).status_code == 201
        assert client.get("/api/v1/apps", headers=auth).status_code == 200
        assert client.get("/api/v1/users/me/export", headers=auth).status_code == 200
        assert client.post("/api/v1/auth/logout", headers=auth).status_code == 204
    return secrets, frames, int(created.json()["id"])


def template_forms(data_dir: Path, user_id: int) -> list[str]:
    """The stored template as it could appear in a log: hex and base64 of its ciphertext."""
    storage = SqlStorage.from_url(f"sqlite:///{data_dir / 'faceauth.db'}")
    try:
        with storage.engine.connect() as connection:
            query = text("SELECT template FROM face_templates WHERE user_id = :user_id")
            ciphertext = bytes(connection.execute(query, {"user_id": user_id}).scalar_one())
    finally:
        storage.close()
    return [ciphertext.hex()[:64], base64.b64encode(ciphertext).decode()[:64]]


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_log_line_of_a_whole_flow_carries_a_secret(log_format: str, cast: Cast, tmp_path: Path) -> None:
    env = {
        "FACEAUTH_LOG_FORMAT": log_format,
        "FACEAUTH_LOG_LEVEL": "debug",
        "FACEAUTH_LIVENESS_REQUIRED": "false",
        "FACEAUTH_DATABASE_URL": f"sqlite:///{tmp_path / 'faceauth.db'}",
    }
    with serve_in_subprocess(tmp_path, env, workers=1) as server:
        secrets, frames, user_id = whole_flow(server.base_url, cast)
        forbidden = secrets + [frame[:64] for frame in frames] + template_forms(tmp_path, user_id)
    lines = [line for line in (tmp_path / "server.log").read_text().splitlines() if line.strip()]
    assert len(lines) > 10  # the flow was logged (access lines at least)
    leaks = [(secret[:12], line[:200]) for line in lines for secret in forbidden if secret in line]
    assert not leaks
    flow_lines = [line for line in lines if REQUEST_ID in line]
    assert len(flow_lines) >= 11  # every request of the flow carries its request id
    if log_format == "json":
        entries = [json.loads(line) for line in lines]  # each line one JSON object
        assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
        access = [
            e for e in entries if e["logger"] == "faceauth.access" and e.get("request_id") == REQUEST_ID
        ]
        assert {e["route"] for e in access} >= {"/api/v1/users", "/api/v1/face/verify", "/api/v1/apps"}
        assert all(isinstance(e["status"], int) and e["duration_ms"] >= 0 for e in access)
        verify = next(e for e in access if e["route"] == "/api/v1/face/verify")
        assert verify["user_id"] == user_id and verify["status"] == 200
