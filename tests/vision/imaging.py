"""Helpers for the vision tests: encoding arrays as image files, webcam-like frames."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image


def encode(image: np.ndarray | Image.Image, fmt: str = "JPEG", **options: object) -> bytes:
    picture = Image.fromarray(image) if isinstance(image, np.ndarray) else image
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def as_webcam_frame(photo: Path, size: tuple[int, int] = (640, 480)) -> np.ndarray:
    """A photo fitted into a 640 x 480 frame, as a webcam would deliver it."""
    picture = Image.open(photo).convert("RGB")
    picture.thumbnail(size)
    canvas = Image.new("RGB", size, (110, 110, 110))
    canvas.paste(picture, ((size[0] - picture.width) // 2, (size[1] - picture.height) // 2))
    return np.asarray(canvas)
