"""The liveness sequence check (``vision.liveness.sequence``) on hand-made observations: moves in the
asked order, transitions, blinks against the person's own open level, a second face. No model."""

from __future__ import annotations

from faceauth.vision.liveness import FrameObservation, Move, SequenceFailure, SequencePolicy, check_sequence

POLICY = SequencePolicy()


def obs(t: float, yaw: float, ear: float = 0.3) -> FrameObservation:
    return FrameObservation(received_s=t, faces=1, yaw_deg=yaw, pitch_deg=0.0, ear=ear)


def stream(yaws: list[float], ears: list[float] | None = None) -> list[FrameObservation]:
    ears = ears or [0.3] * len(yaws)
    return [obs(i / 8, yaw, ear) for i, (yaw, ear) in enumerate(zip(yaws, ears, strict=True))]


NEUTRAL = [0.0, 0.5, -0.5, 0.2, 0.0, 0.3]
LEFT = [6.0, 10.0, 16.0, 20.0, 16.0, 9.0, 3.0]
RIGHT = [-6.0, -10.0, -16.0, -20.0, -16.0, -9.0, -3.0]


# --- the rules, on hand-made observations ------------------------------------------------------


def test_turns_in_the_asked_order_complete_the_sequence() -> None:
    result = check_sequence(
        stream(NEUTRAL + LEFT + NEUTRAL + RIGHT + NEUTRAL), [Move.TURN_LEFT, Move.TURN_RIGHT], POLICY
    )
    assert result.complete and result.done == 2


def test_turns_in_the_other_order_fail_as_a_wrong_move() -> None:
    result = check_sequence(
        stream(NEUTRAL + RIGHT + NEUTRAL + LEFT + NEUTRAL), [Move.TURN_LEFT, Move.TURN_RIGHT], POLICY
    )
    assert result.failure is SequenceFailure.WRONG_MOVE and result.done == 0


def test_a_jump_to_a_turned_pose_without_a_transition_is_not_a_turn() -> None:
    jump = [20.0, 20.0, 20.0]
    result = check_sequence(stream(NEUTRAL + jump + NEUTRAL * 2), [Move.TURN_LEFT], POLICY)
    assert not result.complete and result.failure is None
    relaxed = SequencePolicy(require_transition=False)
    assert check_sequence(stream(NEUTRAL + jump + NEUTRAL * 2), [Move.TURN_LEFT], relaxed).complete


def test_a_blink_is_a_dip_below_the_persons_own_open_level_and_back() -> None:
    yaws = NEUTRAL + [0.0] * 3 + NEUTRAL
    blink = [0.3] * 6 + [0.24, 0.12, 0.28] + [0.3] * 6
    assert check_sequence(stream(yaws, blink), [Move.BLINK], POLICY).complete
    squint = [0.3] * 6 + [0.27, 0.24, 0.28] + [0.3] * 6  # 80 % of the open level: not closed
    assert not check_sequence(stream(yaws, squint), [Move.BLINK], POLICY).complete


def test_a_turn_while_a_blink_is_awaited_fails() -> None:
    result = check_sequence(stream(NEUTRAL + LEFT + NEUTRAL), [Move.BLINK, Move.TURN_LEFT], POLICY)
    assert result.failure is SequenceFailure.WRONG_MOVE


def test_a_second_face_in_more_than_a_tenth_of_the_frames_fails() -> None:
    observations = stream(NEUTRAL + LEFT + NEUTRAL)  # 19 frames
    observations[3] = FrameObservation(received_s=0.4, faces=2)  # one frame: dropped, as in a burst
    assert check_sequence(observations, [Move.TURN_LEFT], POLICY).complete
    observations[12] = FrameObservation(received_s=1.5, faces=2)
    assert check_sequence(observations, [Move.TURN_LEFT], POLICY).failure is SequenceFailure.MULTIPLE_FACES
