"""Explicit pose, light and code controls for a trained lifter (mixed into ``Lifter``).

Pose angles are absolute, in degrees, in the renderer's convention
(:mod:`ganlift.render.camera`): ``pitch`` turns about the x axis, ``yaw`` about the vertical
axis, ``roll`` about the view axis, all about the pivot ``(0, 0, 1)``; ``yaw = pitch = roll = 0``
is the canonical, frontal pose. Seen in the image, positive yaw turns the object's front
towards the image's left, positive pitch tilts it down and positive roll turns it clockwise.
An angle left at None keeps the lifter's own prediction for
that code, so ``lifter.render(w)`` redraws the lifter's reconstruction of the teacher image.
With ``relative=True`` the given angles are added to the predicted ones instead.

A light is given as where it comes from, seen from the camera:

* two angles ``(azimuth, elevation)`` in degrees: ``(0, 0)`` is a light at the camera,
  positive azimuth moves it to the image's right, positive elevation to the image's top;
* or a 3-vector pointing towards the light in the viewer's frame (x right, y up, z towards
  the viewer); its z must be positive (the light is on the camera's side).

``ambient`` and ``diffuse`` set the two intensities (None keeps the predicted ones).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence, Union

import torch

from ganlift.utils.outputs import OutputFields

POSE_LIMIT = 90.0  # beyond +-90 degrees the surface is seen edge-on or from behind
TRANSLATION_LIMIT = 0.5  # scene units; the object sits 1 unit from the camera (trained: ~0.1)
INTENSITY_LIMIT = 10.0  # ambient/diffuse; the lifter predicts [0, 1], 10 is already all white
AngleLike = Union[float, Sequence[float], torch.Tensor, None]


class OutOfRangeWarning(UserWarning):
    """A control lies outside the range the lifter's recipe trained on."""


@dataclass
class LiftedSample(OutputFields):
    """What the controls return: the lifted sample drawn in the chosen pose and light.

    Images are in [0, 1] here, as in :class:`~ganlift.render.base.Rendered` (only
    :class:`~ganlift.lifter.model.LifterOutput` ``.image_pm1`` is in the teacher's [-1, 1]).
    Fields are read by attribute or by name (:class:`~ganlift.utils.outputs.OutputFields`);
    ``len(sample)`` is the batch size.

    Maps in the rendered view (aligned with ``image``):

    Attributes:
        image: (B, 3, H, W) rendered image in [0, 1] (``albedo * shading`` on the object).
        depth: (B, 1, H, W) camera-frame depth of the visible surface (renderer's background
            depth where ``mask`` is 0).
        normal: (B, 3, H, W) unit surface normals in the camera frame (x right, y down,
            z forward; facing the camera is (0, 0, -1)); 0 off the mask. See
            :func:`ganlift.export.normal_to_rgb` to colour them.
        albedo: (B, 3, H, W) the unlit colour seen in this view, in [0, 1].
        shading: (B, 1, H, W) Lambertian shading; 0 off the mask.
        mask: (B, 1, H, W) 1 where the surface covers the pixel.

    Canonical maps and the controls actually used (to re-render or export):

    Attributes:
        canonical_depth: (B, 1, S, S) predicted canonical depth.
        canonical_albedo: (B, 3, S, S) predicted canonical albedo in [0, 1] (the lifter's
            ``albedo``; formerly ``texture``, a name that elsewhere means G(w0)).
        transform: (B, 1, S, S) predicted transformation map.
        view: (B, 6) pose used (pitch, yaw, roll in degrees, tx, ty, tz).
        light: (B, 4) light used (ambient, diffuse, dx, dy), renderer convention.
        w: (B, w_dim) style codes.
    """

    image: torch.Tensor
    depth: torch.Tensor
    normal: torch.Tensor
    albedo: torch.Tensor
    shading: torch.Tensor
    mask: torch.Tensor
    canonical_depth: torch.Tensor
    canonical_albedo: torch.Tensor
    transform: torch.Tensor
    view: torch.Tensor
    light: torch.Tensor
    w: torch.Tensor

    @property
    def texture(self) -> torch.Tensor:
        """Deprecated name of :attr:`canonical_albedo` (``texture`` is G(w0) in
        :class:`~ganlift.lifter.model.LifterOutput`). (B, 3, S, S) in [0, 1]."""
        warnings.warn("LiftedSample.texture is deprecated: use LiftedSample.canonical_albedo (the same "
                      "tensor)", DeprecationWarning, stacklevel=2)
        return self.canonical_albedo

    def __len__(self) -> int:  # the batch size (``keys()`` lists the fields)
        return int(self.image.shape[0])


