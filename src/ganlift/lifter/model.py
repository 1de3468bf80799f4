"""The :class:`Lifter`: a frozen teacher, five networks and a differentiable renderer.

For a style code w the lifter predicts view V = D_V(w) and light L = D_L(w), the neutral
code w0 = M(w, L0, V0) (frontal light with the predicted intensities, identity view), the
texture G(w0), the canonical depth S = D_S(w0, features of G(w0)), the transformation map
T = D_T(w0) and the albedo A = G(w0) de-lit by L0; the renderer draws R(A, S, T, V, L)
(paper section 3.1). :meth:`Lifter.compute_losses` is one LiftedGAN training step's loss
(section 3.2) as configured by the recipe.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Mapping

import torch
from torch import nn
from tqdm.auto import tqdm

from ganlift.hub import HubMixin
from ganlift.lifter.controls import ControlsMixin
from ganlift.lifter.networks import (
    LightDecoder,
    ShapeDecoder,
    StyleManipulation,
    TransformDecoder,
    ViewDecoder,
    depth_from_logits,
    depth_prior_logits,
    light_from_unit,
    light_scale,
    light_to_unit,
    resize,
    transform_from_logits,
    view_from_unit,
    view_scale,
    view_to_unit,
)
from ganlift.losses.base import LossContext
from ganlift.render.shading import delight, flip_maps, frontal_light, lambert, normals_from_depth
from ganlift.training.checkpoint import derive_seed
from ganlift.utils.outputs import OutputFields

__all__ = ["Lifter", "LifterOutput", "ARCHITECTURE"]

ARCHITECTURE = "liftedgan"
CONFIG_FORMAT = 1


@dataclass
class LifterOutput(OutputFields):
    """What :meth:`Lifter.forward` returns (B = batch, R = lifting resolution).

    Ranges differ from the other outputs on purpose: ``image_pm1`` is in the teacher's
    [-1, 1] ("plus-minus one"), to compare with G(w) directly, while ``rendered.image`` and
    every ``image`` of :class:`~ganlift.render.base.Rendered` and
    :class:`~ganlift.lifter.controls.LiftedSample` are in [0, 1]. ``texture`` is G(w0), the
    neutral image the albedo is de-lit from (not the canonical albedo, which is ``albedo``
    here and ``LiftedSample.canonical_albedo``). ``image`` is the deprecated name of
    ``image_pm1`` (readable, with a DeprecationWarning). Fields are read by attribute or by
    name (:class:`~ganlift.utils.outputs.OutputFields`).

    Attributes:
        view: (B, 6) pitch, yaw, roll in degrees, tx, ty, tz.
        light: (B, 4) ambient, diffuse in [0, 1], dx, dy (renderer convention).
        depth: (B, 1, R, R) canonical depth in the recipe's range (paper 0.9 .. 1.1).
        transform: (B, 1, R, R) transformation map in [0, 1].
        albedo: (B, 3, R, R) canonical albedo in [0, 1].
        w0: (B, w_dim) neutral code M(w, L0, V0).
        image_pm1: (B, 3, R, R) rendered image in [-1, 1] (the teacher's range):
            ``rendered.image * 2 - 1``.
        rendered: the renderer's :class:`~ganlift.render.base.Rendered` (image in [0, 1],
            mask, depth, normal, shading).
        texture: (B, 3, R, R) the neutral image G(w0) in [0, 1] (not the albedo).
    """

    view: torch.Tensor
    light: torch.Tensor
    depth: torch.Tensor
    transform: torch.Tensor
    albedo: torch.Tensor
    w0: torch.Tensor
    image_pm1: torch.Tensor
    rendered: Any
    texture: torch.Tensor

    @property
    def image(self) -> torch.Tensor:
        """Deprecated name of :attr:`image_pm1` (``image`` is in [0, 1] in
        :class:`~ganlift.render.base.Rendered` and :class:`~ganlift.lifter.controls.LiftedSample`).
        (B, 3, R, R) in [-1, 1]."""
        warnings.warn("LifterOutput.image is deprecated: use LifterOutput.image_pm1 (the same tensor, in "
                      "[-1, 1]; out.rendered.image is the render in [0, 1])", DeprecationWarning, stacklevel=2)
        return self.image_pm1


class Lifter(ControlsMixin, HubMixin, nn.Module):
    """A 3D generator distilled from a frozen 2D teacher (LiftedGAN).

    Args:
        teacher: a :class:`~ganlift.teachers.Teacher`, a registered teacher name or a
            checkpoint path. Frozen; referenced, not stored in the state dict.
        recipe: recipe name, path or :class:`~ganlift.recipe.Recipe`; None = the teacher's
            recommended recipe (:func:`ganlift.recipe.recommended_recipe`).
        w_mean, w_std: (1, w_dim) statistics of w used to normalise the networks' inputs and
            by the prior; None = taken from the prior built from the teacher (estimated once
            with the recipe's seed when the teacher has no ``w_std``).
        feature_channels: channels of the teacher's last feature map (probed when None).

    Example:
        >>> teacher = ganlift.load_teacher("synthetic-faces", resolution=64)
        >>> lifter = Lifter(teacher, "synthetic")
        >>> out = lifter(teacher.sample_w(4, seed=0))
        >>> out.depth.shape
        torch.Size([4, 1, 64, 64])
    """

    def __init__(
        self,
        teacher: Any,
        recipe: Any = None,
        *,
        w_mean: torch.Tensor | None = None,
        w_std: torch.Tensor | None = None,
        feature_channels: int | None = None,
    ) -> None:
        nn.Module.__init__(self)
        from ganlift import priors, render
        from ganlift.recipe import load_recipe, recommended_recipe
        from ganlift.teachers.loading import load_teacher

        teacher = load_teacher(teacher)
        if recipe is None:
            recipe = recommended_recipe(teacher)
        recipe = load_recipe(recipe)
        lf = recipe.lifter
        # The teacher, renderer and loss set are not registered submodules: their weights
        # never enter the lifter's state dict; _apply moves them along with .to()/.cuda().
        object.__setattr__(self, "_teacher", teacher.freeze())
        object.__setattr__(self, "_loss_set", None)
        self.recipe = recipe
        self.resolution = int(lf.resolution)
        self.w_dim = int(teacher.w_dim)
        width = int(lf.mlp_width) or self.w_dim

        # prior on w' and the w statistics that normalise every network input
        prior_cls = priors.PRIORS.get(recipe.teacher.prior)
        if w_mean is None or w_std is None:
            prior = _build_prior(prior_cls, teacher=teacher, samples=recipe.teacher.prior_samples,
                                 seed=recipe.teacher.prior_seed)
            w_mean = getattr(prior, "mean", teacher.w_mean) if w_mean is None else w_mean
            w_std = getattr(prior, "std", None) if w_std is None else w_std
            if w_std is None:
                w_std = getattr(teacher, "w_std", torch.ones(1, self.w_dim))
        else:
            prior = _build_prior(prior_cls, w_dim=self.w_dim, mean=w_mean, std=w_std)
        self.prior = prior
        self.register_buffer("w_mean", _row(w_mean, self.w_dim, "w_mean"))
        self.register_buffer("w_std", _row(w_std, self.w_dim, "w_std").clamp_min(1e-8))
        self.register_buffer(
            "view_scale", view_scale(lf.max_rotation, lf.max_translation, lf.max_translation_z), persistent=False
        )
        self.register_buffer("light_scale", light_scale(lf.light_direction) * torch.tensor([0.5, 0.5, 1, 1]),
                             persistent=False)

        if feature_channels is None:
            feature_channels = _probe_feature_channels(teacher)
        self.feature_channels = int(feature_channels)

        args = (self.w_dim, width, lf.mlp_layers)
        self.view_decoder = ViewDecoder(*args)
        self.light_decoder = LightDecoder(*args)
        self.manipulation = StyleManipulation(*args, mode=lf.manipulation,
                                              rank=min(int(lf.manipulation_rank), self.w_dim),
                                              separate_edit=lf.manipulation_separate_edit)
        dec = (self.resolution, lf.decoder_width, lf.decoder_min_width)
        self.shape_decoder = ShapeDecoder(*args, *dec, feature_channels=self.feature_channels,
                                          prior=depth_prior_logits(self.resolution, lf.depth_prior, lf.depth_prior_width,
                                                                   lf.depth_range, lf.border_depth, lf.depth_mode))
        self.transform_decoder = TransformDecoder(*args, *dec)

        object.__setattr__(
            self,
            "_renderer",
            # Metadata-only input checks: a value check would sync the host on every render on
            # CUDA; the loss set and the controls check values where they come in.
            render.create(recipe.render.renderer, size=self.resolution, fov=recipe.render.fov,
                          pin_border=lf.transform_frame, check="shapes"),
        )

    # ------------------------------------------------------------------ plumbing
    @property
    def teacher(self):
        """The frozen teacher (not part of the state dict)."""
        return self._teacher

    @property
    def renderer(self):
        """The differentiable renderer (lifting resolution, the recipe's fov)."""
        return self._renderer

    @property
    def device(self) -> torch.device:
        return self.w_mean.device

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        for extra in (self._teacher, self._renderer, self._loss_set):
            if isinstance(extra, nn.Module):
                extra._apply(fn)
        return self

    @property
    def loss_set(self):
        """The recipe's :class:`~ganlift.losses.LossSet`, built on first use (it may need
        weights files, which inference never does)."""
        if self._loss_set is None:
            from ganlift.losses.lossset import LossSet

            self.set_loss_set(LossSet.from_recipe(self.recipe))
        return self._loss_set

    def set_loss_set(self, loss_set: nn.Module) -> None:
        """Use ``loss_set`` for :meth:`compute_losses` (kept out of the state dict)."""
        object.__setattr__(self, "_loss_set", loss_set.to(self.device))

    # ------------------------------------------------------------------ config
    @property
    def config(self) -> dict:
        """JSON description: everything :meth:`from_config` needs with the same teacher."""
        import ganlift

        return {
            "architecture": ARCHITECTURE,
            "format": CONFIG_FORMAT,
            "ganlift_version": ganlift.__version__,
            "resolution": self.resolution,
            "w_dim": self.w_dim,
            "feature_channels": self.feature_channels,
            "recipe_name": self.recipe.name,
            "recipe": self.recipe.to_dict(),
            "w_mean": [float(v) for v in self.w_mean.flatten().cpu()],
            "w_std": [float(v) for v in self.w_std.flatten().cpu()],
            "teacher": self.teacher.reference(),
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], teacher: Any = None) -> "Lifter":
        """Rebuild the architecture (untrained weights) from :attr:`config`.

        Args:
            config: a lifter's ``config``.
            teacher: the teacher; None loads ``config["teacher"]`` (a registered name with
                its options, or a file path).

        Raises:
            ValueError: not a ganlift lifter config, or the teacher does not fit it.
        """
        from ganlift.recipe import Recipe

        if config.get("architecture") != ARCHITECTURE:
            raise ValueError(f"config architecture must be {ARCHITECTURE!r}, got {config.get('architecture')!r}")
        if int(config.get("format", 1)) > CONFIG_FORMAT:
            raise ValueError(f"config format {config.get('format')} is newer than this ganlift supports; upgrade")
        from ganlift.utils.config import check_lifter_config

        check_lifter_config(config, "lifter config")  # keys, types and sizes before anything is built
        if teacher is None:
            teacher = load_reference(config["teacher"])
        else:
            from ganlift.teachers.loading import load_teacher

            teacher = load_teacher(teacher)
        if int(teacher.w_dim) != int(config["w_dim"]):
            raise ValueError(
                f"teacher {getattr(teacher, 'name', '?')!r} has w_dim={teacher.w_dim} but the lifter "
                f"was trained with w_dim={config['w_dim']} (teacher {config.get('teacher')})"
            )
        recipe = Recipe.from_dict(config["recipe"], source="config recipe")
        return cls(
            teacher,
            recipe,
            w_mean=torch.tensor(config["w_mean"]),
            w_std=torch.tensor(config["w_std"]),
            feature_channels=int(config["feature_channels"]),
        )

    # ------------------------------------------------------------------ codes
    def sample_w(self, n: int, generator: torch.Generator | None = None, seed: int | None = None) -> torch.Tensor:
        """Training codes: ``truncate(mapping(z), psi)`` with the recipe's psi. Returns (n, w_dim)."""
        if seed is not None and generator is None:
            generator = torch.Generator().manual_seed(int(seed))
        gdev = generator.device if generator is not None else self.device
        z = torch.randn(n, self.teacher.z_dim, generator=generator, device=gdev).to(self.device)
        with torch.no_grad():
            w = self.teacher.mapping(z)
        psi = float(self.recipe.teacher.truncation)
        return self.teacher.truncate(w, psi) if psi != 1.0 else w

    def normalize_w(self, w: torch.Tensor) -> torch.Tensor:
        """(B, w_dim) -> (w - mean) / std."""
        return (w - self.w_mean) / self.w_std

    def manipulate(
        self,
        w: torch.Tensor,
        light: torch.Tensor,
        view: torch.Tensor,
        own: tuple[torch.Tensor, torch.Tensor] | None = None,
        neutral_grad: bool = True,
    ) -> torch.Tensor:
        """M(w, light, view): the code of the same object under another view and light.

        Args:
            w: (B, w_dim); light: (B, 4) renderer lights; view: (B, 6) views.
            own: ``(view, light)`` of w itself, (B, 6) and (B, 4), as the decoders read them
                (the ``"delta"`` form of M takes its neutral light intensities from them, and
                with ``lifter.perturbation_base = "own"`` turns w from them); None decodes
                them here.
            neutral_grad: False (``"delta"`` form) stops the gradient at the neutral code, so
                it reaches only M's edit (``lifter.perturbation_trains_neutral``; w' has no
                neutral code in it with ``perturbation_base = "own"``).

        Returns:
            (B, w_dim) code in the teacher's W space.
        """
        lf = self.recipe.lifter
        if self.manipulation.mode == "delta" and lf.perturbation_base == "own":
            own_view, own_light = self.decode_view_light(w) if own is None else own
            # w's own view and light condition M; they are not trained through it
            out = self.manipulation.turn(
                self.normalize_w(w), light_to_unit(light, lf.light_direction), view_to_unit(view, self.view_scale),
                light_to_unit(own_light.detach(), lf.light_direction), view_to_unit(own_view.detach(), self.view_scale),
            )
            return out * self.w_std + self.w_mean
        extra: tuple[torch.Tensor, ...] = ()
        if self.manipulation.mode == "delta":  # the neutral light has w's own intensities
            own_light = self.decode_view_light(w)[1] if own is None else own[1]
            extra = (light_to_unit(own_light, lf.light_direction),)
        out = self.manipulation(
            self.normalize_w(w), light_to_unit(light, lf.light_direction), view_to_unit(view, self.view_scale), *extra,
            neutral_grad=neutral_grad,
        )
        return out * self.w_std + self.w_mean

    def decode_view_light(self, w: torch.Tensor, frozen: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """D_V(w), D_L(w) in renderer units: (B, 6) view and (B, 4) light.

        Args:
            w: (B, w_dim) codes.
            frozen: use detached decoder weights, so gradients reach ``w`` but not the decoders.
        """
        wn = self.normalize_w(w)
        if frozen:
            vd = {k: v.detach() for k, v in self.view_decoder.named_parameters()}
            ld = {k: v.detach() for k, v in self.light_decoder.named_parameters()}
            unit_v = torch.func.functional_call(self.view_decoder, vd, (wn,))
            unit_l = torch.func.functional_call(self.light_decoder, ld, (wn,))
        else:
            unit_v, unit_l = self.view_decoder(wn), self.light_decoder(wn)
        view = view_from_unit(unit_v, self.view_scale)
        light = light_from_unit(unit_l, self.recipe.lifter.light_direction)
        return view, light

    def teacher_image(self, w: torch.Tensor, features: bool = False):
        """G(w) in [0, 1] at the lifting resolution (and the resized last feature map).

        Differentiable in ``w``; wrap in ``torch.no_grad()`` for targets.
        """
        out = self.teacher.synthesis(w, return_features=features)
        image, feats = (out if features else (out, None))
        image = ((resize(image, self.resolution) + 1.0) / 2.0).clamp(0.0, 1.0)
        if features:
            return image, resize(feats, self.resolution)
        return image

    # ------------------------------------------------------------------ forward
    def _check_w(self, w: torch.Tensor) -> torch.Tensor:
        if not isinstance(w, torch.Tensor) or w.dim() != 2 or w.shape[1] != self.w_dim:
            shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"w must have shape (B, {self.w_dim}) (one code per sample), got {shape}")
        return w.to(self.w_mean)

    def decompose(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """The 3D components of ``w`` without rendering (paper section 3.1).

        Returns:
            dict with view (B, 6), light (B, 4), w0 (B, w_dim), texture (B, 3, R, R) in [0, 1],
            depth (B, 1, R, R), transform (B, 1, R, R), albedo (B, 3, R, R) in [0, 1].
        """
        w = self._check_w(w)
        view, light = self.decode_view_light(w)
        w0 = self.neutral_code(w, view, light)
        texture, feats = self.teacher_image(w0, features=True)
        return {"view": view, "light": light, "w0": w0, "texture": texture,
                **self.canonical_maps(w0, texture, feats, light)}  # fmt: skip

    def neutral_code(self, w: torch.Tensor, view: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
        """w0 = M(w, L0, V0): frontal light with the predicted intensities, identity view.

        Args:
            w: (B, w_dim); view: (B, 6) and light: (B, 4), the decoded view and light of w.
        """
        if self.manipulation.mode == "delta":  # the edit term is zero here: not computed
            unit = light_to_unit(light, self.recipe.lifter.light_direction)
            return self.manipulation.neutral(self.normalize_w(w), unit) * self.w_std + self.w_mean
        light0 = frontal_light(light[:, 0], light[:, 1])
        return self.manipulate(w, light0, torch.zeros_like(view), own=(view, light))

    def canonical_maps(
        self, w0: torch.Tensor, texture: torch.Tensor, features: torch.Tensor, light: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Depth S = D_S(w0, features), T = D_T(w0) (eq. 1) and albedo A = G(w0) de-lit.

        Args:
            w0: (B, w_dim) neutral codes; texture: (B, 3, R, R) G(w0) in [0, 1];
            features: (B, C, R, R) the teacher's last feature map of G(w0);
            light: (B, 4) decoded lights (their intensities de-light the texture).

        Returns:
            dict with depth (B, 1, R, R), transform (B, 1, R, R), albedo (B, 3, R, R).
        """
        lf = self.recipe.lifter
        wn0 = self.normalize_w(w0)
        depth = depth_from_logits(self.shape_decoder(wn0, features), lf.depth_range, lf.border_depth,
                                  lf.border_columns, lf.depth_center, lf.depth_mode)
        transform = transform_from_logits(
            self.transform_decoder(wn0), depth, lf.transform_threshold, lf.transform_blur, lf.transform_frame,
            lf.transform_bias,
        )
        return {"depth": depth, "transform": transform, "albedo": self.delit_albedo(texture, depth, light)}

    def delit_albedo(self, texture: torch.Tensor, depth: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
        """A = G(w0) de-lit: the texture divided by its shading under the frontal light with
        ``light``'s intensities (section 3.1). (B, 3, R, R), (B, 1, R, R), (B, 4) -> (B, 3, R, R)."""
        shading0 = lambert(normals_from_depth(depth, self.recipe.render.fov), frontal_light(light[:, 0], light[:, 1]))
        return delight(texture, shading0, self.recipe.lifter.min_shading).clamp(0.0, 1.0)

    def forward(self, w: torch.Tensor) -> LifterOutput:
        """Decompose ``w`` (B, w_dim) and render it in its predicted view and light."""
        p = self.decompose(w)
        rendered = self.renderer.render(p["albedo"], p["depth"], p["transform"], p["view"], p["light"])
        return LifterOutput(
            view=p["view"], light=p["light"], depth=p["depth"], transform=p["transform"], albedo=p["albedo"],
            w0=p["w0"], image_pm1=rendered.image * 2.0 - 1.0, rendered=rendered, texture=p["texture"],
        )  # fmt: skip

    @torch.no_grad()
    def predict(self, w: torch.Tensor) -> dict[str, torch.Tensor]:
        """The 3D components (no gradients), as :func:`ganlift.eval.evaluate` expects.

        Returns:
            dict with view (B, 6), light (B, 4), depth (B, 1, R, R), transform (B, 1, R, R),
            albedo (B, 3, R, R).
        """
        p = self.decompose(w)
        return {k: p[k] for k in ("view", "light", "depth", "transform", "albedo")}

    # ------------------------------------------------------------------ training
    def perturbation(self, view: torch.Tensor, light: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Random V' and L' for the perturbation losses (appendix B).

        Rotations are drawn from U(-range, range) per the recipe's ``[perturb]`` (roll 0 in the
        paper); translations are the predicted ones; the light is the batch's predicted lights
        shuffled. Both are detached.

        Args:
            view: (B, 6) predicted views; light: (B, 4) predicted lights.
            generator: random stream (any device); None uses the global one.

        Returns:
            ``(view', light')``: (B, 6), (B, 4).
        """
        pt = self.recipe.perturb
        batch = view.shape[0]
        gdev = generator.device if generator is not None else view.device
        u = torch.rand(batch, 3, generator=generator, device=gdev).to(view)
        perm = torch.randperm(batch, generator=generator, device=gdev).to(view.device)
        ranges = view.new_tensor([pt.pitch, pt.yaw, pt.roll])
        view_p = torch.cat([(2.0 * u - 1.0) * ranges, view[:, 3:].detach()], dim=1)
        light_p = light.detach()[perm] if pt.shuffle_light else light.detach()
        return view_p, light_p

    def manipulation_warmup_step(self) -> int | None:
        """The step M's warm-up runs at: the first step of the terms that read the
        perturbation (None: no such term is on, or ``perturb.warmup_steps`` is 0)."""
        losses = self.loss_set
        if not self.recipe.perturb.warmup_steps:
            return None
        starts = [losses.schedules[name][0] for name in losses.terms
                  if losses.weights[name] and set(getattr(losses.terms[name], "requires", ())) & _PERTURBED]
        return min(starts) if starts else None

    def prepare_step(self, step: int, seed: int, progress: bool = True) -> bool:
        """Called by the training loop before each step: runs M's warm-up at its step.

        Args:
            step: the (0-based) step about to run.
            seed: the run's seed (the warm-up draws its codes from a stream of its own).
            progress: show the warm-up's progress bar.

        Returns:
            True when parameters changed (a distributed run then broadcasts them).
        """
        if step != self.manipulation_warmup_step():
            return False
        generator = torch.Generator(device=self.device)
        generator.manual_seed(derive_seed(seed, _WARMUP_STREAM))
        pt = self.recipe.perturb
        self.warm_up_manipulation(pt.warmup_steps, pt.warmup_batch, pt.warmup_lr, generator, progress=progress)
        return True

    def warm_up_manipulation(self, steps: int, batch: int, lr: float,
                             generator: torch.Generator | None = None, progress: bool = True) -> float:
        """Train M's edit alone on the view cycle (eq. 5), before the perturbation terms start.

        Each step draws ``batch`` codes, V' as in training with w's own light, and minimises
        the squared error between the frozen view decoder's reading of w' = M(w, L, V') and
        V', each rotation in units of its perturbation range (a rotation with range 0 is left
        out). In units of the decoder's range instead (the cycle term's), the pitch error
        weighs (yaw range / pitch range)^2, about 7 times, less than the yaw's, and M learned
        the yaw at once but sat on a plateau for 500 to 1500 steps before learning the pitch
        (docs/evaluation.md, "A manipulation that turns the object"). Only the edit's own
        parameters train (:meth:`StyleManipulation.edit_parameters`), with an Adam of its own,
        so the neutral code and everything else stay as they are. Teacher-free: MLP passes only.

        Args:
            steps: warm-up steps; batch: codes per step; lr: Adam learning rate.
            generator: random stream of the codes and views.
            progress: show a progress bar (from 100 steps on).

        Returns:
            The last step's loss.
        """
        params = self.manipulation.edit_parameters()
        before = [p.detach().clone() for p in params]
        pt = self.recipe.perturb
        ranges = torch.tensor([pt.pitch, pt.yaw, pt.roll], device=self.device)
        used = ranges > 0
        if not bool(used.any()):  # no rotation is perturbed: nothing to learn
            return 0.0
        optimizer = torch.optim.Adam(params, lr=lr)
        loss = torch.zeros(())
        try:
            for _ in tqdm(range(steps), desc="warm-up of M", leave=False, disable=not progress or steps < 100,
                          file=sys.stderr):
                w = self.sample_w(batch, generator=generator)
                with torch.no_grad():
                    view, light = self.decode_view_light(w)
                view_p, _ = self.perturbation(view, light, generator)
                w_p = self.manipulate(w, light, view_p, own=(view, light), neutral_grad=False)
                read, _ = self.decode_view_light(w_p, frozen=True)
                error = (read - view_p)[:, :3][:, used] / ranges[used].to(read.dtype)
                loss = (error**2).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        except BaseException:  # interrupted: leave M as it was, so a resumed run repeats it exactly
            with torch.no_grad():
                for p, b in zip(params, before):
                    p.copy_(b)
            raise
        finally:
            for p in self.parameters():
                p.grad = None
        return float(loss.detach())

    def loss_context(
        self,
        w: torch.Tensor,
        generator: torch.Generator | None = None,
        needs: set[str] | None = None,
    ) -> LossContext:
        """Everything one training step computes for codes ``w`` (paper section 3.2), in order.

        Only what ``needs`` names (the ``requires`` of the loss terms switched on at this
        step, see :meth:`LossSet.requires`) is computed: before the perturbation terms start,
        a step runs two teacher passes and one batched render; with every term on, three
        teacher passes and two renders (one batched call with gradient, one target without).

        1. G(w), the target of eqs. 2 and the flip term, under no_grad.
        2. V = D_V(w), L = D_L(w); w0 = M(w, L0, V0) (section 3.1).
        3. Perturbation (section 3.2.2): V' (rotations from the recipe's ranges, translations
           kept), L' (the batch's lights shuffled), w' = M(w, L', V') (its neutral part
           detached when ``lifter.perturbation_trains_neutral`` is false).
        4. Teacher passes with gradient: the texture G(w0) with the feature map for D_S, and
           G(w') without it (its gradient reaches M, eq. 4 (a)). Two calls, not one batched
           call: the feature map of w' would be computed for nothing.
        5. S, T, A from w0 (eq. 1, de-lighting).
        6. One batched render with gradient of what the terms compare: R(A,S,T,V,L) (eq. 2),
           the flipped maps with the same V, L (flip), R(A,S,T,D_V(sg w'),D_L(sg w')) (eq. 4
           (b); decoders trained, M not), R(A,S,T,V',L') (eq. 6, identity only).
        7. Without gradient: R(A,S,T,V',L'), the target of eq. 4 (a).
        8. The frozen decoders on w' (eq. 5, gradient into M only), and on w0 (the neutral
           cycle, gradient into M only).
        9. M asked for w's own (detached) view and light, from w and from w' (the code cycle,
           gradient into M only, into its edit only when ``lifter.perturbation_trains_neutral``
           is false; MLP passes, no teacher or render).

        Args:
            w: (B, w_dim) training codes.
            generator: random stream of the perturbations.
            needs: context entries to compute; None = what the lifter's loss set reads with
                every term on.

        Returns:
            A :class:`~ganlift.losses.base.LossContext` (see its docstring for the entries).
        """
        w = self._check_w(w)
        needs = self.loss_set.requires() if needs is None else set(needs)
        ctx: dict[str, Any] = {"w": w, "view_scale": self.view_scale, "light_scale": self.light_scale,
                               "code_scale": self.w_std, "prior_penalty": self._prior_penalty}
        with torch.no_grad():  # 1
            ctx["target"] = self.teacher_image(w)
        view, light = self.decode_view_light(w)  # 2
        w0 = self.neutral_code(w, view, light)
        train_neutral = self.recipe.lifter.perturbation_trains_neutral
        if needs & _PERTURBED:  # 3
            view_p, light_p = self.perturbation(view, light, generator)
            w_p = self.manipulate(w, light_p, view_p, own=(view, light), neutral_grad=train_neutral)
            ctx.update(view_perturb=view_p, light_perturb=light_p, w_perturb=w_p)
        texture, feats = self.teacher_image(w0, features=True)  # 4
        if "teacher_perturbed" in needs:
            ctx["teacher_perturbed"] = self.teacher_image(ctx["w_perturb"])
        maps = self.canonical_maps(w0, texture, feats, light)  # 5
        albedo, depth, transform = maps["albedo"], maps["depth"], maps["transform"]
        ctx.update(view=view, light=light, w0=w0, texture=texture, **maps)
        ctx["object_mask"] = (depth.detach() <= self.recipe.lifter.transform_threshold).to(depth)

        jobs: dict[str, tuple[torch.Tensor, ...]] = {}  # 6
        if "rendered" in needs:
            jobs["rendered"] = (albedo, depth, transform, view, light)
        if "flipped" in needs:
            jobs["flipped"] = (*flip_maps(albedo, depth, transform), view, light)
        if "re_rendered" in needs:
            ctx["view_estimate"], ctx["light_estimate"] = self.decode_view_light(ctx["w_perturb"].detach())
            jobs["re_rendered"] = (albedo, depth, transform, ctx["view_estimate"], ctx["light_estimate"])
        if "perturbed" in needs:
            jobs["perturbed"] = (albedo, depth, transform, ctx["view_perturb"], ctx["light_perturb"])
        ctx.update(self._render_all(jobs))
        if "perturbed_target" in needs:  # 7
            if "perturbed" in ctx:
                ctx["perturbed_target"] = ctx["perturbed"].detached()
            else:
                with torch.no_grad():
                    ctx["perturbed_target"] = self.renderer.render(
                        albedo, depth, transform, ctx["view_perturb"], ctx["light_perturb"])
        if needs & {"view_estimate_m", "light_estimate_m"}:  # 8
            ctx["view_estimate_m"], ctx["light_estimate_m"] = self.decode_view_light(ctx["w_perturb"], frozen=True)
        if needs & {"view_estimate_cycle", "light_estimate_cycle"}:
            ctx["view_estimate_cycle"], ctx["light_estimate_cycle"] = self.decode_view_light(ctx["w_perturb"])
        if needs & {"view_estimate_neutral", "light_estimate_neutral"}:  # 8b: the frozen decoders on w0
            # w's own view and light detached, so the gradient reaches only M (not D_L's intensities)
            w0_m = self.neutral_code(w, view.detach(), light.detach())
            ctx["view_estimate_neutral"], ctx["light_estimate_neutral"] = self.decode_view_light(w0_m, frozen=True)
        if needs & {"code_own", "code_return"}:  # 9: M asked for w's own view and light
            own_view, own_light = view.detach(), light.detach()
            if "code_own" in needs:
                ctx["code_own"] = self.manipulate(w, own_light, own_view, own=(own_view, own_light),
                                                  neutral_grad=train_neutral)
            if "code_return" in needs:
                ctx["code_return"] = self.manipulate(ctx["w_perturb"], own_light, own_view,
                                                     own=(ctx["view_perturb"], ctx["light_perturb"]),
                                                     neutral_grad=train_neutral)
        return LossContext(**ctx)

    def _render_all(self, jobs: Mapping[str, tuple[torch.Tensor, ...]]) -> dict[str, Any]:
        """Render several (albedo, depth, T, view, light) sets of one batch in one call."""
        if not jobs:
            return {}
        names = list(jobs)
        parts = list(zip(*jobs.values()))
        out = self.renderer.render(*(torch.cat(p) if len(names) > 1 else p[0] for p in parts))
        if len(names) == 1:
            return {names[0]: out}
        return dict(zip(names, out.chunk(len(names))))

    def _prior_penalty(self, w: torch.Tensor) -> torch.Tensor:
        fn = getattr(self.prior, "penalty", None)
        return fn(w) if callable(fn) else self.prior(w)

    def compute_losses(
        self, w: torch.Tensor, generator: torch.Generator | None = None, step: int | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One training step's loss for codes ``w`` (eqs. 8-9).

        Args:
            w: (B, w_dim) training codes (e.g. :meth:`sample_w`).
            generator: random stream of the perturbations (seeded by the training loop).
            step: the (0-based) training step, for the terms' schedules; None = every
                enabled term at its full weight.

        Returns:
            ``(total, terms)``: the weighted sum to back-propagate and name -> detached
            unweighted value of every enabled term.
        """
        losses = self.loss_set
        return losses(self.loss_context(w, generator, losses.requires(step)), step)


