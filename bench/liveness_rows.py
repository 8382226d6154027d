"""The recorded presentation-attack rows and the rendered genuine rows of bench/liveness.py, judged
offline exactly as the server judges a challenge (``faceauth.service.liveness.judge_stream``), each
stream twice:

- **light step on** (the default, ``FACEAUTH_LIVENESS_LIGHT=blocking``): the stream starts with a light
  phase, the presentation as it is while the page shows the colours (nothing in it responds to them),
  and is judged with a schedule drawn as the service draws it (``service.liveness_light.draw_schedule``,
  a fresh one per challenge judged);
- **light step off**: the moves part alone, as a server with the light step off receives it: what the
  other steps (one face, the moves, one person, the passive signals) stop on their own.

Every attack stream is judged against each challenge the service can draw with the settings (every
challenge a blink and a turn, in either order) and counts as accepted if any passes (the attacker's
best case). Rows:

- print_static: one NUAA printed-photo frame held still (the frame repeated with sensor-like noise
  and sub-pixel jitter), one per NUAA subject and session; light phase: the same;
- print_handheld: NUAA's printed-photo sessions as recorded (16 frames each: the print moved, tilted,
  bent by hand); light phase: the session played forwards and backwards;
- replay_screen: replay_pyimagesearch's screen-replay frames, windows of 40 consecutive frames; light
  phase: the frames just before the window;
- photo_sequence: several different photos of one person (deepface_tests), each held for a few frames,
  ordered by their measured yaw to act out each challenge as well as the photos allow; light phase: the
  most frontal photo held.

Genuine (BPCER): each deepface_tests identity's first photo, **rendered** doing each challenge
(``faceauth.vision.synthetic``: turns by a 3-D rotation of the face mesh, blinks by painted lids), at
8 fps, judged with the light step off (a rendered stream is an animated photo: it has no light to show).
"""

from __future__ import annotations

import csv
import itertools
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attacks.stats import clopper_pearson_upper
from faceauth.composition import load_liveness
from faceauth.config import Settings
from faceauth.service.liveness import MOVE_KINDS, judge_stream, sequence_policy
from faceauth.service.liveness_light import draw_schedule
from faceauth.vision.engine import FaceEngine
from faceauth.vision.landmarks import FaceMesh
from faceauth.vision.liveness import FrameObservation, Move, StreamPlan
from faceauth.vision.synthetic import challenge_frames

FPS = 8.0
STREAM = 40  # frames of the moves part: 5 s at 8 fps
ROWS = ("print_static", "print_handheld", "replay_screen", "photo_sequence")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def possible_challenges(settings: Settings) -> list[tuple[Move, ...]]:
    """Every ordered challenge ``LivenessService.draw_moves`` can draw: distinct moves, one of each
    kind (blink, turn) among them when the count allows."""
    moves = [Move(m) for m in settings.liveness_moves]
    count = settings.liveness_moves_per_challenge
    kinds = {MOVE_KINDS[m] for m in moves}
    return [
        draw
        for draw in itertools.permutations(moves, count)
        if len({MOVE_KINDS[m] for m in draw}) == min(count, len(kinds))
    ]


