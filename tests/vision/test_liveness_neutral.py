"""Where a challenge's neutral pose comes from (``check_sequence``): the first steady run of frames
facing the camera, so a person who starts turning within the first second is not failed for good
(the frames endpoint reports a failure as definite, and the page stops on it)."""

from __future__ import annotations

from faceauth.vision.liveness import FrameObservation, Move, SequenceFailure, SequencePolicy, check_sequence

POLICY = SequencePolicy()


def stream(yaws: list[float]) -> list[FrameObservation]:
    return [
        FrameObservation(received_s=i / 8, faces=1, yaw_deg=y, pitch_deg=0.0, ear=0.3)
        for i, y in enumerate(yaws)
    ]


QUICK_LEFT = [0.0, 0.5, -0.5, 10.0, 20.0, 21.0, 20.0, 20.0, 20.0, 14.0, 6.0, 1.0, 0.0, 0.3, -0.2]


def test_a_turn_within_the_first_second_is_not_a_definite_failure() -> None:
    first_chunk = check_sequence(stream(QUICK_LEFT[:8]), [Move.TURN_LEFT], POLICY)
    assert first_chunk.failure is None  # the median of these 8 frames is 20: the old rule failed here
    whole = check_sequence(stream(QUICK_LEFT), [Move.TURN_LEFT], POLICY)
    assert whole.complete


def test_a_steady_second_turned_away_fails_as_not_facing() -> None:
    result = check_sequence(
        stream([25.0, 25.5, 24.5, 25.0, 25.2, 24.8, 25.0, 25.1]), [Move.TURN_LEFT], POLICY
    )
    assert result.failure is SequenceFailure.NOT_FACING


def test_a_movement_under_way_when_the_stream_starts_is_skipped() -> None:
    yaws = [25.0, 24.0, 18.0, 10.0, 3.0, 0.0, 0.4, -0.3, 0.1, *QUICK_LEFT[3:]]
    result = check_sequence(stream(yaws), [Move.TURN_LEFT], POLICY)
    assert result.complete


def test_moves_in_the_light_phase_are_not_counted() -> None:
    """Moves are asked after the light phase: a turn during it neither counts nor fails."""
    light_phase = [0.0, 0.4, -0.3, 0.2, 10.0, 20.0, 21.0, 12.0, 3.0, 0.0, 0.1, -0.2]
    yaws = light_phase + QUICK_LEFT[:3]
    assert check_sequence(stream(yaws), [Move.TURN_LEFT], POLICY).complete  # counted without a light phase
    assert check_sequence(stream(yaws), [Move.TURN_LEFT], POLICY, moves_from=len(light_phase)).done == 0
    assert (
        check_sequence(stream(yaws), [Move.TURN_RIGHT], POLICY, moves_from=len(light_phase)).failure is None
    )
    later = check_sequence(stream(yaws + QUICK_LEFT), [Move.TURN_LEFT], POLICY, moves_from=len(light_phase))
    assert later.complete
