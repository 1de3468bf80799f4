"""Procedural cat heads for the ``synthetic-cats`` teacher: height field and albedo.

A rounder, wider head (a superellipse dome) with two triangular ears, a muzzle with whisker
pads and a nose, shallow eye sockets and a chest mound below; fur in one of several coat
colours with tabby stripes, a white muzzle patch, large eyes with slit pupils, a pink or
dark nose and pink inner ears. All terms are mirrored about x = 0.
"""

from __future__ import annotations

import torch

from ganlift.teachers.synthetic_parts import (
    Factor,
    blob,
    col,
    dome,
    ellipse,
    mirrored_blob,
    mirrored_ellipse,
    mix,
    palette,
    rgb,
    smooth_max,
)

Tensor = torch.Tensor

SHAPE_FACTORS = (
    Factor("head_w", 0.60, 0.74),
    Factor("head_h", 0.54, 0.68),
    Factor("head_y", 0.02, 0.12),
    Factor("head_depth", 0.045, 0.062),
    Factor("round", 2.0, 2.8),
    Factor("ear_x", 0.42, 0.62),
    Factor("ear_len", 0.22, 0.40),
    Factor("ear_w", 0.20, 0.30),
    Factor("ear_tilt", 0.0, 0.25),
    Factor("snout_h", 0.006, 0.016),
    Factor("snout_w", 0.10, 0.16),
    Factor("nose_h", 0.003, 0.008),
    Factor("socket", 0.003, 0.009),
    Factor("chest_w", 0.85, 1.15),
)
ALBEDO_FACTORS = (
    Factor("fur_t", 0.0, 1.0),
    Factor("fur_light", 0.75, 1.15),
    Factor("tabby", 0.0, 0.45),
    Factor("stripe_f", 14.0, 24.0),
    Factor("white", 0.0, 1.0),
    Factor("eye_t", 0.0, 1.0),
    Factor("eye_x", 0.30, 0.40),
    Factor("eye_size", 0.85, 1.2),
    Factor("pupil", 0.15, 0.6),
    Factor("nose_t", 0.0, 1.0),
)
FACTORS = SHAPE_FACTORS + ALBEDO_FACTORS

FUR = ((0.10, 0.09, 0.09), (0.45, 0.44, 0.44), (0.40, 0.28, 0.18), (0.85, 0.50, 0.22), (0.88, 0.80, 0.66))
EYES = ((0.85, 0.70, 0.20), (0.72, 0.52, 0.15), (0.50, 0.70, 0.25), (0.35, 0.60, 0.55), (0.40, 0.58, 0.82))
NOSE = ((0.85, 0.52, 0.55), (0.55, 0.33, 0.30), (0.15, 0.12, 0.12))


def _ear(x: Tensor, y: Tensor, f: dict[str, Tensor], side: float) -> tuple[Tensor, Tensor]:
    """One ear as a soft triangle rising from the top of the head.

    Returns:
        ``(profile, t)``: (B, 1, S, S) height profile in [0, 1] (1 at the base) and the
        position along the ear (0 at the base, 1 at the tip).
    """
    a, b, y0 = col(f["head_w"]), col(f["head_h"]), col(f["head_y"])
    bx = side * col(f["ear_x"]) * a
    by = y0 - 0.72 * b
    tip_x = bx + side * col(f["ear_tilt"]) * a
    tip_y = y0 - b - col(f["ear_len"])
    ax, ay = tip_x - bx, tip_y - by
    length = torch.sqrt(ax**2 + ay**2)
    # Local coordinates: t along the ear axis, s across it.
    t = ((x - bx) * ax + (y - by) * ay) / length**2
    s = ((x - bx) * ay - (y - by) * ax) / length
    half = col(f["ear_w"]) * a * (1.0 - t).clamp_min(0)
    across = torch.sigmoid((half - s.abs()) / 0.015)
    along = torch.sigmoid(t / 0.03) * torch.sigmoid((1.0 - t) / 0.03)
    return across * along * (1.0 - 0.6 * t.clamp(0, 1)), t


