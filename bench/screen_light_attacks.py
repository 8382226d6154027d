"""The screen-light judge (faceauth.vision.screen_light) against photos that an attacker who knows the
colour schedule treats frame by frame (bench/attacks/light.py): nothing, a tint over the face, an
alpha-blended tint, the whole frame tinted, the face relit through a depth map.

    python bench/screen_light_attacks.py [--json OUT] [--max-victims N]

Offline: the frames are judged directly (MTCNN per frame, ``light_sample``, ``judge_screen_light``), no
server. The light sequence runs while the user faces the screen, so the frames are the attack photo
itself (every generator shows the same frontal frame), with camera shake, exposure and white-balance
drift, sensor noise and JPEG, as in the attack bench. There is no video of a real face lit by a screen
here: real people's acceptance (BPCER) is not measured; see the module docstring of screen_light."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from attacks.base import Camera
from attacks.depth import head_depth
from attacks.light import present
from common import data_root, webcam_frame
from faceauth.config import Settings
from faceauth.vision.engine import FaceEngine
from faceauth.vision.screen_light import PALETTE, LightStep, judge_screen_light, light_sample
from liveness_attacks import decode_rgb, encode_jpeg, select_victims

TREATMENTS = ("none", "uniform_tint", "alpha_tint", "frame_tint", "relit")
STEPS, STEP_FRAMES = 6, 4


def random_schedule(chooser: secrets.SystemRandom) -> list[LightStep]:
    """STEPS colours, no colour twice in a row."""
    names: list[str] = []
    while len(names) < STEPS:
        name = chooser.choice(sorted(PALETTE))
        if not names or names[-1] != name:
            names.append(name)
    return [LightStep(PALETTE[name], STEP_FRAMES) for name in names]


def judge_treatment(engine: FaceEngine, still: np.ndarray, treatment: str, seed: int) -> dict[str, Any]:
    faces = engine.detect(still)
    face = max(faces, key=lambda f: f.width)
    depth = head_depth(still.shape[:2], face)
    schedule = random_schedule(secrets.SystemRandom())
    camera = Camera(np.random.default_rng(seed))
    samples = []
    for step in schedule:
        for _ in range(step.frames):
            frame = decode_rgb(
                encode_jpeg(camera.capture(present(still, step.colour, treatment, face, depth)))
            )
            seen = engine.detect(frame)
            samples.append(light_sample(frame, max(seen, key=lambda f: f.width)) if seen else None)
    verdict = judge_screen_light(samples, schedule)
    return {
        "passed": verdict.passed,
        "reason": verdict.reason.value if verdict.reason else None,
        "correlation": verdict.correlation,
        "response": verdict.response,
        "falloff": verdict.falloff,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json")
    parser.add_argument("--max-victims", type=int, default=None)
    args = parser.parse_args()
    engine = FaceEngine.load(Settings())
    victims = select_victims(data_root(), engine, args.max_victims)
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for index, victim in enumerate(victims):
        still = decode_rgb(webcam_frame(victim.attack_photo))
        for treatment in TREATMENTS:
            result = judge_treatment(engine, still, treatment, seed=index)
            rows[treatment].append({"victim": victim.name, **result})
            print(treatment, json.dumps(rows[treatment][-1]), file=sys.stderr, flush=True)
    summary = {
        treatment: {
            "streams": len(results),
            "passed": sum(r["passed"] for r in results),
            "reasons": {k: sum(r["reason"] == k for r in results) for k in {r["reason"] for r in results}},
            "falloff_median": float(np.median([r["falloff"] for r in results])),
            "response_median": float(np.median([r["response"] for r in results])),
        }
        for treatment, results in rows.items()
    }
    print(json.dumps(summary, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps({"summary": summary, "streams": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
