from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from faceauth.vision.detection import nms
from faceauth.vision.engine import FaceEngine

pytestmark = pytest.mark.e2e  # real models (see tests/conftest.py)


def rows(csv_path: Path) -> list[dict[str, str]]:
    with csv_path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float64)
    scores = np.array([0.8, 0.9, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    nested = np.array([[0, 0, 100, 100], [10, 10, 30, 30]], dtype=np.float64)
    assert nms(nested, np.array([0.9, 0.8]), 0.7, mode="min").tolist() == [0]
    assert nms(nested, np.array([0.9, 0.8]), 0.7, mode="union").tolist() == [0, 1]


def test_one_face_with_landmarks_inside_the_box(engine: FaceEngine, data_root: Path) -> None:
    folder = data_root / "faces" / "facenet_pytorch_test_images"
    for row in rows(folder / "images.csv"):
        image = engine.decode((folder / row["path"]).read_bytes())
        faces = engine.detect(image)
        assert len(faces) >= 1, row["path"]
        face = max(faces, key=lambda candidate: candidate.area)
        x1, y1, x2, y2 = face.box
        assert face.score > 0.9
        for x, y in face.landmarks:
            assert x1 <= x <= x2 and y1 <= y <= y2
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
        assert left_eye[0] < right_eye[0] and mouth_left[0] < mouth_right[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_group_photos_give_several_faces(engine: FaceEngine, data_root: Path) -> None:
    folder = data_root / "faces" / "multi_face"
    for row in rows(folder / "images.csv"):
        faces = engine.detect(engine.decode((folder / row["path"]).read_bytes()))
        assert len(faces) >= 2, row["path"]


def test_images_without_faces_give_none_or_weak_candidates(engine: FaceEngine, data_root: Path) -> None:
    folder = data_root / "faces" / "nonface"
    confident = []
    listed = rows(folder / "images.csv")
    for row in listed:
        faces = engine.detect(engine.decode((folder / row["path"]).read_bytes()))
        confident.extend(face for face in faces if face.score >= engine.policy.min_face_score)
    # a cat or a textured background may fool a detector now and then, not often
    assert len(confident) <= max(1, len(listed) // 10)


def test_coordinates_are_in_original_pixels_whatever_the_working_size(
    engine: FaceEngine, data_root: Path
) -> None:
    photo = data_root / "faces" / "deepface_tests" / "images" / "img1.jpg"
    image = engine.decode(photo.read_bytes())
    assert max(image.shape) > engine.detector.config.max_side  # detection runs downscaled
    (face,) = engine.detect(image)
    small = image[::2, ::2]
    (half,) = engine.detect(np.ascontiguousarray(small))
    assert face.box[2] == pytest.approx(2 * half.box[2], rel=0.05)
    assert face.width == pytest.approx(2 * half.width, rel=0.1)
