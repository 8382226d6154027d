"""The screen-light judge on frames rendered here: a 3-D face (an ellipsoid with skin albedo) lit by
room light and by a screen in front of it, against the presentations a warped photo can offer: no
response at all, a tint painted uniformly over the face, an alpha-blended tint, the whole frame tinted,
and a lit face that follows another schedule. The camera drifts its exposure and white balance by a few
percent a frame and adds sensor noise, as a webcam does."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from faceauth.domain import Face
from faceauth.vision.screen_light import (
    PALETTE,
    SRGB_TO_LINEAR,
    LightFailure,
    LightSample,
    LightStep,
    ScreenLightPolicy,
    judge_screen_light,
    light_sample,
)

H, W = 480, 640
CX, CY, AX, BY, CZ = 320.0, 240.0, 90.0, 120.0, 80.0  # the face ellipsoid, pixels
SKIN = np.array([0.55, 0.38, 0.30])
WALL = np.array([0.45, 0.45, 0.42])
FACE = Face(
    box=(CX - 85, CY - 105, CX + 85, CY + 110),
    score=0.99,
    landmarks=((CX - 35, 205.0), (CX + 35, 205.0), (CX, 250.0), (CX - 28, 290.0), (CX + 28, 290.0)),
)
SCHEDULE = [LightStep(PALETTE[name], 4) for name in ("red", "blue", "green", "red", "yellow", "blue")]


def geometry() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inside-the-face mask, the screen's cosine (normal . towards the camera) and the room light's."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float64)
    u, v = (xs - CX) / AX, (ys - CY) / BY
    inside = u**2 + v**2 < 1.0
    z = np.sqrt(np.clip(1.0 - u**2 - v**2, 1e-6, None))
    normal = np.stack([u / AX, v / BY, z / CZ], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    towards_screen = np.clip(normal[..., 2], 0.0, None)
    from_ceiling = np.clip(normal @ np.array([0.0, -0.6, 0.8]), 0.0, None)  # room light above and in front
    return inside, towards_screen, 0.35 + 0.65 * from_ceiling


INSIDE, SCREEN_COS, ROOM = geometry()


def to_srgb(linear: np.ndarray) -> np.ndarray:
    linear = np.clip(linear, 0.0, 1.0)
    encoded = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return encoded * 255.0


def camera(linear: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gains = 1.0 + rng.normal(0.0, 0.02) + rng.normal(0.0, 0.01, size=3)  # exposure and white balance
    noisy = to_srgb(linear * gains) + rng.normal(0.0, 2.0, size=linear.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=64)
def scene_of(colour: tuple[float, float, float], screen_lux: float, mode: str) -> np.ndarray:
    return scene(np.array(colour), screen_lux, mode)


def scene(screen: np.ndarray, screen_lux: float, mode: str) -> np.ndarray:
    """Linear light of the scene while the screen shows ``screen``. ``screen_lux``: what the screen adds
    on a surface facing it, as a share of the room light."""
    room = 0.6
    face = SKIN * (room * ROOM[..., None])
    wall = WALL * room * np.ones((H, W, 1))
    if mode == "lit":
        face = face + SKIN * room * screen_lux * SCREEN_COS[..., None] * screen
        wall = wall + WALL * room * screen_lux * 0.06 * screen  # three to four times further away
    linear = np.where(INSIDE[..., None], face, wall)
    if mode == "uniform_tint":
        linear = np.where(INSIDE[..., None], linear * (1 + 0.6 * screen_lux * screen), linear)
    elif mode == "alpha_tint":
        linear = np.where(INSIDE[..., None], (1 - 0.1) * linear + 0.1 * 0.3 * screen, linear)
    elif mode == "global_tint":
        linear = linear * (1 + 0.6 * screen_lux * screen)
    return linear


def stream(
    mode: str, schedule: list[LightStep] = SCHEDULE, screen_lux: float = 0.15, seed: int = 0
) -> list[LightSample | None]:
    rng = np.random.default_rng(seed)
    frames = []
    for step in schedule:
        for _ in range(step.frames):
            rgb = camera(scene_of(step.colour, screen_lux, mode), rng)
            frames.append(light_sample(rgb, FACE))
    return frames


def test_a_face_lit_by_the_screen_passes() -> None:
    verdict = judge_screen_light(stream("lit"), SCHEDULE)
    assert verdict.passed, verdict
    assert verdict.correlation > 0.9 and verdict.response > 0.05


def test_a_few_percent_of_screen_light_is_enough() -> None:
    verdict = judge_screen_light(stream("lit", screen_lux=0.04), SCHEDULE)
    assert verdict.passed, verdict


def test_a_photo_that_does_not_respond_fails() -> None:
    verdict = judge_screen_light(stream("none"), SCHEDULE)
    assert verdict.reason is LightFailure.NO_RESPONSE and abs(verdict.response) < 0.005


def test_the_whole_frame_tinted_is_no_response_of_the_face() -> None:
    verdict = judge_screen_light(stream("global_tint"), SCHEDULE)
    assert verdict.reason is LightFailure.NO_RESPONSE, verdict


@pytest.mark.parametrize("mode", ["uniform_tint", "alpha_tint"])
def test_a_tint_painted_over_the_face_is_flat(mode: str) -> None:
    verdict = judge_screen_light(stream(mode), SCHEDULE)
    assert verdict.correlation > 0.9  # it follows the schedule: only the shading gives it away
    assert verdict.reason is LightFailure.FLAT and verdict.falloff < 0.03, verdict


def test_light_that_follows_another_schedule_fails() -> None:
    other = [LightStep(PALETTE[name], 4) for name in ("green", "red", "blue", "blue", "cyan", "red")]
    verdict = judge_screen_light(stream("lit", schedule=other), SCHEDULE)
    assert not verdict.passed and verdict.reason in (LightFailure.NOT_FOLLOWING, LightFailure.NO_RESPONSE)


def test_missing_frames_and_a_face_filling_the_frame_are_too_few() -> None:
    samples = stream("lit")
    assert judge_screen_light(samples[:10], SCHEDULE).reason is LightFailure.TOO_FEW_FRAMES
    holes = [None if i % 3 == 0 else s for i, s in enumerate(samples)]
    assert judge_screen_light(holes, SCHEDULE).reason is LightFailure.TOO_FEW_FRAMES
    close_up = Face(box=(5, 5, 635, 475), score=0.99, landmarks=FACE.landmarks)
    sample = light_sample(camera(scene(np.ones(3), 0.1, "lit"), np.random.default_rng(1)), close_up)
    assert sample is not None and sample.background is None


def test_settling_frames_hide_the_camera_latency() -> None:
    """The camera shows the previous colour for a frame after each change; the judge skips it."""
    late = stream("lit")
    late = [late[0], *late[:-1]]  # every frame one behind
    assert judge_screen_light(late, SCHEDULE).passed
    strict = ScreenLightPolicy(settle_frames=0)
    assert (
        judge_screen_light(late, SCHEDULE, strict).correlation
        < judge_screen_light(late, SCHEDULE).correlation
    )


def test_frames_not_analysed_while_the_screen_settles_do_not_count_as_missing() -> None:
    """The service does not analyse the settle frames (no sample): only judged frames can be missing."""
    samples = stream("lit")
    unsettled = [None if i % 4 < 2 else s for i, s in enumerate(samples)]
    assert judge_screen_light(unsettled, SCHEDULE).passed
    judged_holes = [None if i % 4 == 3 else s for i, s in enumerate(unsettled)]
    assert judge_screen_light(judged_holes, SCHEDULE).reason is LightFailure.TOO_FEW_FRAMES


def test_samples_round_trip_through_their_stored_form() -> None:
    sample = light_sample(camera(scene(np.ones(3), 0.1, "lit"), np.random.default_rng(2)), FACE)
    assert sample is not None
    again = LightSample.from_list(sample.to_list())
    assert np.allclose(again.to_list(), sample.to_list())
    assert SRGB_TO_LINEAR[255] == pytest.approx(1.0) and SRGB_TO_LINEAR[0] == 0.0
