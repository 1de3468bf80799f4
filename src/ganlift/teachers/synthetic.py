"""Synthetic teachers with known 3D truth: ``synthetic-faces`` and ``synthetic-cats``.

They behave like a small StyleGAN2 (the :class:`~ganlift.teachers.Teacher` interface: z -> w
through a fixed random MLP, w -> image, differentiable in w, deterministic for a seed) but
draw procedural heads whose depth, albedo, pose and light are known, so a lifter can be
scored against the truth (:mod:`ganlift.eval`).

How a sample is made::

    z --(fixed seeded MLP)--> w --(standardise, fixed orthogonal mixing)--> u (one per factor)
    u --(tanh ranges)--> factors: view (pitch, yaw, roll, tx, ty, tz), light, shape, albedo,
                                  background, texture
    factors --> canonical height field + albedo (left-right symmetric), transformation map
            --> ganlift "torch" renderer at k x resolution --> k x k average pool

Anti-aliasing: the head and the backdrop are one continuous depth-grid mesh, so the only hard
edge in a teacher image is the object's outline in the albedo. ``supersample = 1`` (the
default) draws that outline with an analytic one-pixel ramp (the coverage sigmoid widened to
the local slope of the height field, what a box filter of the pixel gives) and renders once at
the output resolution: a third of the cost of the 2 x 2 supersampled render it replaces, with
images within about 0.01 mean absolute difference of it. ``supersample = k > 1`` renders at
k x resolution and average-pools, as before. The ground truth is always drawn the same way
(2 x 2 supersampled canonical maps, pooled), whatever ``supersample`` is.

Each factor reads one direction of w, and every direction mixes all w coordinates, so no
coordinate of w controls a factor alone (entangled, as in a GAN) while a linear direction does
(what the lifter's style manipulation network has to find).

Scene conventions follow :mod:`ganlift.render.camera` (fov 10 degrees): the background plane
sits at depth ``BACKGROUND_DEPTH`` = 1.05 (the paper's border depth) and heads rise about
0.05 to 0.09 towards the camera (depth ~0.96 .. 1.05). The transformation map is 1 on the
object, fades to 0 a few pixels outside it and towards the image frame, so the background
stays put when the head turns (paper eq. 1).

Example:
    >>> teacher = ganlift.load_teacher("synthetic-faces", resolution=64, seed=0)
    >>> w = teacher.sample_w(8, seed=0)
    >>> image = teacher.synthesis(w)               # (8, 3, 64, 64) in [-1, 1]
    >>> truth = teacher.ground_truth(w)            # depth, albedo, mask, view, light, ...
    >>> side = teacher.render_truth(w, view=torch.tensor([0, 40.0, 0, 0, 0, 0]))
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganlift.teachers import TEACHERS
from ganlift.teachers.base import Teacher
from ganlift.teachers.synthetic_cars import FACTORS as CAR_FACTORS
from ganlift.teachers.synthetic_cars import car_maps
from ganlift.teachers.synthetic_cats import FACTORS as CAT_FACTORS
from ganlift.teachers.synthetic_cats import cat_maps
from ganlift.teachers.synthetic_faces import FACTORS as FACE_FACTORS
from ganlift.teachers.synthetic_faces import face_maps
from ganlift.teachers.synthetic_parts import (
    BACKGROUND_FACTORS,
    LIGHT_FACTORS,
    TEXTURE_FACTORS,
    VIEW_FACTORS,
    background,
    clutter_basis,
    clutter_pattern,
    factor_table,
    gaussian_blur,
    grid_coords,
    soft_texture,
    supersampled_fov,
    texture_basis,
)

Tensor = torch.Tensor

BACKGROUND_DEPTH = 1.05
# Height above the background plane from which a pixel belongs to the object.
OBJECT_THRESHOLD = 0.003
# Scale of the coverage sigmoid (height units) of the sharp outline the truth is drawn with.
EDGE_SCALE = 0.0008
# The ground truth's canonical maps are drawn k x k supersampled and pooled.
TRUTH_SUPERSAMPLE = 2

KINDS = {
    "faces": (FACE_FACTORS, face_maps),
    "cats": (CAT_FACTORS, cat_maps),
    "cars": (CAR_FACTORS, car_maps),
}


class SyntheticTeacher(Teacher):
    """A procedural teacher with ground-truth 3D (see the module docstring).

    Args:
        kind: ``"faces"`` or ``"cats"``.
        resolution: output image size (square), >= 8.
        seed: fixes the mapping network, the mixing and the texture basis.
        w_dim: size of z and w (must hold all factors: at least 49).
        mapping_layers: depth of the random mapping MLP.
        supersample: 1 = analytic edge anti-aliasing at the output resolution (see the module
            docstring); k > 1 = render at ``k * resolution`` and average-pool.
        fov: field of view in degrees (the paper's 10).
        feature_channels: channels of the feature map returned with ``return_features``.
        w_mean_samples: samples used to estimate ``w_mean`` / ``w_std`` (seeded).
        specular: strength of a Blinn-Phong highlight added to the image (0 = Lambertian only).
            The lifter's renderer has no highlights: a teacher with them has an image
            formation the lifter cannot represent (the truth, being geometry, is unchanged).
        shininess: Blinn-Phong exponent of the highlight.
        clutter: contrast of a left-right asymmetric pattern on the backdrop (0 = none), which
            no symmetric albedo can explain.
        name: the registry name (used by :meth:`reference`).
    """

    num_ws = 1

    def __init__(
        self,
        kind: str = "faces",
        resolution: int = 64,
        seed: int = 0,
        w_dim: int = 64,
        mapping_layers: int = 4,
        supersample: int = 1,
        fov: float = 10.0,
        feature_channels: int = 32,
        w_mean_samples: int = 16384,
        specular: float = 0.0,
        shininess: float = 24.0,
        clutter: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        shape_factors, self._maps = KINDS[kind]
        self.factor_specs = factor_table(
            VIEW_FACTORS, LIGHT_FACTORS, BACKGROUND_FACTORS, TEXTURE_FACTORS, shape_factors
        )
        checks = {
            "resolution": (resolution, 8),
            "w_dim": (w_dim, len(self.factor_specs)),
            "mapping_layers": (mapping_layers, 1),
            "supersample": (supersample, 1),
            "feature_channels": (feature_channels, 1),
            "w_mean_samples": (w_mean_samples, 2),
        }
        for arg, (value, low) in checks.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{arg} must be an int >= {low}, got {value!r}")
        if not (isinstance(fov, (int, float)) and 0 < fov < 90):
            raise ValueError(f"fov must be a number of degrees in (0, 90), got {fov!r}")
        for arg, value, hi in (("specular", specular, 1.0), ("shininess", shininess, 1000.0), ("clutter", clutter, 1.0)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= hi):
                raise ValueError(f"{arg} must be a number in [0, {hi:g}], got {value!r}")
        self.kind = kind
        self.name = name or f"synthetic-{kind}"
        self.resolution = resolution
        self.seed = int(seed)
        self.z_dim = self.w_dim = w_dim
        self.mapping_layers = mapping_layers
        self.supersample = supersample
        self.fov = float(fov)
        self.feature_channels = feature_channels
        self.w_mean_samples = w_mean_samples
        self.specular, self.shininess, self.clutter = float(specular), float(shininess), float(clutter)
        self._renderers: dict[tuple, Any] = {}

        g = torch.Generator().manual_seed(zlib.crc32(f"ganlift-synthetic:{kind}:{int(seed)}".encode()))
        # Mapping z -> w: a fixed random MLP with LeakyReLU (He init).
        self.mapping_net = nn.ModuleList()
        for _ in range(mapping_layers):
            layer = nn.Linear(w_dim, w_dim)
            with torch.no_grad():
                layer.weight.copy_(torch.randn(w_dim, w_dim, generator=g) * math.sqrt(2.0 / w_dim))
                layer.bias.copy_(0.2 * torch.randn(w_dim, generator=g))
            self.mapping_net.append(layer)
        # Readout: an orthogonal mixing of the standardised w, one row per factor.
        q, _ = torch.linalg.qr(torch.randn(w_dim, w_dim, generator=g))
        self.register_buffer("readout", q[: len(self.factor_specs)].contiguous())
        self.register_buffer("texture", texture_basis(g))
        # Feature map: two fixed random 3x3 convs of the image, modulated by w.
        c = feature_channels
        self.register_buffer("feat_k1", torch.randn(c, 3, 3, 3, generator=g) * math.sqrt(2.0 / 27))
        self.register_buffer("feat_k2", torch.randn(c, c, 3, 3, generator=g) * math.sqrt(2.0 / (9 * c)))
        self.register_buffer("feat_m1", torch.randn(c, w_dim, generator=g) / math.sqrt(w_dim))
        self.register_buffer("feat_m2", torch.randn(c, w_dim, generator=g) / math.sqrt(w_dim))

        # Statistics of w (seeded), and of the mixed coordinates so each factor's u ~ N(0, 1).
        with torch.no_grad():
            z = torch.randn(w_mean_samples, w_dim, generator=g)
            w = self.mapping(z)
            w_mean = w.mean(0, keepdim=True)
            w_std = w.std(0, keepdim=True).clamp_min(1e-6)
            u = ((w - w_mean) / w_std) @ self.readout.T
        self.register_buffer("w_mean", w_mean)
        self.register_buffer("w_std", w_std)
        self.register_buffer("u_std", u.std(0).clamp_min(1e-6))
        # The backdrop clutter's fixed pattern, from its own stream (the rest is unchanged).
        gc = torch.Generator().manual_seed(zlib.crc32(f"ganlift-synthetic-clutter:{kind}:{int(seed)}".encode()))
        self.register_buffer("clutter_basis", clutter_basis(gc))
        self.freeze()

    # -- the Teacher interface ----------------------------------------------------------------
    def mapping(self, z: Tensor) -> Tensor:
        """Map latents z (B, z_dim) to style codes w (B, w_dim)."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        x = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)  # pixel norm, as StyleGAN
        for i, layer in enumerate(self.mapping_net):
            x = layer(x)
            if i < len(self.mapping_net) - 1:
                x = F.leaky_relu(x, 0.2)
        return x

    def synthesis(self, w: Tensor, return_features: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Render images from style codes (differentiable in w).

        Args:
            w: (B, w_dim) or (B, 1, w_dim).
            return_features: also return the (B, feature_channels, R, R) feature map.

        Returns:
            image (B, 3, R, R) in [-1, 1] (nominal; bright highlights may exceed 1 slightly),
            or ``(image, features)``.
        """
        w = self._as_w(w)
        f = self.factors(w)
        view, light = self._view_light(f)
        image = self._picture(self._scene(f, self.resolution, with_mask=False), view, light, self.resolution)["image"]
        if not return_features:
            return image
        return image, self.features(image, w)

    def features(self, image: Tensor, w: Tensor) -> Tensor:
        """A deterministic stand-in for StyleGAN's last feature map.

        Two fixed random 3x3 convolutions of the image, each modulated per channel by w
        (like a styled conv). It sees only the image and w, never the depth.

        Args:
            image: (B, 3, R, R) in [-1, 1].
            w: (B, w_dim).

        Returns:
            (B, feature_channels, R, R).
        """
        wn = (self._as_w(w) - self.w_mean) / self.w_std
        s1 = 1.0 + 0.5 * torch.tanh(wn @ self.feat_m1.T)
        s2 = 1.0 + 0.5 * torch.tanh(wn @ self.feat_m2.T)
        h = F.leaky_relu(F.conv2d(image, self.feat_k1, padding=1) * s1[:, :, None, None], 0.2)
        return F.leaky_relu(F.conv2d(h, self.feat_k2, padding=1) * s2[:, :, None, None], 0.2)

    def reference(self) -> dict:
        """``{"name", "resolution", "seed"}`` plus any non-default option."""
        ref: dict[str, Any] = {"name": self.name, "resolution": self.resolution, "seed": self.seed}
        defaults = {"w_dim": 64, "mapping_layers": 4, "supersample": 1, "fov": 10.0,
                    "feature_channels": 32, "w_mean_samples": 16384, "specular": 0.0, "shininess": 24.0,
                    "clutter": 0.0}
        for key, default in defaults.items():
            if getattr(self, key) != default:
                ref[key] = getattr(self, key)
        return ref

    # -- factors ------------------------------------------------------------------------------
    def mixed(self, w: Tensor) -> Tensor:
        """The factor coordinates ``u`` (B, n_factors): standardised w, mixed, unit variance."""
        w = self._as_w(w)
        return ((w - self.w_mean) / self.w_std) @ self.readout.T / self.u_std

    def factors(self, w: Tensor) -> dict[str, Tensor]:
        """Every named factor of the samples (each (B,)); see ``self.factor_specs``."""
        u = self.mixed(w)
        return {spec.name: spec(u[:, i]) for i, spec in enumerate(self.factor_specs)}

    @staticmethod
    def _view_light(f: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        view = torch.stack([f[k] for k in ("pitch", "yaw", "roll", "tx", "ty", "tz")], dim=1)
        light = torch.stack([f[k] for k in ("ambient", "diffuse", "light_x", "light_y")], dim=1)
        return view, light

    # -- maps and rendering -------------------------------------------------------------------
    def canonical_maps(
        self, f: dict[str, Tensor], size: int, grid: int | None = None, edge_ramp: bool = False
    ) -> dict[str, Tensor]:
        """Canonical (unposed) maps drawn on a ``grid`` x ``grid`` lattice for an image of ``size``.

        Args:
            f: factors from :meth:`factors`.
            size: the image size the maps belong to (``x, y = +-1`` at its outer pixel centres).
            grid: lattice size (default ``size``); ``k * size`` gives the supersampled maps.
            edge_ramp: widen the outline of the coverage to one lattice pixel (analytic
                anti-aliasing); False keeps the sharp outline the ground truth is drawn with.

        Returns:
            dict of depth (B, 1, G, G), albedo (B, 3, G, G), coverage (B, 1, G, G) soft object
            mask in [0, 1], transform (B, 1, G, G).
        """
        grid = grid or size
        x, y = grid_coords(grid, size, device=self.w_mean.device, dtype=self.w_mean.dtype)
        height, obj = self._maps(f, x, y)
        obj = obj * soft_texture(f, self.texture, x, y)
        coverage = torch.sigmoid((height - OBJECT_THRESHOLD) / _edge_scale(height, edge_ramp))
        backdrop = background(f, x, y)
        if self.clutter:
            backdrop = (backdrop * clutter_pattern(f, self.clutter_basis, x, y, self.clutter)).clamp(0.02, 0.95)
        albedo = coverage * obj + (1.0 - coverage) * backdrop
        # T: 1 on the object and a margin around it, 0 towards the frame (background static).
        px = (size - 1) / 2.0 * grid / size  # pixels per normalised unit
        # Dilate, then blur; the soft union with the coverage keeps thin parts (ears) rigid.
        r = max(1, round(0.03 * px))
        grown = F.max_pool2d(coverage, 2 * r + 1, stride=1, padding=r)
        margin = (2.0 * gaussian_blur(grown, 0.04 * px)).clamp(0.0, 1.0)
        t = 1.0 - (1.0 - coverage) * (1.0 - margin)
        frame = torch.sigmoid((0.93 - x.abs()) / 0.025) * torch.sigmoid((0.93 - y.abs()) / 0.025)
        return {
            "depth": BACKGROUND_DEPTH - height,
            "albedo": albedo.clamp(0.0, 1.0),
            "coverage": coverage,
            "transform": t * frame,
        }

    def renderer(self, size: int, fov: float):
        """The (cached) ganlift "torch" renderer for ``size`` pixels and ``fov`` degrees."""
        key = (size, round(fov, 9), str(self.w_mean.device))
        if key not in self._renderers:
            from ganlift import render

            pin = max(1, size // self.resolution)
            self._renderers[key] = render.create("torch", size=size, fov=fov, pin_border=pin, check=False)
        return self._renderers[key]

    def _scene(self, f: dict[str, Tensor], size: int, with_mask: bool) -> dict[str, Any]:
        """The canonical maps :meth:`_picture` renders: the image's (supersampled, or with the
        analytic edge ramp at 1x) and, with ``with_mask``, the truth's coverage, depth and T
        pooled to ``size`` (drawn as :meth:`ground_truth` draws them)."""
        k = self.supersample
        scene: dict[str, Any] = {"maps": self.canonical_maps(f, size, k * size, edge_ramp=k == 1)}
        if with_mask:
            scene["low"] = self._truth_maps(f, size)
        return scene

    def _truth_maps(self, f: dict[str, Tensor], size: int) -> dict[str, Tensor]:
        """The ground truth's canonical maps: drawn ``TRUTH_SUPERSAMPLE`` times finer and
        average-pooled to ``size`` (the sharp outline, no edge ramp)."""
        truth = self.canonical_maps(f, size, TRUTH_SUPERSAMPLE * size)
        return {name: _pool(m, TRUTH_SUPERSAMPLE) for name, m in truth.items()}

    def _picture(self, scene: dict[str, Any], view: Tensor, light: Tensor | None, size: int) -> dict[str, Tensor]:
        """Supersampled render of a :meth:`_scene` at ``view``/``light``, pooled to ``size``.

        The object mask (when the scene has the truth's maps) is the ground truth's coverage
        map rendered at ``size``, so it matches the truth whatever the anti-aliasing of the
        image.
        """
        k, maps = self.supersample, scene["maps"]
        r = self.renderer(k * size, supersampled_fov(self.fov, k * size, size))
        out = r.render(maps["albedo"], maps["depth"], maps["transform"], view, light)
        image = out.image
        if self.specular and light is not None:
            # Glossy object, matte backdrop: the highlight is weighted by the object's posed
            # coverage (one more render of the same mesh, only for teachers with highlights).
            on_object = r.render(maps["coverage"].expand(-1, 3, -1, -1), maps["depth"], maps["transform"],
                                 view, None).image[:, :1]
            image = image + self.specular * highlight(out.normal, light, self.shininess) * on_object
        result = {"image": _pool(image, k) * 2.0 - 1.0, "depth": _pool(out.depth, k)}
        if "low" in scene:
            low = scene["low"]
            posed = self.renderer(size, self.fov).render(
                low["coverage"].expand(-1, 3, -1, -1), low["depth"], low["transform"], view, None
            )
            result["mask"] = posed.image[:, :1] * posed.mask
        return result

    # -- ground truth -------------------------------------------------------------------------
    @torch.no_grad()
    def ground_truth(self, w: Tensor, size: int | None = None) -> dict[str, Tensor]:
        """The 3D truth behind ``synthesis(w)``.

        Canonical maps are drawn supersampled and average-pooled to ``size``; the posed maps
        are the canonical ones rendered at ``size`` with the sample's own view.

        Args:
            w: (B, w_dim).
            size: map size (default: the teacher's resolution).

        Returns:
            dict with depth (B, 1, S, S) canonical depth, albedo (B, 3, S, S) in [0, 1],
            mask (B, 1, S, S) {0, 1} canonical object mask, transform (B, 1, S, S),
            view (B, 6) degrees and translations, light (B, 4) (ambient, diffuse, dx, dy),
            posed_depth (B, 1, S, S), posed_mask (B, 1, S, S) {0, 1} object mask in the
            image's view, posed_normal (B, 3, S, S).
        """
        size = size or self.resolution
        w = self._as_w(w)
        f = self.factors(w)
        view, light = self._view_light(f)
        pooled = self._truth_maps(f, size)
        mask = (pooled["coverage"] > 0.5).to(w.dtype)
        r = self.renderer(size, self.fov)
        posed = r.render(mask.expand(-1, 3, -1, -1), pooled["depth"], pooled["transform"], view, None)
        return {
            "depth": pooled["depth"],
            "albedo": pooled["albedo"],
            "mask": mask,
            "transform": pooled["transform"],
            "view": view,
            "light": light,
            "posed_depth": posed.depth,
            "posed_mask": (posed.image[:, :1] > 0.5).to(w.dtype) * posed.mask,
            "posed_normal": posed.normal,
        }

    def render_truth(
        self,
        w: Tensor,
        view: Tensor | None = None,
        light: Tensor | None = None,
        size: int | None = None,
    ) -> dict[str, Tensor]:
        """Render the true object of ``w`` at any view and light (novel-view / relight truth).

        Uses the same supersampled path as :meth:`synthesis`, so with ``view`` and ``light``
        left at None the image equals ``synthesis(w)``.

        Args:
            w: (B, w_dim).
            view: (B, 6) or (6,) degrees and translations; None = the sample's own view.
            light: (B, 4) or (4,) (ambient, diffuse, dx, dy); None = the sample's own light.
            size: output size (default: the teacher's resolution).

        Returns:
            dict with image (B, 3, S, S) in [-1, 1], mask (B, 1, S, S) object coverage in
            [0, 1] (the coverage map rendered at S), depth (B, 1, S, S) pooled rendered depth.
        """
        return self.render_truth_views(w, [(view, light)], size)[0]

    def render_truth_views(
        self,
        w: Tensor,
        requests: Sequence[tuple[Tensor | None, Tensor | None]],
        size: int | None = None,
    ) -> list[dict[str, Tensor]]:
        """:meth:`render_truth` for several ``(view, light)`` requests of the same codes.

        The canonical maps are drawn once for all of them (drawing them costs more than the
        renders: the evaluation asks for ten views and lights of every sample).

        Args:
            w: (B, w_dim).
            requests: ``(view, light)`` pairs as :meth:`render_truth` takes them: (B, 6) or
                (6,) views and (B, 4) or (4,) lights, None for the sample's own.
            size: output size (default: the teacher's resolution).

        Returns:
            one :meth:`render_truth` dict per request, in order.
        """
        w = self._as_w(w)
        B = w.shape[0]
        f = self.factors(w)
        own_view, own_light = self._view_light(f)
        size = size or self.resolution
        scene = self._scene(f, size, with_mask=True)
        out = []
        for view, light in requests:
            view = own_view if view is None else _batch(view, B, 6, "view").to(w)
            light = own_light if light is None else _batch(light, B, 4, "light").to(w)
            out.append(self._picture(scene, view, light, size))
        return out

    # -- helpers ------------------------------------------------------------------------------
    def _as_w(self, w: Tensor) -> Tensor:
        if not isinstance(w, torch.Tensor):
            raise TypeError(f"w must be a torch.Tensor, got {type(w).__name__}")
        if w.dim() == 3 and w.shape[1] == self.num_ws:
            w = w[:, 0]
        if w.dim() != 2 or w.shape[1] != self.w_dim:
            raise ValueError(
                f"w must have shape (B, {self.w_dim}) or (B, {self.num_ws}, {self.w_dim}), got {tuple(w.shape)}"
            )
        return w


def _edge_scale(height: Tensor, ramp: bool) -> Tensor | float:
    """Scale of the coverage sigmoid: the sharp ``EDGE_SCALE`` or, with ``ramp``, a quarter of
    the height's change per lattice pixel (a logistic with the central slope of a one-pixel
    box-filtered edge), never below ``EDGE_SCALE``. Returns a float or (B, 1, G, G)."""
    if not ramp:
        return EDGE_SCALE
    gy, gx = torch.gradient(height, dim=(2, 3))
    return (0.25 * torch.sqrt(gx.square() + gy.square() + 1e-12)).clamp_min(EDGE_SCALE)


def highlight(normal: Tensor, light: Tensor, shininess: float) -> Tensor:
    """Blinn-Phong highlight ``diffuse * max(0, n . h)^shininess`` of posed normals.

    The light travels along ``normalise(dx, dy, 1)`` (the renderer's convention) and the
    camera looks down +z, so the half vector is ``normalise(-d + (0, 0, -1))``.

    Args:
        normal: (B, 3, H, W) outward unit normals in the camera frame.
        light: (B, 4) ambient, diffuse, dx, dy.

    Returns:
        (B, 1, H, W) in [0, 1].
    """
    d = torch.cat([light[:, 2:4], torch.ones_like(light[:, :1])], dim=1)
    d = d / d.norm(dim=1, keepdim=True)
    half = -d + d.new_tensor([0.0, 0.0, -1.0])
    half = half / half.norm(dim=1, keepdim=True).clamp_min(1e-8)
    cos = (normal * half[:, :, None, None]).sum(1, keepdim=True).clamp_min(0.0)
    return light[:, 1, None, None, None] * cos.pow(shininess)


def _pool(x: Tensor, k: int) -> Tensor:
    """k x k average pooling (identity for k = 1)."""
    return F.avg_pool2d(x, k) if k > 1 else x


def _batch(x: Tensor, batch: int, width: int, arg: str) -> Tensor:
    x = torch.as_tensor(x, dtype=torch.float32) if not isinstance(x, torch.Tensor) else x
    if x.dim() == 1:
        x = x[None]
    if x.dim() != 2 or x.shape[1] != width or x.shape[0] not in (1, batch):
        raise ValueError(f"{arg} must have shape ({batch}, {width}) or ({width},), got {tuple(x.shape)}")
    return x.expand(batch, width)


@TEACHERS.register("synthetic-faces")
def synthetic_faces(resolution: int = 64, seed: int = 0, **options: Any) -> SyntheticTeacher:
    """Procedural human heads with ground-truth 3D (see :class:`SyntheticTeacher`)."""
    return SyntheticTeacher("faces", resolution=resolution, seed=seed, name="synthetic-faces", **options)


@TEACHERS.register("synthetic-cats")
def synthetic_cats(resolution: int = 64, seed: int = 0, **options: Any) -> SyntheticTeacher:
    """Procedural cat heads with ground-truth 3D (see :class:`SyntheticTeacher`)."""
    return SyntheticTeacher("cats", resolution=resolution, seed=seed, name="synthetic-cats", **options)


@TEACHERS.register("synthetic-glossy-faces")
def synthetic_glossy_faces(resolution: int = 64, seed: int = 0, **options: Any) -> SyntheticTeacher:
    """Test teacher: the procedural heads with specular highlights and an asymmetric,
    cluttered backdrop, an image formation the lifter's Lambertian renderer cannot represent."""
    options = {"specular": 0.35, "clutter": 0.6, **options}
    return SyntheticTeacher("faces", resolution=resolution, seed=seed, name="synthetic-glossy-faces", **options)


@TEACHERS.register("synthetic-cars")
def synthetic_cars(resolution: int = 64, seed: int = 0, **options: Any) -> SyntheticTeacher:
    """Test teacher: procedural car fronts (neither face nor cat), glossy paint and a
    cluttered backdrop (see :mod:`ganlift.teachers.synthetic_cars`)."""
    options = {"specular": 0.2, "clutter": 0.4, **options}
    return SyntheticTeacher("cars", resolution=resolution, seed=seed, name="synthetic-cars", **options)


__all__ = ["SyntheticTeacher", "synthetic_faces", "synthetic_cats", "synthetic_glossy_faces", "synthetic_cars",
           "highlight", "BACKGROUND_DEPTH"]
