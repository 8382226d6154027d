"""The face-login use case (``service.face_login``) on a real SQLite database, with a stand-in engine
(frames whose bytes name a person embed as that person) and a stand-in liveness analyzer that sees
nothing: the rules under test are the use case's, not the vision pipeline's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from faceauth.composition import VisionModels, build_services
from faceauth.config import Settings
from faceauth.domain import (
    AccountLocked,
    BurstEmbeddings,
    FrameRejection,
    InsufficientStage,
    InvalidToken,
    LivenessFailed,
    LivenessRequired,
    RejectReason,
)
from faceauth.service.face_login import FaceInput
from faceauth.service.liveness import ChallengePurpose
from faceauth.service.services import Services
from faceauth.service.tokens import Stage, TokenClaims
from faceauth.storage.sql.abuse import SqlAbuseStore
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.challenges import SqlChallengeStore
from faceauth.storage.stores import Stores
from support import stand_in_burst


def person(seed: int) -> np.ndarray:
    vector = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    return vector / np.linalg.norm(vector)


PEOPLE = {b"ann": person(1), b"bob": person(2)}


class StandInEngine:
    def embed_burst(
        self, frames: Sequence[bytes], models: Sequence[str] | None = None, every_frame: bool = False
    ) -> BurstEmbeddings:
        embeddings, accepted, rejected = [], [], []
        for index, frame in enumerate(frames):
            if frame in PEOPLE:
                embeddings.append(PEOPLE[frame])
                accepted.append(index)
            else:
                rejected.append(FrameRejection(index, RejectReason.NO_FACE))
        return stand_in_burst(embeddings, accepted, rejected, models)


class BlindAnalyzer:
    """A liveness analyzer for challenges that receive no frames: nothing to weigh."""

    def evaluate_passive(self, observations: Sequence[Any]) -> tuple[()]:
        return ()


def burst(name: bytes) -> FaceInput:
    return FaceInput(frames=(name,) * 6)


def stores_of(storage: SqlStorage) -> Stores:
    return Stores(storage, SqlAbuseStore(storage.database), SqlChallengeStore(storage.database))


def make_services(settings: Settings, storage: SqlStorage) -> Services:
    return build_services(settings, stores_of(storage), VisionModels(StandInEngine(), BlindAnalyzer()))  # type: ignore[arg-type]


@pytest.fixture
def services(settings: Settings, storage: SqlStorage) -> Services:
    return make_services(settings, storage)


@pytest.fixture
def user_id(storage: SqlStorage) -> int:
    return storage.create_user(
        name="Ann", username="ann", email="ann@example.org", phone="+12025550143", password_hash="h"
    ).id


def token(services: Services, user_id: int, stage: Stage) -> TokenClaims:
    return services.tokens.decode(services.tokens.issue(user_id, stage).token)


def test_a_matching_face_upgrades_the_password_token_and_revokes_it(services: Services, user_id: int) -> None:
    services.face_login.enroll(token(services, user_id, Stage.PASSWORD), burst(b"ann"), replace=False)
    password_token = services.tokens.issue(user_id, Stage.PASSWORD)
    verified = services.face_login.verify(services.tokens.decode(password_token.token), burst(b"ann"))
    assert verified.verified and verified.token is not None
    assert verified.token.claims.stage is Stage.FULL and verified.pictures == 6
    with pytest.raises(InvalidToken):
        services.tokens.decode(password_token.token)  # spent: revoked
    assert services.tokens.decode(verified.token.token).stage is Stage.FULL


def test_another_face_earns_no_token_and_keeps_the_password_token(services: Services, user_id: int) -> None:
    services.face_login.enroll(token(services, user_id, Stage.PASSWORD), burst(b"ann"), replace=False)
    password_token = services.tokens.issue(user_id, Stage.PASSWORD)
    verified = services.face_login.verify(services.tokens.decode(password_token.token), burst(b"bob"))
    assert not verified.verified and verified.token is None
    assert services.tokens.decode(password_token.token).stage is Stage.PASSWORD


def test_replacing_or_deleting_a_face_needs_the_full_stage(services: Services, user_id: int) -> None:
    password = token(services, user_id, Stage.PASSWORD)
    first = services.face_login.enroll(password, burst(b"ann"), replace=True)  # nothing to replace yet
    assert not first.result.replaced
    with pytest.raises(InsufficientStage):
        services.face_login.enroll(password, burst(b"bob"), replace=True)
    with pytest.raises(InsufficientStage):
        services.face_login.delete(password)
    assert not services.face_login.verify(password, burst(b"bob")).verified  # still Ann's face
    full = token(services, user_id, Stage.FULL)
    assert services.face_login.enroll(full, burst(b"bob"), replace=True).result.replaced
    assert services.face_login.delete(full) is True
    assert services.face_login.delete(password) is False  # no face left: nothing to protect


def test_a_plain_burst_is_refused_when_liveness_is_required(
    settings_factory: Any, storage: SqlStorage, user_id: int
) -> None:
    services = make_services(settings_factory(liveness_required=True), storage)
    with pytest.raises(LivenessRequired):
        services.face_login.enroll(token(services, user_id, Stage.PASSWORD), burst(b"ann"), replace=False)
    assert not services.faces.is_enrolled(user_id)


def test_failed_liveness_challenges_count_towards_the_face_lockout(
    settings_factory: Any, storage: SqlStorage, user_id: int
) -> None:
    services = make_services(settings_factory(face_lockout_max_failures=2), storage)
    password = token(services, user_id, Stage.PASSWORD)
    services.face_login.enroll(password, burst(b"ann"), replace=False)
    for _ in range(2):  # no frames reached these challenges: liveness fails
        challenge = services.liveness.issue(user_id, ChallengePurpose.VERIFY)
        with pytest.raises(LivenessFailed):
            services.face_login.verify(password, FaceInput(challenge_id=challenge.challenge_id))
    waiting = services.liveness.issue(user_id, ChallengePurpose.VERIFY)
    with pytest.raises(AccountLocked):
        services.face_login.verify(password, FaceInput(challenge_id=waiting.challenge_id))
    with pytest.raises(AccountLocked):  # the right face too, until the lock ends
        services.face_login.verify(password, burst(b"ann"))


def test_a_failed_enrollment_challenge_is_no_failed_login(
    settings_factory: Any, storage: SqlStorage, user_id: int
) -> None:
    services = make_services(settings_factory(face_lockout_max_failures=1), storage)
    password = token(services, user_id, Stage.PASSWORD)
    challenge = services.liveness.issue(user_id, ChallengePurpose.ENROLL)
    with pytest.raises(LivenessFailed):
        services.face_login.enroll(password, FaceInput(challenge_id=challenge.challenge_id), replace=False)
    services.face_login.enroll(password, burst(b"ann"), replace=False)
    assert services.face_login.verify(password, burst(b"ann")).verified
