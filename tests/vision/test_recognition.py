"""Stills are searched harder than login frames: a face too small for the login's detector is found
in a photo (for compare and eval) while a login frame showing it is still refused."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceauth.domain import RejectReason
from faceauth.vision.engine import FaceEngine, best_frame_positions
from faceauth.vision.recognition import StillSearch, detect_in_still

pytestmark = pytest.mark.e2e


def small_face_photo(photo: Path, shorter_face_px: int = 24) -> np.ndarray:
    """The photo shrunk so its face is about ``shorter_face_px`` wide, on a 640 x 480 grey canvas."""
    with Image.open(photo) as original:
        image = original.convert("RGB")
    image.thumbnail((int(image.width * shorter_face_px / (0.4 * image.width)),) * 2)
    canvas = Image.new("RGB", (640, 480), (110, 110, 110))
    canvas.paste(image, (300, 200))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=92)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def test_a_small_face_is_found_in_a_still_but_refused_as_a_login_frame(
    face_engine: FaceEngine, data_root: Path
) -> None:
    image = small_face_photo(data_root / "faces" / "deepface_tests" / "images" / "img1.jpg")
    assert face_engine.detect(image) == []  # the login's detector (min face 60) misses it
    assert face_engine.check_frame(image).reason == RejectReason.NO_FACE
    faces = detect_in_still(face_engine, image, StillSearch())
    assert len(faces) == 1 and faces[0].width < 30


def test_best_frames_are_the_sharpest_in_frame_order() -> None:
    assert best_frame_positions([5.0, 9.0, 1.0, 7.0, 3.0], 2) == [1, 3]
    assert best_frame_positions([5.0, 9.0], 0) == [0, 1]
    assert best_frame_positions([5.0, 9.0], 4) == [0, 1]
