"""Image grids with labelled columns (the layout of the paper's figures) and map colourings."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ganlift.utils.images import to_uint8


def normal_to_rgb(normal: torch.Tensor, mask: torch.Tensor | None = None, background: float = 1.0):
    """Colour a camera-frame normal map the usual way (x red, y-up green, z-to-viewer blue).

    Args:
        normal: (B, 3, H, W) unit normals in the camera frame (x right, y down, z forward).
        mask: (B, 1, H, W) object mask; pixels outside get ``background``.
        background: grey level outside the mask.

    Returns:
        (B, 3, H, W) in [0, 1]; a surface facing the camera is light blue (0.5, 0.5, 1).
    """
    rgb = 0.5 + 0.5 * normal * normal.new_tensor([1.0, -1.0, -1.0])[None, :, None, None]
    if mask is not None:
        rgb = rgb * mask + background * (1 - mask)
    return rgb.clamp(0, 1)


def depth_to_rgb(depth: torch.Tensor, mask: torch.Tensor | None = None, background: float = 1.0):
    """Grey-scale depth (near = bright), normalised per image over the mask. (B,1,H,W) -> (B,3,H,W)."""
    m = torch.ones_like(depth) if mask is None else (mask > 0.5).to(depth)
    big = torch.finfo(depth.dtype).max
    lo = torch.where(m > 0, depth, torch.full_like(depth, big)).amin(dim=(1, 2, 3), keepdim=True)
    hi = torch.where(m > 0, depth, torch.full_like(depth, -big)).amax(dim=(1, 2, 3), keepdim=True)
    x = 1.0 - (depth - lo) / (hi - lo).clamp_min(1e-8)
    x = (0.15 + 0.85 * x) * m + background * (1 - m)
    return x.clamp(0, 1).expand(-1, 3, -1, -1)


def labelled_grid(
    columns: Sequence[tuple[str, torch.Tensor]],
    padding: int = 2,
    labels: bool = True,
    pad_value: int = 255,
) -> Image.Image:
    """Lay images out as rows of samples and labelled columns.

    Args:
        columns: ``(label, images)`` pairs; images (B, C, H, W) in [0, 1], C in {1, 3}, the same
            B, H and W for every column. Row ``i`` of the grid shows sample ``i``.
        padding: pixels between tiles.
        labels: draw each column's label above it.
        pad_value: grey level of the background.

    Returns:
        A PIL RGB image.
    """
    if not columns:
        raise ValueError("columns is empty")
    arrays = [to_uint8(images) for _, images in columns]
    b, h, w, _ = arrays[0].shape
    for (label, _), a in zip(columns, arrays):
        if a.shape[:3] != (b, h, w):
            raise ValueError(
                f"column {label!r} has shape {a.shape[:3]} but the first column has {(b, h, w)}"
            )
    font = ImageFont.load_default()
    text_h = 0
    if labels:
        text_h = max(font.getbbox(lbl or " ")[3] for lbl, _ in columns) + 4
    width = len(columns) * (w + padding) + padding
    height = text_h + b * (h + padding) + padding
    canvas = np.full((height, width, 3), pad_value, np.uint8)
    for c, a in enumerate(arrays):
        x = padding + c * (w + padding)
        for r in range(b):
            y = text_h + padding + r * (h + padding)
            canvas[y : y + h, x : x + w] = a[r]
    image = Image.fromarray(canvas)
    if labels:
        draw = ImageDraw.Draw(image)
        for c, (label, _) in enumerate(columns):
            tw = draw.textlength(label, font=font)
            x = padding + c * (w + padding) + max(0.0, (w - tw) / 2)
            draw.text((x, 2), label, fill=(0, 0, 0), font=font)
    return image
