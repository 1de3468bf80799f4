"""Building blocks of the procedural synthetic teachers: factors, blobs, palettes, background.

Everything here is a smooth function of its inputs (no thresholds, no integer casts), so the
synthetic teachers stay differentiable in w.

Coordinates: the canonical maps are drawn on a grid of normalised image-plane coordinates
``x`` (right) and ``y`` (down), both (1, 1, S, S); ``x = y = +-1`` at the centres of the
outer pixels of the teacher's own resolution (see :func:`grid_coords`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import kornia
import torch
import torch.nn.functional as F

Tensor = torch.Tensor


@dataclass(frozen=True)
class Factor:
    """One generative factor read out of w: ``lo + (hi - lo) * (1 + tanh(gain * u)) / 2``.

    ``u`` is one coordinate of the teacher's fixed mixing of the standardised w (about
    N(0, 1) over samples), so the factor spreads over (lo, hi) without ever leaving it.
    """

    name: str
    lo: float
    hi: float
    gain: float = 0.8

    def __call__(self, u: Tensor) -> Tensor:
        return self.lo + (self.hi - self.lo) * 0.5 * (1.0 + torch.tanh(self.gain * u))


def factor_table(*groups: Sequence[Factor]) -> tuple[Factor, ...]:
    """Concatenate factor groups; raises ValueError on a repeated name."""
    table = tuple(f for g in groups for f in g)
    names = [f.name for f in table]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"repeated factor names: {dup}")
    return table


# Shared by both teachers. Pose ranges follow the issue: yaw +-40, pitch +-15, roll +-5
# degrees; translations of a few percent of the frame (the half-frame is tan(5 deg) ~ 0.087
# scene units wide at depth 1).
VIEW_FACTORS = (
    Factor("pitch", -15.0, 15.0, 0.6),
    Factor("yaw", -40.0, 40.0, 0.6),
    Factor("roll", -5.0, 5.0, 0.6),
    Factor("tx", -0.006, 0.006, 0.7),
    Factor("ty", -0.006, 0.006, 0.7),
    Factor("tz", -0.01, 0.01, 0.7),
)
LIGHT_FACTORS = (
    Factor("ambient", 0.4, 0.7),
    Factor("diffuse", 0.3, 0.6),
    Factor("light_x", -0.9, 0.9, 0.7),
    Factor("light_y", -0.7, 0.5, 0.7),
)
BACKGROUND_FACTORS = (
    Factor("bg_hue", 0.0, 1.0),
    Factor("bg_light", 0.25, 0.95),
    Factor("bg_grad", -0.35, 0.35),
    Factor("bg_sat", 0.0, 0.7),
)
TEXTURE_FACTORS = (
    Factor("tex_amp", 0.0, 0.14),
    Factor("tex_0", -1.0, 1.0),
    Factor("tex_1", -1.0, 1.0),
    Factor("tex_2", -1.0, 1.0),
    Factor("tex_3", -1.0, 1.0),
)

BACKGROUND_PALETTE = (
    (0.55, 0.62, 0.75),
    (0.60, 0.72, 0.58),
    (0.78, 0.70, 0.55),
    (0.70, 0.55, 0.60),
    (0.55, 0.55, 0.58),
    (0.50, 0.65, 0.70),
)


def grid_coords(size: int, resolution: int, device=None, dtype=torch.float32) -> tuple[Tensor, Tensor]:
    """Normalised coordinates of the pixel centres of a supersampled grid.

    The teacher at ``resolution`` R has ``x = (u - c) / c`` with ``c = (R - 1) / 2``; a grid of
    ``size = k * R`` pixels uses a focal length k times larger, so the average of each k x k
    block sits exactly on an R-grid pixel centre (see :func:`supersampled_fov`).

    Returns:
        ``(x, y)``, each (1, 1, size, size).
    """
    scale = (resolution - 1) / 2.0 * size / resolution
    r = (torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2.0) / scale
    y, x = torch.meshgrid(r, r, indexing="ij")
    return x[None, None], y[None, None]


def supersampled_fov(fov: float, size: int, resolution: int) -> float:
    """Field of view (degrees) of a ``size`` grid whose k x k average pooling (k = size / R)
    reproduces the pixel centres of a ``resolution`` R camera with field of view ``fov``."""
    import math

    t = math.tan(math.radians(fov) / 2.0) * (size - 1) * resolution / (size * (resolution - 1))
    return math.degrees(2.0 * math.atan(t))


def col(f: Tensor) -> Tensor:
    """(B,) factor -> (B, 1, 1, 1) for broadcasting against maps."""
    return f.reshape(-1, 1, 1, 1)


def blob(x: Tensor, y: Tensor, cx, cy, sx, sy) -> Tensor:
    """Gaussian bump of peak 1 at (cx, cy) with widths (sx, sy)."""
    return torch.exp(-0.5 * (((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2))


def mirrored_blob(x: Tensor, y: Tensor, cx, cy, sx, sy) -> Tensor:
    """Two Gaussian bumps at (+cx, cy) and (-cx, cy): left-right symmetric by construction."""
    return blob(x, y, cx, cy, sx, sy) + blob(x, y, -cx, cy, sx, sy)


def ellipse(x: Tensor, y: Tensor, cx, cy, rx, ry, soft: float = 0.15) -> Tensor:
    """Soft indicator (0..1) of the ellipse ``((x-cx)/rx)^2 + ((y-cy)/ry)^2 < 1``."""
    e = 1.0 - ((x - cx) / rx) ** 2 - ((y - cy) / ry) ** 2
    return torch.sigmoid(e / soft)


def mirrored_ellipse(x: Tensor, y: Tensor, cx, cy, rx, ry, soft: float = 0.15) -> Tensor:
    """Soft union of the ellipses at (+cx, cy) and (-cx, cy)."""
    a = ellipse(x, y, cx, cy, rx, ry, soft)
    b = ellipse(x, y, -cx, cy, rx, ry, soft)
    return a + b - a * b


def dome(e: Tensor, sharpness: float = 40.0) -> Tensor:
    """``sqrt(max(e, 0))`` smoothed at the rim: the profile of an ellipsoid (e = 1 - r^2)."""
    return torch.sqrt(F.softplus(sharpness * e) / sharpness + 1e-8)


def smooth_max(a: Tensor, b: Tensor, eps: float = 0.002) -> Tensor:
    """A smooth ``max(a, b)`` (exact away from a == b; equal to it at a == b == 0)."""
    return 0.5 * (a + b + torch.sqrt((a - b) ** 2 + eps**2)) - 0.5 * eps


def mix(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Linear blend ``a + (b - a) * t``."""
    return a + (b - a) * t