def cat_maps(f: dict[str, Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Height field and albedo of a cat head.

    Args:
        f: factor values, each (B,).
        x, y: (1, 1, S, S) normalised coordinates (x right, y down).

    Returns:
        ``(height, albedo)``: (B, 1, S, S) scene units above the background plane and
        (B, 3, S, S) in [0, 1].
    """
    a, b, y0, H = col(f["head_w"]), col(f["head_h"]), col(f["head_y"]), col(f["head_depth"])
    X, Y = x / a, (y - y0) / b
    p = col(f["round"])
    # Superellipse: p = 2 is an ellipse, larger p a squarer, fuller head. |X|^p kept smooth.
    e = 1.0 - (X**2 + 1e-6) ** (p / 2) - (Y**2 + 1e-6) ** (p / 2)
    inside = torch.sigmoid(e / 0.04)
    head = H * dome(e)

    # Muzzle: whisker pads and nose, shallow sockets, a little brow.
    sh, sw = col(f["snout_h"]), col(f["snout_w"])
    pads = sh * mirrored_blob(x, Y, 0.55 * sw, 0.38, 0.6 * sw, 0.16)
    bridge = 0.6 * sh * blob(x, Y, 0.0, 0.18, 0.8 * sw, 0.22)
    nose = col(f["nose_h"]) * blob(x, Y, 0.0, 0.25, 0.35 * sw, 0.06)
    chin = 0.4 * sh * blob(x, Y, 0.0, 0.62, 0.6 * sw, 0.08)
    ex = col(f["eye_x"])
    sockets = -col(f["socket"]) * mirrored_blob(X, Y, ex, -0.08, 0.15, 0.12)
    brow = 0.003 * blob(X, Y, 0.0, -0.3, 0.5, 0.1)
    face = head + (pads + bridge + nose + chin + sockets + brow) * inside

    # Ears rise from the top of the head and stay lower than the crown.
    ear_l, t_l = _ear(x, y, f, -1.0)
    ear_r, t_r = _ear(x, y, f, 1.0)
    ears = 0.7 * H * (ear_l + ear_r)

    # Chest: a wide low mound at the bottom of the frame.
    cw = col(f["chest_w"]) * a
    chest = 0.5 * H * dome(1.0 - (x / cw) ** 2 - ((y - 1.15) / 0.6) ** 2)
    height = smooth_max(smooth_max(face, ears), chest).clamp_min(0.0)

    # Albedo: coat colour with tabby stripes, white muzzle/chest patch.
    fur = palette(f["fur_t"], FUR) * col(f["fur_light"])
    stripes_head = torch.cos(col(f["stripe_f"]) * x) * torch.sigmoid((-0.35 - Y) / 0.1)
    stripes_cheek = torch.cos(col(f["stripe_f"]) * 0.8 * y) * torch.sigmoid((X.abs() - 0.55) / 0.08)
    tabby = col(f["tabby"]) * (0.5 * stripes_head + 0.5 * stripes_cheek - 0.25)
    alb = (fur * (1.0 - tabby)).expand(-1, -1, *x.shape[-2:])
    white = col(f["white"]) * torch.clamp(
        blob(x, Y, 0.0, 0.45, 1.6 * sw, 0.28) + blob(x, y, 0.0, 1.1, 0.8 * cw, 0.35), 0, 1
    )
    alb = mix(alb, rgb((0.92, 0.91, 0.88), x), white)
    # Pink inner ears.
    inner = torch.sigmoid((0.7 - t_l) / 0.05) * ear_l + torch.sigmoid((0.7 - t_r) / 0.05) * ear_r
    inner = inner * torch.sigmoid(-e / 0.05)
    alb = mix(alb, rgb((0.85, 0.6, 0.6), x), 0.7 * inner.clamp(0, 1))
    # Eyes: almond shapes, coloured iris filling them, a vertical slit pupil, dark rims.
    es = col(f["eye_size"])
    ex_abs, ey_abs = ex * a, y0 - 0.08 * b
    rim = mirrored_ellipse(x, y, ex_abs, ey_abs, 0.095 * es, 0.058 * es, 0.2)
    alb = mix(alb, rgb((0.08, 0.07, 0.06), x), rim)
    eye = mirrored_ellipse(x, y, ex_abs, ey_abs, 0.08 * es, 0.048 * es, 0.2)
    alb = mix(alb, palette(f["eye_t"], EYES), eye)
    slit = mirrored_ellipse(x, y, ex_abs, ey_abs, 0.03 * es * col(f["pupil"]), 0.044 * es, 0.25) * eye
    alb = mix(alb, rgb((0.03, 0.03, 0.03), x), slit)
    # Nose: an inverted soft triangle; mouth: a short dark line below it.
    ny = y0 + 0.25 * b
    tri = torch.sigmoid((0.045 - (y - ny + 0.015)) / 0.008) * torch.sigmoid(
        (0.5 * (y - ny + 0.035) - x.abs()) / 0.006
    )
    alb = mix(alb, palette(f["nose_t"], NOSE), tri.clamp(0, 1))
    philtrum = torch.sigmoid((0.006 - x.abs()) / 0.003) * ellipse(x, y, 0.0, ny + 0.07, 0.02, 0.05, 0.3)
    alb = mix(alb, rgb((0.15, 0.1, 0.1), x), philtrum)
    mouth_y = ny + 0.11 + 0.9 * x**2 / sw
    mouth = torch.sigmoid((0.008 - (y - mouth_y).abs()) / 0.003) * blob(x, y, 0.0, ny + 0.1, 0.6 * sw, 1.0)
    alb = mix(alb, rgb((0.15, 0.1, 0.1), x), mouth)
    return height, alb.clamp(0.0, 1.0)


__all__ = ["FACTORS", "SHAPE_FACTORS", "ALBEDO_FACTORS", "cat_maps"]
