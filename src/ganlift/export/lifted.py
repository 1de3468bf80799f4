"""Exports of a lifter's samples: meshes, turntables, relighting sweeps and figure grids.

Every function takes a lifter (anything with the controls of
:class:`ganlift.lifter.controls.ControlsMixin`) and one or more codes, given as ``w``, ``z``
or an integer ``seed``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image

from ganlift.export.figures import labelled_grid
from ganlift.export.mesh import Mesh, points_to_mesh, save_mesh
from ganlift.export.video import light_sweep, save_animation, yaw_sweep
from ganlift.render.camera import unproject
from ganlift.utils.images import save_image

MESH_TEXTURES = ("albedo", "shaded")


def _codes(lifter, w=None, seed=None, z=None, n: int = 1) -> torch.Tensor:
    if w is None and z is None and seed is None:
        seed = 0  # exports are reproducible by default
    return lifter.codes(n, seed, z=z, w=w)


def object_mask(lifter, depth: torch.Tensor) -> torch.Tensor:
    """Canonical object region: depth at or in front of the recipe's ``transform_threshold``.

    It is the region the lifter treats as the object (T forced to 1 there); the pinned border
    and the background lie behind it. Args: depth (B, 1, S, S). Returns (B, 1, S, S) float.
    """
    threshold = float(lifter.recipe.lifter.transform_threshold)
    return (depth <= threshold).to(depth.dtype)


def lifted_mesh(
    lifter,
    w: torch.Tensor | None = None,
    *,
    seed: int | None = None,
    z: torch.Tensor | None = None,
    posed: bool = False,
    mask: bool = True,
    texture: str = "albedo",
    center: bool = True,
    scale: float = 1.0,
    **controls: Any,
) -> Mesh:
    """The lifted surface of one code as a textured mesh.

    Args:
        lifter: a trained :class:`~ganlift.Lifter`.
        w, seed, z: the code (default: seed 0).
        posed: apply the view (predicted, or set by ``yaw=``/``pitch=``/``roll=`` in
            ``controls``) through the transformation map, as the renderer does; otherwise the
            canonical (frontal) geometry.
        mask: keep only the object region (:func:`object_mask`), dropping the background.
        texture: ``"albedo"`` (unlit, for lighting in a 3D tool) or ``"shaded"`` (albedo times
            the shading of the chosen light, baked into the texture).
        center, scale: placement, see :mod:`ganlift.export.mesh` (+y up, front faces +z).
        **controls: ``yaw``, ``pitch``, ``roll``, ``light``, ``ambient``, ``diffuse``,
            ``translation``, ``relative`` as in ``lifter.render``.

    Returns:
        A :class:`~ganlift.export.mesh.Mesh`.
    """
    if texture not in MESH_TEXTURES:
        raise ValueError(f"texture must be one of {', '.join(MESH_TEXTURES)}, got {texture!r}")
    code = _codes(lifter, w, seed, z)
    if code.shape[0] != 1:
        raise ValueError(f"a mesh is made from one code, got {code.shape[0]}")
    out = lifter.render(code, **controls)
    depth, albedo = out.canonical_depth, out.canonical_albedo
    renderer = lifter.renderer
    with torch.no_grad():
        if posed:
            points = renderer.posed_points(depth, out.transform, out.view)
        else:
            points = unproject(depth, renderer.fov)
        colours = albedo
        if texture == "shaded":
            # Shade the canonical map with the normals of the (posed) surface and the light.
            from ganlift.render.shading import lambert, normals_from_points

            colours = (albedo * lambert(normals_from_points(points), out.light)).clamp(0, 1)
    region = object_mask(lifter, depth) if mask else None
    return points_to_mesh(points, colours, region, center=center, scale=scale)


def export_mesh(
    lifter,
    path: str | os.PathLike,
    w: torch.Tensor | None = None,
    *,
    format: str | None = None,
    **options: Any,
) -> list[Path]:
    """Write one code's lifted surface as OBJ (+MTL+PNG), PLY or GLB.

    Args:
        lifter: a trained lifter.
        path: output file; the format follows its extension unless ``format`` is given.
        w: the code; or ``seed=``/``z=`` in ``options`` (default seed 0).
        format: ``"obj"``, ``"ply"`` or ``"glb"``.
        **options: as in :func:`lifted_mesh`.

    Returns:
        The written files.
    """
    return save_mesh(lifted_mesh(lifter, w, **options), path, format=format)


def to_obj(lifter, path, w=None, **options) -> list[Path]:
    """:func:`export_mesh` as OBJ with its .mtl and .png texture."""
    return export_mesh(lifter, path, w, format="obj", **options)


def to_ply(lifter, path, w=None, **options) -> list[Path]:
    """:func:`export_mesh` as PLY with vertex colours."""
    return export_mesh(lifter, path, w, format="ply", **options)


def to_glb(lifter, path, w=None, **options) -> list[Path]:
    """:func:`export_mesh` as binary glTF with an embedded texture (needs trimesh)."""
    return export_mesh(lifter, path, w, format="glb", **options)


# ---------------------------------------------------------------------------- animations


def _batched_render(lifter, code: torch.Tensor, chunk: int = 16, **per_frame: Any) -> torch.Tensor:
    """Render one code once per frame; list-valued controls vary across frames."""
    frames = max(len(v) for v in per_frame.values() if isinstance(v, list))
    images = []
    for start in range(0, frames, chunk):
        stop = min(frames, start + chunk)
        controls = {k: (v[start:stop] if isinstance(v, list) else v) for k, v in per_frame.items()}
        images.append(lifter.render(code.expand(stop - start, -1), **controls).image)
    return torch.cat(images)


def turntable(
    lifter,
    path: str | os.PathLike | None = None,
    w: torch.Tensor | None = None,
    *,
    seed: int | None = None,
    z: torch.Tensor | None = None,
    frames: int = 36,
    max_yaw: float | None = None,
    fps: float = 12.0,
    **controls: Any,
) -> torch.Tensor:
    """A yaw sweep ``0 -> +max -> 0 -> -max -> 0`` of one code, as GIF or MP4.

    Args:
        lifter: a trained lifter.
        path: ``.gif`` or ``.mp4`` to write (None: only return the frames).
        w, seed, z: the code (default seed 0).
        frames: number of frames.
        max_yaw: amplitude in degrees; default the recipe's trained yaw range.
        fps: frames per second.
        **controls: fixed controls for every frame (``pitch``, ``light``, ...).

    Returns:
        (frames, 3, H, W) images in [0, 1].
    """
    if "yaw" in controls:
        raise ValueError("turntable sweeps yaw itself; set its amplitude with max_yaw")
    code = _codes(lifter, w, seed, z)[:1]
    if max_yaw is None:
        max_yaw = lifter.trained_ranges()["yaw"]
    yaws = yaw_sweep(frames, float(max_yaw))
    images = _batched_render(lifter, code, yaw=yaws, **controls)
    if path is not None:
        save_animation(images, path, fps=fps)
    return images


def relight_sweep(
    lifter,
    path: str | os.PathLike | None = None,
    w: torch.Tensor | None = None,
    *,
    seed: int | None = None,
    z: torch.Tensor | None = None,
    frames: int = 24,
    elevation: float = 35.0,
    fps: float = 12.0,
    **controls: Any,
) -> torch.Tensor:
    """The light circling the view axis ``elevation`` degrees off it, as GIF or MP4.

    Args and returns as :func:`turntable`; ``controls`` may fix the pose, ``ambient`` and
    ``diffuse`` (e.g. ``ambient=0.3, diffuse=0.8`` for strong shadows).
    """
    if "light" in controls:
        raise ValueError("relight_sweep moves the light itself; set its angle with elevation")
    code = _codes(lifter, w, seed, z)[:1]
    lights = light_sweep(frames, float(elevation))
    images = _batched_render(lifter, code, light=[list(d) for d in lights], **controls)
    if path is not None:
        save_animation(images, path, fps=fps)
    return images


# ---------------------------------------------------------------------------- figures

DEFAULT_LIGHTS = ((-40.0, 20.0), (0.0, 40.0), (40.0, 20.0))


def _side(azimuth: float, elevation: float) -> str:
    """A short name for where a light comes from, e.g. "top-left" (column labels)."""
    vertical = "top" if elevation > 10 else "bottom" if elevation < -10 else ""
    horizontal = "right" if azimuth > 10 else "left" if azimuth < -10 else ""
    return "-".join(p for p in (vertical, horizontal) if p) or "front"


def figure_grid(
    lifter,
    path: str | os.PathLike | None = None,
    w: torch.Tensor | None = None,
    *,
    n: int = 4,
    seed: int | None = None,
    z: torch.Tensor | None = None,
    yaws: Sequence[float] | None = None,
    shape_yaws: Sequence[float] | None = None,
    lights: Sequence[Sequence[float]] = DEFAULT_LIGHTS,
    ambient: float | None = None,
    diffuse: float | None = None,
    labels: bool = True,
    zoom: int = 1,
) -> Image.Image:
    """A figure like the paper's: one row per sample, columns grouped as

    teacher image | lifted render at several yaws | shape (shading of the surface, white
    albedo) | relit (predicted pose, lights from ``lights``).

    Args:
        lifter: a trained lifter.
        path: image file to write (None: only return it).
        w, seed, z, n: the codes (default ``n`` codes from seed 0).
        yaws: render yaws in degrees; default five across the trained yaw range.
        shape_yaws: yaws of the shape columns; default three across it.
        lights: ``(azimuth, elevation)`` pairs for the relit columns.
        ambient, diffuse: light intensities of the relit columns; None keeps the predicted
            ones (a lifter that predicts almost no diffuse light shows little change then).
        labels: draw column labels.
        zoom: integer upscaling of every tile (nearest neighbour), for small lifters.

    Returns:
        The PIL image.
    """
    if not isinstance(zoom, int) or isinstance(zoom, bool) or zoom < 1:
        raise ValueError(f"zoom must be a positive integer, got {zoom!r}")
    codes = _codes(lifter, w, seed, z, n)
    limit = lifter.trained_ranges()["yaw"]
    if yaws is None:
        yaws = [-limit, -limit / 2, 0.0, limit / 2, limit]
    if shape_yaws is None:
        shape_yaws = [-limit, 0.0, limit]
    columns: list[tuple[str, torch.Tensor]] = [("teacher", lifter.teacher_images(codes))]
    for yaw in yaws:
        columns.append((f"yaw {yaw:+.0f}", lifter.render(codes, yaw=yaw).image))
    for yaw in shape_yaws:
        out = lifter.render(codes, yaw=yaw, light=(-30.0, 30.0), ambient=0.25, diffuse=0.75)
        white = torch.ones_like(out.canonical_albedo)
        with torch.no_grad():
            shape = lifter.renderer.render(white, out.canonical_depth, out.transform, out.view, out.light)
        columns.append((f"shape {yaw:+.0f}", shape.image.clamp(0, 1)))
    for azimuth, elevation in lights:
        out = lifter.render(codes, light=(azimuth, elevation), ambient=ambient, diffuse=diffuse)
        columns.append((f"lit {_side(azimuth, elevation)}", out.image))
    if zoom > 1:
        columns = [(label, torch.nn.functional.interpolate(x, scale_factor=zoom, mode="nearest"))
                   for label, x in columns]  # fmt: skip
    image = labelled_grid(columns, labels=labels)
    if path is not None:
        save_image(image, path)
    return image
