"""Shared helpers for the benchmarks: where the data is, and 640 x 480 frames made from photos."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent


def data_root() -> Path:
    root = Path(os.environ.get("FACEAUTH_TEST_DATA", REPO.parent / "shared" / "data"))
    if not (root / "faces").is_dir():
        sys.exit(f"benchmark data not found at {root} (set FACEAUTH_TEST_DATA)")
    return root


def webcam_frame(photo: Path, size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    """A photo scaled to fit a 640 x 480 canvas (grey border), as a webcam JPEG would arrive."""
    image = Image.open(photo).convert("RGB")
    image.thumbnail(size)
    canvas = Image.new("RGB", size, (96, 96, 96))
    canvas.paste(image, ((size[0] - image.width) // 2, (size[1] - image.height) // 2))
    buffer = io.BytesIO()
    canvas.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def percentile_ms(samples: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(samples) * 1000, q)), 1)
