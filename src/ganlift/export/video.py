"""Animations (GIF through Pillow, MP4 through imageio-ffmpeg) and the sweeps that fill them."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ganlift.utils.images import to_uint8
from ganlift.utils.io import atomic_path

ANIMATION_FORMATS = ("gif", "mp4")
FFMPEG_HINT = (
    "MP4 export needs imageio-ffmpeg: pip install 'ganlift[video]' (or pip install imageio-ffmpeg), "
    "or write a .gif"
)


def yaw_sweep(frames: int, max_yaw: float) -> list[float]:
    """Yaw angles of a smooth back-and-forth sweep ``0 -> +max -> 0 -> -max -> ...``.

    A depth-map surface has no back, so a turntable swings rather than spins. Consecutive
    angles always differ (a GIF merges identical consecutive frames).

    Args:
        frames: number of angles (>= 1).
        max_yaw: amplitude in degrees.
    """
    _check_frames(frames)
    return [max_yaw * math.sin(2 * math.pi * k / frames) for k in range(frames)]


def light_sweep(frames: int, elevation: float = 35.0) -> list[tuple[float, float]]:
    """Light directions circling the view axis: ``(azimuth, elevation)`` angles in degrees.

    The light stays ``elevation`` degrees away from the camera axis and turns once around it,
    starting from the right (see :func:`ganlift.lifter.controls.light_from_angles`).

    Args:
        frames: number of directions (>= 1).
        elevation: angle in degrees between the light and the camera axis.

    Returns:
        ``frames`` pairs ``(azimuth, elevation)`` in degrees.
    """
    _check_frames(frames)
    # All frames at once, in float64: the angles agree with a per-frame math-module loop to
    # about 1e-14 degrees, far below the float32 resolution the renderer works at.
    phi = 2 * math.pi * torch.arange(frames, dtype=torch.float64) / frames
    t = math.tan(math.radians(elevation))
    x, y = t * torch.cos(phi), t * torch.sin(phi)  # points on the plane z = 1 (towards the light)
    azimuth = torch.atan(x) * (180.0 / math.pi)
    elevations = torch.atan2(y, torch.hypot(torch.ones_like(x), x)) * (180.0 / math.pi)
    return list(zip(azimuth.tolist(), elevations.tolist()))


def _check_frames(frames: int) -> None:
    if not isinstance(frames, (int, np.integer)) or isinstance(frames, bool) or frames < 1:
        raise ValueError(f"frames must be a positive integer, got {frames!r}")


def _as_pil(frames: torch.Tensor | Sequence[Image.Image]) -> list[Image.Image]:
    if torch.is_tensor(frames):
        if frames.dim() != 4 or frames.shape[1] not in (1, 3):
            raise ValueError(f"frames must have shape (N, 3, H, W) in [0, 1], got {tuple(frames.shape)}")
        return [Image.fromarray(a) for a in to_uint8(frames)]
    images = [f.convert("RGB") for f in frames]
    if not images:
        raise ValueError("frames is empty")
    return images


def save_animation(
    frames: torch.Tensor | Sequence[Image.Image], path: str | os.PathLike, fps: float = 12.0
) -> Path:
    """Write frames as an animated GIF (Pillow) or MP4 (imageio-ffmpeg), by file extension.

    Args:
        frames: (N, 3, H, W) in [0, 1], or a list of PIL images.
        path: ``.gif`` or ``.mp4``.
        fps: frames per second.

    Returns:
        The written path.
    """
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ANIMATION_FORMATS:
        raise ValueError(f"animation format must be .gif or .mp4, got {path.name!r}")
    if not (math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    images = _as_pil(frames)
    if fmt == "gif":
        # GIF timing is in whole milliseconds; loop=0 repeats forever.
        with atomic_path(path) as tmp:
            images[0].save(
                tmp, format="GIF", save_all=True, append_images=images[1:],
                duration=int(round(1000 / fps)), loop=0, disposal=1,
            )  # fmt: skip
        return path
    try:
        import imageio_ffmpeg
    except ImportError as err:
        raise ImportError(FFMPEG_HINT) from err
    arrays = [np.asarray(im) for im in images]
    h, w = arrays[0].shape[:2]
    ph, pw = h % 2, w % 2  # yuv420p needs even sides
    if ph or pw:
        arrays = [np.pad(a, ((0, ph), (0, pw), (0, 0)), mode="edge") for a in arrays]
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), (w + pw, h + ph), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
            macro_block_size=1, output_params=["-f", "mp4"], ffmpeg_log_level="error",
        )  # fmt: skip
        writer.send(None)  # start ffmpeg
        try:
            for a in arrays:
                writer.send(np.ascontiguousarray(a))
        finally:
            writer.close()
    return path