# ---------------------------------------------------------------------------- light helpers


def light_from_angles(azimuth: torch.Tensor, elevation: torch.Tensor) -> torch.Tensor:
    """Renderer ``(dx, dy)`` of a light at ``(azimuth, elevation)`` degrees (see module docs).

    Args:
        azimuth, elevation: (B,) angles in degrees, each within (-90, 90).

    Returns:
        (B, 2) ``dx, dy`` with the light travelling along ``normalise(dx, dy, 1)``.
    """
    a, e = torch.deg2rad(azimuth), torch.deg2rad(elevation)
    to_light = torch.stack([torch.sin(a) * torch.cos(e), torch.sin(e), torch.cos(a) * torch.cos(e)], -1)
    return light_from_vector(to_light)


def light_from_vector(to_light: torch.Tensor) -> torch.Tensor:
    """Renderer ``(dx, dy)`` of a light in direction ``to_light`` (B, 3), viewer frame.

    The viewer frame is x right, y up, z towards the viewer; the camera frame flips y and z,
    and the light travels opposite to ``to_light``: ``d = (-x, y, z)``, scaled to ``d_z = 1``.
    """
    x, y, z = to_light.unbind(-1)
    return torch.stack([-x / z, y / z], -1)


def light_to_angles(light: torch.Tensor) -> torch.Tensor:
    """``(azimuth, elevation)`` degrees of renderer lights (B, 4). Returns (B, 2)."""
    dx, dy = light[:, 2], light[:, 3]
    x, y, z = -dx, dy, torch.ones_like(dx)
    azimuth = torch.rad2deg(torch.atan2(x, z))
    elevation = torch.rad2deg(torch.atan2(y, torch.hypot(x, z)))
    return torch.stack([azimuth, elevation], -1)


# ---------------------------------------------------------------------------- validation


def _values(name: str, value: Any, batch: int, like: torch.Tensor) -> torch.Tensor:
    """A control as a (batch,) tensor: a number, or one number per sample."""
    if isinstance(value, bool) or isinstance(value, str):
        raise TypeError(f"{name} must be a number or one number per sample, got {value!r}")
    try:
        t = torch.as_tensor(value, dtype=like.dtype).to(like.device).reshape(-1)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be a number or one number per sample, got {value!r}") from err
    if t.numel() == 1:
        t = t.expand(batch)
    if t.numel() != batch:
        raise ValueError(f"{name} must be one number or {batch} numbers (one per sample), got {t.numel()}")
    return t


def check_angle(name: str, values: torch.Tensor, limit: float = POSE_LIMIT, open_range: bool = False) -> None:
    """Raise ValueError unless every value is finite and within +-limit degrees."""
    bad = ~torch.isfinite(values)
    bad |= values.abs() >= limit if open_range else values.abs() > limit
    if bool(bad.any()):
        shown = values[bad][0].item()
        bracket = f"({-limit:g}, {limit:g})" if open_range else f"[{-limit:g}, {limit:g}]"
        raise ValueError(f"{name} must be a finite angle in degrees within {bracket}, got {shown:g}")


# ---------------------------------------------------------------------------- the mixin


