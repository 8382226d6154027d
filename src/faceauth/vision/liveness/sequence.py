"""The sequence check: do a stream's observations show the requested moves, in order?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from faceauth.vision.liveness.moves import Move
from faceauth.vision.liveness.observation import FrameObservation


@dataclass(frozen=True)
class SequencePolicy:
    """Thresholds of the move detector (degrees of the face mesh's yaw, which reads about 50-70 % of
    a real head's rotation, and eye-aspect-ratio ratios to the person's own open-eye level)."""

    turn_min_deg: float = 12.0  # a turn: yaw this far from neutral, the asked way
    neutral_max_deg: float = 7.0  # back at neutral: yaw within this of the neutral level
    start_max_deg: float = 15.0  # the neutral level itself must face the camera this well
    blink_closed_ratio: float = 0.65  # eyes closed: mean EAR at most this share of the open level
    blink_open_ratio: float = 0.85  # reopened: at least this share
    min_posed_frames: int = 3  # frames with a face-mesh pose needed before anything is judged
    max_faceless_share: float = 0.25  # of the frames analysed, those without exactly one face
    # Frames with a second face of comparable size are dropped, as a plain burst drops them; more
    # than this share of them fails the stream (a detector's occasional false face is not a person).
    max_multiple_share: float = 0.1
    # A turn must pass through at least one frame between neutral and turned (a head rotates; a
    # swap from a frontal photo to a turned one jumps). At 8 fps a real turn takes several frames.
    require_transition: bool = True
    not_facing_frames: int = 8  # a steady run turned away this long (1 s at 8 fps) fails the stream


class SequenceFailure(StrEnum):
    NO_FACE = "no_face"  # too many frames without a face
    MULTIPLE_FACES = "multiple_faces"
    NOT_FACING = "not_facing_camera"  # the stream does not start facing the camera
    WRONG_MOVE = "wrong_move"  # a turn that was not asked for, or not now
    INCOMPLETE = "incomplete"  # the stream ended before every move was seen


@dataclass(frozen=True)
class SequenceResult:
    moves: tuple[Move, ...]
    done: int  # moves completed, in order
    failure: SequenceFailure | None  # a definite failure (more frames cannot fix it)
    completed_at: list[float] = field(default_factory=list)  # received_s of each completed move

    @property
    def complete(self) -> bool:
        return self.failure is None and self.done == len(self.moves)


def check_sequence(
    observations: Sequence[FrameObservation],
    moves: Sequence[Move],
    policy: SequencePolicy,
    moves_from: int = 0,
) -> SequenceResult:
    """Whether the frames, in arrival order, show ``moves`` in that order.

    A turn counts when yaw leaves the neutral level by ``turn_min_deg`` the asked way and then comes
    back within ``neutral_max_deg``; a blink when, near neutral, the mean eye aspect ratio falls to
    ``blink_closed_ratio`` of the open level (the median of the near-neutral frames so far) and rises
    back to ``blink_open_ratio`` of it. A turn the other way, or any turn while a blink is awaited,
    fails the sequence; spontaneous blinks while a turn is awaited are ignored. Moves after the last
    asked one are ignored only if they are blinks; a further turn fails. ``moves_from``: the index of
    the first frame at which moves are asked (after the light phase): earlier frames give the neutral
    pose and the open-eye level, and no move is counted or held against anyone in them."""
    moves = tuple(moves)
    asked = {id(o) for o in observations[moves_from:]}
    # The face detector counts faces on the frames it runs on (a sample of the stream, see the analyzer).
    counted = [o for o in observations if o.detected]
    multiple = sum(1 for o in counted if o.faces > 1)
    if counted and multiple > policy.max_multiple_share * len(counted):
        return SequenceResult(moves, 0, SequenceFailure.MULTIPLE_FACES)
    analysed = [o for o in observations if not o.skipped]
    faceless = sum(1 for o in analysed if not o.has_pose)
    if analysed and faceless > policy.max_faceless_share * len(analysed):
        return SequenceResult(moves, 0, SequenceFailure.NO_FACE)
    posed = [o for o in observations if o.has_pose]
    if len(posed) < policy.min_posed_frames:
        return SequenceResult(moves, 0, None)
    # The neutral level: the first steady run of frames facing the camera (before any move), so a
    # person who starts turning within the first second is judged against where they faced before,
    # not against a median that their turn has already pulled away. A steady run turned away is a
    # definite failure only when it lasts ``not_facing_frames``; shorter ones (a movement already under
    # way when the stream starts) are skipped, neither counted nor held against anyone.
    found = neutral_run(posed, policy)
    if isinstance(found, SequenceFailure):
        return SequenceResult(moves, 0, found)
    if found is None:
        return SequenceResult(moves, 0, None)
    first, neutral = found
    posed = posed[first:]

    done = 0
    completed_at: list[float] = []
    phase = "wait"  # "wait": for the move to start; "return": turned / eyes closed, awaiting the end
    open_levels: list[float] = []
    in_between = False  # a frame between neutral and turned since the last neutral one
    for obs in posed:
        assert obs.yaw_deg is not None
        offset = obs.yaw_deg - neutral
        near_neutral = abs(offset) <= policy.neutral_max_deg
        turned = (
            "left" if offset >= policy.turn_min_deg else "right" if offset <= -policy.turn_min_deg else None
        )
        if near_neutral and obs.ear is not None:  # eyes are measured where a blink can count
            open_levels.append(obs.ear)
        if id(obs) not in asked:
            continue  # the light phase: the person holds still; moves are asked after it
        transition_seen = in_between or not policy.require_transition
        in_between = (not near_neutral and turned is None) or (in_between and not near_neutral)
        open_level = float(np.median(open_levels)) if len(open_levels) >= 2 else None
        current = moves[done] if done < len(moves) else None

        if current is None:
            if turned is not None:
                return SequenceResult(moves, done, SequenceFailure.WRONG_MOVE, completed_at)
            continue
        if current is Move.BLINK:
            if turned is not None:
                return SequenceResult(moves, done, SequenceFailure.WRONG_MOVE, completed_at)
            if open_level is None or not near_neutral or obs.ear is None:
                continue
            if phase == "wait" and obs.ear <= policy.blink_closed_ratio * open_level:
                phase = "return"
            elif phase == "return" and obs.ear >= policy.blink_open_ratio * open_level:
                phase, done = "wait", done + 1
                completed_at.append(obs.received_s)
            continue
        wanted = "left" if current is Move.TURN_LEFT else "right"
        if turned is not None and turned != wanted:
            return SequenceResult(moves, done, SequenceFailure.WRONG_MOVE, completed_at)
        if phase == "wait" and turned == wanted and transition_seen:
            phase = "return"
        elif phase == "return" and near_neutral:
            phase, done = "wait", done + 1
            completed_at.append(obs.received_s)
    return SequenceResult(moves, done, None, completed_at)


def neutral_run(
    posed: Sequence[FrameObservation], policy: SequencePolicy
) -> tuple[int, float] | SequenceFailure | None:
    """(index of the first frame, median yaw) of the first steady run facing the camera: at least
    ``min_posed_frames`` consecutive frames within ``neutral_max_deg`` of the run's first frames'
    median, that median within ``start_max_deg`` of frontal. NOT_FACING when a steady run turned away
    lasts ``not_facing_frames`` first; None while neither is seen."""
    yaws = [float(o.yaw_deg or 0.0) for o in posed]
    window = policy.min_posed_frames
    start = 0
    while start + window <= len(yaws):
        level = float(np.median(yaws[start : start + window]))
        if max(abs(y - level) for y in yaws[start : start + window]) > policy.neutral_max_deg:
            start += 1
            continue
        end = start + window
        while end < len(yaws) and abs(yaws[end] - level) <= policy.neutral_max_deg:
            end += 1
        if abs(level) <= policy.start_max_deg:
            return start, float(np.median(yaws[start:end]))
        if end - start >= policy.not_facing_frames:
            return SequenceFailure.NOT_FACING
        start = end
    return None
