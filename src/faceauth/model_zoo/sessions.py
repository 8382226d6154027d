"""ONNX Runtime CPU sessions with the thread settings every model of the app runs with."""

from __future__ import annotations

import os
from pathlib import Path

import onnxruntime as ort


def default_threads() -> int:
    """Inference threads per process: the cores divided among uvicorn workers, at least one.

    Oversubscribing (every worker using every core) was measured to triple latency."""
    cores = os.cpu_count() or 1
    workers = int(os.environ.get("WEB_CONCURRENCY", "1") or 1)
    return max(1, cores // max(1, workers))


def create_session(model: Path | bytes, threads: int, spin: bool = False) -> ort.InferenceSession:
    """A CPU session for an ONNX file or serialized model, ``threads`` intra-op threads.

    ``spin``: let idle threads spin-wait for the next run (faster for the one big network, FaceNet,
    harmful for the small ones that run between its calls)."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    # Several sessions run one after another (P-, R-, O-Net, FaceNet, face mesh): threads of the small
    # ones that spin-wait after a run steal the cores from the next session (measured: FaceNet 45 ms a
    # face instead of 14 while MTCNN's threads spun), so they sleep instead.
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, sess_options=options, providers=["CPUExecutionProvider"])
