"""What every photo-animation attack shares: the script of the moves (a timeline of head yaw and eye
closure per frame), a camera's imperfections (shake, sensor noise, exposure flicker) and real-time
playback at the challenge's frame rate."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

FPS = 8.0


class AttackUnavailableError(Exception):
    """The generator cannot animate this photo (no face, no landmarks)."""


@dataclass(frozen=True)
class Pose:
    """One frame of the script: head yaw in degrees (+: nose towards the image's right, the person's
    own left in an unmirrored frame) and eye closure (0 open, 1 shut)."""

    yaw_deg: float
    closure: float


class PhotoAnimator(Protocol):
    """An attack generator: ``prepare`` a photo once, then ``render`` any pose of it."""

    name: str

    def prepare(self, rgb: np.ndarray) -> None: ...

    def render(self, pose: Pose) -> np.ndarray: ...


def half_sine(peak: float, frames: int) -> list[float]:
    return [peak * math.sin(math.pi * (i + 1) / (frames + 1)) for i in range(frames)]


def script(
    moves: Sequence[str],
    rng: np.random.Generator,
    fps: float = FPS,
    turn_peak_deg: float = 36.0,
    turn_s: float = 1.25,
    blink_s: float = 0.4,
) -> list[Pose]:
    """Neutral for 1.4-1.8 s (a reaction time, and long enough that the stream's median yaw, the server's
    neutral level, is frontal from the first chunk on), then each move followed by 0.6-0.9 s of neutral."""
    poses: list[Pose] = []

    def neutral(low_s: float, high_s: float) -> None:
        poses.extend(Pose(0.0, 0.0) for _ in range(max(1, round(rng.uniform(low_s, high_s) * fps))))

    neutral(1.4, 1.8)
    for move in moves:
        if move == "blink":
            poses.extend(Pose(0.0, min(1.0, 1.3 * c)) for c in half_sine(1.0, max(3, round(blink_s * fps))))
        elif move in ("turn_left", "turn_right"):
            peak = turn_peak_deg * (1.0 if move == "turn_left" else -1.0) * rng.uniform(0.95, 1.1)
            poses.extend(Pose(a, 0.0) for a in half_sine(peak, max(4, round(turn_s * fps))))
        else:
            raise ValueError(f"unknown move {move!r}")
        neutral(0.6, 0.9)
    return poses


@dataclass
class Camera:
    """A webcam's imperfections on a rendered frame: hand/camera shake (a slow random walk of up to a
    pixel), exposure flicker (about 1 %), and per-pixel sensor noise (sigma 2 grey levels)."""

    rng: np.random.Generator
    shake_px: tuple[float, float] = (0.0, 0.0)

    def capture(self, rgb: np.ndarray) -> np.ndarray:
        dx = float(np.clip(self.shake_px[0] + self.rng.normal(0, 0.25), -1.0, 1.0))
        dy = float(np.clip(self.shake_px[1] + self.rng.normal(0, 0.25), -1.0, 1.0))
        self.shake_px = (dx, dy)
        shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
        moved = cv2.warpAffine(rgb, shift, (rgb.shape[1], rgb.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        gain = 1.0 + self.rng.normal(0, 0.01)
        noisy = moved.astype(np.float32) * gain + self.rng.normal(0, 2.0, size=rgb.shape).astype(np.float32)
        return np.clip(noisy, 0, 255).astype(np.uint8)


def render_stream(
    animator: PhotoAnimator, moves: Sequence[str], seed: int, fps: float = FPS
) -> Iterator[np.ndarray]:
    """The challenge acted out by ``animator`` (already prepared), frame by frame, as a camera sees it."""
    rng = np.random.default_rng(seed)
    camera = Camera(rng)
    for pose in script(moves, rng, fps=fps):
        yield camera.capture(animator.render(pose))


def paced(
    frames: Iterator[np.ndarray],
    rng: np.random.Generator,
    fps: float = FPS,
    jitter_s: float = 0.015,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[np.ndarray]:
    """Frames released no faster than real time: frame i at i / fps (plus jitter) after the first.
    A consumer that falls behind gets the late frames at once, as a camera's queue would give them."""
    start = clock()
    for index, frame in enumerate(frames):
        due = start + index / fps + float(rng.uniform(-jitter_s, jitter_s))
        wait = due - clock()
        if wait > 0:
            sleep(wait)
        yield frame


class PrerenderedAnimator:
    """An animator whose poses are rendered before the challenge is asked for (yaw in whole degrees,
    closure in twentieths), as a prepared attacker would: the stream then only adds the camera's noise,
    so a slow renderer is not slowed further by the server sharing the CPU."""

    def __init__(self, inner: PhotoAnimator, max_yaw_deg: int = 42) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_yaw_deg = max_yaw_deg
        self.frames: dict[tuple[int, int], np.ndarray] = {}

    @staticmethod
    def key(pose: Pose) -> tuple[int, int]:
        return round(pose.yaw_deg), round(pose.closure * 20)

    def prepare(self, rgb: np.ndarray) -> None:
        self.inner.prepare(rgb)
        self.frames = {}
        poses = [Pose(float(yaw), 0.0) for yaw in range(-self.max_yaw_deg, self.max_yaw_deg + 1)]
        poses += [Pose(0.0, step / 20) for step in range(1, 21)]
        for pose in poses:
            self.frames[self.key(pose)] = self.inner.render(pose)

    def render(self, pose: Pose) -> np.ndarray:
        key = self.key(pose)
        if key not in self.frames:
            self.frames[key] = self.inner.render(Pose(float(key[0]), key[1] / 20))
        return self.frames[key]