def palette(t: Tensor, colors: Sequence[Sequence[float]]) -> Tensor:
    """Piecewise-linear colour ramp.

    Args:
        t: (B,) positions in [0, 1].
        colors: n RGB triples placed at 0, 1/(n-1), ..., 1.

    Returns:
        (B, 3, 1, 1) colours.
    """
    table = torch.tensor(colors, dtype=t.dtype, device=t.device)  # (n, 3)
    n = table.shape[0]
    pos = t.clamp(0, 1)[:, None] * (n - 1)  # (B, 1)
    hat = (1.0 - (pos - torch.arange(n, dtype=t.dtype, device=t.device)).abs()).clamp_min(0)
    return (hat @ table)[:, :, None, None]


def rgb(values: Sequence[float], like: Tensor) -> Tensor:
    """A constant colour (1, 3, 1, 1) on ``like``'s device and dtype."""
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, 3, 1, 1)


def background(f: dict[str, Tensor], x: Tensor, y: Tensor) -> Tensor:
    """A symmetric backdrop: palette colour, desaturated, vertical gradient and vignette.

    Returns:
        (B, 3, S, S) in [0, 1].
    """
    hue = palette(f["bg_hue"], BACKGROUND_PALETTE)
    grey = hue.mean(dim=1, keepdim=True)
    base = mix(grey, hue, col(f["bg_sat"]) / 0.7) * col(f["bg_light"]) / 0.7
    shade = 1.0 + col(f["bg_grad"]) * y - 0.12 * (x**2 + y**2)
    return (base * shade).clamp(0.02, 0.95)


