"""What a liveness challenge is to its client: its purpose, the challenge as issued, and the progress
the server reports while the frames stream in (``faceauth.service.liveness`` does the work)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from faceauth.service.liveness_judge import step_of
from faceauth.service.liveness_light import LightSchedule
from faceauth.vision.liveness import MOVE_PROMPTS, Move


class ChallengePurpose(StrEnum):
    ENROLL = "enroll"
    VERIFY = "verify"


@dataclass(frozen=True)
class IssuedChallenge:
    challenge_id: str  # the nonce: give it back to enroll or verify, once
    purpose: ChallengePurpose
    moves: tuple[Move, ...]
    issued_at: datetime
    deadline_at: datetime
    light: LightSchedule | None = None  # the colours the page shows first (None: no light step)

    @property
    def prompts(self) -> list[str]:
        return [MOVE_PROMPTS[move] for move in self.moves]


@dataclass(frozen=True)
class ChallengeProgress:
    """What the server has seen so far: the web page's progress indicator shows this."""

    frames_received: int
    moves: tuple[Move, ...]
    moves_done: int
    failure: str | None  # a definite failure code: more frames cannot fix it
    seconds_left: float
    message: str | None = None  # what the failure means for the person, when there is one
    matching_frames: int = 0  # frames usable for matching embedded so far
    matching_needed: int = 0  # how many the judge needs (liveness_matching_frames)

    @property
    def step(self) -> str | None:
        return step_of(self.failure) if self.failure else None

    @property
    def complete(self) -> bool:
        """Every move seen and enough frames to match: the client may stop streaming and spend it."""
        return (
            self.failure is None
            and self.moves_done == len(self.moves)
            and self.matching_frames >= self.matching_needed
        )
