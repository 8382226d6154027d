"""The liveness analyzer on real photos through the real models (MTCNN, FaceNet, face mesh): the
attacks and the rendered genuine challenges. The sequence rules on hand-made observations are in
test_liveness_sequence.py (fast). Skips when the photos or the face-mesh wheel are missing."""

from __future__ import annotations

import random

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
    StreamPlan,
    check_sequence,
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


def observe(
    analyzer: LivenessAnalyzer, frames: list[np.ndarray], plan: StreamPlan | None = None
) -> list[FrameObservation]:
    observed: list[FrameObservation] = []
    for i, frame in enumerate(frames):
        observed.append(analyzer.observe(frame, i / 8, observed, plan))
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


def light_then_moves(
    analyzer: LivenessAnalyzer, moves: list[Move], light_frames: int = 24
) -> list[np.ndarray]:
    """A still light phase (the frontal frame, as the rendered stream starts) and then the moves
    (person04: the renderer's painted eyelids read as closed on that photo, not on every one)."""
    frames = rendered(analyzer, "person04", moves)
    return [frames[0]] * light_frames + frames


def test_eyes_are_measured_only_where_a_blink_can_count(analyzer: LivenessAnalyzer) -> None:
    """The iris model runs on every fourth frame of the light phase (the open-eye level) and, after it,
    on frames near the neutral yaw while the blink is the move awaited: never on a turned frame, nor
    while the turn asked before the blink is awaited; the blink is still seen."""
    moves = (Move.TURN_LEFT, Move.BLINK)
    frames = light_then_moves(analyzer, list(moves))
    policy = analyzer.sampling
    anywhere = observe(analyzer, frames, StreamPlan(moves_from=24))  # any challenge
    every = policy.light_eyes_every  # the settled end of each colour step
    assert [i for i, o in enumerate(anywhere[:24]) if o.ear is not None] == list(range(every - 1, 24, every))
    neutral = float(np.median([o.yaw_deg for o in anywhere[:24] if o.yaw_deg is not None]))
    reach = policy.neutral_max_deg + policy.eyes_margin_deg
    after = anywhere[24:]
    assert all(o.ear is None for o in after if o.yaw_deg is not None and abs(o.yaw_deg - neutral) > reach + 2)
    assert sum(o.ear is not None for o in after) >= 10  # the neutral frames, where the blink is

    asked = observe(analyzer, frames, StreamPlan(moves_from=24, moves=moves))
    sequence = check_sequence(asked, moves, SequencePolicy(), 24)
    assert sequence.complete, sequence
    turn_done = next(i for i, o in enumerate(asked) if o.received_s >= sequence.completed_at[0])
    assert all(o.ear is None for o in asked[24:turn_done])  # a turn awaited: no eyes
    assert sum(o.ear is not None for o in asked[turn_done:]) >= 4  # the blink awaited: eyes
    assert sum(o.ear is not None for o in asked) < sum(o.ear is not None for o in anywhere)


def test_a_few_randomly_placed_frames_are_embedded_and_the_served_model_on_some(
    analyzer: LivenessAnalyzer,
) -> None:
    """FaceNet runs on the track's first frame, each turn's first turned frame and random frames until
    ``matching_frames`` are usable; SFace on ``served_frames`` of those. Where the random frames fall
    depends on the random source, so a sender cannot aim at them."""
    frames = light_then_moves(analyzer, [Move.TURN_LEFT, Move.TURN_RIGHT])
    plan = StreamPlan(moves_from=24, matching_frames=4, served_frames=2)
    placements = set()
    for seed in (1, 2, 3):
        sampled = LivenessAnalyzer(
            analyzer.engine, analyzer.mesh, analyzer.signals, chooser=random.Random(seed)
        )
        observed = observe(sampled, frames, plan)
        usable = [i for i, o in enumerate(observed) if o.usable_for_matching]
        embedded = [i for i, o in enumerate(observed) if o.embedding is not None]
        assert len(usable) >= plan.matching_frames
        assert len(embedded) <= plan.matching_frames + 4  # + track start, two turns, a failed gate
        assert sum(o.served for o in observed) == plan.served_frames
        assert all(set(o.model_vectors) == {"facenet", "sface"} for o in observed if o.served)
        placements.add(tuple(embedded))
    assert len(placements) > 1


def test_frames_nothing_is_judged_on_are_passed_over_and_tracking_goes_on(
    analyzer: LivenessAnalyzer, settings: Settings
) -> None:
    """The light phase's settle frames (``StreamPlan.skipped``) get no model at all; the track resumes
    on the next frame, the first frame is analysed even if listed, and the moves are still judged."""
    moves = (Move.TURN_LEFT, Move.BLINK)
    frames = light_then_moves(analyzer, list(moves))
    skipped = frozenset(i for i in range(24) if i % 4 < 2)  # two of every four, frame 0 too
    observed = observe(analyzer, frames, StreamPlan(moves_from=24, moves=moves, skipped=skipped))
    assert not observed[0].skipped and observed[0].detected and observed[0].yaw_deg is not None
    passed_over = [i for i, o in enumerate(observed) if o.skipped]
    assert passed_over == sorted(skipped - {0})
    assert all(o.yaw_deg is None and o.embedding is None and o.light is None for o in observed if o.skipped)
    assert all(o.yaw_deg is not None and o.light is not None for o in observed[2:24] if not o.skipped)
    again = FrameObservation.from_json(observed[1].to_json())
    assert again.skipped and again.track == observed[1].track
    assert check_sequence(observed, moves, sequence_policy(settings), 24).complete
