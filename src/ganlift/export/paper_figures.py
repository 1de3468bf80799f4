"""Figures of the paper built on inversion and style codes: figure 5 (interpolation), figure 9
(style transfer with pose control), and a reconstruction overview of lifted photographs.

Codes are given as seeds, code tensors, :class:`~ganlift.invert.Inversion` results or images
(inverted into W first, see :func:`ganlift.lifter.reconstruct.as_codes`).

Example:
    >>> from ganlift import export
    >>> export.interpolation_figure(lifter, "fig5.png", a=3, b=7)          # two seeds
    >>> export.interpolation_animation(lifter, "fig5.gif", a="me.png", b="you.png")
    >>> export.style_transfer_figure(lifter, "fig9.png", content=[0, 1], style=[5, 6, 7])
    >>> export.reconstruction_figure(lifter, "photo.png", "me.png")
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange
from PIL import Image, ImageDraw, ImageFont

from ganlift.export.figures import depth_to_rgb, normal_to_rgb
from ganlift.utils.images import save_image, to_uint8

__all__ = [
    "tile_grid",
    "interpolation_figure",
    "interpolation_animation",
    "style_transfer_figure",
    "reconstruction_figure",
]

SHAPE_LIGHT = (-30.0, 30.0)


# ---------------------------------------------------------------------------- layout


def tile_grid(
    rows: Sequence[Sequence[torch.Tensor | None]],
    col_labels: Sequence[str] | None = None,
    row_labels: Sequence[str] | None = None,
    padding: int = 2,
    group_gaps: Sequence[int] = (),
    pad_value: int = 255,
) -> Image.Image:
    """Lay tiles out in rows, with optional column labels above and row labels on the left.

    Args:
        rows: rows of tiles; each tile a (3, H, W) or (1, H, W) image in [0, 1] (all the same
            H and W), or None for an empty cell. Rows may differ in length.
        col_labels: a label per column (drawn above the first row).
        row_labels: a label per row (drawn left of it).
        padding: pixels between tiles.
        group_gaps: column indices before which an extra gap of ``3 * padding`` is left.
        pad_value: grey level of the background.

    Returns:
        A PIL RGB image.
    """
    tiles = [t for row in rows for t in row if t is not None]
    if not tiles:
        raise ValueError("rows hold no tile")
    h, w = tiles[0].shape[-2:]
    for t in tiles:
        if t.shape[-2:] != (h, w):
            raise ValueError(f"every tile must be {h}x{w}, got {tuple(t.shape[-2:])}")
    ncol = max(len(r) for r in rows)
    font = ImageFont.load_default()
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    text_h = 0
    if col_labels:
        text_h = max(font.getbbox(lbl or " ")[3] for lbl in col_labels) + 4
    label_w = 0
    if row_labels:
        label_w = int(max(probe.textlength(lbl, font=font) for lbl in row_labels)) + 2 * padding + 2
    gaps = set(int(g) for g in group_gaps)
    xs, x = [], label_w + padding
    for c in range(ncol):
        if c in gaps:
            x += 3 * padding
        xs.append(x)
        x += w + padding
    width, height = x, text_h + len(rows) * (h + padding) + padding
    canvas = np.full((height, width, 3), pad_value, np.uint8)
    for r, row in enumerate(rows):
        y = text_h + padding + r * (h + padding)
        for c, tile in enumerate(row):
            if tile is not None:
                canvas[y : y + h, xs[c] : xs[c] + w] = to_uint8(tile)
    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    for c, label in enumerate(col_labels or ()):
        if c < ncol and label:
            tw = draw.textlength(label, font=font)
            draw.text((xs[c] + max(0.0, (w - tw) / 2), 2), label, fill=(0, 0, 0), font=font)
    for r, label in enumerate(row_labels or ()):
        if label:
            y = text_h + padding + r * (h + padding) + h / 2 - font.getbbox(label)[3] / 2
            draw.text((padding, y), label, fill=(0, 0, 0), font=font)
    return image


def _zoom(x: torch.Tensor, zoom: int) -> torch.Tensor:
    return F.interpolate(x, scale_factor=zoom, mode="nearest") if zoom > 1 else x


def _check_zoom(zoom: Any) -> int:
    if not isinstance(zoom, int) or isinstance(zoom, bool) or zoom < 1:
        raise ValueError(f"zoom must be a positive integer, got {zoom!r}")
    return zoom


def _resized(images: torch.Tensor, size: int) -> torch.Tensor:
    if images.shape[-1] == size:
        return images
    mode = "area" if images.shape[-1] > size else "bilinear"
    options = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(images, size=(size, size), mode=mode, **options).clamp(0, 1)


def _codes_and_inputs(lifter: Any, x: Any, name: str, invert_options: dict | None):
    """(codes, input images or None): images and inversions keep their inputs for display."""
    from ganlift.invert import Inversion, invert
    from ganlift.lifter.reconstruct import _is_image, as_codes

    if not isinstance(x, Inversion) and (
        _is_image(x)
        or (isinstance(x, torch.Tensor) and x.dim() in (3, 4) and x.shape[-3] == 3 and x.shape[-1] != lifter.teacher.w_dim)
        or (isinstance(x, (list, tuple)) and x and not all(isinstance(v, int) for v in x))
    ):
        x = invert(lifter, x, "w", **(invert_options or {}))
    if isinstance(x, Inversion):
        return x.codes.to(lifter.device), _resized(x.targets, lifter.resolution).to(lifter.device)
    return as_codes(lifter, x, name), None


def _teacher_tiles(lifter: Any, codes: torch.Tensor) -> torch.Tensor:
    """The teacher's images of W or W+ codes at the lifting resolution. (B, 3, S, S)."""
    with torch.no_grad():
        if codes.dim() == 2:
            return lifter.teacher_images(codes)
        return _resized(((lifter.teacher.synthesis(codes) + 1) / 2).clamp(0, 1), lifter.resolution)


