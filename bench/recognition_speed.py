"""SFace's cost: milliseconds a face in ONNX Runtime (float32 and int8 copies) and in cv2.dnn (the
shipped file), and an in-process 8-frame login burst with FaceNet alone, and with SFace on the
best 4 or all 8 frames, beside the peer pipeline's burst. Rounds are interleaved, so a busy machine
slows every variant alike; medians are reported. Run by ``bench/recognition.py speed``."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import onnx

from common import percentile_ms
from faceauth.config import Settings
from faceauth.model_zoo import registry
from faceauth.model_zoo import sface as sface_file
from faceauth.model_zoo.sessions import create_session, default_threads
from faceauth.vision import sface
from faceauth.vision.engine import FaceEngine
from faceauth.vision.recognition import Recognition
from speed import frames, in_subprocess

ROUNDS = 15


def interleaved(variants: dict[str, Callable[[], object]], rounds: int = ROUNDS) -> dict[str, float]:
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run()  # warm-up
    for _ in range(rounds):
        for name, run in variants.items():
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    return {name: percentile_ms(values, 50) for name, values in timings.items()}


def speed() -> dict[str, object]:
    settings = Settings(
        data_dir=Path(tempfile.gettempdir()) / "faceauth-bench", recognition_models=("facenet", "sface")
    )
    engine = FaceEngine.load(settings)
    threads = default_threads()
    burst = frames(8)
    gated, _ = Recognition(engine).gate(burst)
    batch = sface.to_input([sface.align(frame.face.image, frame.face.face) for frame in gated])
    one = batch[:1]
    shipped = registry.locate(registry.SFACE)
    int8 = sface_file.prepare_sface(onnx.load(str(shipped)), float32=False).SerializeToString()
    sessions = {
        "fp32": registry.open_session(registry.SFACE, threads, settings.data_dir / "models"),
        "int8": create_session(int8, threads),
    }
    net = cv2.dnn.readNet(str(shipped))
    cv2.setNumThreads(threads)

    def dnn() -> object:
        net.setInput(one, sface.INPUT_NAME)
        return net.forward()

    per_face = interleaved(
        {
            "onnxruntime_fp32_ms": lambda: sessions["fp32"].run(None, {sface.INPUT_NAME: one}),
            "onnxruntime_int8_ms": lambda: sessions["int8"].run(None, {sface.INPUT_NAME: one}),
            "cv2_dnn_int8_ms": dnn,
            "onnxruntime_fp32_batch8_ms_per_face": lambda: sessions["fp32"].run(
                None, {sface.INPUT_NAME: batch}
            ),
        }
    )
    per_face["onnxruntime_fp32_batch8_ms_per_face"] = round(
        per_face["onnxruntime_fp32_batch8_ms_per_face"] / len(batch), 1
    )
    configs: dict[str, tuple[tuple[str, ...], int]] = {
        "facenet": (("facenet",), 0),
        "sface": (("sface",), 0),
        "sface+facenet_best4": (("sface", "facenet"), 4),
        "facenet+sface_best4": (("facenet", "sface"), 4),
        "facenet+sface_all8": (("facenet", "sface"), 0),
    }

    def run(models: tuple[str, ...], best: int) -> object:
        engine.settings = settings.model_copy(update={"recognition_best_frames": best})
        return engine.embed_burst(burst, models=models)

    bursts = interleaved({f"burst8_{name}_ms": (lambda c=c: run(*c)) for name, c in configs.items()}, 7)
    peer = in_subprocess("peer", 16)
    peer_ms = float(peer["burst8_ms_median"])
    return {
        "threads": threads,
        "sface_per_face": per_face,
        "in_process_bursts": bursts,
        "peer_burst8_ms_median": peer_ms,
        "ratio_to_peer": {name: round(ms / peer_ms, 3) for name, ms in bursts.items()},
        "faces_in_burst": len(gated),
        "check_cos_fp32_int8": float(
            np.min(
                np.sum(
                    _unit(sessions["fp32"].run(None, {sface.INPUT_NAME: batch})[0])
                    * _unit(sessions["int8"].run(None, {sface.INPUT_NAME: batch})[0]),
                    axis=1,
                )
            )
        ),
    }


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
