"""Pixel arrays as pictures: a grid of images on one canvas, grey levels, PNG bytes (Pillow).

Images are pixel probabilities in [0, 1] (1 = ink), as the decoders produce them.
"""

from __future__ import annotations

import io
import math

import numpy as np

from ._checks import check_positive_int, to_numpy


def tile(images, ncols: int, pad: int = 1, background: float = 0.12) -> np.ndarray:
    """Lay images (n, height, width) out as one canvas of ncols columns, in probability units:
    (rows * (height + pad) + pad, ncols * (width + pad) + pad), float32.

    The gaps get the value ``background``, so neighbouring white images stay apart.
    """
    images = to_numpy(images, np.float32)
    check_positive_int("ncols", ncols)
    if images.ndim != 3 or len(images) == 0:
        raise ValueError(f"images must have shape (n, height, width), n >= 1; got {images.shape}.")
    n, height, width = images.shape
    nrows = math.ceil(n / ncols)
    canvas = np.full(
        (nrows * (height + pad) + pad, ncols * (width + pad) + pad), background, dtype=np.float32
    )
    for i, image in enumerate(images):
        r, c = divmod(i, ncols)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        canvas[top : top + height, left : left + width] = image
    return canvas


def to_pixels(probabilities, zoom: int = 1) -> np.ndarray:
    """Pixel probabilities (height, width) in [0, 1] -> uint8 grey levels (height*zoom, width*zoom).

    Dark ink on white, as in ``plots.image_grid``; each pixel becomes a zoom x zoom block so the
    browser shows sharp pixels instead of smoothing a tiny image.
    """
    grey = np.rint(255.0 * (1.0 - np.clip(probabilities, 0.0, 1.0))).astype(np.uint8)
    if zoom > 1:
        grey = grey.repeat(zoom, axis=0).repeat(zoom, axis=1)
    return grey


def png_bytes(pixels: np.ndarray, compress_level: int = 1) -> bytes:
    """A greyscale image (height, width) uint8 encoded as PNG by Pillow."""
    from PIL import Image

    pixels = np.asarray(pixels)
    if pixels.dtype != np.uint8 or pixels.ndim != 2:
        raise ValueError(
            f"pixels must be a 2-D uint8 array, got {pixels.dtype} with shape {pixels.shape}; "
            "convert with to_pixels(probabilities)."
        )
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()
