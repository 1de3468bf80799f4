"""Normals, Lambertian shading, flips and de-lighting of depth-map surfaces.

Conventions (see :mod:`ganlift.render.camera`): camera frame x right, y down, z forward.
Normals point *out of* the surface, so a surface facing the camera has ``n = (0, 0, -1)``.
A light ``(B, 4)`` holds ``(ambient, diffuse, dx, dy)``; the light travels along
``d = normalise(dx, dy, 1)``, i.e. from the camera's side into the scene, and

    shading = ambient + diffuse * max(0, -n . d)

so a camera-facing surface under a frontal light (``dx = dy = 0``) gets ``ambient + diffuse``.
With ``dx > 0`` the light travels towards +x (it comes from the image's left side) and lights
surfaces that face left (``n_x < 0``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganlift.render.camera import unproject


# Guards the normalisation of degenerate (zero-area) neighbourhoods, in both normal codes.
NORMAL_EPS = 1e-12


def normals_from_points(points: torch.Tensor, eps: float = NORMAL_EPS) -> torch.Tensor:
    """Outward unit normals of a grid of 3D points (one per pixel).

    Tangents are central differences along the rows and columns (one-sided on the border),
    and ``n = normalise(dP/dv x dP/du)``, which points towards the camera for a surface
    seen from the front.

    Args:
        points: (B, H, W, 3) camera-frame points of the grid.
        eps: guards the normalisation of degenerate (zero-area) neighbourhoods.

    Returns:
        (B, 3, H, W) unit normals in the camera frame.
    """
    p = points.permute(0, 3, 1, 2)  # (B, 3, H, W)
    # Replicate padding turns the central difference into a one-sided one on the border.
    pu = F.pad(p, (1, 1, 0, 0), mode="replicate")
    pv = F.pad(p, (0, 0, 1, 1), mode="replicate")
    tu = pu[..., 2:] - pu[..., :-2]  # dP/du (along columns, +x)
    tv = pv[..., 2:, :] - pv[..., :-2, :]  # dP/dv (along rows, +y)
    # n = tv x tu, written out: torch.cross and norm over dim 1 are slow on CPU.
    nx = tv[:, 1] * tu[:, 2] - tv[:, 2] * tu[:, 1]
    ny = tv[:, 2] * tu[:, 0] - tv[:, 0] * tu[:, 2]
    nz = tv[:, 0] * tu[:, 1] - tv[:, 1] * tu[:, 0]
    inv = torch.rsqrt((nx * nx + ny * ny + nz * nz).clamp_min(eps * eps))
    return torch.stack([nx * inv, ny * inv, nz * inv], dim=1)


def normals_from_depth(depth: torch.Tensor, fov: float = 10.0) -> torch.Tensor:
    """Outward camera-frame normals of an (unposed) depth map.

    Args:
        depth: (B, 1, H, W) depth map (H == W).
        fov: field of view in degrees.

    Returns:
        (B, 3, H, W) unit normals; a fronto-parallel plane gives (0, 0, -1).
    """
    return normals_from_points(unproject(depth, fov))


def light_direction(light: torch.Tensor) -> torch.Tensor:
    """Direction of travel of the light, ``normalise(dx, dy, 1)``.

    Args:
        light: (B, 4) ``(ambient, diffuse, dx, dy)``.

    Returns:
        (B, 3) unit vectors.
    """
    d = torch.cat([light[:, 2:4], torch.ones_like(light[:, :1])], dim=1)
    return d / d.norm(dim=1, keepdim=True)


def lambert(normal: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """Lambertian shading ``ambient + diffuse * max(0, -n . d)``.

    Args:
        normal: (B, 3, H, W) outward unit normals in the camera frame.
        light: (B, 4) ``(ambient, diffuse, dx, dy)``; see the module docstring.

    Returns:
        (B, 1, H, W) shading.
    """
    d = light_direction(light).to(normal.dtype)
    cos = -(normal * d[:, :, None, None]).sum(dim=1, keepdim=True)
    return light[:, 0, None, None, None] + light[:, 1, None, None, None] * cos.clamp_min(0.0)


def frontal_light(ambient: torch.Tensor, diffuse: torch.Tensor) -> torch.Tensor:
    """A light from the camera's direction: ``(ambient, diffuse, 0, 0)``.

    Args:
        ambient: (B,) ambient terms.
        diffuse: (B,) diffuse terms.

    Returns:
        (B, 4) lights.
    """
    zero = torch.zeros_like(ambient)
    return torch.stack([ambient, diffuse, zero, zero], dim=1)


def mirror_light(light: torch.Tensor) -> torch.Tensor:
    """The light of the horizontally mirrored scene (``dx -> -dx``). (B, 4) -> (B, 4)."""
    return light * light.new_tensor([1.0, 1.0, -1.0, 1.0])


def flip_maps(
    albedo: torch.Tensor | None,
    depth: torch.Tensor | None,
    transform: torch.Tensor | None = None,
) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
    """Mirror albedo, depth and transformation map horizontally, together.

    The paper's flip loss renders the mirrored maps; the transformation map must be
    mirrored with them (the original code reused the unflipped one).

    Args:
        albedo: (B, 3, H, W) or None.
        depth: (B, 1, H, W) or None.
        transform: (B, 1, H, W) or None.

    Returns:
        ``(albedo, depth, transform)`` mirrored along the width; None stays None.
    """
    return tuple(None if x is None else torch.flip(x, dims=(-1,)) for x in (albedo, depth, transform))


def delight(image01: torch.Tensor, shading: torch.Tensor, min_shading: float = 0.05) -> torch.Tensor:
    """Albedo from an image and its shading: ``image / max(shading, min_shading)``.

    The clamp keeps the division away from zero (no inf/NaN where shading vanishes).

    Args:
        image01: (B, 3, H, W) image in [0, 1].
        shading: (B, 1, H, W) shading.
        min_shading: the smallest divisor; must be positive.

    Returns:
        (B, 3, H, W) albedo (not clamped above, so gradients survive).
    """
    if not min_shading > 0:
        raise ValueError(f"min_shading must be positive, got {min_shading!r}")
    return image01 / shading.clamp_min(min_shading)


__all__ = [
    "NORMAL_EPS",
    "normals_from_points",
    "normals_from_depth",
    "light_direction",
    "lambert",
    "frontal_light",
    "mirror_light",
    "flip_maps",
    "delight",
]
