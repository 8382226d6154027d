"""Image input: JPEG, PNG or WebP bytes in; RGB ``uint8`` arrays out (the web layer decodes base64).

Limits are checked before the full decode where the format allows it: Pillow reads the header
(dimensions) first, so a decompression bomb is refused before any pixel is decoded."""

from __future__ import annotations

import io
import warnings

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps, UnidentifiedImageError

from faceauth.domain import ImageTooLarge, NotAnImage

RGBImage = npt.NDArray[np.uint8]  # shape (height, width, 3)

ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})


EXIF_ORIENTATION = 0x0112  # the EXIF tag saying how the camera was held


def decode_image(data: bytes, max_bytes: int, max_pixels: int) -> RGBImage:
    """Decode JPEG, PNG or WebP bytes into an RGB array, EXIF orientation applied.

    Raises ``ImageTooLarge`` past ``max_bytes`` or ``max_pixels`` (width x height, read from the
    header before decoding) and ``NotAnImage`` for anything else that cannot be decoded completely,
    truncated files included."""
    if len(data) > max_bytes:
        raise ImageTooLarge(f"image is {len(data)} bytes; the limit is {max_bytes}")
    if not data:
        raise NotAnImage("empty image")
    image = _open_checked(data, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()  # a truncated file raises OSError here
            if image.getexif().get(EXIF_ORIENTATION, 1) != 1:  # (both calls copy the pixels: only
                image = ImageOps.exif_transpose(image) or image  # when needed, at 8 frames a second)
            rgb = image if image.mode == "RGB" else image.convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombWarning) as error:
        raise NotAnImage("image data is corrupt or truncated") from error
    array = np.asarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[0] < 1 or array.shape[1] < 1:
        raise NotAnImage("image has no pixels")
    return array


def _open_checked(data: bytes, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and check format and size before any pixel is decoded."""
    try:
        image = Image.open(io.BytesIO(data), formats=sorted(ACCEPTED_FORMATS))
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise NotAnImage("not a JPEG, PNG or WebP image") from error
    except Image.DecompressionBombError as error:
        raise ImageTooLarge("image has too many pixels") from error
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLarge(f"image is {width}x{height} pixels; the limit is {max_pixels} pixels")
    if width < 1 or height < 1:
        raise NotAnImage("image has no pixels")
    return image
