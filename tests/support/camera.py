"""A fake webcam for Chromium: YUV4MPEG2 (.y4m, C420) videos built from real photos at test time.

Chromium plays the file given by ``--use-file-for-fake-video-capture`` in a loop as if it came from a
camera. We never commit videos or photos: the photos come from the shared data folder
(``FACEAUTH_TEST_DATA``, default ``<repo>/../shared/data``) and the video is written into a temporary
folder by the test that needs it."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from support import shared_data_root

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAME_WIDTH = 640
FRAME_HEIGHT = 480

RgbFrame = npt.NDArray[np.uint8]  # (height, width, 3)


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    identity: str


def deepface_photos(root: Path | None = None) -> list[LabelledPhoto]:
    """Every row of ``faces/deepface_tests/images.csv`` (``path,identity``), with absolute paths.

    Raises FileNotFoundError when the data set is absent (tests turn that into a skip)."""
    folder = (root or shared_data_root()) / "faces" / "deepface_tests"
    with (folder / "images.csv").open(newline="") as handle:
        return [LabelledPhoto(folder / row["path"], row["identity"]) for row in csv.DictReader(handle)]


def photos_of(identity: str, root: Path | None = None) -> list[LabelledPhoto]:
    return [photo for photo in deepface_photos(root) if photo.identity == identity]


def _background() -> RgbFrame:
    """A soft grey vertical gradient, like a plain wall: neither black nor a flat colour."""
    column = np.linspace(150, 105, FRAME_HEIGHT, dtype=np.float32)
    grey = np.repeat(column[:, None], FRAME_WIDTH, axis=1)
    return np.stack([grey, grey * 0.97, grey * 0.93], axis=-1).astype(np.uint8)


def compose_frame(photo: Path, height_fraction: float = 0.92) -> RgbFrame:
    """The photo scaled to ``height_fraction`` of the frame height (never wider than the frame),
    pasted centred on a 640x480 background."""
    with Image.open(photo) as opened:
        picture = ImageOps.exif_transpose(opened).convert("RGB")
    scale = min(FRAME_HEIGHT * height_fraction / picture.height, FRAME_WIDTH / picture.width)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    picture = picture.resize(size, Image.Resampling.LANCZOS)
    frame = _background()
    left = (FRAME_WIDTH - size[0]) // 2
    top = (FRAME_HEIGHT - size[1]) // 2
    frame[top : top + size[1], left : left + size[0]] = np.asarray(picture, dtype=np.uint8)
    return frame


def rgb_to_i420(frame: RgbFrame) -> bytes:
    """Planar Y, then U and V at half resolution: the byte layout of one y4m C420 frame."""
    return cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes()


def write_y4m(frames: Sequence[RgbFrame], destination: Path, fps: int = 15) -> Path:
    """Write RGB frames (all 640x480) as a YUV4MPEG2 file with 4:2:0 chroma."""
    header = f"YUV4MPEG2 W{FRAME_WIDTH} H{FRAME_HEIGHT} F{fps}:1 Ip A1:1 C420\n".encode("ascii")
    with destination.open("wb") as out:
        out.write(header)
        for frame in frames:
            if frame.shape != (FRAME_HEIGHT, FRAME_WIDTH, 3):
                raise ValueError(f"frame shape {frame.shape}, expected {(FRAME_HEIGHT, FRAME_WIDTH, 3)}")
            out.write(b"FRAME\n")
            out.write(rgb_to_i420(frame))
    return destination


def build_fake_camera_video(
    photos: Sequence[Path], destination: Path, seconds_per_photo: float = 3.0, fps: int = 15
) -> Path:
    """A video that shows each photo, centred on a 640x480 canvas, for ``seconds_per_photo``.

    Consecutive frames of one photo differ by a little sensor-like noise, as a real camera's do."""
    if not photos:
        raise ValueError("at least one photo is needed")
    rng = np.random.default_rng(7)
    frames: list[RgbFrame] = []
    per_photo = max(1, round(seconds_per_photo * fps))
    for photo in photos:
        still = compose_frame(photo).astype(np.int16)
        for _ in range(per_photo):
            noise = rng.integers(-3, 4, size=still.shape, dtype=np.int16)
            frames.append(np.clip(still + noise, 0, 255).astype(np.uint8))
    return write_y4m(frames, destination, fps=fps)


def frame_as_jpeg_data_url(frame: RgbFrame, quality: int = 90) -> str:
    """One composed frame as the webcam script would send it: a JPEG data URL."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def build_challenge_video(
    photo: Path, destination: Path, moves: Sequence[str], fps: int = 15, neutral_s: float = 1.5
) -> Path:
    """A video of the photo's face doing ``moves`` ("blink", "turn_left", "turn_right"), each between
    stretches of looking at the camera, rendered by ``faceauth.vision.synthetic`` (needs the face-mesh
    model wheel). Chromium loops it, so the moves come round again every few seconds."""
    from faceauth.vision.synthetic import challenge_frames
    from support import load_face_mesh

    still = compose_frame(photo)
    pose = load_face_mesh().measure(still)
    if pose is None or pose.landmarks is None:
        raise ValueError(f"no face mesh on {photo}")
    frames = challenge_frames(still, pose.landmarks, list(moves), fps=fps, neutral_s=neutral_s)
    return write_y4m(frames, destination, fps=fps)
