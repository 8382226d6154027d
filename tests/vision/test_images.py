from __future__ import annotations

import io

import numpy as np
import pytest
from imaging import encode
from PIL import Image

from faceauth.domain import ImageTooLarge, NotAnImage
from faceauth.vision.images import decode_image

LIMIT_BYTES = 1 << 22
LIMIT_PIXELS = 4_000_000


def gradient(width: int = 64, height: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:, :, 0] = x
    image[:, :, 1] = 255 - x
    image[:, :, 2] = 128
    return image


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_decodes_each_accepted_format_to_rgb(fmt: str) -> None:
    source = gradient()
    decoded = decode_image(encode(source, fmt, quality=95), LIMIT_BYTES, LIMIT_PIXELS)
    assert decoded.shape == source.shape and decoded.dtype == np.uint8
    # red rises left to right, green falls: RGB order kept, not BGR
    assert decoded[0, -1, 0] > 200 and decoded[0, -1, 1] < 60


def test_exif_orientation_is_applied() -> None:
    picture = Image.fromarray(gradient(64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    data = encode(picture, "JPEG", exif=exif)
    assert decode_image(data, LIMIT_BYTES, LIMIT_PIXELS).shape == (64, 48, 3)


def test_png_with_alpha_and_greyscale_become_rgb() -> None:
    rgba = Image.new("RGBA", (10, 8), (10, 20, 30, 0))
    grey = Image.new("L", (10, 8), 77)
    assert decode_image(encode(rgba, "PNG"), LIMIT_BYTES, LIMIT_PIXELS).shape == (8, 10, 3)
    assert decode_image(encode(grey, "PNG"), LIMIT_BYTES, LIMIT_PIXELS)[0, 0].tolist() == [77, 77, 77]


@pytest.mark.parametrize(
    "data",
    [b"", b"hello, I am text", bytes(range(256)) * 8, b"GIF89a" + b"\x00" * 64, b"%PDF-1.4 ..."],
)
def test_non_images_are_refused(data: bytes) -> None:
    with pytest.raises(NotAnImage):
        decode_image(data, LIMIT_BYTES, LIMIT_PIXELS)


def test_truncated_jpeg_is_refused() -> None:
    data = encode(gradient(320, 240), "JPEG")
    with pytest.raises(NotAnImage):
        decode_image(data[: len(data) // 2], LIMIT_BYTES, LIMIT_PIXELS)


def test_too_many_bytes_is_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLarge):
        decode_image(encode(gradient(), "PNG"), max_bytes=100, max_pixels=LIMIT_PIXELS)


def test_decompression_bomb_is_refused_from_its_header() -> None:
    """A tiny PNG that claims 20000 x 20000 pixels: refused on the header, before decoding."""
    buffer = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    assert len(data) < 200_000
    with pytest.raises(ImageTooLarge):
        decode_image(data, LIMIT_BYTES, LIMIT_PIXELS)
