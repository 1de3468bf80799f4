"""Procedural human heads for the ``synthetic-faces`` teacher: height field and albedo.

A head is an ellipsoid-like dome (jaw narrowing towards the chin) with a brow ridge, eye
sockets, nose, cheeks, lips and chin, a hair shell above a curved hairline, and a neck.
Every term is mirrored about x = 0, so depth and albedo are left-right symmetric.
Heights are in scene units (the background plane sits at ``BACKGROUND_DEPTH``; the head
rises about 0.05 to 0.09 above it).
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
    Factor("head_w", 0.54, 0.68),
    Factor("head_h", 0.70, 0.86),
    Factor("head_y", -0.12, -0.02),
    Factor("head_depth", 0.045, 0.065),
    Factor("jaw", 0.0, 0.7),
    Factor("nose_len", 0.16, 0.30),
    Factor("nose_h", 0.010, 0.024),
    Factor("nose_w", 0.045, 0.085),
    Factor("brow_h", 0.002, 0.008),
    Factor("cheek_h", 0.002, 0.009),
    Factor("socket", 0.004, 0.011),
    Factor("chin_h", 0.002, 0.008),
    Factor("lips_h", 0.001, 0.004),
    Factor("neck_w", 0.5, 0.66),
    Factor("hair_vol", 0.0, 0.012),
    Factor("hairline", 0.45, 0.72),
)
ALBEDO_FACTORS = (
    Factor("skin_t", 0.0, 1.0),
    Factor("skin_red", -1.0, 1.0),
    Factor("hair_t", 0.0, 1.0),
    Factor("eye_t", 0.0, 1.0),
    Factor("eye_x", 0.33, 0.42),
    Factor("eye_size", 0.8, 1.2),
    Factor("lip_t", 0.0, 1.0),
    Factor("mouth_w", 0.24, 0.36),
    Factor("brow_dark", 0.35, 0.9),
    Factor("blush", 0.0, 0.35),
)
FACTORS = SHAPE_FACTORS + ALBEDO_FACTORS

SKIN = ((0.30, 0.19, 0.13), (0.50, 0.33, 0.23), (0.72, 0.52, 0.40), (0.86, 0.67, 0.56), (0.93, 0.79, 0.71))
HAIR = ((0.06, 0.05, 0.05), (0.22, 0.13, 0.08), (0.42, 0.27, 0.15), (0.55, 0.25, 0.12), (0.82, 0.67, 0.42), (0.70, 0.69, 0.68))
EYES = ((0.22, 0.13, 0.07), (0.42, 0.32, 0.14), (0.28, 0.45, 0.28), (0.28, 0.42, 0.66), (0.50, 0.58, 0.66))


def face_maps(f: dict[str, Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Height field and albedo of a head.

    Args:
        f: factor values, each (B,).
        x, y: (1, 1, S, S) normalised coordinates (x right, y down).

    Returns:
        ``(height, albedo)``: (B, 1, S, S) scene units above the background plane and
        (B, 3, S, S) in [0, 1] (meaningful where the height is above zero).
    """
    a, b, y0, H = col(f["head_w"]), col(f["head_h"]), col(f["head_y"]), col(f["head_depth"])
    X, Y = x / a, (y - y0) / b
    # Narrower jaw below the eyes.
    Xj = X * (1.0 + col(f["jaw"]) * torch.relu(Y) ** 2)
    e = 1.0 - Xj**2 - Y**2
    inside = torch.sigmoid(e / 0.04)
    head = H * dome(e)

    # Facial relief, in head-relative coordinates (X, Y).
    nl, nh, nw = col(f["nose_len"]), col(f["nose_h"]), col(f["nose_w"])
    t = ((Y + 0.22) / (nl + 0.22)).clamp(0, 1.2)
    bridge = nh * torch.exp(-0.5 * (x / (nw * (0.45 + 0.7 * t))) ** 2) * t**1.3
    bridge = bridge * torch.sigmoid((nl + 0.03 - Y) / 0.025)
    tip = 0.35 * nh * blob(x, Y, 0.0, nl, 0.8 * nw, 0.07)
    wings = 0.25 * nh * mirrored_blob(x, Y, 1.05 * nw, nl - 0.01, 0.6 * nw, 0.05)
    ex = col(f["eye_x"])
    brow = col(f["brow_h"]) * blob(X, Y, 0.0, -0.27, 0.55, 0.06)
    sockets = -col(f["socket"]) * mirrored_blob(X, Y, ex, -0.12, 0.16, 0.09)
    cheeks = col(f["cheek_h"]) * mirrored_blob(X, Y, 0.45, 0.18, 0.2, 0.17)
    mouth_y = nl + 0.22
    muzzle = 0.3 * nh * blob(X, Y, 0.0, mouth_y - 0.05, 0.35, 0.28)
    lips = col(f["lips_h"]) * blob(X, Y, 0.0, mouth_y, col(f["mouth_w"]) * 0.7, 0.05)
    chin = col(f["chin_h"]) * blob(X, Y, 0.0, 0.8, 0.18, 0.09)
    relief = (bridge + tip + wings + brow + sockets + cheeks + muzzle + lips + chin) * inside
    face = head + relief

    # Neck: a cylinder below the jaw, lower than the face.
    neck_half = col(f["neck_w"]) * a
    neck_top = torch.sigmoid((y - (y0 + 0.45 * b)) / 0.04)
    neck = 0.6 * H * dome(1.0 - (x / neck_half) ** 2) * neck_top

    # Hair shell: a slightly larger dome above a hairline that drops towards the sides.
    hv = col(f["hair_vol"])
    s = 1.02 + 6.0 * hv
    eh = 1.0 - (x / (a * s)) ** 2 - ((y - y0 + 0.02) / (b * s)) ** 2
    hairline = y0 + b * (-col(f["hairline"]) + 0.85 * X**2)
    above = torch.sigmoid((hairline - y) / 0.03)
    hair = (H + hv) * dome(eh) * above
    height = smooth_max(smooth_max(face, neck), hair).clamp_min(0.0)

    # Albedo.
    skin = palette(f["skin_t"], SKIN) * (1.0 + 0.07 * col(f["skin_red"]) * rgb((1.0, -0.4, -0.6), x))
    alb = skin.expand(-1, -1, *x.shape[-2:])
    alb = mix(alb, alb * rgb((1.04, 0.78, 0.78), x), col(f["blush"]) * mirrored_blob(X, Y, 0.45, 0.22, 0.15, 0.12))
    neck_shadow = neck_top * (1.0 - inside)
    alb = alb * (1.0 - 0.15 * neck_shadow)
    # Mouth and lips.
    lip_col = mix(skin * rgb((0.85, 0.55, 0.55), x), rgb((0.62, 0.18, 0.22), x), col(f["lip_t"]) * 0.7)
    mw = col(f["mouth_w"])
    alb = mix(alb, lip_col, ellipse(X, Y, 0.0, mouth_y, mw, 0.055, 0.2))
    alb = mix(alb, rgb((0.22, 0.08, 0.08), x), ellipse(X, Y, 0.0, mouth_y, 0.9 * mw, 0.012, 0.3))
    # Nostrils.
    alb = mix(alb, skin * 0.35, mirrored_ellipse(x, Y, 0.55 * nw, nl + 0.02, 0.35 * nw, 0.018, 0.3))
    # Eyes: sclera, iris (clipped by the lids), pupil, upper lid line.
    es = col(f["eye_size"])
    eye_cy = -0.12
    sclera = mirrored_ellipse(X, Y, ex, eye_cy, 0.14 * es, 0.055 * es, 0.25)
    alb = mix(alb, rgb((0.92, 0.90, 0.87), x), sclera)
    ex_abs, ey_abs = ex * a, y0 + eye_cy * b
    iris = mirrored_ellipse(x, y, ex_abs, ey_abs, 0.042 * es, 0.042 * es, 0.25) * sclera
    alb = mix(alb, palette(f["eye_t"], EYES), iris)
    pupil = mirrored_ellipse(x, y, ex_abs, ey_abs, 0.017 * es, 0.017 * es, 0.3) * sclera
    alb = mix(alb, rgb((0.03, 0.03, 0.03), x), pupil)
    lid = mirrored_ellipse(X, Y, ex, eye_cy - 0.045 * es, 0.15 * es, 0.018, 0.3)
    alb = mix(alb, skin * 0.35, lid)
    # Eyebrows: arcs above the eyes in the hair colour.
    hair_col = palette(f["hair_t"], HAIR)
    brow_y = -0.28 + 0.25 * (X.abs() - ex) ** 2
    brows = torch.sigmoid((0.035 - (Y - brow_y).abs()) / 0.008) * mirrored_blob(X, Y, ex, -0.28, 0.14, 1.0)
    alb = mix(alb, mix(skin, hair_col, col(f["brow_dark"])), brows.clamp(0, 1))
    # Hair, with soft symmetric strands.
    strands = 1.0 + 0.12 * torch.cos(45.0 * x) * torch.cos(9.0 * y)
    hair_alpha = above * torch.sigmoid(eh / 0.03)
    alb = mix(alb, hair_col * strands, hair_alpha)
    return height, alb.clamp(0.0, 1.0)


__all__ = ["FACTORS", "SHAPE_FACTORS", "ALBEDO_FACTORS", "face_maps"]