class ControlsMixin:
    """Adds ``sample``, ``render`` and ``interpolate`` with pose/light controls to ``Lifter``.

    Relies on the lifter's ``teacher``, ``renderer``, ``recipe`` and ``predict(w)``.
    """

    # -- codes -----------------------------------------------------------------------------
    def codes(
        self,
        n: int = 1,
        seed: int | None = None,
        *,
        z: torch.Tensor | None = None,
        w: torch.Tensor | None = None,
        psi: float | None = None,
    ) -> torch.Tensor:
        """Style codes from a seed, given latents ``z`` or given codes ``w``.

        Args:
            n: how many codes to draw (with ``seed``; ignored with ``z`` or ``w``).
            seed: seed of the latents (None: torch's global generator).
            z: (B, z_dim) latents, mapped and truncated.
            w: (B, w_dim) or (w_dim,) style codes, used as they are.
            psi: truncation of drawn/mapped codes; None = the recipe's (paper: 0.7).

        Returns:
            (B, w_dim) on the lifter's device.
        """
        teacher = self.teacher
        device = self._control_device()
        if z is not None and w is not None:
            raise ValueError("give either z or w, not both")
        if psi is None:
            psi = float(self.recipe.teacher.truncation)
        if not (math.isfinite(psi) and 0 < psi <= 1.5):
            raise ValueError(f"psi (truncation) must be in (0, 1.5], got {psi}")
        if w is not None:
            w = torch.as_tensor(w, dtype=torch.float32).to(device)
            if w.dim() == 1:
                w = w[None]
            if w.dim() != 2 or w.shape[1] != teacher.w_dim:
                raise ValueError(f"w must have shape (B, {teacher.w_dim}) or ({teacher.w_dim},), got {tuple(w.shape)}")
            if not bool(torch.isfinite(w).all()):
                raise ValueError("w contains NaN or infinite values")
            return w
        if z is None:
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ValueError(f"n must be a positive integer, got {n!r}")
            if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
                raise ValueError(f"seed must be an integer or None, got {seed!r}")
            z = teacher.sample_z(n, seed, device=device)
        z = torch.as_tensor(z, dtype=torch.float32).to(device)
        if z.dim() == 1:
            z = z[None]
        if z.dim() != 2 or z.shape[1] != teacher.z_dim:
            raise ValueError(f"z must have shape (B, {teacher.z_dim}) or ({teacher.z_dim},), got {tuple(z.shape)}")
        with torch.no_grad():
            w = teacher.mapping(z)
            return teacher.truncate(w, psi) if psi != 1.0 else w

    # -- public controls -------------------------------------------------------------------
    def sample(
        self,
        n: int = 1,
        seed: int | None = None,
        *,
        z: torch.Tensor | None = None,
        w: torch.Tensor | None = None,
        psi: float | None = None,
        **controls: Any,
    ) -> LiftedSample:
        """Draw codes and render them with explicit pose and light.

        Example:
            >>> out = lifter.sample(4, seed=0, yaw=30, pitch=-10, light=(30, 20))
            >>> out.image.shape, out.depth.shape, out.normal.shape
            (torch.Size([4, 3, 64, 64]), torch.Size([4, 1, 64, 64]), torch.Size([4, 3, 64, 64]))

        Args:
            n, seed, z, w, psi: which codes, as in :meth:`codes`.
            **controls: ``yaw``, ``pitch``, ``roll``, ``light``, ``ambient``, ``diffuse``,
                ``translation``, ``relative``, as in :meth:`render`.

        Returns:
            :class:`LiftedSample`.
        """
        return self.render(self.codes(n, seed, z=z, w=w, psi=psi), **controls)

    def render(
        self,
        w: torch.Tensor,
        *,
        yaw: AngleLike = None,
        pitch: AngleLike = None,
        roll: AngleLike = None,
        light: Any = None,
        ambient: float | None = None,
        diffuse: float | None = None,
        translation: Any = None,
        relative: bool = False,
    ) -> LiftedSample:
        """Render style codes with explicit controls (no gradients).

        Args:
            w: (B, w_dim) style codes (or (w_dim,)).
            yaw, pitch, roll: degrees within [-90, 90], one number or one per sample; None
                keeps the predicted angle. Outside the recipe's trained range: a warning
                (once per lifter and angle).
            light: None (predicted direction), ``"frontal"``, ``(azimuth, elevation)`` degrees
                within (-90, 90), or a 3-vector towards the light (x right, y up, z towards
                the viewer, z > 0); also (B, 2) or (B, 3) tensors, one per sample.
            ambient, diffuse: light intensities in [0, 10]; None keeps the predicted ones.
            translation: None (predicted), ``"zero"`` or ``(tx, ty, tz)`` scene units, each
                within +-0.5.
            relative: add ``yaw``, ``pitch`` and ``roll`` to the predicted angles.

        Returns:
            :class:`LiftedSample`.
        """
        w = self.codes(w=w)
        return self.render_maps(w, self.predict(w), yaw=yaw, pitch=pitch, roll=roll, light=light, ambient=ambient,
                                diffuse=diffuse, translation=translation, relative=relative)

    def render_maps(
        self,
        w: torch.Tensor,
        maps: dict[str, torch.Tensor],
        *,
        yaw: AngleLike = None,
        pitch: AngleLike = None,
        roll: AngleLike = None,
        light: Any = None,
        ambient: float | None = None,
        diffuse: float | None = None,
        translation: Any = None,
        relative: bool = False,
    ) -> LiftedSample:
        """Re-render maps already predicted for ``w`` with new controls: the renderer only.

        ``render(w, **controls)`` runs the networks every time; predicting once with
        :meth:`predict` and calling this for each new pose or light gives the same result
        without them (what ``ganlift demo`` does on every slider move):

        Example:
            >>> w = lifter.codes(1, seed=3)
            >>> maps = lifter.predict(w)                      # the networks, once
            >>> out = lifter.render_maps(w, maps, yaw=30)     # == lifter.render(w, yaw=30)

        Args:
            w: (B, w_dim) the codes the maps were predicted from (returned as ``out.w``).
            maps: the dict of :meth:`predict` for ``w``: view (B, 6), light (B, 4), depth,
                transform and albedo; its view and light are what angles left at None keep.
            yaw, pitch, roll, light, ambient, diffuse, translation, relative: as in :meth:`render`.

        Returns:
            :class:`LiftedSample`.
        """
        w = self.codes(w=w)
        missing = [k for k in ("view", "light", "depth", "transform", "albedo") if k not in maps]
        if missing:
            raise ValueError(f"maps must be the dict of lifter.predict(w); it lacks {', '.join(missing)}")
        if maps["view"].shape[0] != w.shape[0]:
            raise ValueError(f"maps hold {maps['view'].shape[0]} samples but w has {w.shape[0]} codes")
        with torch.no_grad():
            view = self.control_view(maps["view"], yaw=yaw, pitch=pitch, roll=roll,
                                     translation=translation, relative=relative)  # fmt: skip
            lit = self.control_light(maps["light"], light=light, ambient=ambient, diffuse=diffuse)
            return self._draw(w, maps, view, lit)

    def interpolate(
        self, w_a: torch.Tensor | int, w_b: torch.Tensor | int, steps: int = 8, **controls: Any
    ) -> LiftedSample:
        """Render the straight path between two codes in W (ends included).

        Args:
            w_a, w_b: (w_dim,) or (1, w_dim) codes, or integer seeds (drawn with the
                recipe's truncation).
            steps: number of codes on the path, >= 2.
            **controls: as in :meth:`render` (one value, or one per step).

        Returns:
            :class:`LiftedSample` with ``steps`` samples.
        """
        if not isinstance(steps, int) or isinstance(steps, bool) or steps < 2:
            raise ValueError(f"steps must be an integer >= 2, got {steps!r}")
        ends = []
        for name, x in (("w_a", w_a), ("w_b", w_b)):
            code = self.codes(1, x) if isinstance(x, int) and not isinstance(x, bool) else self.codes(w=x)
            if code.shape[0] != 1:
                raise ValueError(f"{name} must be one code (w_dim,) or (1, w_dim), got {tuple(code.shape)}")
            ends.append(code)
        t = torch.linspace(0, 1, steps, device=ends[0].device)[:, None]
        return self.render(ends[0] + t * (ends[1] - ends[0]), **controls)

    def reconstruct(self, image: Any, **options: Any) -> Any:
        """Lift a photograph: invert it into W with :func:`ganlift.invert`, then render it.

        Example:
            >>> out = lifter.reconstruct("photo.png", yaw=30)     # a LiftedSample, like sample()
            >>> again = lifter.render(out.w, yaw=-30, light=(40, 20))   # out.w: the fitted code

        Args:
            image: a path, PIL image, array or tensor, or a list of them (cropped like the
                teacher's images).
            **options: ``steps``, ``restarts``, ``seed``, ``fit``, ``lifted``, ``progress``,
                ``return_inversion``, ``invert_options`` and the controls of :meth:`render`;
                see :func:`ganlift.lifter.reconstruct.reconstruct`.

        Returns:
            :class:`LiftedSample` (or ``(sample, inversion)`` with ``return_inversion=True``).
        """
        from ganlift.lifter.reconstruct import reconstruct

        return reconstruct(self, image, **options)

    # -- building blocks -------------------------------------------------------------------
    def trained_ranges(self) -> dict[str, float]:
        """Half-widths (degrees) of the poses the recipe trained on: yaw, pitch, roll.

        The perturbation losses supervise renders at U(-yaw, yaw) etc. on top of the
        teacher's own poses; the view decoder's ``max_rotation`` bounds what it predicts.
        """
        recipe = self.recipe
        cap = float(recipe.lifter.max_rotation)
        ranges = {k: float(getattr(recipe.perturb, k)) for k in ("yaw", "pitch", "roll")}
        # The paper never perturbs roll (range 0), yet the reconstruction path learns the
        # teacher's own small rolls, and roll is an in-plane turn: tolerate +-15 degrees.
        ranges["roll"] = max(ranges["roll"], 15.0)
        return {k: min(v, cap) for k, v in ranges.items()}

    def control_view(
        self,
        predicted: torch.Tensor,
        *,
        yaw: AngleLike = None,
        pitch: AngleLike = None,
        roll: AngleLike = None,
        translation: Any = None,
        relative: bool = False,
    ) -> torch.Tensor:
        """The predicted views (B, 6) with the given angles/translation put in. Returns (B, 6)."""
        view = predicted.detach().clone()
        batch = view.shape[0]
        ranges = self.trained_ranges()
        for index, name, value in ((0, "pitch", pitch), (1, "yaw", yaw), (2, "roll", roll)):
            if value is None:
                continue
            given = _values(name, value, batch, view)
            check_angle(name, given)
            angle = view[:, index] + given if relative else given
            if relative:
                check_angle(f"{name} (predicted + relative)", angle)
            view[:, index] = angle
            limit = ranges[name]
            if bool((angle.abs() > limit + 1e-6).any()):
                self._warn_once(
                    name,
                    f"{name}={angle[angle.abs().argmax()].item():g} degrees is outside the range the "
                    f"lifter trained on ({name} within [-{limit:g}, {limit:g}] for recipe "
                    f"{self.recipe.name!r}); the surface may look stretched or torn there.",
                )
        if translation is not None:
            if isinstance(translation, str):
                if translation != "zero":
                    raise ValueError(f"translation must be None, 'zero' or (tx, ty, tz), got {translation!r}")
                view[:, 3:] = 0.0
            else:
                t = torch.as_tensor(translation, dtype=view.dtype).to(view.device)
                if t.shape not in ((3,), (batch, 3)):
                    raise ValueError(f"translation must be (tx, ty, tz) or ({batch}, 3), got shape {tuple(t.shape)}")
                if not bool(torch.isfinite(t).all()):
                    raise ValueError("translation contains NaN or infinite values")
                if bool((t.abs() > TRANSLATION_LIMIT).any()):
                    raise ValueError(
                        f"translation (tx, ty, tz) must lie within +-{TRANSLATION_LIMIT:g} scene "
                        f"units (the object sits 1 unit in front of the camera; larger values move "
                        f"it out of view or behind the camera), got {t.reshape(-1, 3)[0].tolist()}"
                    )
                view[:, 3:] = t
        return view

    def control_light(
        self,
        predicted: torch.Tensor,
        *,
        light: Any = None,
        ambient: float | None = None,
        diffuse: float | None = None,
    ) -> torch.Tensor:
        """The predicted lights (B, 4) with the given direction/intensities put in."""
        out = predicted.detach().clone()
        batch = out.shape[0]
        if isinstance(light, str):
            if light == "frontal":
                out[:, 2:] = 0.0
            elif light != "predicted":
                raise ValueError(f"light must be None, 'predicted', 'frontal', (azimuth, elevation) or a 3-vector, got {light!r}")
        elif light is not None:
            try:
                d = torch.as_tensor(light, dtype=out.dtype).to(out.device)
            except (TypeError, ValueError, RuntimeError) as err:
                raise TypeError(f"light must be (azimuth, elevation) degrees or a 3-vector, got {light!r}") from err
            if d.dim() == 1:
                d = d[None].expand(batch, -1)
            if d.dim() != 2 or d.shape[0] != batch or d.shape[1] not in (2, 3):
                raise ValueError(
                    "light must be (azimuth, elevation) in degrees or a 3-vector (x right, y up, "
                    f"z towards the viewer), or ({batch}, 2)/({batch}, 3) per sample; got shape "
                    f"{tuple(d.shape)} (set intensities with ambient= and diffuse=)"
                )
            if d.shape[1] == 2:
                check_angle("light azimuth", d[:, 0], open_range=True)
                check_angle("light elevation", d[:, 1], open_range=True)
                out[:, 2:] = light_from_angles(d[:, 0], d[:, 1])
            else:
                if not bool(torch.isfinite(d).all()) or not bool((d[:, 2] > 1e-6 * d.norm(dim=1)).all()):
                    raise ValueError(
                        "a light vector (x right, y up, z towards the viewer) must be finite with "
                        f"z > 0 (the light on the camera's side), got {d[0].tolist()}"
                    )
                out[:, 2:] = light_from_vector(d)
            reach = float(self.recipe.lifter.light_direction)
            if bool((out[:, 2:].abs() > reach + 1e-6).any()):
                limit = math.degrees(math.atan(reach))
                self._warn_once(
                    "light",
                    f"light direction {d[0].tolist()} lies outside the lights the lifter predicts "
                    f"(up to {limit:.0f} degrees off the view axis per direction for recipe "
                    f"{self.recipe.name!r}); shading there was never checked against the teacher.",
                )
        for index, name, value in ((0, "ambient", ambient), (1, "diffuse", diffuse)):
            if value is None:
                continue
            v = _values(name, value, batch, out)
            if not bool(torch.isfinite(v).all()) or bool((v < 0).any()) or bool((v > INTENSITY_LIMIT).any()):
                raise ValueError(f"{name} must be a finite intensity >= 0 and at most {INTENSITY_LIMIT:g} "
                                 f"(trained range [0, 1]), got {v.tolist()}")
            out[:, index] = v
        return out

    def teacher_images(self, w: torch.Tensor) -> torch.Tensor:
        """The teacher's images of ``w`` in [0, 1] at the lifting resolution. (B, 3, S, S)."""
        w = self.codes(w=w)
        with torch.no_grad():
            if hasattr(self, "teacher_image"):  # the Lifter's own resize rule
                return self.teacher_image(w)
            image = self.teacher.synthesis(w)
            size = self.renderer.size or int(self.recipe.lifter.resolution)
            if image.shape[-1] != size:
                image = torch.nn.functional.interpolate(image, size=(size, size), mode="area")
            return ((image + 1) / 2).clamp(0, 1)

    # -- internals -------------------------------------------------------------------------
    def _draw(self, w: torch.Tensor, pred: dict, view: torch.Tensor, light: torch.Tensor) -> LiftedSample:
        albedo, depth, transform = pred["albedo"], pred["depth"], pred["transform"]
        lit = self.renderer.render(albedo, depth, transform, view, light)
        # The albedo in this view: the same geometry with a unit ambient light.
        unlit = self.renderer.render(albedo, depth, transform, view, None)
        return LiftedSample(
            image=lit.image.clamp(0, 1),
            depth=lit.depth,
            normal=lit.normal,
            albedo=unlit.image.clamp(0, 1),
            shading=lit.shading,
            mask=lit.mask,
            canonical_depth=depth,
            canonical_albedo=albedo,
            transform=transform,
            view=view,
            light=light,
            w=w,
        )

    def _control_device(self) -> torch.device:
        if isinstance(getattr(self, "device", None), torch.device):
            return self.device
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def _warn_once(self, key: str, message: str) -> None:
        warned = self.__dict__.setdefault("_controls_warned", set())
        if key in warned:
            return
        warned.add(key)
        warnings.warn(message, OutOfRangeWarning, stacklevel=4)
