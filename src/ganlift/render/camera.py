"""Camera and pixel conventions shared by every renderer, the exporters and the teachers.

The convention, fixed once:

* The camera sits at the origin and looks down ``+z``. Image columns ``u`` grow with ``+x``
  (to the right), image rows ``v`` grow with ``+y`` (downwards), so the camera frame is
  x right, y down, z forward. Exported meshes flip y (and z) to get the usual +y up.
* Pixel ``(u, v)`` has its centre at the integer coordinates ``(u, v)``,
  ``u, v = 0 .. size-1``. Intrinsics: ``f = (size - 1) / 2 / tan(fov / 2)``,
  ``c = (size - 1) / 2``. Texture look-ups use ``grid_sample(..., align_corners=True)``,
  which puts texel centres at the same positions, so a fronto-parallel plane seen with
  the identity view renders to exactly its texture.
* A depth map holds one vertex per pixel: ``X = (u - c) / f * d``, ``Y = (v - c) / f * d``,
  ``Z = d`` (paper: depth in ``[0.9, 1.1]``).
* A view is ``(B, 6)``: rotations about x, y, z in degrees (pitch, yaw, roll) and
  translations x, y, z. ``R = Rz @ Ry @ Rx`` turns points about the pivot ``(0, 0, 1)``,
  then the translation is added: ``p' = R (p - pivot) + pivot + t``.
"""

from __future__ import annotations

import math

import torch

PIVOT = (0.0, 0.0, 1.0)


def focal_length(size: int, fov: float) -> float:
    """Focal length in pixels for a square image of ``size`` and field of view ``fov`` (degrees)."""
    return (size - 1) / 2.0 / math.tan(math.radians(fov) / 2.0)


def pixel_grid(size: int, device=None, dtype=torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates ``(u, v)``, each (size, size), ``u`` along columns."""
    r = torch.arange(size, device=device, dtype=dtype)
    v, u = torch.meshgrid(r, r, indexing="ij")
    return u, v


def unproject(depth: torch.Tensor, fov: float) -> torch.Tensor:
    """Lift a depth map to one 3D point per pixel in the camera frame.

    Args:
        depth: (B, 1, H, W) with H == W.
        fov: field of view in degrees.

    Returns:
        points (B, H, W, 3).
    """
    size = depth.shape[-1]
    f = focal_length(size, fov)
    c = (size - 1) / 2.0
    u, v = pixel_grid(size, depth.device, depth.dtype)
    d = depth[:, 0]
    x = (u - c) / f * d
    y = (v - c) / f * d
    return torch.stack([x, y, d], dim=-1)


def project(points: torch.Tensor, size: int, fov: float) -> torch.Tensor:
    """Project camera-frame points to pixel coordinates.

    Args:
        points: (..., 3).
        size: image size in pixels.
        fov: field of view in degrees.

    Returns:
        (..., 3): ``u``, ``v`` in pixels and the depth ``z``.
    """
    f = focal_length(size, fov)
    c = (size - 1) / 2.0
    z = points[..., 2]
    u = f * points[..., 0] / z + c
    v = f * points[..., 1] / z + c
    return torch.stack([u, v, z], dim=-1)


def rotation_matrix(angles: torch.Tensor) -> torch.Tensor:
    """``R = Rz @ Ry @ Rx`` from angles in degrees.

    Args:
        angles: (B, 3) rotations about x (pitch), y (yaw) and z (roll), in degrees.

    Returns:
        (B, 3, 3).
    """
    a = torch.deg2rad(angles)
    cx, cy, cz = torch.cos(a).unbind(-1)
    sx, sy, sz = torch.sin(a).unbind(-1)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rz @ ry @ rx


def apply_view(points: torch.Tensor, view: torch.Tensor) -> torch.Tensor:
    """Move points by a view: rotate about the pivot (0, 0, 1), then translate.

    Args:
        points: (B, N, 3) or (B, H, W, 3) in the camera frame.
        view: (B, 6) rotations (degrees) about x, y, z and translations x, y, z.

    Returns:
        Points of the same shape as ``points``.
    """
    shape = points.shape
    p = points.reshape(shape[0], -1, 3)
    rot = rotation_matrix(view[:, :3])
    pivot = torch.tensor(PIVOT, device=points.device, dtype=points.dtype)
    moved = (p - pivot) @ rot.transpose(1, 2) + pivot + view[:, None, 3:6]
    return moved.reshape(shape)


def pin_frame(transform: torch.Tensor, width: int) -> torch.Tensor:
    """Force the transformation map T to 0 on the outer ``width`` pixels of the image frame.

    Paper eq. 1: where ``T = 0`` a vertex keeps its canonical position, so a pinned frame
    keeps the image border (the background's edge) still whatever the view. The one place
    this rule is written; the lifter's T, every renderer and the mesh export call it.
    Pinning twice gives the same map (the lifter's T is pinned and the renderer pins again,
    for transforms that do not come from the lifter).

    Args:
        transform: (B, 1, H, W) transformation map (any values; usually in [0, 1]).
        width: frame width in pixels; 0 returns ``transform`` unchanged.

    Returns:
        (B, 1, H, W): ``transform`` with its frame set to 0.
    """
    if width <= 0:
        return transform
    keep = torch.zeros_like(transform[:1])
    keep[..., width:-width, width:-width] = 1.0
    return transform * keep


def posed_points(
    depth: torch.Tensor,
    fov: float,
    view: torch.Tensor | None = None,
    transform: torch.Tensor | None = None,
    pin_border: int = 0,
) -> torch.Tensor:
    """Camera-frame vertices of a depth map after a view, blended by T (paper eq. 1).

    ``p' = T * view(p) + (1 - T) * p``: where ``T = 1`` (the object) points follow the view,
    where ``T = 0`` (the pinned frame, the static background) they stay. Every renderer
    (:meth:`~ganlift.render.base.Renderer.posed_points`) and the mesh export use this.

    Args:
        depth: (B, 1, H, W) canonical depth.
        fov: field of view in degrees.
        view: (B, 6) rotations (degrees) and translations; None is the identity.
        transform: (B, 1, H, W) in [0, 1]; None means all ones (the frame still pinned).
        pin_border: frame width where T is forced to 0 (:func:`pin_frame`); 0 = none.

    Returns:
        (B, H, W, 3) posed vertices.
    """
    points = unproject(depth, fov)
    if view is None:
        return points  # nothing moves, whatever T is
    moved = apply_view(points, view.to(points.dtype))
    if transform is None and pin_border <= 0:
        return moved  # T = 1 everywhere: the blend would give ``moved`` again
    t = torch.ones_like(depth) if transform is None else transform
    t = pin_frame(t, pin_border).permute(0, 2, 3, 1)  # (B, H, W, 1)
    return t * moved + (1.0 - t) * points


def mirror_view(view: torch.Tensor) -> torch.Tensor:
    """The view of the horizontally mirrored scene (x -> -x): yaw, roll and tx change sign.

    Rendering mirrored (flipped) maps with ``mirror_view(view)`` gives the mirror image of
    rendering the original maps with ``view``.

    Args:
        view: (B, 6).

    Returns:
        (B, 6).
    """
    return view * view.new_tensor([1.0, -1.0, -1.0, -1.0, 1.0, 1.0])
