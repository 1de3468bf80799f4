"""Procedural car fronts for the ``synthetic-cars`` test teacher: height field and albedo.

An object that is neither a face, a cat nor a vase, made to check that a recipe built for
heads lifts something else: a boxy body (a superellipse with a flat top) whose lower front
(bumper, grille) stands nearest the camera and whose cabin and roof recede, wheel arches at
the lower corners and two side mirrors; paint in one of several colours, a dark windscreen,
headlights, a grille and a number plate. All terms are mirrored about x = 0.
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
    Factor("body_w", 0.70, 0.86),
    Factor("body_h", 0.46, 0.60),
    Factor("body_y", 0.10, 0.22),
    Factor("body_depth", 0.050, 0.070),
    Factor("boxy", 3.0, 6.0),
    Factor("cabin", 0.35, 0.55),
    Factor("cabin_w", 0.62, 0.80),
    Factor("recede", 0.25, 0.55),
    Factor("bumper_h", 0.004, 0.012),
    Factor("wheel_h", 0.004, 0.012),
    Factor("mirror_h", 0.004, 0.010),
    Factor("hood_bulge", 0.002, 0.008),
)
ALBEDO_FACTORS = (
    Factor("paint_t", 0.0, 1.0),
    Factor("paint_light", 0.8, 1.15),
    Factor("glass_t", 0.0, 1.0),
    Factor("lamp_x", 0.55, 0.72),
    Factor("lamp_size", 0.8, 1.25),
    Factor("grille_w", 0.25, 0.45),
    Factor("plate", 0.0, 1.0),
)
FACTORS = SHAPE_FACTORS + ALBEDO_FACTORS

PAINT = ((0.70, 0.08, 0.08), (0.10, 0.18, 0.45), (0.85, 0.85, 0.82), (0.12, 0.12, 0.13), (0.55, 0.56, 0.58),
         (0.85, 0.62, 0.10), (0.15, 0.40, 0.22))
GLASS = ((0.08, 0.10, 0.14), (0.16, 0.22, 0.30), (0.25, 0.30, 0.34))


def _superellipse(X: Tensor, Y: Tensor, p: Tensor) -> Tensor:
    """``1 - |X|^p - |Y|^p`` (smooth at 0): positive inside a rounded box."""
    return 1.0 - (X.square() + 1e-6) ** (p / 2) - (Y.square() + 1e-6) ** (p / 2)


def car_maps(f: dict[str, Tensor], x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Height field and albedo of a car seen from the front.

    Args:
        f: factor values, each (B,).
        x, y: (1, 1, S, S) normalised coordinates (x right, y down).

    Returns:
        ``(height, albedo)``: (B, 1, S, S) scene units above the background plane and
        (B, 3, S, S) in [0, 1] (meaningful where the height is above zero).
    """
    a, b, y0, H = col(f["body_w"]), col(f["body_h"]), col(f["body_y"]), col(f["body_depth"])
    X, Y = x / a, (y - y0) / b
    e = _superellipse(X, Y, col(f["boxy"]))
    inside = torch.sigmoid(e / 0.04)
    # The lower front stands out; the upper part recedes (a slanted bonnet towards the cabin).
    lean = 1.0 - col(f["recede"]) * torch.sigmoid(-Y / 0.25)
    body = H * dome(e, 60.0) * lean
    hood = col(f["hood_bulge"]) * blob(X, Y, 0.0, 0.05, 0.45, 0.25)
    bumper = col(f["bumper_h"]) * torch.exp(-0.5 * ((Y - 0.72) / 0.08) ** 2) * torch.sigmoid((0.9 - X.abs()) / 0.05)
    wheels = col(f["wheel_h"]) * mirrored_blob(X, Y, 0.78, 0.78, 0.14, 0.16)
    front = body + (hood + bumper + wheels) * inside

    # Cabin: a narrower, lower box on top, with the windscreen.
    cb, cw = col(f["cabin"]), col(f["cabin_w"])
    cy = -1.0 - 0.5 * cb  # centre above the body, in body units
    Xc, Yc = X / cw, (Y - cy) / (0.55 * cb + 0.2)
    ec = _superellipse(Xc, Yc, col(f["boxy"]))
    cabin = 0.45 * H * dome(ec, 60.0)
    mirrors = col(f["mirror_h"]) * mirrored_blob(X, Y, 0.92, -0.82, 0.09, 0.06)
    height = smooth_max(smooth_max(front, cabin), mirrors * inside.clamp_min(torch.sigmoid(ec / 0.04))).clamp_min(0.0)

    # Albedo: paint, windscreen glass on the cabin, lamps, grille, plate, tyres.
    paint = palette(f["paint_t"], PAINT) * col(f["paint_light"])
    alb = paint.expand(-1, -1, *x.shape[-2:])
    glass = ellipse(Xc, Yc, 0.0, 0.1, 0.85, 0.75, 0.1)
    alb = mix(alb, palette(f["glass_t"], GLASS), glass * torch.sigmoid(ec / 0.04))
    ls = col(f["lamp_size"])
    lamps = mirrored_ellipse(X, Y, col(f["lamp_x"]), 0.05, 0.16 * ls, 0.08 * ls, 0.2)
    alb = mix(alb, rgb((0.95, 0.94, 0.88), x), lamps)
    grille = ellipse(X, Y, 0.0, 0.28, col(f["grille_w"]), 0.12, 0.05)
    alb = mix(alb, rgb((0.06, 0.06, 0.07), x), grille)
    plate = ellipse(X, Y, 0.0, 0.62, 0.2, 0.06, 0.05)
    alb = mix(alb, mix(rgb((0.92, 0.92, 0.90), x), rgb((0.95, 0.80, 0.15), x), col(f["plate"])), plate)
    tyres = mirrored_ellipse(X, Y, 0.80, 0.92, 0.12, 0.10, 0.1)
    alb = mix(alb, rgb((0.05, 0.05, 0.05), x), tyres)
    return height, alb.clamp(0.0, 1.0)


__all__ = ["FACTORS", "SHAPE_FACTORS", "ALBEDO_FACTORS", "car_maps"]
