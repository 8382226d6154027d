"""Liveness measurements: attacks presented as challenge streams (APCER per attack type) and genuine
challenge streams synthesised from real photos (BPCER).

    python bench/liveness.py [--json OUT] [--quick]

A stream is judged exactly as the server judges a challenge (faceauth.service.liveness.judge_stream):
the asked moves in order (face mesh), one face throughout (FaceNet consistency), and the blocking
passive signals; screen cues are reported too. Every attack stream is checked against each of the six
ordered two-move challenges, and counts as accepted if any of them passes (the attacker's best case).

Attack types:
- print_static: one NUAA printed-photo frame held still (the frame repeated with sensor-like noise
  and sub-pixel jitter), one per NUAA subject and session;
- print_handheld: NUAA's printed-photo sessions as recorded (the print moved, tilted, bent by hand),
  40 consecutive frames each;
- replay_screen: replay_pyimagesearch's screen-replay frames, windows of 40 consecutive frames;
- photo_sequence: several different photos of one person (deepface_tests), each held for a few frames,
  ordered by their measured yaw to act out each challenge as well as the photos allow.

Genuine: each deepface_tests identity's first photo, rendered doing each of the six challenges
(faceauth.vision.synthetic: turns by a 3-D rotation of the face mesh, blinks by painted lids), at 8 fps.
Progress goes to stderr."""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import data_root
from faceauth.config import Settings
from faceauth.service.liveness import judge_stream, sequence_policy
from faceauth.vision.engine import FaceEngine
from faceauth.vision.landmarks import FaceMesh
from faceauth.vision.liveness import FrameObservation, LivenessAnalyzer, Move, default_signals
from faceauth.vision.synthetic import challenge_frames

