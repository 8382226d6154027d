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
    FaceTemplate,
    FrameRejection,
    InconsistentEnrollment,
    NoFaceEnrolled,
    NotEnoughGoodFrames,
    RejectReason,
    TemplateVector,
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
SERVED = [("sface", "2021dec-int8bq"), ("facenet", "20180408-102900")]  # the default models, in order


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
    assert [(part.model, part.version) for part in template.vectors] == SERVED
    for part in template.vectors:  # the stand-in engine gives every model the same vectors
        np.testing.assert_allclose(part.vector, mean, atol=1e-6)


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


# --- templates of other models than the served ones ----------------------------------------------


def tilted(template: Embedding, cosine: float, count: int = 8, seed: int = 5) -> list[Embedding]:
    """Frames whose mean is about ``cosine`` similar to ``template``: another direction mixed in."""
    other = person(99)
    other = unit(other - float(other @ template) * template)
    sine = float(np.sqrt(1.0 - cosine**2))
    return photos_of(unit(cosine * template + sine * other), count, noise=0.005, seed=seed)


def enroll_legacy(faces: FaceService, storage: SqlStorage, user_id: int, vector: Embedding) -> None:
    """A template as written before templates recorded their model: FaceNet's raw vector (v1)."""
    storage.save_template(user_id, faces.cipher.encrypt(user_id, vector), faces.cipher.key_id, 8)


def template_models(faces: FaceService, storage: SqlStorage, user_id: int) -> list[tuple[str, str]]:
    stored = storage.get_template(user_id)
    assert stored is not None
    template = faces.cipher.decrypt_template(user_id, stored.ciphertext, stored.key_id)
    return [(part.model, part.version) for part in template.vectors]


def test_an_old_template_is_judged_by_facenet_at_its_own_threshold(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    ann = person(1)
    enroll_legacy(faces, storage, user_id, ann)
    assert template_models(faces, storage, user_id) == [("facenet", "20180408-102900")]
    engine.will_see(tilted(ann, 0.60))  # above SFace's 0.4965, below FaceNet's 0.705
    result = faces.verify(user_id, FRAMES)
    assert not result.verified
    assert result.match.threshold == fusion.calibrated_threshold(["facenet"]) == 0.705
    assert engine.models_asked[-1][0] == "facenet" and "sface" in engine.models_asked[-1]
    assert template_models(faces, storage, user_id) == [("facenet", "20180408-102900")]  # unchanged


def test_an_old_template_is_upgraded_only_by_a_clear_match(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    ann = person(1)
    enroll_legacy(faces, storage, user_id, ann)
    # a borderline match (above 0.705, below the upgrade level 0.85) logs in but teaches nothing
    engine.will_see(tilted(ann, 0.78))
    assert faces.verify(user_id, FRAMES).verified
    assert template_models(faces, storage, user_id) == [("facenet", "20180408-102900")]
    assert not [e for e in storage.list_events(user_id) if e.kind == "face_template_upgrade"]
    # a clear match replaces it with a template of the served model, made from this login's frames
    clear = tilted(ann, 0.95)
    engine.will_see(clear)
    assert faces.verify(user_id, FRAMES).verified
    assert template_models(faces, storage, user_id) == SERVED
    upgrades = [e for e in storage.list_events(user_id) if e.kind == "face_template_upgrade"]
    assert len(upgrades) == 1 and upgrades[0].detail is not None and "sface" in upgrades[0].detail
    stored = storage.get_template(user_id)
    assert stored is not None
    sface_part = faces.cipher.decrypt_template(user_id, stored.ciphertext, stored.key_id).vectors[0]
    np.testing.assert_allclose(sface_part.vector, unit(np.mean(np.stack(clear), axis=0)), atol=1e-5)
    # from now on the login is judged by SFace
    engine.will_see(photos_of(unit(np.mean(np.stack(clear), axis=0)), 8, seed=9))
    result = faces.verify(user_id, FRAMES)
    assert result.verified and result.match.threshold == fusion.served_threshold(faces.settings)
    assert engine.models_asked[-1] == faces.settings.recognition_models


def test_a_failed_login_never_upgrades(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    enroll_legacy(faces, storage, user_id, person(1))
    engine.will_see(photos_of(person(2), 8))
    assert not faces.verify(user_id, FRAMES).verified
    assert template_models(faces, storage, user_id) == [("facenet", "20180408-102900")]


def test_a_template_of_weights_the_server_no_longer_runs_is_not_compared(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    old = FaceTemplate((TemplateVector("sface", "2019-other", person(1)),))
    storage.save_template(user_id, faces.cipher.encrypt_template(user_id, old), faces.cipher.key_id, 8)
    engine.will_see(photos_of(person(1), 8))
    with pytest.raises(NoFaceEnrolled):
        faces.verify(user_id, FRAMES)


def test_an_upgrade_never_brings_back_a_face_deleted_during_the_login(
    faces: FaceService, engine: ScriptedEngine, storage: SqlStorage, user_id: int
) -> None:
    ann = person(1)
    enroll_legacy(faces, storage, user_id, ann)
    engine.will_see(tilted(ann, 0.95))  # a clear match: would upgrade
    embed = engine.embed_burst

    def deleting_meanwhile(frames: Sequence[bytes], *args: object, **kwargs: object) -> BurstEmbeddings:
        storage.delete_template(user_id)  # the user deletes their face while the burst is embedded
        return embed(frames, *args, **kwargs)  # type: ignore[arg-type]

    engine.embed_burst = deleting_meanwhile  # type: ignore[method-assign]
    assert faces.verify(user_id, FRAMES).verified  # judged against the template read before
    assert storage.get_template(user_id) is None
    assert not [e for e in storage.list_events(user_id) if e.kind == "face_template_upgrade"]
