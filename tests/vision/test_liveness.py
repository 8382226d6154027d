"""The liveness analyzer on real photos through the real models (MTCNN, FaceNet, face mesh): the
attacks and the rendered genuine challenges. The sequence rules on hand-made observations are in
test_liveness_sequence.py (fast). Skips when the photos or the face-mesh wheel are missing."""

from __future__ import annotations

import numpy as np
import pytest

from faceauth.config import Settings
from faceauth.service.liveness import judge_stream, sequence_policy
from faceauth.vision.engine import FaceEngine
from faceauth.vision.liveness import (
    FrameObservation,
    LivenessAnalyzer,
    Move,
    SequencePolicy,
    default_signals,
)
from faceauth.vision.synthetic import challenge_frames
from support import load_face_mesh
from support.camera import compose_frame, photos_of

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)

POLICY = SequencePolicy()

# --- real models ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analyzer(engine: FaceEngine) -> LivenessAnalyzer:
    return LivenessAnalyzer(engine, load_face_mesh(), default_signals())


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
    observed: list[FrameObservation] = []
    for i, frame in enumerate(frames):
        observed.append(analyzer.observe(frame, i / 8, observed))
    return observed


def test_a_rendered_genuine_challenge_passes(analyzer: LivenessAnalyzer, settings: Settings) -> None:
    moves = [Move.TURN_LEFT, Move.TURN_RIGHT]
    observations = observe(analyzer, rendered(analyzer, "person01", moves))
    verdict = judge_stream(analyzer, observations, moves, sequence_policy(settings), settings)
    assert verdict.live, verdict
    assert verdict.burst is not None
    assert len(verdict.burst.embeddings) >= settings.liveness_matching_frames
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


def test_observations_survive_their_json_form_which_holds_no_embedding(analyzer: LivenessAnalyzer) -> None:
    observation = observe(analyzer, rendered(analyzer, "person01", [])[:1])[0]
    assert observation.embedding is not None  # the first frame of a track is always embedded
    data = observation.to_json()
    assert "emb" not in data and all(len(v) < 100 for v in data["features"].values())
    again = FrameObservation.from_json(data)
    assert again == observation and again.embedding is None
    assert again.features == observation.features
    kept = FrameObservation.from_json(data, observation.embedding)
    assert kept.embedding is not None and np.array_equal(kept.embedding, observation.embedding)


def test_only_chosen_frames_are_embedded_and_every_turn_is_among_them(analyzer: LivenessAnalyzer) -> None:
    """The face mesh tracks most frames; the detector and FaceNet run on the first frame, the first
    turned frame of each turn and a random sample."""
    observations = observe(analyzer, rendered(analyzer, "person01", [Move.TURN_LEFT, Move.TURN_RIGHT]))
    embedded = [o for o in observations if o.embedding is not None]
    assert observations[0].embedding is not None
    assert len(embedded) <= len(observations) // 2
    assert sum(not o.detected for o in observations) >= len(observations) // 2
    neutral = float(np.median([o.yaw_deg for o in observations if o.yaw_deg is not None]))
    turned = [
        o
        for o in embedded
        if o.yaw_deg is not None and abs(o.yaw_deg - neutral) >= sequence_policy(Settings()).turn_min_deg
    ]
    assert {o.yaw_deg > neutral for o in turned if o.yaw_deg is not None} == {True, False}


def test_tracking_recovers_after_a_lost_frame(analyzer: LivenessAnalyzer, settings: Settings) -> None:
    """A frame without a face loses the track; the next frame finds the face again with the detector
    (and embeds it), and tracking goes on from there."""
    moves = [Move.TURN_LEFT, Move.TURN_RIGHT]
    frames = rendered(analyzer, "person01", moves)
    frames[5] = np.full_like(frames[5], 120)
    observations = observe(analyzer, frames)
    assert observations[5].faces == 0 and observations[5].track is None
    assert observations[6].detected and observations[6].embedding is not None
    assert observations[6].track is not None and not all(o.detected for o in observations[7:12])
    verdict = judge_stream(analyzer, observations, moves, sequence_policy(settings), settings)
    assert verdict.live, verdict


def test_a_face_swapped_in_for_one_move_fails(analyzer: LivenessAnalyzer, settings: Settings) -> None:
    """Person 1 faces the camera and turns left; person 3 takes over to do the right turn, then
    person 1 again: the frames that show the turn are not the person matched."""
    first = rendered(analyzer, "person01", [Move.TURN_LEFT, Move.TURN_RIGHT])
    other = rendered(analyzer, "person03", [Move.TURN_RIGHT])
    swapped = first[:26] + other[:18] + first[36:]
    observations = observe(analyzer, swapped)
    verdict = judge_stream(
        analyzer, observations, [Move.TURN_LEFT, Move.TURN_RIGHT], sequence_policy(settings), settings
    )
    assert verdict.sequence.complete, verdict.sequence
    assert not verdict.live and verdict.reason == "not_same_person"
