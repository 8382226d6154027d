"""The moves a liveness challenge asks for, and what the person is told to do for each."""

from __future__ import annotations

from enum import StrEnum


class Move(StrEnum):
    BLINK = "blink"
    TURN_LEFT = "turn_left"  # the person's own left
    TURN_RIGHT = "turn_right"


MOVE_PROMPTS: dict[Move, str] = {
    Move.BLINK: "Blink slowly",
    Move.TURN_LEFT: "Turn your head to your left, then back",
    Move.TURN_RIGHT: "Turn your head to your right, then back",
}
