"""FaceService with a small scripted engine standing in for the vision models (the API tests use the
real ones): the burst each call returns is chosen by the test."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pytest
from sqlalchemy import select

from faceauth.config import Settings
from faceauth.domain import (
    BurstEmbeddings,
    Embedding,
    FaceAlreadyEnrolled,
    FrameRejection,
    InconsistentEnrollment,
    NoFaceEnrolled,
    NotEnoughGoodFrames,
    RejectReason,
)
from faceauth.service.faces import FaceService
from faceauth.service.lockout import LockoutService
from faceauth.storage.crypto import TemplateCipher
from faceauth.storage.keys import TemplateKey
from faceauth.storage.sql.backend import SqlStorage
from faceauth.storage.sql.tables import FaceTemplateRow
from faceauth.vision import fusion
from support import stand_in_burst


def unit(vector: np.ndarray) -> Embedding:
    return (vector / np.linalg.norm(vector)).astype(np.float32)


def person(seed: int) -> Embedding:
    return unit(np.random.default_rng(seed).normal(size=512))


def photos_of(identity: Embedding, count: int, noise: float = 0.02, seed: int = 0) -> list[Embedding]:
    rng = np.random.default_rng(seed)
    return [unit(identity + rng.normal(scale=noise, size=512)) for _ in range(count)]


class ScriptedEngine:
    """Answers each embed_burst call with the next prepared burst."""

    def __init__(self) -> None:
        self.bursts: list[tuple[list[Embedding], tuple[int, ...], tuple[FrameRejection, ...]]] = []
        self.frames_seen: list[int] = []
        self.models_asked: list[tuple[str, ...]] = []

    def will_see(self, embeddings: list[Embedding], rejected: tuple[FrameRejection, ...] = ()) -> None:
        rejected_indices = {r.index for r in rejected}
        accepted = tuple(i for i in range(len(embeddings) + len(rejected)) if i not in rejected_indices)
        self.bursts.append((embeddings, accepted, rejected))

    def embed_burst(
        self, frames: Sequence[bytes], models: Sequence[str] | None = None, every_frame: bool = False
    ) -> BurstEmbeddings:
        self.frames_seen.append(len(frames))
        self.models_asked.append(tuple(models or ()))
        return stand_in_burst(*self.bursts.pop(0), models)


FRAMES = [b"frame"] * 8


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def user_id(storage: SqlStorage) -> int:
    return storage.create_user(
        name="Ann", username="ann", email="ann@example.org", phone="+12025550143", password_hash="h"
    ).id


@pytest.fixture
def faces(
    engine: ScriptedEngine, storage: SqlStorage, settings: Settings, lockouts: LockoutService
) -> FaceService:
    cipher = TemplateCipher(TemplateKey("test", os.urandom(32)))
    return FaceService(engine, storage, cipher, settings, lockouts)


def stored_rows(storage: SqlStorage) -> list[FaceTemplateRow]:
    with storage.engine.connect() as connection:
        return list(connection.execute(select(FaceTemplateRow)).all())  # type: ignore[arg-type]


def test_enroll_then_verify_the_same_person(faces: FaceService, engine: ScriptedEngine, user_id: int) -> None:
    ann = person(1)
    engine.will_see(photos_of(ann, 7, seed=1), (FrameRejection(3, RejectReason.TOO_DARK),))
    result = faces.enroll(user_id, FRAMES)
    assert result.frames_used == 7
    assert result.frames_rejected == (FrameRejection(3, RejectReason.TOO_DARK),)
    assert not result.replaced

    engine.will_see(photos_of(ann, 8, seed=2))
    verification = faces.verify(user_id, FRAMES)
    assert verification.verified
    assert verification.match.similarity > 0.9
    assert verification.match.threshold == fusion.served_threshold(faces.settings)


def test_another_person_does_not_verify(faces: FaceService, engine: ScriptedEngine, user_id: int) -> None:
    engine.will_see(photos_of(person(1), 8))
    faces.enroll(user_id, FRAMES)
    engine.will_see(photos_of(person(2), 8))
    verification = faces.verify(user_id, FRAMES)
    assert not verification.verified
    assert verification.match.similarity < verification.match.threshold


def test_template_is_stored_encrypted(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    embeddings = photos_of(person(1), 8)
    engine.will_see(embeddings)
    faces.enroll(user_id, FRAMES)
    stored = storage.get_template(user_id)
    assert stored is not None
    assert stored.key_id == "test"
    assert stored.frames_used == 8
    mean = unit(np.mean(np.stack(embeddings), axis=0))
    assert mean.tobytes() not in stored.ciphertext
    assert b"sface" not in stored.ciphertext  # which models made it is inside the ciphertext too
    template = faces.cipher.decrypt_template(user_id, stored.ciphertext, stored.key_id)
    assert [(part.model, part.version) for part in template.vectors] == [("sface", "2021dec-int8bq")]
    np.testing.assert_allclose(template.vectors[0].vector, mean, atol=1e-6)


def test_too_few_good_frames_store_nothing(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    rejected = tuple(FrameRejection(i, RejectReason.NO_FACE) for i in range(4))
    engine.will_see(photos_of(person(1), 4), rejected)
    with pytest.raises(NotEnoughGoodFrames) as failure:
        faces.enroll(user_id, FRAMES)
    assert failure.value.accepted == 4
    assert failure.value.needed == faces.settings.min_good_frames
    assert failure.value.rejected == rejected
    assert stored_rows(storage) == []


def test_burst_of_two_people_is_refused_and_stores_nothing(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    engine.will_see(
        photos_of(person(1), 6) + photos_of(person(2), 2), (FrameRejection(8, RejectReason.NO_FACE),)
    )
    with pytest.raises(InconsistentEnrollment) as failure:
        faces.enroll(user_id, [b"f"] * 9)
    reasons = {r.index: r.reason for r in failure.value.rejected}
    assert reasons[8] is RejectReason.NO_FACE
    assert {6, 7} <= {i for i, reason in reasons.items() if reason is RejectReason.NOT_SAME_PERSON}
    assert stored_rows(storage) == []


def test_re_enrollment_must_be_explicit(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    engine.will_see(photos_of(person(1), 8))
    faces.enroll(user_id, FRAMES)
    before = storage.get_template(user_id)

    with pytest.raises(FaceAlreadyEnrolled):
        faces.enroll(user_id, FRAMES)
    assert engine.frames_seen == [8]  # refused before any inference

    engine.will_see(photos_of(person(3), 8))
    assert faces.enroll(user_id, FRAMES, replace=True).replaced
    after = storage.get_template(user_id)
    assert before is not None and after is not None
    assert after.ciphertext != before.ciphertext
    assert len(stored_rows(storage)) == 1


def test_verify_without_a_template(faces: FaceService, engine: ScriptedEngine, user_id: int) -> None:
    with pytest.raises(NoFaceEnrolled):
        faces.verify(user_id, FRAMES)
    assert engine.frames_seen == []


def test_verify_with_too_few_good_frames(faces: FaceService, engine: ScriptedEngine, user_id: int) -> None:
    engine.will_see(photos_of(person(1), 8))
    faces.enroll(user_id, FRAMES)
    engine.will_see(
        photos_of(person(1), 2), tuple(FrameRejection(i, RejectReason.TOO_BLURRY) for i in range(6))
    )
    with pytest.raises(NotEnoughGoodFrames):
        faces.verify(user_id, FRAMES)


def test_delete_template(faces: FaceService, engine: ScriptedEngine, user_id: int) -> None:
    engine.will_see(photos_of(person(1), 8))
    faces.enroll(user_id, FRAMES)
    assert faces.delete(user_id) is True
    assert not faces.is_enrolled(user_id)
    with pytest.raises(NoFaceEnrolled):
        faces.verify(user_id, FRAMES)
