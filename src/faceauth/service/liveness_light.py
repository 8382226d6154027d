"""The screen-light step of a liveness challenge: the schedule of colours the page shows full-screen
at the start of the stream, and the judge's verdict under the deployment's mode.

The schedule is ``liveness_light_steps`` colours from ``faceauth.vision.screen_light.PALETTE``, drawn
with ``secrets`` (no colour twice in a row), each held for ``liveness_light_step_frames`` frames of the
stream: frame ``n`` (in the order the server receives them) was taken under the step ``n`` falls in.
The page changes the colour by frame index, not by the clock, so the network cannot shift it; the first
``liveness_light_settle_frames`` of each step are not judged (screen refresh, camera latency).

``FACEAUTH_LIVENESS_LIGHT``: ``blocking`` fails a challenge whose face does not follow the light
(response and correlation; the falloff only with ``liveness_light_falloff_blocking``, until it is
measured on real people); ``report`` judges and writes the verdict to the audit log only; ``off``
shows no colours and judges nothing."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from faceauth.config import Settings
from faceauth.vision.liveness import FrameObservation
from faceauth.vision.screen_light import (
    PALETTE,
    LightFailure,
    LightSample,
    LightStep,
    ScreenLightPolicy,
    ScreenLightVerdict,
    judge_screen_light,
)

LIGHT_MESSAGES: dict[str, str] = {
    LightFailure.TOO_FEW_FRAMES.value: (
        "your face was not seen clearly while the screen showed its colours: "
        "keep your face in the picture and hold still"
    ),
    LightFailure.NO_RESPONSE.value: (
        "the screen's colours did not light your face: turn the brightness up and come closer"
    ),
    LightFailure.NOT_FOLLOWING.value: (
        "the light on your face did not follow the screen's colours: "
        "turn the brightness up, come closer and hold still while the colours change"
    ),
    LightFailure.FLAT.value: (
        "the screen's light did not fall on your face as on a real face: come closer to the screen"
    ),
}


@dataclass(frozen=True)
class LightSchedule:
    """What the page shows before the moves: ``steps`` in order, from the stream's first frame."""

    steps: tuple[LightStep, ...]
    names: tuple[str, ...]  # each step's PALETTE name
    settle_frames: int

    @property
    def frames(self) -> int:
        return sum(step.frames for step in self.steps)

    def settle_frame_indices(self) -> frozenset[int]:
        """The stream's frames at the start of each step, not judged (the screen and camera settle)."""
        indices: set[int] = set()
        start = 0
        for step in self.steps:
            indices.update(range(start, start + min(self.settle_frames, step.frames)))
            start += step.frames
        return frozenset(indices)

    def to_json(self) -> str:
        data = {"colours": list(self.names), "frames": [s.frames for s in self.steps]}
        return json.dumps({**data, "settle_frames": self.settle_frames})

    @classmethod
    def from_json(cls, text: str) -> LightSchedule:
        data = json.loads(text)
        names = tuple(str(name) for name in data["colours"])
        steps = tuple(LightStep(PALETTE[n], int(f)) for n, f in zip(names, data["frames"], strict=True))
        return cls(steps, names, int(data["settle_frames"]))

    def public(self) -> dict[str, object]:
        """The challenge response's ``light``: colours as ``#rrggbb``, frames per step."""
        return {
            "steps": [
                {"colour": _hex(step.colour), "name": name, "frames": step.frames}
                for step, name in zip(self.steps, self.names, strict=True)
            ],
            "settle_frames": self.settle_frames,
            "frames": self.frames,
        }


def _hex(colour: tuple[float, float, float]) -> str:
    # The palette is saturated (every channel 0 or 1), so linear and sRGB agree.
    return "#" + "".join(f"{round(channel * 255):02x}" for channel in colour)


def draw_schedule(settings: Settings) -> LightSchedule | None:
    """A fresh random schedule, or None when the light step is off."""
    if settings.liveness_light == "off":
        return None
    chooser = secrets.SystemRandom()
    names: list[str] = []
    for _ in range(settings.liveness_light_steps):
        names.append(chooser.choice([n for n in PALETTE if not names or n != names[-1]]))
    steps = tuple(LightStep(PALETTE[n], settings.liveness_light_step_frames) for n in names)
    return LightSchedule(steps, tuple(names), settings.liveness_light_settle_frames)


def light_policy(settings: Settings) -> ScreenLightPolicy:
    return ScreenLightPolicy(
        settle_frames=settings.liveness_light_settle_frames,
        min_response=settings.liveness_light_min_response,
        min_correlation=settings.liveness_light_min_correlation,
        min_falloff=settings.liveness_light_min_falloff,
        min_steps=min(4, settings.liveness_light_steps),
    )


@dataclass(frozen=True)
class LightOutcome:
    verdict: ScreenLightVerdict
    blocks: bool  # the verdict fails the challenge under the deployment's mode

    @property
    def reason(self) -> str | None:
        return self.verdict.reason.value if self.verdict.reason else None

    def summary(self) -> str:
        v = self.verdict
        return f"light={self.reason or 'ok'}:r={v.response},c={v.correlation},f={v.falloff}"


def judge_light(
    schedule: LightSchedule, observations: Sequence[FrameObservation], settings: Settings
) -> LightOutcome:
    samples = [LightSample.from_list(o.light) if o.light else None for o in observations]
    verdict = judge_screen_light(samples, schedule.steps, light_policy(settings))
    blocking_reasons = {LightFailure.TOO_FEW_FRAMES, LightFailure.NO_RESPONSE, LightFailure.NOT_FOLLOWING}
    if settings.liveness_light_falloff_blocking:
        blocking_reasons.add(LightFailure.FLAT)
    blocks = settings.liveness_light == "blocking" and verdict.reason in blocking_reasons
    return LightOutcome(verdict, blocks)
