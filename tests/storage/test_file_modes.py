"""The data folder is 0700 and the database, its WAL files and the key files 0600 (issue 15), and an
existing folder or file that others can read is warned about at start-up."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from faceauth import composition
from faceauth.config import Settings
from faceauth.storage.file_modes import sqlite_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The common 022 umask, under which a plain create gives 0644 files and 0755 folders."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def start(settings: Settings) -> None:
    """What the server does at start: secrets, then the database (schema migrated, a write made)."""
    composition.check_secrets(settings)
    stores = composition.open_database(settings)
    try:
        stores.storage.record_event("test", success=True)
    finally:
        stores.close()


def test_a_new_data_folder_and_its_files_are_the_owners_only(
    tmp_path: Path, loose_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "fresh" / "faceauth"
    settings = Settings(data_dir=data_dir)
    with caplog.at_level(logging.WARNING, logger="faceauth.storage.file_modes"):
        start(settings)
    assert mode(data_dir) == 0o700
    database = sqlite_path(settings.resolved_database_url)
    assert database is not None and database.is_file()
    private_files = [database, data_dir / "secret_key", data_dir / "template_key"]
    private_files += [p for p in data_dir.iterdir() if p.name.startswith("faceauth.db-")]
    for path in private_files:
        assert mode(path) == 0o600, path
    assert not [r for r in caplog.records if "readable by others" in r.getMessage()]


def test_a_readable_database_and_folder_are_warned_about(
    tmp_path: Path, loose_umask: None, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "faceauth"
    settings = Settings(data_dir=data_dir)
    start(settings)
    database = data_dir / "faceauth.db"
    os.chmod(database, 0o644)
    os.chmod(data_dir, 0o755)
    with caplog.at_level(logging.WARNING, logger="faceauth.storage.file_modes"):
        start(settings)
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    assert f"{database} is mode 0644" in warnings and f"chmod 0600 {database}" in warnings
    assert f"{data_dir} is mode 0755" in warnings


def test_only_sqlite_urls_name_a_file() -> None:
    assert sqlite_path("sqlite:////var/lib/faceauth/f.db") == Path("/var/lib/faceauth/f.db")
    assert sqlite_path("sqlite:///:memory:") is None
    assert sqlite_path("postgresql+psycopg://u@h/db") is None