_WARMUP_STREAM = 0x3A12  # seed stream of M's warm-up codes (independent of the training streams)

# The context entries that need the perturbation (V', L', w').
_PERTURBED = {"view_perturb", "light_perturb", "w_perturb", "teacher_perturbed", "perturbed",
              "perturbed_target", "re_rendered", "view_estimate", "light_estimate", "view_estimate_m",
              "light_estimate_m", "view_estimate_cycle", "light_estimate_cycle", "code_return"}


# ---------------------------------------------------------------------- helpers
def _row(value: Any, w_dim: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=torch.float32).detach().cpu()
    if t.numel() != w_dim:
        raise ValueError(f"{what} must have {w_dim} values, got shape {tuple(t.shape)}")
    if not bool(torch.isfinite(t).all()):
        raise ValueError(f"{what} contains NaN or infinite values")
    return t.reshape(1, w_dim).clone()


def _build_prior(cls: Any, **options: Any) -> nn.Module:
    """Instantiate a prior with the options its constructor accepts."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return cls(**options)
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return cls(**options)
    return cls(**{k: v for k, v in options.items() if k in params})


@torch.no_grad()
def _probe_feature_channels(teacher: Any) -> int:
    out = teacher.synthesis(teacher.w_mean[:1], return_features=True)
    if not isinstance(out, tuple) or len(out) != 2:
        raise ValueError("the teacher's synthesis(w, return_features=True) must return (image, features)")
    return int(out[1].shape[1])


def load_reference(reference: Mapping[str, Any]):
    """Load and check the teacher described by ``teacher.reference()`` (a zoo entry, a Hub
    file, a local path or a registered name): :func:`ganlift.teachers.reference.resolve_teacher`."""
    from ganlift.teachers.reference import resolve_teacher

    return resolve_teacher(reference)