def clutter_basis(generator: torch.Generator, count: int = 6) -> Tensor:
    """A fixed set of oriented stripe patterns and blobs for an asymmetric backdrop.

    Returns:
        (count, 6): angle, frequency, phase, blob x, blob y, blob width.
    """
    u = torch.rand(count, 6, generator=generator)
    scale = torch.tensor([3.1416, 14.0, 6.283, 1.8, 1.8, 0.25])
    shift = torch.tensor([0.0, 6.0, 0.0, -0.9, -0.9, 0.12])
    return u * scale + shift


def clutter_pattern(f: dict[str, Tensor], basis: Tensor, x: Tensor, y: Tensor, amount: float) -> Tensor:
    """Multiplicative, left-right asymmetric backdrop pattern ``1 + amount * p`` with p in
    about [-1, 1]: oriented stripes whose phases and blobs whose brightness follow the
    background and texture factors (so it varies over samples).

    Returns:
        (B, 1, S, S).
    """
    keys = ("bg_hue", "bg_grad", "tex_0", "tex_1", "tex_2", "tex_3")
    coef = torch.stack([f[k] for k in keys], dim=1)  # (B, 6), about [-1, 1] or [0, 1]
    total = 0.0
    for k in range(basis.shape[0]):
        ang, freq, ph, bx, by, bw = basis[k].unbind(0)
        c = coef[:, k % coef.shape[1]].reshape(-1, 1, 1, 1)
        stripes = torch.sin(freq * (x * torch.cos(ang) + y * torch.sin(ang)) + ph + 3.0 * c)
        spot = torch.exp(-0.5 * ((x - bx) ** 2 + (y - by) ** 2) / bw**2)
        total = total + 0.5 * stripes * (0.4 + spot) + (c - 0.5) * spot
    return 1.0 + amount * (total / basis.shape[0] ** 0.5).clamp(-1.0, 1.0)


def texture_basis(generator: torch.Generator, count: int = 4, terms: int = 3) -> Tensor:
    """Frequencies and phases of a fixed, left-right symmetric soft texture.

    Returns:
        (count, terms, 3): (x frequency, y frequency, y phase) per term.
    """
    fx = 4.0 + 10.0 * torch.rand(count, terms, generator=generator)
    fy = 4.0 + 10.0 * torch.rand(count, terms, generator=generator)
    ph = 6.283 * torch.rand(count, terms, generator=generator)
    return torch.stack([fx, fy, ph], dim=-1)


def soft_texture(f: dict[str, Tensor], basis: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """Multiplicative texture ``1 + amp * sum_k c_k * b_k(x, y)``; b_k even in x (symmetric).

    Returns:
        (B, 1, S, S) around 1.
    """
    maps = []
    for k in range(basis.shape[0]):
        fx, fy, ph = basis[k].unbind(-1)
        terms = torch.cos(fx.view(-1, 1, 1) * x[0]) * torch.cos(fy.view(-1, 1, 1) * y[0] + ph.view(-1, 1, 1))
        maps.append(terms.mean(0))
    stack = torch.stack(maps)  # (K, S, S)
    coef = torch.stack([f[f"tex_{k}"] for k in range(basis.shape[0])], dim=1)  # (B, K)
    noise = torch.einsum("bk,kij->bij", coef, stack)[:, None] / basis.shape[0] ** 0.5
    return 1.0 + col(f["tex_amp"]) * noise


def gaussian_blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur (radius ``round(3 * sigma)``, at least 1) with replicated
    borders, through ``kornia.filters.gaussian_blur2d``. (B, C, H, W) -> same shape."""
    radius = max(1, int(round(3 * sigma)))
    size = 2 * radius + 1
    return kornia.filters.gaussian_blur2d(x, (size, size), (sigma, sigma), border_type="replicate")


__all__ = [
    "Factor",
    "factor_table",
    "VIEW_FACTORS",
    "LIGHT_FACTORS",
    "BACKGROUND_FACTORS",
    "TEXTURE_FACTORS",
    "grid_coords",
    "supersampled_fov",
    "col",
    "blob",
    "mirrored_blob",
    "ellipse",
    "mirrored_ellipse",
    "dome",
    "smooth_max",
    "mix",
    "palette",
    "rgb",
    "background",
    "texture_basis",
    "clutter_basis",
    "clutter_pattern",
    "soft_texture",
    "gaussian_blur",
]