def read_rgb(path: Path, border: int = 0) -> np.ndarray:
    bgr = cv2.imread(str(path))
    if bgr is None:
        raise FileNotFoundError(path)
    if border:
        bgr = cv2.copyMakeBorder(bgr, border, border, border, border, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def frame_number(path: str) -> int:
    numbers = re.findall(r"\d+", Path(path).stem)
    return int(numbers[-1]) if numbers else 0


def jitter(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    shift = np.array([[1, 0, rng.uniform(-0.7, 0.7)], [0, 1, rng.uniform(-0.7, 0.7)]], np.float32)
    moved = cv2.warpAffine(rgb, shift, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REPLICATE)
    noise = rng.integers(-3, 4, size=rgb.shape, dtype=np.int16)
    frame: np.ndarray = np.clip(moved.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    return frame


@dataclass(frozen=True)
class Stream:
    """One presentation: the frames shown during the light phase, then the moves part."""

    name: str
    light: list[np.ndarray]
    moves: list[np.ndarray]
    challenges: tuple[tuple[Move, ...], ...] | None = None  # None: every possible challenge


class Judge:
    def __init__(self, settings: Settings, engine: FaceEngine, mesh: FaceMesh) -> None:
        self.settings = settings
        analyzer = load_liveness(settings, engine, mesh)  # the server's analyzer and sampling
        assert analyzer is not None
        self.analyzer = analyzer
        self.policy = sequence_policy(settings)
        self.challenges = possible_challenges(settings)
        schedule = draw_schedule(settings.model_copy(update={"liveness_light": "blocking"}))
        assert schedule is not None
        self.light_frames = schedule.frames
        self.settle_frames = schedule.settle_frame_indices()  # the same in every draw (frames per step)

    def usable_still(self, rgb: np.ndarray) -> bool:
        return bool(self.analyzer.observe(rgb, 0.0).usable_for_matching)

    def observe(
        self, frames: Sequence[np.ndarray], moves_from: int = 0, skipped: frozenset[int] = frozenset()
    ) -> list[FrameObservation]:
        """The frames as one stream, as the service observes a challenge (tracking from frame to frame;
        the moves asked from frame ``moves_from``). One stream is judged against every challenge, so
        eyes are measured as if a blink were always still to come (the most the attacker can get)."""
        settings = self.settings
        plan = StreamPlan(
            moves_from=moves_from,
            matching_frames=settings.liveness_matching_frames,
            served_frames=settings.recognition_best_frames,
            moves=None,  # any challenge: eyes wherever a blink could count
            skipped=skipped,
        )
        observed: list[FrameObservation] = []
        for i, frame in enumerate(frames):
            observed.append(self.analyzer.observe(frame, i / FPS, observed, plan))
        return observed

    def judge(self, stream: Stream, light_on: bool) -> list[tuple[str, str | None, str | None]]:
        """(challenge, step, reason) per challenge judged; step None: live."""
        if light_on:
            settings = self.settings.model_copy(update={"liveness_light": "blocking"})
            observations = self.observe([*stream.light, *stream.moves], len(stream.light), self.settle_frames)
        else:
            settings = self.settings.model_copy(update={"liveness_light": "off"})
            observations = self.observe(stream.moves)
        verdicts = []
        for moves in stream.challenges or self.challenges:
            schedule = draw_schedule(settings)  # a fresh one per challenge, None when off
            verdict = judge_stream(self.analyzer, observations, moves, self.policy, settings, schedule)
            verdicts.append(("+".join(moves), verdict.step, verdict.reason))
        return verdicts


@dataclass
class Tally:
    """Accepted streams (any challenge passed) and the steps that stopped the challenges judged."""

    streams: int = 0
    accepted: int = 0
    steps: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, verdicts: list[tuple[str, str | None, str | None]]) -> None:
        self.streams += 1
        self.accepted += any(step is None for _, step, _ in verdicts)
        for _, step, reason in verdicts:
            if step is not None:
                self.steps[step] += 1
                self.reasons[f"{step}: {reason}"] += 1

    def report(self) -> dict[str, Any]:
        judged = sum(self.steps.values())
        top = self.steps.most_common(1)
        return {
            "streams": self.streams,
            "accepted": self.accepted,
            "apcer": round(self.accepted / max(1, self.streams), 4),
            "apcer_upper_95": round(clopper_pearson_upper(self.accepted, self.streams), 4),
            "stopped_most_by": f"{top[0][0]} ({top[0][1]} of {judged})" if top else None,
            "failures_by_step": dict(self.steps),
            "failures": dict(self.reasons.most_common()),
        }


def recorded_streams(root: Path, kind: str, light_frames: int, quick: bool) -> Iterator[Stream]:
    """The NUAA print and screen-replay rows, one stream at a time."""
    rng = np.random.default_rng(1)
    if kind in ("print_static", "print_handheld"):
        nuaa = root / "spoof" / "nuaa"
        sessions: dict[tuple[str, str], list[str]] = defaultdict(list)
        with (nuaa / "images.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                if row["label"] == "spoof":
                    sessions[(row["identity"], row["session"])].append(row["path"])
        for key in sorted(sessions)[:: 24 if quick else 1]:
            paths = sorted(sessions[key], key=frame_number)
            name = f"{key[0]}/{key[1]}"
            if kind == "print_static":
                still = read_rgb(nuaa / paths[len(paths) // 2], border=100)
                frames = [jitter(still, rng) for _ in range(light_frames + STREAM)]
                yield Stream(name, frames[:light_frames], frames[light_frames:])
            else:
                recorded = [read_rgb(nuaa / p, border=100) for p in paths[:STREAM]]
                there_and_back = itertools.cycle(recorded + recorded[-2:0:-1])
                yield Stream(name, list(itertools.islice(there_and_back, light_frames)), recorded)
        return
    replay = root / "spoof" / "replay_pyimagesearch"
    with (replay / "images.csv").open(newline="") as handle:
        fakes = sorted((r["path"] for r in csv.DictReader(handle) if r["label"] == "spoof"), key=frame_number)
    step = STREAM * (5 if quick else 1)
    for start in range(light_frames, len(fakes) - STREAM + 1, step):
        frames = [read_rgb(replay / p, border=100) for p in fakes[start - light_frames : start + STREAM]]
        yield Stream(f"frames {start}-{start + STREAM - 1}", frames[:light_frames], frames[light_frames:])


def photo_sequence_streams(root: Path, judge: Judge, quick: bool) -> Iterator[Stream]:
    """Per person with 3+ photos: for each challenge, a stream of their photos (each held 5 frames)
    (only photos a login accepts as a still: one face, every gate passed), chosen by measured yaw:
    the most frontal for neutral (and the light phase), the most turned each way for turns, the
    photo with the lowest eye openness for a blink."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.camera import compose_frame, deepface_photos

    rng = np.random.default_rng(2)
    by_person: dict[str, list[tuple[np.ndarray, float, float]]] = defaultdict(list)
    for photo in deepface_photos(root):
        rgb = compose_frame(photo.path)
        pose = judge.analyzer.mesh.measure(rgb)
        if pose is not None and judge.usable_still(rgb):
            by_person[photo.identity].append((rgb, pose.yaw_deg, (pose.left_ear + pose.right_ear) / 2))
    people = [(person, shots) for person, shots in sorted(by_person.items()) if len(shots) >= 3]
    for person, shots in people[:2] if quick else people:
        frontal = min(shots, key=lambda s: abs(s[1]))
        pick = {
            Move.TURN_LEFT: max(shots, key=lambda s: s[1]),
            Move.TURN_RIGHT: min(shots, key=lambda s: s[1]),
            Move.BLINK: min(shots, key=lambda s: s[2]),
        }
        for moves in judge.challenges:
            sequence = [frontal]
            for move in moves:
                sequence += [pick[move], frontal]
            frames = [jitter(shot[0], rng) for shot in sequence for _ in range(5)]
            light = [jitter(frontal[0], rng) for _ in range(judge.light_frames)]
            yield Stream(f"{person} {'+'.join(moves)}", light, frames, (moves,))


def attack_rows(root: Path, judge: Judge, quick: bool) -> dict[str, dict[str, Any]]:
    """Each row, light step on and off: streams, accepted, APCER with its upper bound, the step that
    stopped most."""
    rows: dict[str, dict[str, Any]] = {}
    for kind in ROWS:
        streams = (
            photo_sequence_streams(root, judge, quick)
            if kind == "photo_sequence"
            else recorded_streams(root, kind, judge.light_frames, quick)
        )
        on, off = Tally(), Tally()
        for stream in streams:
            with_light, without = judge.judge(stream, light_on=True), judge.judge(stream, light_on=False)
            on.add(with_light)
            off.add(without)
            log(f"{kind} {stream.name}: light on {_brief(with_light)}; light off {_brief(without)}")
        rows[kind] = {"light_on": on.report(), "light_off": off.report()}
    return rows


def _brief(verdicts: list[tuple[str, str | None, str | None]]) -> str:
    passed = [challenge for challenge, step, _ in verdicts if step is None]
    return f"passed {passed}" if passed else ", ".join(sorted({str(r) for _, _, r in verdicts}))


def genuine_rows(root: Path, judge: Judge, quick: bool) -> dict[str, Any]:
    """BPCER on rendered genuine challenges (light step off), by challenge."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.camera import compose_frame, deepface_photos

    # Each person's first photo that a login would accept as a still: exactly one face, every gate
    # passed (a photo with a second face in it is not a genuine login of one person).
    firsts: dict[str, Path] = {}
    for photo in deepface_photos(root):
        if photo.identity not in firsts and judge.usable_still(compose_frame(photo.path)):
            firsts[photo.identity] = photo.path
    settings = judge.settings.model_copy(update={"liveness_light": "off"})
    details, steps = [], Counter[str]()
    for person, path in sorted(firsts.items())[: 2 if quick else None]:
        rgb = compose_frame(path)
        pose = judge.analyzer.mesh.measure(rgb)
        if pose is None or pose.landmarks is None:
            log(f"genuine {person}: no face mesh on the photo, skipped")
            continue
        for index, moves in enumerate(judge.challenges):
            frames = challenge_frames(rgb, pose.landmarks, [m.value for m in moves], fps=FPS, seed=index)
            verdict = judge_stream(judge.analyzer, judge.observe(frames), moves, judge.policy, settings)
            steps[verdict.step or "live"] += 1
            details.append({"person": person, "challenge": "+".join(moves), "reason": verdict.reason})
            log(f"genuine (rendered) {person} {'+'.join(moves)}: {verdict.reason or 'live'}")
    rejected = sum(d["reason"] is not None for d in details)
    top = [(s, n) for s, n in steps.most_common() if s != "live"][:1]
    return {
        "streams": len(details),
        "rejected": rejected,
        "bpcer": round(rejected / max(1, len(details)), 4),
        "bpcer_upper_95": round(clopper_pearson_upper(rejected, len(details)), 4),
        "stopped_most_by": f"{top[0][0]} ({top[0][1]} of {rejected})" if top else None,
        "failures_by_step": {s: n for s, n in steps.items() if s != "live"},
        "details": details,
    }


def passive_on_real_sessions(root: Path, judge: Judge) -> dict[str, Any]:
    """The passive signals on real people: NUAA's real sessions (people sitting in front of a webcam,
    not asked to move)."""
    nuaa = root / "spoof" / "nuaa"
    sessions: dict[tuple[str, str], list[str]] = defaultdict(list)
    with (nuaa / "images.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"] == "real":
                sessions[(row["identity"], row["session"])].append(row["path"])
    rows = []
    for key in sorted(sessions):
        paths = sorted(sessions[key], key=frame_number)[:STREAM]
        observations = judge.observe([read_rgb(nuaa / p, border=100) for p in paths])
        evidence = judge.analyzer.evaluate_passive(observations)
        rows.append(
            {"session": "/".join(key), **{e.name: {"score": e.score, "spoof": e.spoof} for e in evidence}}
        )
        log(f"real {'/'.join(key)}: {[(e.name, e.score, e.spoof) for e in evidence]}")
    summary: dict[str, dict[str, object]] = {}
    for name in ("motion", "screen"):
        scores = sorted(float(r[name]["score"]) for r in rows)  # type: ignore[index]
        flagged = sum(bool(r[name]["spoof"]) for r in rows)  # type: ignore[index]
        summary[name] = {
            "sessions": len(rows),
            "flagged_as_spoof": flagged,
            "lowest": scores[:3],
            "highest": scores[-3:],
        }
    return {"summary": summary, "sessions": rows}
