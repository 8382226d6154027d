"""LivenessService's rules on a real database, fast: asking again gives the open challenge back (no free
re-draw), also to two requests at once, unless frames were sent to it (then it is spent as a failure:
a reload mid-stream), an abandoned verify challenge counts towards the face lock-out, the draw always
holds one move of each kind, chunks faster than real time are refused, expired observations are
purged by ``purge``, and the screen-light step judges synthetic light samples under each mode,
failures naming their step.

The face models are replaced by a stand-in analyzer that reads each "frame" as a JSON description of
what the models would have measured (yaw, eye openness, the light on the face): the rules under test
are the service's, not the models'; tests/service/test_liveness_service.py runs the real models."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy import func, select

from faceauth.config import Settings
from faceauth.domain import AccountLocked, ChallengeUsed, LivenessFailed, StreamTooFast
from faceauth.service.liveness import ChallengePurpose, IssuedChallenge, LivenessService, nonce_key
from faceauth.service.liveness_light import LightSchedule
from faceauth.service.lockout import FACE_STEP, LockoutService
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.interface import StoredChallenge
from faceauth.storage.keys import TemplateKey
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.challenges import SqlChallengeStore
from faceauth.storage.sql.tables import LivenessChallengeRow
from faceauth.vision.liveness import FrameObservation, Move, PassiveEvidence, StreamPlan
from faceauth.vision.screen_light import LightSample

FACE = np.ones(128, dtype=np.float32) / np.sqrt(128)


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


class StandInEmbedder:
    def __init__(self, version: str) -> None:
        self.version = version


class StandInEngine:
    """What the judge asks of the analyzer's engine: the served models and their versions (FaceNet,
    the identity model, is always loaded)."""

    def __init__(self) -> None:
        self.served = ("sface",)
        self.embedders = {
            "sface": StandInEmbedder("2021dec-int8bq"),
            "facenet": StandInEmbedder("20180408-102900"),
        }


class DescribedFrames:
    """Stand-in for LivenessAnalyzer: a frame is JSON {"yaw", "ear", "light"} (what the models would
    measure); every frame is detected, usable and embedded (one person)."""

    engine = StandInEngine()

    def observe_stream(
        self,
        frames: Sequence[bytes],
        received_s: float,
        history: Sequence[FrameObservation] = (),
        plan: StreamPlan | None = None,
    ) -> list[FrameObservation]:
        observed = []
        for data in frames:
            described = json.loads(data)
            observed.append(
                FrameObservation(
                    received_s=received_s,
                    faces=1,
                    yaw_deg=described["yaw"],
                    pitch_deg=0.0,
                    ear=described.get("ear", 0.3),
                    embedding=FACE,
                    model_vectors={"facenet": FACE, "sface": FACE},
                    served=True,
                    light=described.get("light"),
                )
            )
        return observed

    def evaluate_passive(self, observations: Sequence[FrameObservation]) -> list[PassiveEvidence]:
        return []


def lit_sample(colour: tuple[float, float, float] | None, strength: float) -> list[float]:
    """A face under room light plus ``strength`` of the screen's ``colour``, stronger on the inner
    cheeks (facing the screen) than on the outer ones; the background metres away is not lit."""
    skin = np.array([0.45, 0.3, 0.22])
    screen = np.array(colour or (0.0, 0.0, 0.0))

    def region(facing: float) -> tuple[float, float, float]:
        r, g, b = skin * (1.0 + strength * facing * screen)
        return float(r), float(g), float(b)

    sample = LightSample(region(1.0), (region(1.0), region(1.0)), (region(0.6), region(0.6)), (0.2, 0.2, 0.2))
    return sample.to_list()


def frame(yaw: float, ear: float = 0.3, light: list[float] | None = None) -> bytes:
    return json.dumps({"yaw": yaw, "ear": ear, "light": light}).encode()


def yaws_for(moves: Sequence[Move]) -> list[float]:
    neutral = [0.0, 0.5, -0.5, 0.2, 0.0, 0.3]
    out = list(neutral)
    for move in moves:
        sign = {Move.TURN_LEFT: 1.0, Move.TURN_RIGHT: -1.0}.get(move)
        out += [sign * v for v in (6.0, 10.0, 16.0, 20.0, 16.0, 9.0, 3.0)] if sign else [0.0] * 7
        out += neutral
    return out


def ears_for(moves: Sequence[Move], count: int) -> list[float]:
    ears = [0.3] * count
    position = 6
    for move in moves:
        if move is Move.BLINK:
            ears[position + 2 : position + 4] = [0.08, 0.08]
        position += 13
    return ears


def challenge_stream(challenge: IssuedChallenge, follows_light: bool) -> list[bytes]:
    """The light phase (facing the camera; the face lit by each step's colour, or not at all), then
    the asked moves."""
    light_frames: list[bytes] = []
    if challenge.light is not None:
        for step in challenge.light.steps:
            for _ in range(step.frames):
                light_frames.append(frame(0.0, light=lit_sample(step.colour if follows_light else None, 0.1)))
    yaws = yaws_for(challenge.moves)
    ears = ears_for(challenge.moves, len(yaws))
    return light_frames + [frame(y, e) for y, e in zip(yaws, ears, strict=True)]


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_service(
    storage: SqlStorage, settings: Settings, clock: Clock, lockouts: LockoutService
) -> LivenessService:
    def count_failure(user_id: int) -> None:
        lockouts.fail(lockouts.begin(FACE_STEP, lockouts.face_rules(user_id)))

    return LivenessService(
        DescribedFrames(),  # type: ignore[arg-type]
        SqlChallengeStore(storage.database),
        storage,
        settings,
        clock=clock,
        on_abandoned=count_failure,
    )


@pytest.fixture
def user_id(storage: SqlStorage) -> int:
    return storage.create_user(
        name="A", username="alice", email="a@example.com", phone="+15550100", password_hash="x"
    ).id


def play(
    service: LivenessService, user: int, challenge: IssuedChallenge, frames: list[bytes], clock: Clock
) -> Any:
    """Chunks of 8 frames, one second apart (real time at 8 fps); the last progress."""
    progress = None
    for start in range(0, len(frames), 8):
        clock.now += 1.0
        progress = service.add_frames(user, challenge.challenge_id, frames[start : start + 8])
    return progress


def test_asking_again_returns_the_open_challenge(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    service = make_service(storage, settings_factory(), clock, lockouts)
    first = service.issue(user_id, ChallengePurpose.VERIFY)
    clock.now += 3
    again = service.issue(user_id, ChallengePurpose.VERIFY)
    assert again.challenge_id == first.challenge_id and again.moves == first.moves
    assert again.deadline_at == first.deadline_at
    assert again.light is not None and again.light == first.light
    other = service.issue(user_id, ChallengePurpose.ENROLL)  # another purpose: its own challenge
    assert other.challenge_id != first.challenge_id


class ReadersMeet(SqlChallengeStore):
    """The real store, except that each thread's first look for the open challenge waits until every
    thread has looked: all of them find none and draw a new one, which is the race, every time."""

    def __init__(self, storage: SqlStorage, threads: int) -> None:
        super().__init__(storage.database)
        self.barrier = threading.Barrier(threads, timeout=30)
        self.looked = threading.local()

    def open_challenge(self, user_id: int, purpose: str, now: datetime) -> StoredChallenge | None:
        found = super().open_challenge(user_id, purpose, now)
        if not getattr(self.looked, "done", False):
            self.looked.done = True
            self.barrier.wait()
        return found


def test_two_requests_at_once_get_the_same_challenge(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int
) -> None:
    service = LivenessService(
        DescribedFrames(),  # type: ignore[arg-type]
        ReadersMeet(storage, 2),
        storage,
        settings_factory(),
        clock=clock,
    )
    issued: list[IssuedChallenge] = []
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            issued.append(service.issue(user_id, ChallengePurpose.VERIFY))
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(issued) == 2
    assert issued[0].challenge_id == issued[1].challenge_id and issued[0].moves == issued[1].moves
    with storage.database.session() as session:
        rows = session.scalar(select(func.count()).where(LivenessChallengeRow.user_id == user_id))
    assert rows == 1
    assert [e for e in storage.list_events(user_id) if e.kind == "liveness"] == []  # nobody charged


def test_asking_again_after_frames_spends_the_open_challenge_as_a_failure(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    service = make_service(storage, settings_factory(liveness_light="off"), clock, lockouts)
    store = SqlChallengeStore(storage.database)
    first = service.issue(user_id, ChallengePurpose.VERIFY)
    play(service, user_id, first, [frame(0.0)] * 8, clock)  # then the page reloads
    second = service.issue(user_id, ChallengePurpose.VERIFY)
    assert second.challenge_id != first.challenge_id
    assert store.frame_count(nonce_key(first.challenge_id)) == 0  # never judged with the new stream
    with pytest.raises(ChallengeUsed):
        service.add_frames(user_id, first.challenge_id, [frame(0.0)])
    with pytest.raises(ChallengeUsed):
        service.spend(user_id, first.challenge_id, ChallengePurpose.VERIFY)
    assert [e.detail for e in storage.list_events(user_id) if e.kind == "liveness"] == ["abandoned"]
    clock.now += 1
    assert service.issue(user_id, ChallengePurpose.VERIFY).challenge_id == second.challenge_id  # no frames

    enroll = service.issue(user_id, ChallengePurpose.ENROLL)
    play(service, user_id, enroll, [frame(0.0)] * 8, clock)
    assert service.issue(user_id, ChallengePurpose.ENROLL).challenge_id != enroll.challenge_id
    events = [e for e in storage.list_events(user_id) if e.kind == "liveness"]
    assert [e.detail for e in events] == ["abandoned", "abandoned"] and not any(e.success for e in events)


def test_reloading_mid_challenge_runs_into_the_face_lockout(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    settings = settings_factory(liveness_light="off")
    service = make_service(storage, settings, clock, lockouts)
    for _ in range(settings.face_lockout_max_failures):
        challenge = service.issue(user_id, ChallengePurpose.VERIFY)
        play(service, user_id, challenge, [frame(0.0)] * 8, clock)
    lockouts.check(FACE_STEP, lockouts.face_rules(user_id))  # one short of the limit: not locked yet
    service.issue(user_id, ChallengePurpose.VERIFY)
    with pytest.raises(AccountLocked):
        lockouts.check(FACE_STEP, lockouts.face_rules(user_id))


def test_an_open_challenge_whose_nonce_cannot_be_given_back_is_replaced_without_a_penalty(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    settings = settings_factory()
    first = make_service(storage, settings, clock, lockouts).issue(user_id, ChallengePurpose.VERIFY)
    rotated = LivenessService(  # the template key was replaced, the old one dropped
        DescribedFrames(),  # type: ignore[arg-type]
        SqlChallengeStore(storage.database),
        storage,
        settings,
        clock=clock,
        cipher=TemplateCipher(TemplateKey("k2", os.urandom(32))),
    )
    second = rotated.issue(user_id, ChallengePurpose.VERIFY)  # the old one no longer blocks a new one
    assert second.challenge_id != first.challenge_id
    assert rotated.issue(user_id, ChallengePurpose.VERIFY).challenge_id == second.challenge_id
    assert [e for e in storage.list_events(user_id) if e.kind == "liveness"] == []  # the server's doing


def test_a_verify_challenge_left_to_expire_counts_as_a_failed_attempt(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    settings = settings_factory()
    service = make_service(storage, settings, clock, lockouts)
    seen = set()
    for _ in range(settings.face_lockout_max_failures):
        seen.add(service.issue(user_id, ChallengePurpose.VERIFY).challenge_id)
        clock.now += settings.liveness_deadline_seconds + 1  # abandoned: the next ask is a new draw
    service.issue(user_id, ChallengePurpose.VERIFY)
    assert len(seen) == settings.face_lockout_max_failures
    with pytest.raises(AccountLocked):
        lockouts.check(FACE_STEP, lockouts.face_rules(user_id))


def test_every_draw_holds_a_blink_and_a_turn(
    storage: SqlStorage, settings_factory: Any, clock: Clock, lockouts: LockoutService
) -> None:
    service = make_service(storage, settings_factory(), clock, lockouts)
    draws = [service.draw_moves() for _ in range(200)]
    assert all(Move.BLINK in d and len(set(d)) == 2 for d in draws)
    assert {d for d in draws} == {
        (Move.BLINK, Move.TURN_LEFT),
        (Move.BLINK, Move.TURN_RIGHT),
        (Move.TURN_LEFT, Move.BLINK),
        (Move.TURN_RIGHT, Move.BLINK),
    }
    turns_only = make_service(
        storage, settings_factory(liveness_moves=("turn_left", "turn_right")), clock, lockouts
    )
    assert {tuple(sorted(turns_only.draw_moves())) for _ in range(20)} == {(Move.TURN_LEFT, Move.TURN_RIGHT)}


def test_chunks_faster_than_real_time_are_refused(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    settings = settings_factory(liveness_light="off")
    service = make_service(storage, settings, clock, lockouts)
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    frames = [frame(0.0)] * 16
    service.add_frames(user_id, challenge.challenge_id, frames)  # the burst allowance
    clock.now += 1.0  # one second: 8 fps x 1.5 = 12 frames more at most
    with pytest.raises(StreamTooFast) as refused:
        service.add_frames(user_id, challenge.challenge_id, frames)
    assert refused.value.retry_after >= 1
    service.add_frames(user_id, challenge.challenge_id, frames[:12])  # at the pace: accepted


def test_expired_observations_are_purged_by_the_server(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    settings = settings_factory(liveness_light="off")
    service = make_service(storage, settings, clock, lockouts)
    store = SqlChallengeStore(storage.database)
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    play(service, user_id, challenge, [frame(0.0)] * 16, clock)
    key = nonce_key(challenge.challenge_id)
    assert store.frame_count(key) == 16
    assert service.purge() == 0  # still open: kept
    clock.now += settings.liveness_deadline_seconds + 11  # past the deadline and the spending grace
    assert service.purge() == 16
    assert store.frame_count(key) == 0


def test_a_face_that_follows_the_light_passes(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    service = make_service(storage, settings_factory(), clock, lockouts)
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    progress = play(service, user_id, challenge, challenge_stream(challenge, follows_light=True), clock)
    assert progress.complete, progress
    burst = service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    assert len(burst.embeddings) >= service.settings.liveness_matching_frames


def test_a_face_that_does_not_follow_the_light_fails_on_the_light_step(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    service = make_service(storage, settings_factory(), clock, lockouts)  # default: blocking
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    assert challenge.light is not None
    progress = play(service, user_id, challenge, challenge_stream(challenge, follows_light=False), clock)
    assert progress.failure == "light_no_response" and progress.step == "light"
    assert "brightness" in (progress.message or "")
    # A failed stream costs nothing more: later chunks are neither analysed nor kept.
    store = SqlChallengeStore(storage.database)
    kept = store.frame_count(nonce_key(challenge.challenge_id))
    assert kept == challenge.light.frames  # the chunks up to the end of the light phase, no more
    clock.now += 1.0
    again = service.add_frames(user_id, challenge.challenge_id, [frame(0.0)] * 8)
    assert again.failure == "light_no_response" and again.frames_received == kept
    assert store.frame_count(nonce_key(challenge.challenge_id)) == kept
    with pytest.raises(LivenessFailed) as failed:
        service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    assert failed.value.step == "light" and failed.value.reason == "light_no_response"
    assert "turn the brightness up and come closer" in str(failed.value)


def test_report_mode_judges_the_light_without_blocking(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    service = make_service(storage, settings_factory(liveness_light="report"), clock, lockouts)
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    play(service, user_id, challenge, challenge_stream(challenge, follows_light=False), clock)
    service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    events = [e for e in storage.list_events(user_id) if e.kind == "liveness"]
    assert events and "light=light_no_response" in (events[-1].detail or "")


def test_a_missing_move_is_named_with_its_step(
    storage: SqlStorage, settings_factory: Any, clock: Clock, user_id: int, lockouts: LockoutService
) -> None:
    settings = settings_factory(liveness_light="off", liveness_moves=("turn_left", "turn_right"))
    service = make_service(storage, settings, clock, lockouts)
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    first_only = yaws_for(challenge.moves[:1]) + [0.0] * 8
    play(service, user_id, challenge, [frame(y) for y in first_only], clock)
    with pytest.raises(LivenessFailed) as failed:
        service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    side = "left" if challenge.moves[1] is Move.TURN_LEFT else "right"
    assert failed.value.step == "moves" and failed.value.reason == "incomplete"
    assert f"we did not see a turn to your {side}" in str(failed.value)
    assert "time" not in str(failed.value)


def test_the_schedule_never_repeats_a_colour_and_round_trips(settings_factory: Any) -> None:
    from faceauth.service.liveness_light import draw_schedule

    for _ in range(50):
        schedule = draw_schedule(settings_factory())
        assert schedule is not None and len(schedule.steps) == 6 and schedule.frames == 24
        assert all(a != b for a, b in zip(schedule.names, schedule.names[1:], strict=False))
        assert LightSchedule.from_json(schedule.to_json()) == schedule
    assert draw_schedule(settings_factory(liveness_light="off")) is None
