"""Biometric data handling through the real API on a real server, on SQLite and (with
FACEAUTH_TEST_POSTGRES_URL) PostgreSQL: the audit trail of every step, the user's export and events,
a database dump that holds no readable template, real deletion read back with raw SQL, and two
registrations racing for one username or email (one 201, one 409, never a 500).

The server is ``create_app`` under uvicorn in a thread of this process, with the real models."""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from faceauth.config import Settings
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.sql.backend import SqlStorage
from faceauth.vision import fusion, matching
from support import LiveServer, make_settings, serve_in_thread, wipe_postgres
from support.api import PASSWORD, Account, Cast, bearer, burst, enroll, login, register, verify

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)

KEY_ID_QUERY = "SELECT key_id FROM face_templates WHERE user_id = :id"
PG_DUMP = Path(os.environ.get("FACEAUTH_PG_BIN", "/usr/lib/postgresql/15/bin")) / "pg_dump"


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, face_engine: Any
) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp(f"rights-{request.param}")
    overrides: dict[str, object] = {"liveness_required": False, "rate_limit_requests": 100_000}
    if request.param == "postgres":
        url = os.environ.get("FACEAUTH_TEST_POSTGRES_URL")
        if not url:
            pytest.skip("FACEAUTH_TEST_POSTGRES_URL is not set")
        wipe_postgres(url)
        overrides["database_url"] = url
    settings = make_settings(data_dir, **overrides)
    with serve_in_thread(settings, face_engine) as server:
        yield server
    if request.param == "postgres":
        wipe_postgres(str(overrides["database_url"]))


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=120) as http:
        yield http


def raw_rows(settings: Settings, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Reads the server's database with raw SQL, not through the storage interface."""
    storage = SqlStorage.from_url(settings.resolved_database_url)
    try:
        with storage.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query), params)]
    finally:
        storage.close()


def database_dump(settings: Settings) -> bytes:
    """Every byte the database holds: the SQLite files (database and write-ahead log), or
    ``pg_dump`` of the PostgreSQL database (data as COPY text, bytea as hex) plus the raw contents
    of every table as psycopg returns them."""
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        database = Path(url.database)
        return b"".join(path.read_bytes() for path in [database, Path(f"{database}-wal")] if path.exists())
    dump = b""
    if PG_DUMP.exists():
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        dump = subprocess.run([str(PG_DUMP), "--data-only", plain], capture_output=True, check=True).stdout
    tables = [
        row[0] for row in raw_rows(settings, "SELECT tablename FROM pg_tables WHERE schemaname='public'")
    ]
    for table in tables:
        for row in raw_rows(settings, f'SELECT * FROM "{table}"'):
            for value in row:
                dump += bytes(value) if isinstance(value, (bytes, memoryview)) else repr(value).encode()
                dump += b"\n"
    return dump


def readable_forms(template: np.ndarray) -> dict[str, list[bytes]]:
    """How a template could appear in the clear: raw float32 bytes (either byte order), float64
    bytes, and its numbers printed as text (repr, fixed 4 and 6 decimals, as JSON would)."""
    first = [float(value) for value in template[:4]]
    return {
        "float32 little-endian": [template.astype("<f4").tobytes()[:64]],
        "float32 big-endian": [template.astype(">f4").tobytes()[:64]],
        "float64": [template.astype("<f8").tobytes()[:64]],
        "repr": [", ".join(repr(np.float32(v).item()) for v in first).encode()],
        "6 decimals": [", ".join(f"{v:.6f}" for v in first).encode(), f"{first[0]:.6f}".encode()],
        "4 decimals": [",".join(f"{v:.4f}" for v in first).encode()],
        "str list": [str(template.tolist()[:4])[1:-1].encode()],
    }


_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_numbers)}_{os.getpid()}"


def full_session(client: httpx.Client, cast: Cast, prefix: str) -> tuple[Account, str]:
    """Register, log in, enroll and verify: the account and its full-stage token."""
    account = register(client, prefix)
    token = login(client, account)["access_token"]
    enrolled = enroll(client, token, burst(cast.enroll))
    assert enrolled.status_code == 201, enrolled.text
    verified = verify(client, token, burst(cast.login))
    assert verified.status_code == 200, verified.text
    return account, str(verified.json()["access_token"])