def _shape(lifter: Any, out: Any) -> torch.Tensor:
    """The surface of a LiftedSample shaded with a white albedo (its view and light)."""
    white = torch.ones_like(out.canonical_albedo)
    with torch.no_grad():
        return lifter.renderer.render(white, out.canonical_depth, out.transform, out.view, out.light).image.clamp(0, 1)


def _default_yaw(lifter: Any) -> float:
    return float(lifter.trained_ranges()["yaw"])


def _lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Codes on the straight line a -> b; a, b (1, ...), t (T,) -> (T, ...)."""
    shape = (-1,) + (1,) * (a.dim() - 1)
    return a + t.reshape(shape).to(a) * (b - a)


def _pair(lifter: Any, a: Any, b: Any, invert_options: dict | None):
    """Two single codes of the same form ((1, w_dim) or (1, num_ws, w_dim)) and their inputs."""
    from ganlift.lifter.reconstruct import _plus

    (ca, ia), (cb, ib) = (_codes_and_inputs(lifter, x, n, invert_options) for x, n in ((a, "a"), (b, "b")))
    for code, n in ((ca, "a"), (cb, "b")):
        if code.shape[0] != 1:
            raise ValueError(f"{n} must be one code, seed or image, got {code.shape[0]}")
    if ca.dim() != cb.dim():  # one W, one W+: compare in W+
        teacher = lifter.teacher
        ca, cb = (_plus(c, int(teacher.num_ws), int(teacher.w_dim), n) for c, n in ((ca, "a"), (cb, "b")))
    return ca, cb, ia, ib


# ---------------------------------------------------------------------------- figure 5


def _interpolation_rows(lifter: Any, codes: torch.Tensor, yaw: float, light: Any, ambient: float, diffuse: float):
    from ganlift.lifter.reconstruct import render_codes

    frontal = render_codes(lifter, codes, yaw=0.0, pitch=0.0, roll=0.0)
    rotated = render_codes(lifter, codes, yaw=yaw)
    lit = render_codes(lifter, codes, yaw=yaw, light=light, ambient=ambient, diffuse=diffuse)
    return frontal.image, rotated.image, _shape(lifter, lit)


def interpolation_figure(
    lifter: Any,
    path: str | os.PathLike | None = None,
    a: Any = 0,
    b: Any = 1,
    *,
    steps: int = 7,
    yaw: float | None = None,
    light: Sequence[float] = SHAPE_LIGHT,
    ambient: float = 0.25,
    diffuse: float = 0.75,
    labels: bool = True,
    zoom: int = 1,
    invert_options: dict[str, Any] | None = None,
) -> Image.Image:
    """The paper's figure 5: the straight path between two codes, lifted.

    Three rows: the frontal render (yaw, pitch and roll 0), the render turned to ``yaw``, and
    the shape (the surface with a white albedo, lit from ``light``) at that yaw; one column per
    step from ``a`` to ``b``. With two photos, both are inverted into W first and their inputs
    are shown at the row ends.

    Args:
        lifter: a trained lifter.
        path: image file to write (None: only return it).
        a, b: the two ends: seeds, codes (w_dim,)/(1, w_dim)/(1, num_ws, w_dim),
            inversions or images.
        steps: number of columns, >= 2 (ends included).
        yaw: the rotated row's yaw in degrees (default: the trained yaw range).
        light, ambient, diffuse: the shape row's light (``(azimuth, elevation)`` degrees).
        labels: draw column and row labels.
        zoom: integer upscaling of every tile (nearest neighbour).
        invert_options: keywords of :func:`ganlift.invert` for photos.

    Returns:
        The PIL image.
    """
    zoom = _check_zoom(zoom)
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
        raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
    yaw = _default_yaw(lifter) if yaw is None else float(yaw)
    ca, cb, ia, ib = _pair(lifter, a, b, invert_options)
    t = torch.linspace(0, 1, steps, device=ca.device)
    codes = _lerp(ca, cb, t)
    rows = [list(_zoom(x, zoom)) for x in _interpolation_rows(lifter, codes, yaw, light, ambient, diffuse)]
    col_labels = ["A"] + [f"{v:.2f}" for v in t[1:-1].tolist()] + ["B"]
    row_labels = ["frontal", f"yaw {yaw:+.0f}", "shape"]
    if ia is not None or ib is not None:  # photos: their inputs framing the frontal row
        blank = [None] * (steps + 2)
        rows = [[None] + r + [None] for r in rows]
        rows.insert(0, blank)
        rows[0][0] = _zoom(ia, zoom)[0] if ia is not None else None
        rows[0][-1] = _zoom(ib, zoom)[0] if ib is not None else None
        col_labels = ["input A"] + col_labels + ["input B"]
        row_labels = ["input"] + row_labels
    image = tile_grid(rows, col_labels if labels else None, row_labels if labels else None)
    if path is not None:
        save_image(image, path)
    return image


def interpolation_animation(
    lifter: Any,
    path: str | os.PathLike | None = None,
    a: Any = 0,
    b: Any = 1,
    *,
    frames: int = 24,
    yaw: float | None = None,
    fps: float = 12.0,
    light: Sequence[float] = SHAPE_LIGHT,
    ambient: float = 0.25,
    diffuse: float = 0.75,
    invert_options: dict[str, Any] | None = None,
) -> torch.Tensor:
    """Figure 5 as an animation: A -> B -> A, each frame frontal | turned to ``yaw`` | shape.

    Args:
        lifter: a trained lifter.
        path: ``.gif`` or ``.mp4`` to write (None: only return the frames).
        a, b: the two ends (see :func:`interpolation_figure`).
        frames: number of frames (>= 2); the path eases in and out at both ends.
        yaw: the turned panel's yaw in degrees (default: the trained yaw range).
        fps: frames per second.
        light, ambient, diffuse: the shape panel's light.
        invert_options: keywords of :func:`ganlift.invert` for photos.

    Returns:
        (frames, 3, S, 3 S + 4) images in [0, 1].
    """
    from ganlift.export.video import save_animation

    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 2:
        raise ValueError(f"frames must be an integer >= 2, got {frames!r}")
    yaw = _default_yaw(lifter) if yaw is None else float(yaw)
    ca, cb, _, _ = _pair(lifter, a, b, invert_options)
    k = torch.arange(frames, dtype=torch.float32, device=ca.device)
    t = (1 - torch.cos(2 * math.pi * k / frames)) / 2  # 0 -> 1 -> 0
    out = []
    for start in range(0, frames, 16):
        codes = _lerp(ca, cb, t[start : start + 16])
        panels = _interpolation_rows(lifter, codes, yaw, light, ambient, diffuse)
        gap = torch.ones_like(panels[0][..., :2])
        out.append(torch.cat([panels[0], gap, panels[1], gap, panels[2]], dim=-1))
    images = torch.cat(out)
    if path is not None:
        save_animation(images, path, fps=fps)
    return images


# ---------------------------------------------------------------------------- figure 9


def style_transfer_figure(
    lifter: Any,
    path: str | os.PathLike | None = None,
    content: Any = (0, 1, 2),
    style: Any = (10, 11, 12),
    *,
    layers: Any = "fine",
    yaws: Sequence[float] | None = None,
    alpha: float = 0.5,
    light: Any = None,
    ambient: float | None = None,
    diffuse: float | None = None,
    labels: bool = True,
    zoom: int = 1,
    invert_options: dict[str, Any] | None = None,
) -> Image.Image:
    """The paper's figure 9: style transfer with the pose controlled by the lifter.

    The first row shows each style code rendered at ``yaws``; below it, one row per content
    code: its teacher image (or the input photo) and, for each style, the content with the
    style's ``layers`` mixed in, rendered at the same yaws. Teachers with one w layer
    (``num_ws == 1``) cannot mix by layer: a :class:`~ganlift.lifter.reconstruct.StyleMixingWarning`
    says so and the codes are interpolated with ``alpha`` instead.

    Args:
        lifter: a trained lifter.
        path: image file to write (None: only return it).
        content, style: seeds, codes, inversions or images (see
            :func:`ganlift.lifter.reconstruct.as_codes`); photos are inverted into W.
        layers: the style layers taken from ``style`` (``"coarse"``, ``"middle"``, ``"fine"``
            or ``(start, stop)``; see :func:`ganlift.lifter.reconstruct.layer_range`).
        yaws: render yaws in degrees (default: three across the trained range).
        alpha: interpolation weight of the single-layer fallback.
        light, ambient, diffuse: a fixed light for every render (None: predicted).
        labels: draw column and row labels.
        zoom: integer upscaling of every tile (nearest neighbour).
        invert_options: keywords of :func:`ganlift.invert` for photos.

    Returns:
        The PIL image.
    """
    from ganlift.lifter.reconstruct import (
        _num_ws,
        _single_layer_fallback,
        layer_range,
        mix_styles,
        render_codes,
    )

    zoom = _check_zoom(zoom)
    if yaws is None:
        limit = _default_yaw(lifter)
        yaws = [-limit, 0.0, limit]
    yaws = [float(v) for v in yaws]
    if not yaws:
        raise ValueError("yaws is empty")
    ca, content_inputs = _codes_and_inputs(lifter, content, "content", invert_options)
    cs, _ = _codes_and_inputs(lifter, style, "style", invert_options)
    controls = {"light": light, "ambient": ambient, "diffuse": diffuse}
    single = _num_ws(lifter) < 2
    if single:
        alpha = _single_layer_fallback(lifter, alpha)
        ca, cs = ca.reshape(ca.shape[0], -1), cs.reshape(cs.shape[0], -1)
        what = f"mix {float(alpha):g}"
    else:
        start, stop = layer_range(lifter, layers)
        what = f"layers {start}-{stop - 1}"
    n_yaw = len(yaws)

    def at_yaws(codes: torch.Tensor) -> list[torch.Tensor]:
        """(B, ...) codes -> B lists of n_yaw tiles."""
        rep = codes.repeat_interleave(n_yaw, dim=0)
        yaw = torch.tensor(yaws * codes.shape[0])
        images = _zoom(render_codes(lifter, rep, yaw=yaw, **controls).image, zoom)
        return list(rearrange(images, "(code yaw) c h w -> code yaw c h w", yaw=n_yaw).unbind(0))

    header: list[torch.Tensor | None] = [None]
    for tiles in at_yaws(cs):
        header.extend(tiles)
    shown = content_inputs if content_inputs is not None else _teacher_tiles(lifter, ca)
    rows = [header]
    for i in range(ca.shape[0]):
        row: list[torch.Tensor | None] = [_zoom(shown[i : i + 1], zoom)[0]]
        if single:
            mixed = ca[i : i + 1] + alpha * (cs - ca[i : i + 1])
        else:
            mixed = mix_styles(lifter, ca[i : i + 1], cs, layers)
        for tiles in at_yaws(mixed):
            row.extend(tiles)
        rows.append(row)
    col_labels = ["input" if content_inputs is not None else "content"]
    col_labels += [f"yaw {v:+.0f}" for _ in range(cs.shape[0]) for v in yaws]
    row_labels = ["style"] + [f"{i + 1}: {what}" for i in range(ca.shape[0])]
    gaps = [1 + j * n_yaw for j in range(cs.shape[0])]
    image = tile_grid(rows, col_labels if labels else None, row_labels if labels else None, group_gaps=gaps)
    if path is not None:
        save_image(image, path)
    return image


# ---------------------------------------------------------------------------- photos


def reconstruction_figure(
    lifter: Any,
    path: str | os.PathLike | None = None,
    images: Any = None,
    *,
    yaws: Sequence[float] | None = None,
    light: Sequence[float] = (-40.0, 20.0),
    labels: bool = True,
    zoom: int = 1,
    invert_options: dict[str, Any] | None = None,
) -> Image.Image:
    """One row per photo: input | teacher's fit | lifted render | turned | depth | normal | relit.

    Args:
        lifter: a trained lifter.
        path: image file to write (None: only return it).
        images: photos (inverted into W), an :class:`~ganlift.invert.Inversion`, or codes.
        yaws: yaws of the turned columns (default: two across the trained range).
        light: ``(azimuth, elevation)`` of the relit column.
        labels: draw column labels.
        zoom: integer upscaling of every tile (nearest neighbour).
        invert_options: keywords of :func:`ganlift.invert` for photos.

    Returns:
        The PIL image.
    """
    zoom = _check_zoom(zoom)
    if images is None:
        raise ValueError("images is required: photos, an Inversion or codes")
    codes, inputs = _codes_and_inputs(lifter, images, "images", invert_options)
    if codes.dim() != 2:
        raise ValueError("reconstruction_figure lifts W codes (B, w_dim); W+ codes cannot be read by the lifter")
    if yaws is None:
        limit = _default_yaw(lifter)
        yaws = [-limit, limit]
    own = lifter.render(codes)
    columns: list[tuple[str, torch.Tensor]] = []
    if inputs is not None:
        columns.append(("input", inputs))
    columns += [("teacher fit", lifter.teacher_images(codes)), ("lifted", own.image)]
    columns += [(f"yaw {v:+.0f}", lifter.render(codes, yaw=float(v)).image) for v in yaws]
    columns += [("depth", depth_to_rgb(own.depth, own.mask)), ("normal", normal_to_rgb(own.normal, own.mask))]
    columns.append(("relit", lifter.render(codes, light=tuple(light), ambient=0.3, diffuse=0.8).image))
    zoomed = [_zoom(x, zoom) for _, x in columns]
    rows = [[col[i] for col in zoomed] for i in range(codes.shape[0])]
    image = tile_grid(rows, [label for label, _ in columns] if labels else None)
    if path is not None:
        save_image(image, path)
    return image
