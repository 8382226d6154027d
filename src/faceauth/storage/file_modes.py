"""The data folder and its files are the owner's alone: folder 0700, database and key files 0600.

The SQLite database holds templates, password hashes and audit events; the key files the secrets
that sign tokens and encrypt templates. They are created with those modes (the database file before
SQLite opens it: SQLite gives its -wal and -shm files the main file's mode), and an existing folder
or file that others can read is reported at start-up with a warning (not changed: an operator may
have meant it, and the warning says how to fix it)."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from faceauth.config import Settings
from faceauth.storage.keys import SECRET_KEY_FILE, TEMPLATE_KEY_FILE

logger = logging.getLogger(__name__)

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
KEY_FILES = (SECRET_KEY_FILE, TEMPLATE_KEY_FILE)
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def sqlite_path(database_url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL; None for another database or an in-memory one."""
    scheme, separator, rest = database_url.partition(":///")
    if not separator or not scheme.startswith("sqlite"):
        return None
    path = rest.split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def create_private_files(settings: Settings) -> None:
    """Creates the data folder (0700) and an SQLite database file (0600) that do not exist yet."""
    _make_private_dir(settings.data_dir)
    database = sqlite_path(settings.resolved_database_url)
    if database is not None:
        _make_private_dir(database.parent)
        with contextlib.suppress(FileExistsError):
            os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE_MODE))


def exposed_files(settings: Settings) -> list[str]:
    """One line for each private folder or file that others than its owner can read or write."""
    found = []
    candidates = [(settings.data_dir, PRIVATE_DIR_MODE)]
    candidates += [(settings.data_dir / name, PRIVATE_FILE_MODE) for name in KEY_FILES]
    database = sqlite_path(settings.resolved_database_url)
    if database is not None:
        candidates.append((database.parent, PRIVATE_DIR_MODE))
        candidates += [(Path(f"{database}{side}"), PRIVATE_FILE_MODE) for side in ("", *SQLITE_SIDE_FILES)]
    for path, wanted in dict(candidates).items():
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            found.append(f"{path} is mode {mode:04o}, readable by others: chmod {wanted:04o} {path}")
    return found


def warn_about_exposed_files(settings: Settings) -> list[str]:
    """Logs a warning for each exposed folder or file; returns them."""
    found = exposed_files(settings)
    for line in found:
        logger.warning("private data: %s", line)
    return found


def _make_private_dir(path: Path) -> None:
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR_MODE)
    except FileExistsError:
        return
    os.chmod(path, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask; 0700 is what we want
