"""The liveness analyzer on real photos through the real models (MTCNN, FaceNet, face mesh): the
attacks and the rendered genuine challenges. The sequence rules on hand-made observations are in
test_liveness_sequence.py (fast). Skips when the photos or the face-mesh wheel are missing."""

from __future__ import annotations

import numpy as np
import pytest

from faceauth.config import Settings
from faceauth.model_zoo.registry import ModelNotFoundError
from faceauth.service.liveness import judge_stream, sequence_policy
from faceauth.vision.engine import FaceEngine
from faceauth.vision.landmarks import FaceMesh
from faceauth.vision.liveness import (
    FrameObservation,
    LivenessAnalyzer,
    Move,
    default_signals,
)
from faceauth.vision.synthetic import challenge_frames
from support.camera import compose_frame, photos_of

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)

# --- real models ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analyzer(engine: FaceEngine) -> LivenessAnalyzer:
    try:
        mesh = FaceMesh.load()
    except ModelNotFoundError as error:
        pytest.skip(str(error))
    return LivenessAnalyzer(engine, mesh, default_signals())


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(liveness_required=True)


def rendered(analyzer: LivenessAnalyzer, identity: str, moves: list[Move], seed: int = 0) -> list[np.ndarray]:
    try:
        rgb = compose_frame(photos_of(identity)[0].path)
    except FileNotFoundError:
        pytest.skip("deepface_tests photos not found (set FACEAUTH_TEST_DATA)")
    pose = analyzer.mesh.measure(rgb)
    assert pose is not None and pose.landmarks is not None
    return challenge_frames(rgb, pose.landmarks, [m.value for m in moves], seed=seed)


def observe(analyzer: LivenessAnalyzer, frames: list[np.ndarray]) -> list[FrameObservation]:
    return [analyzer.observe(frame, i / 8) for i, frame in enumerate(frames)]


def test_a_rendered_genuine_challenge_passes(analyzer: LivenessAnalyzer, settings: Settings) -> None:
    moves = [Move.TURN_LEFT, Move.TURN_RIGHT]
    observations = observe(analyzer, rendered(analyzer, "person01", moves))
    verdict = judge_stream(analyzer, observations, moves, sequence_policy(settings), settings)
    assert verdict.live, verdict
    assert verdict.burst is not None and len(verdict.burst.embeddings) >= settings.min_good_frames
    # ... and the same frames do not pass a challenge asking for the other order.
    other = judge_stream(analyzer, observations, moves[::-1], sequence_policy(settings), settings)
    assert not other.live and other.reason == "wrong_move"


def test_a_static_photo_burst_fails_every_challenge(analyzer: LivenessAnalyzer, settings: Settings) -> None:
    still = rendered(analyzer, "person02", [])[0]
    observations = observe(analyzer, [still] * 20)
    for moves in (
        [Move.BLINK, Move.TURN_LEFT],
        [Move.TURN_RIGHT, Move.TURN_LEFT],
        [Move.TURN_LEFT, Move.BLINK],
    ):
        verdict = judge_stream(analyzer, observations, moves, sequence_policy(settings), settings)
        assert not verdict.live and verdict.reason == "incomplete"
    motion = next(e for e in verdict.passive if e.name == "motion")
    assert motion.spoof and motion.score < 0.01


def test_moves_done_by_one_person_and_faced_by_another_fail(
    analyzer: LivenessAnalyzer, settings: Settings
) -> None:
    """Person 1 turns left, then person 3's frames turn right: each move is real, the stream is not
    one person."""
    first = rendered(analyzer, "person01", [Move.TURN_LEFT])
    second = rendered(analyzer, "person03", [Move.TURN_RIGHT])
    observations = observe(analyzer, first + second)
    verdict = judge_stream(
        analyzer, observations, [Move.TURN_LEFT, Move.TURN_RIGHT], sequence_policy(settings), settings
    )
    assert verdict.sequence.complete  # the moves alone would pass
    assert not verdict.live and verdict.reason == "not_same_person"


def test_observations_survive_their_json_form(analyzer: LivenessAnalyzer) -> None:
    observation = observe(analyzer, rendered(analyzer, "person01", [])[:1])[0]
    again = FrameObservation.from_json(observation.to_json())
    assert again == observation
    assert again.embedding is not None and observation.embedding is not None
    assert np.array_equal(again.embedding, observation.embedding)
    assert again.features == observation.features
