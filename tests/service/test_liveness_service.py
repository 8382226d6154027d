"""LivenessService on a real database with the real models: nonces work once, deadlines hold, a
challenge cannot be used by someone else or for the other purpose, and the person who moved is the
person who is matched. The clock is a variable the test moves (``clock``)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from faceauth.config import Settings
from faceauth.domain import ChallengeExpired, ChallengeNotFound, ChallengeUsed, LivenessFailed
from faceauth.service.faces import FaceService
from faceauth.service.liveness import ChallengePurpose, IssuedChallenge, LivenessService
from faceauth.service.lockout import LockoutService
from faceauth.storage.crypto import TemplateCipher, TemplateDecryptionError
from faceauth.storage.keys import TemplateKey
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.challenges import SqlChallengeStore
from faceauth.vision.engine import FaceEngine
from faceauth.vision.liveness import LivenessAnalyzer, Move, default_signals
from faceauth.vision.synthetic import challenge_frames
from support import load_face_mesh
from support.camera import compose_frame, photos_of

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)


class Clock:
    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def analyzer(face_engine: FaceEngine) -> LivenessAnalyzer:
    return LivenessAnalyzer(face_engine, load_face_mesh(), default_signals())


@pytest.fixture(scope="module")
def rendered(analyzer: LivenessAnalyzer) -> dict[tuple[str, tuple[Move, ...]], list[bytes]]:
    """JPEG frames of rendered challenges, cached per (person, moves)."""
    return {}


def frames_of(
    cache: dict[tuple[str, tuple[Move, ...]], list[bytes]],
    analyzer: LivenessAnalyzer,
    identity: str,
    moves: tuple[Move, ...],
) -> list[bytes]:
    key = (identity, moves)
    if key not in cache:
        try:
            rgb = compose_frame(photos_of(identity)[0].path)
        except FileNotFoundError:
            pytest.skip("deepface_tests photos not found (set FACEAUTH_TEST_DATA)")
        pose = analyzer.mesh.measure(rgb)
        assert pose is not None and pose.landmarks is not None
        frames = challenge_frames(rgb, pose.landmarks, [m.value for m in moves])
        cache[key] = [
            cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])[
                1
            ].tobytes()
            for f in frames
        ]
    return cache[key]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(settings_factory: object) -> Settings:
    # Turns only: the tests choose the order through the challenge they get back.
    return settings_factory(  # type: ignore[operator]
        liveness_required=True, liveness_moves=("turn_left", "turn_right"), liveness_light="report"
    )


@pytest.fixture
def service(
    storage: SqlStorage, analyzer: LivenessAnalyzer, settings: Settings, clock: Clock
) -> Iterator[LivenessService]:
    yield LivenessService(analyzer, SqlChallengeStore(storage.database), storage, settings, clock=clock)


@pytest.fixture
def user_id(storage: SqlStorage) -> int:
    return storage.create_user(
        name="A", username="alice", email="a@example.com", phone="+15550100", password_hash="x"
    ).id


def stream(
    service: LivenessService, user: int, challenge: IssuedChallenge, frames: list[bytes], clock: Clock
) -> None:
    """Post the frames in chunks of 8, one second apart (8 fps), after the light phase (the first
    frame held while the screen would flash: moves are asked after it)."""
    if challenge.light is not None:
        frames = [frames[0]] * challenge.light.frames + list(frames)
    for start in range(0, len(frames), 8):
        service.add_frames(user, challenge.challenge_id, frames[start : start + 8])
        clock.now += 1.0


def test_a_completed_challenge_gives_a_burst_once(
    service: LivenessService, analyzer: LivenessAnalyzer, rendered: dict, user_id: int, clock: Clock
) -> None:
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    assert set(challenge.moves) == {Move.TURN_LEFT, Move.TURN_RIGHT}
    stream(service, user_id, challenge, frames_of(rendered, analyzer, "person01", challenge.moves), clock)
    burst = service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    assert len(burst.embeddings) >= service.settings.liveness_matching_frames
    assert len(burst.accepted_indices) == len(burst.embeddings)  # FaceNet on every usable frame
    sface = burst.of("sface")
    assert sface is not None and len(sface.vectors) == service.settings.recognition_best_frames
    with pytest.raises(ChallengeUsed):
        service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    with pytest.raises(ChallengeUsed):
        service.add_frames(
            user_id, challenge.challenge_id, frames_of(rendered, analyzer, "person01", challenge.moves)[:2]
        )
    events = [e for e in service.storage.list_events(user_id) if e.kind == "liveness"]
    assert [e.success for e in events] == [True]


def test_a_failed_challenge_is_spent_too(
    service: LivenessService, analyzer: LivenessAnalyzer, rendered: dict, user_id: int, clock: Clock
) -> None:
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    wrong_order = tuple(reversed(challenge.moves))
    stream(service, user_id, challenge, frames_of(rendered, analyzer, "person01", wrong_order), clock)
    with pytest.raises(LivenessFailed) as failure:
        service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    assert failure.value.reason == "wrong_move"
    with pytest.raises(ChallengeUsed):
        service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    # a challenge matches no template: its event carries no match score (it once read 1.000), but
    # the identity consistency under its own name
    [event] = [e for e in service.storage.list_events(user_id) if e.kind == "liveness"]
    assert not event.success and event.score is None
    assert event.detail is not None and "wrong_move" in event.detail and "consistency=" in event.detail


def test_frames_after_the_deadline_are_refused_and_a_late_challenge_fails(
    service: LivenessService, analyzer: LivenessAnalyzer, rendered: dict, user_id: int, clock: Clock
) -> None:
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    frames = frames_of(rendered, analyzer, "person01", challenge.moves)
    service.add_frames(user_id, challenge.challenge_id, frames[:8])
    clock.now += service.settings.liveness_deadline_seconds + 0.5
    with pytest.raises(ChallengeExpired):
        service.add_frames(user_id, challenge.challenge_id, frames[8:16])
    # The moves were never completed in time: the frames that arrived do not pass.
    with pytest.raises(LivenessFailed):
        service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)

    # A stream completed in time but spent long after the deadline fails as well.
    late = service.issue(user_id, ChallengePurpose.VERIFY)
    stream(service, user_id, late, frames_of(rendered, analyzer, "person01", late.moves), clock)
    clock.now += service.settings.liveness_deadline_seconds + 30
    with pytest.raises(ChallengeExpired):
        service.spend(user_id, late.challenge_id, ChallengePurpose.VERIFY)


def test_a_challenge_belongs_to_its_user_and_purpose(
    service: LivenessService,
    storage: SqlStorage,
    analyzer: LivenessAnalyzer,
    rendered: dict,
    user_id: int,
    clock: Clock,
) -> None:
    other = storage.create_user(
        name="B", username="bob", email="b@example.com", phone="+15550101", password_hash="x"
    )
    challenge = service.issue(user_id, ChallengePurpose.ENROLL)
    frames = frames_of(rendered, analyzer, "person01", challenge.moves)
    with pytest.raises(ChallengeNotFound):
        service.add_frames(other.id, challenge.challenge_id, frames[:4])
    stream(service, user_id, challenge, frames, clock)
    with pytest.raises(ChallengeNotFound):
        service.spend(other.id, challenge.challenge_id, ChallengePurpose.ENROLL)
    with pytest.raises(ChallengeNotFound):
        service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    with pytest.raises(ChallengeNotFound):
        service.spend(user_id, "not-a-challenge", ChallengePurpose.ENROLL)
    assert service.spend(user_id, challenge.challenge_id, ChallengePurpose.ENROLL).embeddings


def test_the_person_who_moved_is_the_person_matched(
    service: LivenessService,
    storage: SqlStorage,
    analyzer: LivenessAnalyzer,
    rendered: dict,
    user_id: int,
    settings: Settings,
    clock: Clock,
    lockouts: LockoutService,
) -> None:
    """Enrolled as person 1 through a challenge; person 3 completes a challenge perfectly and is
    refused by the match; person 1 is accepted."""
    cipher = TemplateCipher(TemplateKey("test", os.urandom(32)))
    faces = FaceService(analyzer.engine, storage, cipher, settings, lockouts)
    enroll = service.issue(user_id, ChallengePurpose.ENROLL)
    stream(service, user_id, enroll, frames_of(rendered, analyzer, "person01", enroll.moves), clock)
    faces.enroll(user_id, service.spend(user_id, enroll.challenge_id, ChallengePurpose.ENROLL))

    impostor = service.issue(user_id, ChallengePurpose.VERIFY)
    stream(service, user_id, impostor, frames_of(rendered, analyzer, "person03", impostor.moves), clock)
    result = faces.verify(user_id, service.spend(user_id, impostor.challenge_id, ChallengePurpose.VERIFY))
    assert not result.verified and result.match.similarity < 0.4

    genuine = service.issue(user_id, ChallengePurpose.VERIFY)
    stream(service, user_id, genuine, frames_of(rendered, analyzer, "person01", genuine.moves), clock)
    result = faces.verify(user_id, service.spend(user_id, genuine.challenge_id, ChallengePurpose.VERIFY))
    assert result.verified


def test_spent_and_expired_challenges_leave_no_frames(
    service: LivenessService,
    storage: SqlStorage,
    analyzer: LivenessAnalyzer,
    rendered: dict,
    user_id: int,
    clock: Clock,
) -> None:
    challenge = service.issue(user_id, ChallengePurpose.VERIFY)
    frames = frames_of(rendered, analyzer, "person01", challenge.moves)
    service.add_frames(user_id, challenge.challenge_id, frames[:8])
    store = SqlChallengeStore(storage.database)
    from faceauth.service.liveness import nonce_key

    assert store.frame_count(nonce_key(challenge.challenge_id)) == 8
    rows = store.frames(nonce_key(challenge.challenge_id))
    sealed = [row["emb"] for row in rows if "emb" in row]
    assert sealed and all(set(item) == {"key", "blob"} for item in sealed)  # never a vector in the clear
    cipher = service.cipher
    blob = base64.b64decode(sealed[0]["blob"])
    assert cipher.decrypt_template(user_id, blob, sealed[0]["key"]).part("facenet") is not None
    # the frames the served model embedded (some usable for matching) carry its vector too, no other
    for row in (row for row in rows if "emb" in row):
        item = row["emb"]
        parts = cipher.decrypt_template(user_id, base64.b64decode(item["blob"]), item["key"])
        expected = {"facenet": 512, "sface": 128} if row["served"] else {"facenet": 512}
        assert {part.model: len(part.vector) for part in parts.vectors} == expected
    with pytest.raises(TemplateDecryptionError):  # bound to its user
        cipher.decrypt_template(user_id + 1, blob, sealed[0]["key"])
    with pytest.raises(LivenessFailed):
        service.spend(user_id, challenge.challenge_id, ChallengePurpose.VERIFY)
    assert store.frame_count(nonce_key(challenge.challenge_id)) == 0
    assert np.isfinite(clock.now)
