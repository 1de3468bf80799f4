"""The renderer interface: R(albedo, depth, transform, view, light) -> Rendered.

Every backend shares the geometry, texturing and shading here and differs only in how it
finds the front-most triangle per pixel (:meth:`Renderer.rasterize`). So all backends follow
the same camera and pixel convention (:mod:`ganlift.render.camera`) and the same shading
convention (:mod:`ganlift.render.shading`).

The pipeline, per batch item:

1. One vertex per depth-map pixel: ``P = unproject(depth)`` (the canonical surface).
2. Transformation map (paper eq. 1): ``P' = T * apply_view(P, view) + (1 - T) * P``, with
   ``T`` forced to 0 on the outer ``pin_border`` pixels so the frame never moves.
3. Project ``P'``; hard z-buffer of the grid mesh (two triangles per pixel quad).
4. Differentiable perspective-correct barycentrics of each pixel centre in its triangle;
   interpolate the *canonical* pixel coordinates and sample the albedo there with
   ``grid_sample`` (``align_corners=True``: texel centres sit on pixel centres).
5. Normals of the *posed* surface ``P'`` (camera frame), sampled the same way, so the light
   stays with the camera when the object turns; ``image = albedo * shading``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganlift.render import native
from ganlift.render.camera import focal_length, pin_frame, project, rotation_matrix
from ganlift.render.camera import posed_points as camera_posed_points
from ganlift.render.rasterize import Fragments, barycentrics, grid_face_corners, grid_faces
from ganlift.render.shading import NORMAL_EPS, lambert, light_direction, normals_from_points
from ganlift.utils.outputs import OutputFields


@dataclass
class Rendered(OutputFields):
    """A rendered batch. Images are in [0, 1] like the albedo given (the lifter's own
    :class:`~ganlift.lifter.model.LifterOutput` ``.image_pm1`` is this image mapped to [-1, 1]).
    Fields are read by attribute or by name (:class:`~ganlift.utils.outputs.OutputFields`).

    Attributes:
        image: (B, 3, H, W) ``albedo * shading`` where covered (in [0, 1] when albedo and
            shading are; not clamped, so gradients survive), ``background`` elsewhere.
        mask: (B, 1, H, W) float, 1 where a triangle covers the pixel centre, else 0.
        depth: (B, 1, H, W) camera-frame depth of the visible surface, ``background_depth``
            where the mask is 0.
        normal: (B, 3, H, W) outward unit normals of the posed surface in the camera frame
            (a surface facing the camera has (0, 0, -1)); 0 where the mask is 0.
        shading: (B, 1, H, W) ``ambient + diffuse * max(0, -n . d)``; 0 where the mask is 0.
    """

    image: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor
    shading: torch.Tensor

    def chunk(self, n: int) -> list["Rendered"]:
        """Split a batch rendered in one call back into ``n`` equal parts (views, no copies)."""
        parts = {k: v.chunk(n) for k, v in self.as_dict().items()}
        return [Rendered(**{k: v[i] for k, v in parts.items()}) for i in range(n)]

    def detached(self) -> "Rendered":
        """The same tensors without gradient history."""
        return Rendered(**{k: v.detach() for k, v in self.as_dict().items()})


_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _all_finite(x: torch.Tensor) -> bool:
    """Whether every value of ``x`` is finite. A finite sum settles it in one reduction (a NaN
    or inf anywhere makes the sum NaN or inf); only a sum that is not finite, which finite
    values can give by overflowing, is checked value by value."""
    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def _shape(x: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in x.shape) + ")"


class Renderer(nn.Module):
    """Differentiable renderer of depth-map meshes (base class; backends override rasterize).

    Args:
        size: output image size in pixels (square). None renders at the input maps' size.
            Maps of another size are fine: both cameras share the field of view.
        fov: field of view in degrees (the paper uses 10).
        background: image value where no surface is seen: a float or 3 floats (RGB).
        background_depth: depth value where no surface is seen (the paper uses 1.2).
        pin_border: width in pixels of the outer frame where the transformation map is forced
            to 0, so the frame never moves (paper); 0 disables pinning.
        znear: explicit near plane; triangles closer than this are not drawn.
        check: validate the inputs on every call: True checks shapes, dtypes, devices and
            that values are finite with positive depth; ``"shapes"`` checks only what tensor
            metadata tells (no host synchronisation on CUDA: what training uses, where the
            loss set's own NaN check catches non-finite values); False checks nothing.
    """

    name = "base"

    def __init__(
        self,
        size: int | None = None,
        fov: float = 10.0,
        background: float | Sequence[float] = 0.0,
        background_depth: float = 1.2,
        pin_border: int = 1,
        znear: float = 1e-2,
        check: bool | str = True,
    ) -> None:
        super().__init__()
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 2):
            raise ValueError(f"size must be an int >= 2 or None, got {size!r}")
        if not (isinstance(fov, (int, float)) and 0 < float(fov) < 180):
            raise ValueError(f"fov must be a number of degrees in (0, 180), got {fov!r}")
        bg = [float(background)] * 3 if isinstance(background, (int, float)) else [float(b) for b in background]
        if len(bg) != 3:
            raise ValueError(f"background must be a float or 3 floats (RGB), got {background!r}")
        if not isinstance(pin_border, int) or pin_border < 0:
            raise ValueError(f"pin_border must be an int >= 0, got {pin_border!r}")
        if not znear > 0:
            raise ValueError(f"znear must be positive, got {znear!r}")
        self.size = size
        self.fov = float(fov)
        self.background = tuple(bg)
        self.background_depth = float(background_depth)
        self.pin_border = pin_border
        self.znear = float(znear)
        if check not in (True, False, "shapes"):
            raise ValueError(f"check must be True, False or 'shapes', got {check!r}")
        self.check = check
        self._faces: dict[tuple, torch.Tensor] = {}

    # -- configuration -------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-friendly options that rebuild this renderer with ``create(name, **options)``."""
        return {
            "size": self.size,
            "fov": self.fov,
            "background": list(self.background),
            "background_depth": self.background_depth,
            "pin_border": self.pin_border,
            "znear": self.znear,
        }

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.config().items())

    def faces(self, height: int, width: int, device: torch.device) -> torch.Tensor:
        """The grid mesh's (F, 3) face table for maps of (height, width), cached per device."""
        key = (height, width, str(device))
        if key not in self._faces:
            self._faces[key] = grid_faces(height, width, device)
        return self._faces[key]

    # -- validation ----------------------------------------------------------------------
    def check_inputs(
        self,
        albedo: torch.Tensor,
        depth: torch.Tensor,
        transform: torch.Tensor | None,
        view: torch.Tensor | None,
        light: torch.Tensor | None,
        values: bool = True,
    ) -> None:
        """Raise TypeError/ValueError naming the argument and the expected shape.

        ``values=False`` skips the checks that read tensor values (finite, positive depth).
        """
        for arg, x in (("albedo", albedo), ("depth", depth)):
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{arg} must be a torch.Tensor, got {type(x).__name__}")
        if depth.dim() != 4 or depth.shape[1] != 1 or depth.shape[2] != depth.shape[3] or depth.shape[2] < 2:
            raise ValueError(f"depth must have shape (B, 1, S, S) with S >= 2, got {_shape(depth)}")
        B, S = depth.shape[0], depth.shape[-1]
        expected = {
            "albedo": (albedo, (B, 3, S, S), f"({B}, 3, {S}, {S})"),
            "transform": (transform, (B, 1, S, S), f"({B}, 1, {S}, {S})"),
            "view": (view, (B, 6), f"({B}, 6) (pitch, yaw, roll in degrees, tx, ty, tz)"),
            "light": (light, (B, 4), f"({B}, 4) (ambient, diffuse, dx, dy)"),
        }
        for arg, (x, shape, text) in expected.items():
            if x is None:
                continue
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{arg} must be a torch.Tensor of shape {text}, got {type(x).__name__}")
            if tuple(x.shape) != shape:
                raise ValueError(f"{arg} must have shape {text} to match depth {_shape(depth)}, got {_shape(x)}")
        for arg, x in (("depth", depth), *((k, v[0]) for k, v in expected.items())):
            if x is None:
                continue
            if not x.is_floating_point():
                raise TypeError(f"{arg} must be a floating-point tensor, got {x.dtype}")
            if x.device != depth.device:
                raise ValueError(f"{arg} is on {x.device} but depth is on {depth.device}; use one device")
            if values and not _all_finite(x):
                raise ValueError(f"{arg} contains NaN or inf values")
        if values and depth.numel() and not bool(depth.min() > 0):  # NaN was rejected above
            raise ValueError("depth must be positive everywhere (the camera looks down +z from the origin)")

    # -- geometry ------------------------------------------------------------------------
    def pinned(self, transform: torch.Tensor) -> torch.Tensor:
        """The transformation map with its outer ``pin_border`` frame forced to 0
        (:func:`~ganlift.render.camera.pin_frame`). (B, 1, S, S) -> (B, 1, S, S)."""
        return pin_frame(transform, self.pin_border)

    def posed_points(
        self,
        depth: torch.Tensor,
        transform: torch.Tensor | None = None,
        view: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Camera-frame mesh vertices after the view and transformation map (paper eq. 1,
        :func:`ganlift.render.camera.posed_points` with this renderer's fov and pin_border).

        Args:
            depth: (B, 1, S, S) canonical depth.
            transform: (B, 1, S, S) in [0, 1]; None means all ones (border still pinned).
            view: (B, 6); None is the identity.

        Returns:
            (B, S, S, 3) posed vertices.
        """
        # One implementation of eq. 1 for the renderers and the mesh export.
        return camera_posed_points(depth, self.fov, view, transform, self.pin_border)

    def rasterize(self, screen: torch.Tensor, faces: torch.Tensor, size: int) -> torch.Tensor:
        """Front-most face per output pixel. Backends implement this.

        Args:
            screen: (B, S, S, 3) projected vertices ``(u, v, z)`` in output pixel units.
            faces: (F, 3) face table of the grid (:func:`ganlift.render.rasterize.grid_faces`).
            size: output image size.

        Returns:
            (B, size, size) long face index, -1 on the background.
        """
        raise NotImplementedError

    def fragments(
        self,
        depth: torch.Tensor,
        transform: torch.Tensor | None = None,
        view: torch.Tensor | None = None,
    ) -> tuple[Fragments, torch.Tensor]:
        """Rasterise the posed mesh.

        Returns:
            ``(fragments, points)``: per-pixel :class:`~ganlift.render.rasterize.Fragments`
            and the (B, S, S, 3) posed vertices.
        """
        B, S = depth.shape[0], depth.shape[-1]
        size = self.size or S
        points = self.posed_points(depth, transform, view)
        screen = project(points, size, self.fov)
        faces = self.faces(S, S, depth.device)
        face = self.rasterize(screen.detach(), faces, size)
        corner = grid_face_corners(face, S, S)  # == faces[face], without a table look-up
        return barycentrics(screen.reshape(B, S * S, 3), face, corner), points

    def _interpolate(self, screen: torch.Tensor, depth: torch.Tensor, face: torch.Tensor):
        """Depth and texture coordinates of each pixel's visible point (differentiable).

        Same maths as :func:`~ganlift.render.rasterize.barycentrics`, fused for speed: one
        gather per corner and quantity, no stacked (B, H, W, 3) tensors.

        The posed triangle is an affine image of its canonical one, so the visible point is
        ``sum(b_i P_i)`` on the canonical surface; projecting it with the canonical camera gives
        the canonical pixel ``uv = sum(t_i uv_i) / sum(t_i)`` with ``t_i = b_i d_i``, ``b`` the
        perspective-correct barycentrics and ``d`` the canonical depths, i.e. (up to a common
        factor) ``t_i = s_i d_i / z_i`` with ``s`` the screen-space barycentrics and ``z`` the
        posed depths. This is exact on planar pieces, whatever the triangulation.

        Args:
            screen: (B, S, S, 3) projected vertices ``(u, v, z)``.
            depth: (B, 1, S, S) canonical depth.
            face: (B, H, W) face per pixel (-1 = background).

        Returns:
            ``(z, grid)``: (B, H, W) camera depth (1 on the background) and (B, H, W, 2)
            ``grid_sample`` coordinates in [-1, 1] of the canonical maps.
        """
        B, S = screen.shape[0], screen.shape[1]
        H, W = face.shape[1:]
        mask = face >= 0
        corner = grid_face_corners(face, S, S)  # (B, H, W, 3), face 0's on the background
        zv = screen[..., 2].reshape(B, -1)
        # Vertices behind the near plane never belong to a drawn face; keep them finite.
        izv = torch.where(zv > self.znear, zv, 1.0).reciprocal()
        rv = depth.reshape(B, -1).to(izv.dtype) * izv
        quantities = (screen[..., 0].reshape(B, -1), screen[..., 1].reshape(B, -1), izv, rv)
        g = []  # g[k] = (u, v, 1/z, d/z) at corner k, each (B, H, W)
        for k in range(3):
            idx = corner[..., k].reshape(B, -1)
            g.append([torch.gather(q, 1, idx).view(B, H, W) for q in quantities])
        (u0, v0, iz0, r0), (u1, v1, iz1, r1), (u2, v2, iz2, r2) = g
        rows = torch.arange(H, device=screen.device, dtype=screen.dtype).view(1, H, 1)
        cols = torch.arange(W, device=screen.device, dtype=screen.dtype).view(1, 1, W)
        du1, dv1, du2, dv2 = u1 - u0, v1 - v0, u2 - u0, v2 - v0
        dx, dy = cols - u0, rows - v0
        # Background pixels get a harmless unit triangle, so no inf/NaN leaks into gradients.
        inv_area = torch.where(mask, du1 * dv2 - dv1 * du2, 1.0).reciprocal()
        s1 = (dx * dv2 - dy * du2) * inv_area
        s2 = (du1 * dy - dv1 * dx) * inv_area
        s0 = 1.0 - s1 - s2
        invz = torch.where(mask, s0 * iz0 + s1 * iz1 + s2 * iz2, 1.0)
        t0, t1, t2 = s0 * r0, s1 * r1, s2 * r2
        # Canonical pixel coordinates of the corners (integers, no gradient).
        cu, cv = corner % S, corner // S
        scale = torch.where(mask, t0 + t1 + t2, 1.0).reciprocal() * (2.0 / (S - 1))
        gu = (t0 * cu[..., 0] + t1 * cu[..., 1] + t2 * cu[..., 2]) * scale - 1.0
        gv = (t0 * cv[..., 0] + t1 * cv[..., 1] + t2 * cv[..., 2]) * scale - 1.0
        return invz.reciprocal(), torch.stack([gu, gv], dim=-1)

    # -- rendering -----------------------------------------------------------------------
    def render(
        self,
        albedo: torch.Tensor,
        depth: torch.Tensor,
        transform: torch.Tensor | None = None,
        view: torch.Tensor | None = None,
        light: torch.Tensor | None = None,
    ) -> Rendered:
        """Render depth-map meshes.

        Args:
            albedo: (B, 3, S, S) in [0, 1], texture in canonical (unposed) pixel coordinates.
            depth: (B, 1, S, S) canonical depth in scene units (paper: 0.9 .. 1.1).
            transform: (B, 1, S, S) transformation map in [0, 1] (paper eq. 1); None = ones.
                The outer ``pin_border`` frame is forced to 0 either way.
            view: (B, 6) rotations about x, y, z in degrees (pitch, yaw, roll; ``R = Rz Ry Rx``
                about the pivot (0, 0, 1)) and translations x, y, z. None = identity.
            light: (B, 4) ``(ambient, diffuse, dx, dy)``: light travelling along
                ``normalise(dx, dy, 1)``; ``shading = ambient + diffuse * max(0, -n . d)``
                with outward normals. None = ambient 1, diffuse 0.

        Returns:
            :class:`Rendered` at ``size`` x ``size`` (the maps' size when ``size`` is None).
        """
        if self.check:
            self.check_inputs(albedo, depth, transform, view, light, values=self.check is True)
        autocast = torch.is_autocast_enabled(depth.device.type)
        if autocast or albedo.dtype in _LOW_PRECISION or depth.dtype in _LOW_PRECISION:
            # Pixel coordinates up to the image size need more than 8-11 mantissa bits:
            # render in float32 (autocast off: it would run the projection in bf16) and hand
            # back the caller's dtype (gradients flow through).
            up = [None if x is None else x.float() for x in (albedo, depth, transform, view, light)]
            with torch.autocast(depth.device.type, enabled=False):
                out = self.render(*up)
            return Rendered(**{k: v.to(albedo.dtype) for k, v in out.as_dict().items()})
        B, S = depth.shape[0], depth.shape[-1]
        if B == 0:
            H = self.size or S
            empty = albedo.new_zeros
            return Rendered(empty(0, 3, H, H), empty(0, 1, H, H), empty(0, 1, H, H), empty(0, 3, H, H), empty(0, 1, H, H))
        size = self.size or S
        # On the CPU the geometry stages run as compiled C with their own backward
        # (ganlift.render.native): the same maths, several times faster than tensor passes.
        lib = native.for_tensor(depth)
        if lib is not None and view is not None:
            t = self.pinned(torch.ones_like(depth) if transform is None else transform)
            intrinsics = (focal_length(S, self.fov), (S - 1) / 2.0, focal_length(size, self.fov), (size - 1) / 2.0)
            points, screen = native.pose(depth, t, rotation_matrix(view[:, :3].to(depth.dtype)),
                                         view[:, 3:6].to(depth.dtype), intrinsics, lib)
        else:
            points = self.posed_points(depth, transform, view)
            screen = project(points, size, self.fov)
        face = self.rasterize(screen.detach(), self.faces(S, S, depth.device), size)
        if lib is not None:
            z_px, grid = native.interpolate(screen, depth, face, self.znear, lib)
        else:
            z_px, grid = self._interpolate(screen, depth, face)
        mask = (face >= 0)[:, None]  # (B, 1, H, W) bool
        normal_map = (normals_from_points(points) if lib is None else native.normals(points, NORMAL_EPS, lib)).to(albedo.dtype)
        bg = torch.tensor(self.background, dtype=albedo.dtype, device=albedo.device)
        if lib is not None and S >= 2:  # sampling, shading and the composite in one C loop
            if light is None:  # ambient 1, diffuse 0: shading 1 wherever covered
                light5 = albedo.new_tensor([1.0, 0.0, 0.0, 0.0, 1.0]).expand(B, 5)
            else:
                light5 = torch.cat([light[:, :2], light_direction(light)], dim=1).to(albedo.dtype)
            image, normal, shading = native.shade(albedo, normal_map, grid, face, light5, bg, lib)
        else:
            image, normal, shading = self._shade(albedo, normal_map, grid, mask, light, bg)
        z_bg = torch.full((), self.background_depth, dtype=albedo.dtype, device=albedo.device)
        return Rendered(image=image, mask=mask.to(albedo.dtype), normal=normal, shading=shading,
                        depth=torch.where(mask, z_px[:, None].to(albedo.dtype), z_bg))

    @staticmethod
    def _shade(
        albedo: torch.Tensor,
        normal_map: torch.Tensor,
        grid: torch.Tensor,
        mask: torch.Tensor,
        light: torch.Tensor | None,
        background: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Texture sampling, shading and the composite (:func:`ganlift.render.native.shade` in C).

        Args:
            albedo: (B, 3, S, S) canonical albedo; normal_map: (B, 3, S, S) posed normals at the
                canonical vertices; grid: (B, H, W, 2) ``grid_sample`` coordinates;
                mask: (B, 1, H, W) bool coverage; light: (B, 4) or None (shading 1);
                background: (3,) the image's value where the mask is 0.

        Returns:
            ``(image, normal, shading)``: (B, 3, H, W), (B, 3, H, W), (B, 1, H, W); the
            background, 0 and 0 where the mask is 0.
        """
        maps = torch.cat([albedo, normal_map], dim=1)
        sampled = F.grid_sample(maps, grid.to(albedo.dtype), mode="bilinear", padding_mode="border", align_corners=True)
        tex, normal = sampled[:, :3], sampled[:, 3:]
        normal = normal * torch.rsqrt(normal.square().sum(1, keepdim=True).clamp_min(1e-24))
        if light is None:
            shading = torch.ones_like(tex[:, :1])
        else:
            shading = lambert(normal, light.to(albedo.dtype))
        zero = torch.zeros((), dtype=albedo.dtype, device=albedo.device)
        return (torch.where(mask, tex * shading, background.view(1, 3, 1, 1)), torch.where(mask, normal, zero),
                torch.where(mask, shading, zero))

    def forward(self, *args, **kwargs) -> Rendered:  # nn.Module entry point
        return self.render(*args, **kwargs)


__all__ = ["Rendered", "Renderer"]
