"""``faceauth events`` for operators, in a subprocess configured only by the environment, on a real
database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from faceauth.storage.sql.backend import SqlStorage


def run_events(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEAUTH_DATA_DIR": str(data_dir), "FACEAUTH_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "faceauth.cli", "events", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_events_for_everyone_one_user_and_as_json(
    storage: SqlStorage, database_url: str, tmp_path: Path
) -> None:
    ann = storage.create_user(
        name="Ann", username="ann", email="ann@example.org", phone="+12025550143", password_hash="h"
    )
    storage.record_event("register", success=True, user_id=ann.id, client="198.51.100.7")
    storage.record_event("face_verify", success=False, user_id=ann.id, client="198.51.100.7", score=0.125)
    storage.record_event("login_password", success=False, client="192.0.2.1", detail="unknown login")

    everyone = run_events(database_url, tmp_path, "--limit", "10")
    assert everyone.returncode == 0, everyone.stderr
    lines = everyone.stdout.splitlines()
    assert len(lines) == 3
    assert "login_password" in lines[0] and "FAILED" in lines[0] and "(unknown login)" in lines[0]
    assert "face_verify" in lines[1] and "similarity=0.125" in lines[1] and f"user={ann.id}" in lines[1]
    assert "register" in lines[2] and "ok" in lines[2] and "client=198.51.100.7" in lines[2]

    mine = run_events(database_url, tmp_path, "--user", "ann", "--limit", "1", "--json")
    assert mine.returncode == 0, mine.stderr
    events = json.loads(mine.stdout)
    assert [(e["kind"], e["success"], e["similarity"], e["user_id"]) for e in events] == [
        ("face_verify", False, 0.125, ann.id)
    ]

    unknown = run_events(database_url, tmp_path, "--user", "nobody")
    assert unknown.returncode == 2 and "no user 'nobody'" in unknown.stderr
