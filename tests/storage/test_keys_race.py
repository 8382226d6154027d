"""Several workers starting at once in development mode must end up with the same generated keys:
none may read a key file another is still writing (an empty or partial key)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from faceauth.storage.keys import resolve_secret_key, resolve_template_key
from support import make_settings

pytestmark = pytest.mark.e2e  # twelve processes racing (slow on a small machine)

PROCESSES = 12


def _start_worker(args: tuple[str, Any]) -> tuple[str, str, str]:
    data_dir, barrier = args
    settings = make_settings(Path(data_dir), secret_key=None)
    barrier.wait()  # all imported and ready: now race
    key = resolve_template_key(settings)
    return resolve_secret_key(settings), key.key_id, key.key.hex()


def test_concurrent_first_starts_agree_on_the_generated_keys(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(PROCESSES) as pool:
        for round_number in range(10):
            data_dir = tmp_path / f"round{round_number}"
            barrier = manager.Barrier(PROCESSES, timeout=120)
            results = pool.map(_start_worker, [(str(data_dir), barrier)] * PROCESSES, chunksize=1)
            check_round(data_dir, results)


def check_round(data_dir: Path, results: list[tuple[str, str, str]]) -> None:
    secrets_seen = {secret for secret, _, _ in results}
    keys_seen = {(key_id, key) for _, key_id, key in results}
    assert len(secrets_seen) == 1 and len(keys_seen) == 1, results
    assert len(next(iter(secrets_seen))) >= 32
    assert sorted(path.name for path in data_dir.iterdir()) == ["secret_key", "template_key"]
    assert (data_dir / "template_key").stat().st_mode & 0o777 == 0o600