FPS = 8.0
STREAM = 40  # frames: 5 s at 8 fps
CHALLENGES = [
    tuple(pair) for pair in itertools.permutations([Move.BLINK, Move.TURN_LEFT, Move.TURN_RIGHT], 2)
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
    return np.clip(moved.astype(np.int16) + noise, 0, 255).astype(np.uint8)


class Judge:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.analyzer = LivenessAnalyzer(
            FaceEngine.load(settings),
            FaceMesh.load(threads=1, cache_dir=settings.models_dir),
            default_signals(),
        )
        self.policy = sequence_policy(settings)

    def usable_still(self, rgb: np.ndarray) -> bool:
        return self.analyzer.observe(rgb, 0.0).usable_for_matching

    def observe(self, frames: list[np.ndarray]) -> list[FrameObservation]:
        """The frames as one stream, as the service observes a challenge (tracking from frame to frame)."""
        observed: list[FrameObservation] = []
        for i, frame in enumerate(frames):
            observed.append(self.analyzer.observe(frame, i / FPS, observed))
        return observed

    def verdicts(self, observations: list[FrameObservation]) -> dict[str, object]:
        """Which of the six challenges this stream passes, and why the others fail."""
        passed, reasons = [], []
        passive = {}
        for moves in CHALLENGES:
            verdict = judge_stream(self.analyzer, observations, moves, self.policy, self.settings)
            passive = {e.name: e.score for e in verdict.passive}
            if verdict.live:
                passed.append("+".join(moves))
            else:
                reasons.append(verdict.reason or "")
        return {"passed": passed, "reasons": sorted(set(reasons)), "passive": passive}


def attack_streams(root: Path, quick: bool) -> dict[str, list[tuple[str, list[np.ndarray]]]]:
    rng = np.random.default_rng(1)
    streams: dict[str, list[tuple[str, list[np.ndarray]]]] = defaultdict(list)
    nuaa = root / "spoof" / "nuaa"
    sessions: dict[tuple[str, str], list[str]] = defaultdict(list)
    with (nuaa / "images.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"] == "spoof":
                sessions[(row["identity"], row["session"])].append(row["path"])
    keys = sorted(sessions)[:: 4 if quick else 1]
    for key in keys:
        paths = sorted(sessions[key], key=frame_number)
        still = read_rgb(nuaa / paths[len(paths) // 2], border=100)
        streams["print_static"].append((f"{key[0]}/{key[1]}", [jitter(still, rng) for _ in range(STREAM)]))
        window = paths[:STREAM]
        streams["print_handheld"].append(
            (f"{key[0]}/{key[1]}", [read_rgb(nuaa / p, border=100) for p in window])
        )
    replay = root / "spoof" / "replay_pyimagesearch"
    with (replay / "images.csv").open(newline="") as handle:
        fakes = sorted((r["path"] for r in csv.DictReader(handle) if r["label"] == "spoof"), key=frame_number)
    step = STREAM * (4 if quick else 1)
    for start in range(0, len(fakes) - STREAM + 1, step):
        frames = [read_rgb(replay / p, border=100) for p in fakes[start : start + STREAM]]
        streams["replay_screen"].append((f"frames {start}-{start + STREAM - 1}", frames))
    return streams


def photo_sequence_streams(
    root: Path, mesh: FaceMesh, judge: Judge
) -> list[tuple[str, dict[tuple[Move, ...], list[np.ndarray]]]]:
    """Per person with 3+ photos: for each challenge, a stream of their photos (each held 5 frames)
    (only photos a login accepts as a still: one face, every gate passed), chosen by measured yaw:
    the most frontal for neutral, the most turned each way for turns, a
    photo with the lowest eye openness for a blink."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.camera import compose_frame, deepface_photos

    rng = np.random.default_rng(2)
    by_person: dict[str, list[tuple[np.ndarray, float, float]]] = defaultdict(list)
    for photo in deepface_photos(root):
        rgb = compose_frame(photo.path)
        pose = mesh.measure(rgb)
        if pose is not None and judge.usable_still(rgb):
            by_person[photo.identity].append((rgb, pose.yaw_deg, (pose.left_ear + pose.right_ear) / 2))
    result = []
    for person, shots in sorted(by_person.items()):
        if len(shots) < 3:
            continue
        frontal = min(shots, key=lambda s: abs(s[1]))
        left = max(shots, key=lambda s: s[1])
        right = min(shots, key=lambda s: s[1])
        blink = min(shots, key=lambda s: s[2])
        pick = {Move.TURN_LEFT: left, Move.TURN_RIGHT: right, Move.BLINK: blink}
        per_challenge = {}
        for moves in CHALLENGES:
            sequence = [frontal]
            for move in moves:
                sequence += [pick[move], frontal]
            frames = [jitter(shot[0], rng) for shot in sequence for _ in range(5)]
            per_challenge[moves] = frames
        result.append((person, per_challenge))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--quick", action="store_true", help="a quarter of the attack streams")
    parser.add_argument(
        "--no-spoof-sets",
        action="store_true",
        help="skip the NUAA print and screen-replay streams (photo sequences and genuine only)",
    )
    parser.add_argument(
        "--passive-real",
        action="store_true",
        help="only the passive signals on NUAA's real webcam sessions (people in front of a webcam)",
    )
    args = parser.parse_args()
    root = data_root()
    settings = Settings(liveness_required=True)
    judge = Judge(settings)
    if args.passive_real:
        passive_on_real_sessions(root, judge, args.json)
        return
    started = time.perf_counter()
    report: dict[str, object] = {
        "settings": {k: v for k, v in settings.model_dump().items() if k.startswith("liveness")}
    }
    attacks: dict[str, object] = {}

    spoof_sets = {} if args.no_spoof_sets else attack_streams(root, args.quick)
    for kind, streams in spoof_sets.items():
        accepted, details = 0, []
        for name, frames in streams:
            outcome = judge.verdicts(judge.observe(frames))
            accepted += bool(outcome["passed"])
            details.append({"stream": name, **outcome})
            passed = outcome["passed"] or "none"
            log(f"{kind} {name}: passed {passed} {outcome['reasons']} {outcome['passive']}")
        attacks[kind] = {
            "streams": len(streams),
            "accepted": accepted,
            "apcer": accepted / max(1, len(streams)),
            "details": details,
        }

    accepted_pairs, total_pairs, details = 0, 0, []
    for person, per_challenge in photo_sequence_streams(root, judge.analyzer.mesh, judge):
        for moves, frames in per_challenge.items():
            observations = judge.observe(frames)
            verdict = judge_stream(judge.analyzer, observations, moves, judge.policy, settings)
            total_pairs += 1
            accepted_pairs += verdict.live
            details.append(
                {
                    "person": person,
                    "challenge": "+".join(moves),
                    "live": verdict.live,
                    "reason": verdict.reason,
                }
            )
            log(f"photo_sequence {person} {'+'.join(moves)}: {verdict.live} {verdict.reason}")
    attacks["photo_sequence"] = {
        "streams": total_pairs,
        "accepted": accepted_pairs,
        "apcer": accepted_pairs / max(1, total_pairs),
        "details": details,
    }
    report["attacks"] = attacks

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from support.camera import compose_frame, deepface_photos

    # Each person's first photo that a login would accept as a still: exactly one face, every gate
    # passed (a photo with a second face in it is not a genuine login of one person).
    firsts: dict[str, Path] = {}
    for photo in deepface_photos(root):
        if photo.identity not in firsts and judge.usable_still(compose_frame(photo.path)):
            firsts[photo.identity] = photo.path
    rejected = 0
    per_move: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    genuine_details = []
    for person, path in sorted(firsts.items()):
        rgb = compose_frame(path)
        pose = judge.analyzer.mesh.measure(rgb)
        if pose is None or pose.landmarks is None:
            log(f"genuine {person}: no face mesh on the photo, skipped")
            continue
        for index, moves in enumerate(CHALLENGES):
            frames = challenge_frames(rgb, pose.landmarks, [m.value for m in moves], fps=FPS, seed=index)
            verdict = judge_stream(judge.analyzer, judge.observe(frames), moves, judge.policy, settings)
            rejected += not verdict.live
            for move in moves:
                per_move[move.value][0] += not verdict.live
                per_move[move.value][1] += 1
            genuine_details.append(
                {
                    "person": person,
                    "challenge": "+".join(moves),
                    "live": verdict.live,
                    "reason": verdict.reason,
                    "done": verdict.moves_done,
                }
            )
            log(f"genuine {person} {'+'.join(moves)}: {verdict.live} {verdict.reason}")
    total = len(genuine_details)
    report["genuine"] = {
        "streams": total,
        "rejected": rejected,
        "bpcer": rejected / max(1, total),
        "bpcer_by_move_in_challenge": {m: r / max(1, n) for m, (r, n) in per_move.items()},
        "bpcer_turn_only_challenges": _rate(genuine_details, lambda c: "blink" not in c),
        "bpcer_challenges_with_blink": _rate(genuine_details, lambda c: "blink" in c),
        "details": genuine_details,
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    summary = {
        "apcer": {k: v["apcer"] for k, v in attacks.items() if isinstance(v, dict)},
        "bpcer": report["genuine"]["bpcer"],  # type: ignore[index]
        "bpcer_turn_only": report["genuine"]["bpcer_turn_only_challenges"],  # type: ignore[index]
        "bpcer_with_blink": report["genuine"]["bpcer_challenges_with_blink"],  # type: ignore[index]
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


def passive_on_real_sessions(root: Path, judge: Judge, out: Path | None) -> None:
    """The passive signals on real people: NUAA's real sessions, 40 consecutive frames each (people
    sitting in front of a webcam, not asked to move)."""
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
    print(json.dumps(summary, indent=2))
    if out:
        out.write_text(json.dumps({"summary": summary, "sessions": rows}, indent=2))


def _rate(details: list[dict[str, object]], keep: object) -> float:
    chosen = [d for d in details if keep(str(d["challenge"]))]  # type: ignore[operator]
    return sum(not d["live"] for d in chosen) / max(1, len(chosen))


if __name__ == "__main__":
    main()
