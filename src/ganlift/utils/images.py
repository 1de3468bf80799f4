"""Image conversion and grids (PIL), shared by previews, training samples and exports."""

from __future__ import annotations

import math
import os

import numpy as np
import torch
from PIL import Image

from ganlift.utils.io import atomic_path


def to_uint8(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Convert images to uint8 HWC arrays.

    Args:
        images: (B, C, H, W) or (C, H, W) with C in {1, 3}; values in ``value_range``.
        value_range: the (low, high) values that map to 0 and 255.

    Returns:
        (B, H, W, 3) or (H, W, 3) uint8 array.
    """
    x = images.detach().float().cpu()
    lo, hi = value_range
    x = ((x - lo) / (hi - lo)).clamp(0, 1)
    x = torch.nan_to_num(x, nan=0.0)
    if x.shape[-3] == 1:
        x = x.expand(*x.shape[:-3], 3, *x.shape[-2:])
    arr = (x * 255.0 + 0.5).to(torch.uint8)
    return arr.movedim(-3, -1).numpy()


def make_grid(
    images: torch.Tensor,
    nrow: int | None = None,
    padding: int = 2,
    value_range: tuple[float, float] = (0.0, 1.0),
    pad_value: int = 255,
) -> Image.Image:
    """Tile a batch into one picture.

    Args:
        images: (B, C, H, W), C in {1, 3}.
        nrow: images per row (default: about square).
        padding: pixels between tiles.
        value_range: input range mapped to [0, 255].
        pad_value: grey level of the padding.

    Returns:
        A PIL RGB image.
    """
    arr = to_uint8(images, value_range)
    b, h, w, _ = arr.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(b))))
    ncol = int(math.ceil(b / nrow))
    canvas = np.full(
        (ncol * (h + padding) + padding, nrow * (w + padding) + padding, 3), pad_value, np.uint8
    )
    for i in range(b):
        r, c = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + c * (w + padding)
        canvas[y : y + h, x : x + w] = arr[i]
    return Image.fromarray(canvas)


def save_image(image: Image.Image, path: str | os.PathLike) -> None:
    """Save a PIL image atomically; the format follows the file extension."""
    fmt = os.path.splitext(str(path))[1].lstrip(".").upper() or "PNG"
    fmt = {"JPG": "JPEG"}.get(fmt, fmt)
    with atomic_path(path) as tmp:
        image.save(tmp, format=fmt)


def save_grid(images: torch.Tensor, path: str | os.PathLike, **options) -> None:
    """``make_grid`` then ``save_image``; options as in :func:`make_grid`."""
    save_image(make_grid(images, **options), path)
