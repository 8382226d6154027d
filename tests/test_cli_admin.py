"""``faceauth users ...`` and ``faceauth face reset`` as an operator runs them: subprocesses configured
only by the environment, on a real database (SQLite, and PostgreSQL when configured), with the
confirmation prompt answered on stdin or skipped with --yes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from faceauth.storage.sql.backend import SqlStorage


def faceauth(
    database_url: str, data_dir: Path, *args: str, answer: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACEAUTH_DATA_DIR": str(data_dir), "FACEAUTH_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "faceauth.cli", *args],
        env=env,
        input=answer if answer is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


def add_user(storage: SqlStorage, username: str) -> int:
    user = storage.create_user(
        name=username.title(),
        username=username,
        email=f"{username}@example.org",
        phone="+12025550143",
        password_hash="$argon2id$not-a-real-hash",
    )
    storage.save_template(user.id, b"ciphertext", "k1", 8)
    return user.id


def test_users_list_show_disable_enable_unlock(
    storage: SqlStorage, database_url: str, tmp_path: Path
) -> None:
    ann = add_user(storage, "ann")
    add_user(storage, "bob")

    disabled = faceauth(database_url, tmp_path, "users", "disable", "ann")
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout.strip() == "ann: disabled"
    listed = faceauth(database_url, tmp_path, "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {row["username"]: row for row in json.loads(listed.stdout)}
    assert (rows["ann"]["disabled"], rows["bob"]["disabled"], rows["ann"]["face_enrolled"]) == (
        True,
        False,
        True,
    )
    assert "argon2" not in listed.stdout
    table = faceauth(database_url, tmp_path, "users", "list")
    assert "disabled" in table.stdout and "2 accounts" in table.stdout

    shown = faceauth(database_url, tmp_path, "users", "show", "ann@example.org", "--json")
    assert json.loads(shown.stdout)["id"] == ann and "argon2" not in shown.stdout
    assert faceauth(database_url, tmp_path, "users", "enable", "ann").stdout.strip() == "ann: enabled"
    unlocked = faceauth(database_url, tmp_path, "users", "unlock", "ann")
    assert unlocked.returncode == 0 and "0 lock-outs lifted" in unlocked.stdout

    events = [(e.kind, e.detail or "") for e in storage.list_events(user_id=ann)]
    assert [kind for kind, _ in events] == ["admin_unlock", "admin_enable", "admin_disable"]
    assert all(detail.startswith("by cli:") for _, detail in events)


def test_an_unknown_user_exits_2_saying_so(storage: SqlStorage, database_url: str, tmp_path: Path) -> None:
    for args in (
        ("users", "show", "nobody"),
        ("users", "delete", "nobody", "--yes"),
        ("face", "reset", "nobody"),
    ):
        result = faceauth(database_url, tmp_path, *args)
        assert result.returncode == 2 and "no user 'nobody'" in result.stderr, args


def test_delete_asks_first_and_only_yes_deletes(
    storage: SqlStorage, database_url: str, tmp_path: Path
) -> None:
    ann = add_user(storage, "ann")

    no_terminal = faceauth(database_url, tmp_path, "users", "delete", "ann")  # stdin closed: no answer
    assert no_terminal.returncode == 1 and "--yes" in no_terminal.stderr
    refused = faceauth(database_url, tmp_path, "users", "delete", "ann", answer="n\n")
    assert refused.returncode == 1 and "cannot be undone" in refused.stdout
    assert storage.get_user(ann) is not None

    confirmed = faceauth(database_url, tmp_path, "users", "delete", "ann", answer="yes\n")
    assert confirmed.returncode == 0, confirmed.stderr
    assert storage.get_user(ann) is None and not storage.has_template(ann)
    assert storage.list_events(limit=1)[0].kind == "admin_delete_account"


def test_face_reset_with_yes_asks_nothing(storage: SqlStorage, database_url: str, tmp_path: Path) -> None:
    ann = add_user(storage, "ann")
    refused = faceauth(database_url, tmp_path, "face", "reset", "ann", answer="\n")
    assert refused.returncode == 1 and storage.has_template(ann)
    reset = faceauth(database_url, tmp_path, "face", "reset", "ann", "--yes")
    assert reset.returncode == 0 and reset.stdout.strip() == "ann: face template deleted"
    assert not storage.has_template(ann) and storage.get_user(ann) is not None
    assert storage.list_events(user_id=ann, limit=1)[0].kind == "admin_face_reset"
