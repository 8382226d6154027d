"""The whole pipeline on real photos: the same person matches, others do not, and every quality
gate refuses the frames it is meant to refuse."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from imaging import as_webcam_frame, encode

from faceauth import evaluation
from faceauth.domain import FaceRejected, RejectReason
from faceauth.vision import fusion
from faceauth.vision.engine import FaceEngine
from faceauth.vision.matching import mean_embedding

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)


def frame_bytes(photo: Path) -> bytes:
    return encode(as_webcam_frame(photo))


def two_people(photos_by_identity: dict[str, list[Path]]) -> tuple[list[Path], list[Path]]:
    people = sorted(photos_by_identity.values(), key=len, reverse=True)
    return people[0], people[1]


def test_recognition_separates_people_on_the_celebrity_set(engine: FaceEngine, data_root: Path) -> None:
    """All pairs of faces/deepface_tests (single photos, years apart): a regression guard well
    below the measured AUC (0.993, README) and the false-accept rate the threshold promises."""
    images = evaluation.read_images_csv(data_root / "faces" / "deepface_tests" / "images.csv")
    embedded = evaluation.embed_images(
        images, lambda data: engine.embed_image(data, largest_face=True, model="facenet")
    )
    assert not embedded.failed
    scores = evaluation.pair_scores(embedded)
    assert evaluation.roc_auc(scores.genuine, scores.impostor) > 0.98
    threshold = fusion.calibrated_threshold(["facenet"])
    tar, far = evaluation.rates_at(scores.genuine, scores.impostor, threshold)
    assert far < 0.002 and tar > 0.5
    vector = embedded.embeddings[0]
    assert vector.shape == (512,) and np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def test_burst_accepts_good_frames_and_lists_the_bad_ones_by_index(
    engine: FaceEngine, photos_by_identity: dict[str, list[Path]], data_root: Path
) -> None:
    person, _ = two_people(photos_by_identity)
    good = [frame_bytes(photo) for photo in person[:3]]
    group = (data_root / "faces" / "multi_face" / "fr_two_people.jpg").read_bytes()
    landscape = encode(np.full((480, 640, 3), 90, dtype=np.uint8))
    burst = engine.embed_burst([good[0], b"not an image", group, good[1], landscape, good[2]])
    assert burst.accepted_indices == (0, 3, 5)
    assert len(burst.embeddings) == 3
    reasons = {rejection.index: rejection.reason for rejection in burst.rejected}
    assert reasons == {
        1: RejectReason.NOT_AN_IMAGE,
        2: RejectReason.MULTIPLE_FACES,
        4: RejectReason.NO_FACE,
    }


def test_dark_frame_is_too_dark(engine: FaceEngine, photos_by_identity: dict[str, list[Path]]) -> None:
    person, _ = two_people(photos_by_identity)
    frame = as_webcam_frame(person[0]).astype(np.float32)
    dark = np.clip(frame * 0.15, 0, 255).astype(np.uint8)
    result = engine.check_frame(dark)
    assert result.reason in (RejectReason.TOO_DARK, RejectReason.NO_FACE)
    if result.face is not None:
        assert result.reason == RejectReason.TOO_DARK


def test_blurred_frame_is_too_blurry(engine: FaceEngine, photos_by_identity: dict[str, list[Path]]) -> None:
    person, _ = two_people(photos_by_identity)
    sharp = as_webcam_frame(person[0])
    assert engine.check_frame(sharp).reason is None
    blurred = cv2.GaussianBlur(sharp, (0, 0), sigmaX=6)
    assert engine.check_frame(blurred).reason in (RejectReason.TOO_BLURRY, RejectReason.NO_FACE)


def test_distant_face_is_too_small(engine: FaceEngine, photos_by_identity: dict[str, list[Path]]) -> None:
    person, _ = two_people(photos_by_identity)
    frame = as_webcam_frame(person[0])
    small = cv2.resize(frame, (160, 120), interpolation=cv2.INTER_AREA)
    canvas = np.full_like(frame, 110)
    canvas[180:300, 240:400] = small
    assert engine.check_frame(canvas).reason == RejectReason.FACE_TOO_SMALL


def test_turned_head_is_not_frontal(engine: FaceEngine, photos_by_identity: dict[str, list[Path]]) -> None:
    """Squeezing one half of the face sideways moves the nose off the eyes' midline, as a turn does."""
    person, _ = two_people(photos_by_identity)
    frame = as_webcam_frame(person[0])
    face = engine.detect(frame)[0]
    nose_x = int(face.landmarks[2][0])
    left, right = frame[:, :nose_x], frame[:, nose_x:]
    squeezed = cv2.resize(right, (max(right.shape[1] // 3, 1), frame.shape[0]))
    turned = np.ascontiguousarray(np.hstack([left, squeezed]))
    result = engine.check_frame(turned)
    assert result.reason in (RejectReason.NOT_FRONTAL, RejectReason.NO_FACE)


def test_embed_image_refuses_no_face_and_two_faces(engine: FaceEngine, data_root: Path) -> None:
    nonface = data_root / "faces" / "nonface" / "insightface_no_face.png"
    with pytest.raises(FaceRejected) as error:
        engine.embed_image(nonface.read_bytes())
    assert error.value.reason == RejectReason.NO_FACE
    couple = (data_root / "faces" / "multi_face" / "fr_obama_and_biden.jpg").read_bytes()
    with pytest.raises(FaceRejected) as error:
        engine.embed_image(couple)
    assert error.value.reason == RejectReason.MULTIPLE_FACES
    assert engine.embed_image(couple, largest_face=True, model="facenet").shape == (512,)
    assert engine.embed_image(couple, largest_face=True, model="sface").shape == (128,)


def test_session_to_session_login_on_webcam_crops(engine: FaceEngine, data_root: Path) -> None:
    """NUAA real webcam crops: a burst from one session matches a burst from another session of
    the same subject better than any other subject's burst."""
    import csv

    root = data_root / "spoof" / "nuaa"
    sessions: dict[tuple[str, str], list[Path]] = {}
    with (root / "images.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            if row["label"] == "real":
                sessions.setdefault((row["identity"], row["session"]), []).append(root / row["path"])
    subjects = sorted({identity for identity, _ in sessions})[:3]
    templates, probes = {}, {}
    for subject in subjects:
        own = sorted(session for identity, session in sessions if identity == subject)
        for target, session in ((templates, own[0]), (probes, own[-1])):
            burst = engine.embed_burst([path.read_bytes() for path in sessions[(subject, session)][:8]])
            assert len(burst.embeddings) >= engine.settings.min_good_frames
            target[subject] = {v.model: mean_embedding(list(v.vectors)) for v in burst.models}
    served, threshold = engine.served, fusion.served_threshold(engine.settings)
    for subject in subjects:
        scores = {
            other: fusion.decide(probes[subject], templates[other], served, threshold).score
            for other in subjects
        }
        assert max(scores, key=scores.__getitem__) == subject
        assert scores[subject] >= threshold