def test_every_step_is_in_the_audit_log_and_the_users_events(
    client: httpx.Client, cast: Cast, server: LiveServer
) -> None:
    account, full = full_session(client, cast, "audit")
    password_token = login(client, account)["access_token"]
    impostor = next(iter(cast.impostors.values()))
    refused = verify(client, password_token, burst(impostor))
    assert refused.status_code == 401
    taken = client.post(
        "/api/v1/users",
        json={
            "name": "Copy Cat",
            "username": account.username,
            "email": f"other_{account.username}@example.org",
            "phone": "+1 202 555 0143",
            "password": PASSWORD,
            "password_confirm": PASSWORD,
        },
    )
    assert taken.status_code == 409

    assert client.get("/api/v1/users/me/events", headers=bearer(password_token)).status_code == 403
    response = client.get("/api/v1/users/me/events", headers=bearer(full))
    assert response.status_code == 200, response.text
    events = response.json()["events"]
    steps = [(event["kind"], event["success"]) for event in reversed(events)]
    assert steps == [
        ("register", True),
        ("login_password", True),
        ("face_enroll", True),
        ("face_verify", True),
        ("login_password", True),
        ("face_verify", False),
    ]
    for event in events:
        assert event["client"] == "127.0.0.1" and event["time"]
    genuine, impostor_score = events[2]["similarity"], events[0]["similarity"]
    threshold = fusion.served_threshold(server.settings)
    assert genuine is not None and genuine >= threshold
    assert impostor_score is not None and impostor_score < threshold
    assert client.get("/api/v1/users/me/events?limit=2", headers=bearer(full)).json()["events"] == events[:2]

    # The refused registration has no user, but it is in the operator's log with its reason.
    rows = raw_rows(
        server.settings,
        "SELECT kind, success, user_id, client, detail FROM audit_events ORDER BY id DESC LIMIT 20",
    )
    assert ("register", False, None, "127.0.0.1", "username taken") in [
        (kind, bool(success), user_id, client, detail) for kind, success, user_id, client, detail in rows
    ]
    # Nothing image- or template-like in the log: short fixed columns only.
    for row in raw_rows(server.settings, "SELECT detail FROM audit_events WHERE detail IS NOT NULL"):
        assert len(row[0]) <= 500


def test_export_lists_what_is_held_but_never_the_template(client: httpx.Client, cast: Cast) -> None:
    account, full = full_session(client, cast, "export")
    added = client.post(
        "/api/v1/apps", json={"name": "Mail", "url": "https://mail.example.org"}, headers=bearer(full)
    )
    assert added.status_code == 201, added.text
    password_token = login(client, account)["access_token"]
    assert client.get("/api/v1/users/me/export", headers=bearer(password_token)).status_code == 403

    response = client.get("/api/v1/users/me/export", headers=bearer(full))
    assert response.status_code == 200, response.text
    export = response.json()
    assert export["account"]["username"] == account.username
    assert export["account"]["email"] == account.email
    assert export["account"]["phone"] == "+12025550143"
    assert "password_hash" not in response.text and "argon2" not in response.text
    assert [app["name"] for app in export["apps"]] == ["Mail"]
    template = export["face_template"]
    assert template["exists"] is True and template["frames_used"] == 8
    assert template["created_at"] and template["updated_at"] and template["key_id"]
    assert set(template) == {"exists", "created_at", "updated_at", "frames_used", "key_id"}
    kinds = [event["kind"] for event in export["events"]]
    assert {"register", "login_password", "face_enroll", "face_verify"} <= set(kinds)

    assert client.delete("/api/v1/face", headers=bearer(full)).status_code == 204
    after = client.get("/api/v1/users/me/export", headers=bearer(full)).json()
    assert after["face_template"] == {"exists": False}
    assert after["events"][0]["kind"] == "face_delete" and after["events"][0]["success"] is True


def test_the_database_holds_no_readable_template(
    client: httpx.Client, cast: Cast, server: LiveServer, face_engine: Any
) -> None:
    frames = burst(cast.enroll)
    account = register(client, "dump")
    token = login(client, account)["access_token"]
    assert enroll(client, token, frames).status_code == 201

    # The template the server computed (one vector per served model), recomputed here from the same
    # frames by the same engine, as enrollment embeds them (every frame by every model).
    embedded = face_engine.embed_burst(frames, every_frame=True)
    recomputed = {
        vectors.model: matching.build_template(
            list(vectors.vectors),
            server.settings.enroll_min_consistency,
            frame_indices=vectors.frame_indices,
        )
        for vectors in embedded.models
    }
    dump = database_dump(server.settings)
    (ciphertext,) = raw_rows(
        server.settings, "SELECT template FROM face_templates WHERE user_id = :id", id=account.id
    )[0]
    # Controls: the dump holds the stored ciphertext; it decrypts (with the server's keys) to the
    # template recomputed here; and the search finds a template's forms where they are.
    assert bytes(ciphertext)[:32] in dump or bytes(ciphertext)[:32].hex().encode() in dump
    stored = TemplateCipher.from_settings(server.settings).decrypt_template(
        account.id, bytes(ciphertext), raw_rows(server.settings, KEY_ID_QUERY, id=account.id)[0][0]
    )
    assert stored.models == server.settings.recognition_models
    for part in stored.vectors:
        np.testing.assert_allclose(part.vector, recomputed[part.model], atol=1e-4)
    for candidate in (*recomputed.values(), *(part.vector for part in stored.vectors)):
        for name, needles in readable_forms(candidate).items():
            assert needles[0] in b"xx" + needles[0] + b"yy", name
            for needle in needles:
                assert needle not in dump, f"the template is readable in the database dump as {name}"


def test_deleting_the_account_leaves_nothing_behind(
    client: httpx.Client, cast: Cast, server: LiveServer
) -> None:
    account, full = full_session(client, cast, "erase")
    assert client.post("/api/v1/apps", json={"name": "Wiki"}, headers=bearer(full)).status_code == 201
    settings = server.settings
    (ciphertext,) = raw_rows(
        settings, "SELECT template FROM face_templates WHERE user_id = :id", id=account.id
    )[0]
    assert (
        raw_rows(settings, "SELECT COUNT(*) FROM audit_events WHERE user_id = :id", id=account.id)[0][0] >= 4
    )

    assert client.delete("/api/v1/users/me", headers=bearer(full)).status_code == 204

    person = {"id": account.id, "username": account.username, "email": account.email}
    for query in [
        "SELECT COUNT(*) FROM users WHERE id = :id OR username = :username OR email = :email",
        "SELECT COUNT(*) FROM face_templates WHERE user_id = :id",
        "SELECT COUNT(*) FROM apps WHERE user_id = :id",
        "SELECT COUNT(*) FROM audit_events WHERE user_id = :id",
        "SELECT COUNT(*) FROM audit_events WHERE detail LIKE '%' || :username || '%'",
    ]:
        assert raw_rows(settings, query, **person)[0][0] == 0, query
    kinds = raw_rows(settings, "SELECT kind, user_id, client FROM audit_events ORDER BY id DESC LIMIT 1")
    assert kinds == [("delete_account", None, None)]
    if make_url(settings.resolved_database_url).get_backend_name() == "sqlite":
        # secure_delete and the checkpoint: the ciphertext is gone from the files, not just unlinked.
        assert bytes(ciphertext)[12:44] not in database_dump(settings)
    refused = client.post("/api/v1/auth/login", json={"login": account.username, "password": PASSWORD})
    assert refused.status_code == 401


@pytest.mark.parametrize("clash", ["username", "email"])
def test_simultaneous_registrations_give_one_201_and_409s(
    client: httpx.Client, server: LiveServer, clash: str
) -> None:
    """Rounds of eight registrations released together, each on its own connection, clashing on the
    username or the email: exactly one 201 per round, the rest 409, never a 500."""
    for _ in range(5):
        name = unique("race")

        barrier = threading.Barrier(8)

        def attempt(index: int, name: str = name, barrier: threading.Barrier = barrier) -> int:
            body = {
                "name": "Racer",
                "username": name if clash == "username" else f"{name}_{index}",
                "email": f"{name}@example.org" if clash == "email" else f"{name}_{index}@example.org",
                "phone": "+1 202 555 0143",
                "password": PASSWORD,
                "password_confirm": PASSWORD,
            }
            with httpx.Client(base_url=server.base_url, timeout=120) as own_connection:
                barrier.wait()
                return own_connection.post("/api/v1/users", json=body).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            codes = sorted(pool.map(attempt, range(8)))
        assert codes == [201] + [409] * 7, codes
