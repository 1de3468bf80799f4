"""The LiftedGAN loss terms (paper section 3.2), registered in :data:`ganlift.losses.LOSSES`.

Each term reads a :class:`~ganlift.losses.base.LossContext` and returns a scalar; gradient
routing (what is detached) is part of the term, as the paper prescribes:

==================  ========================================================  ==================  ============================
term                value                                                     paper               trains
==================  ========================================================  ==================  ============================
``reconstruction``  d(R(A,S,T,V,L), G(w))                                     eq. 2               everything but the teacher
``flip``            d(R(flip A, flip S, flip T, V, L), G(w))                  sec. 3.2.1          everything
``perturbation_a``  d(sg[R(A,S,T,V',L')], G(w')), w' = M(w, L', V')           eq. 4 (a), 1st      M only
``prior``           prior penalty of w' (Gaussian: |w'-mu|^2 / (2 sigma^2))   eq. 3, eq. 4 (a)    M
``perturbation_b``  d(R(A,S,T,D_V(sg w'),D_L(sg w')), sg[G(w')])              eq. 4 (b), 1st      A, S, T (M via w0), D_V, D_L
``cycle``           unit-space MSE: D_V(w') vs V' (rotations), D_L(w') vs L'  eq. 5, eq. 4 (b)    M (decoders frozen)
``identity``        |f(G(w0)) - f(R(A,S,T,V',L'))|^2, only |yaw'| < range     eq. 6               A, S, T, M
``albedo_rank``     nuclear norm of masked high-pass grey albedos (B x HW)    eq. 7               M (through A), S
``code_cycle``      |M(w, L, V) - w|^2 + |M(w', L, V) - w|^2, L, V = D(w) sg  ours (no paper eq.)  M
``neutral_cycle``   unit-space MSE: D_V(w0) vs V0 (rotations), D_L(w0) vs L0   ours (eq. 5 at V0)  M (decoders frozen)
==================  ========================================================  ==================  ============================

``sg`` is stop-gradient. ``d`` is the shared :class:`~ganlift.losses.distance.ImageDistance`.
The total (eq. 8-9) is the :class:`~ganlift.losses.LossSet`'s weighted sum. Before the terms
were named after eq. 4, ``perturb_a`` was ``perturbation_b`` and ``perturb_b`` was
``perturbation_a``; recipes with the old keys still load (with a DeprecationWarning).
"""

from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F

from ganlift.losses import register
from ganlift.losses.base import LossTerm
from ganlift.losses.distance import ImageDistance
from ganlift.losses.identity import Identity  # noqa: F401  (registers "identity")
from ganlift.utils.filters import blur

__all__ = [
    "ImageTerm",
    "Reconstruction",
    "Flip",
    "PerturbationTerm",
    "PerturbationA",
    "PerturbationB",
    "Cycle",
    "Prior",
    "AlbedoRank",
    "CodeCycle",
    "NeutralCycle",
    "Identity",
]


class ImageTerm(LossTerm):
    """A term built on the shared image distance ``d`` (passed in by the LossSet)."""

    def __init__(self, distance: ImageDistance | None = None) -> None:
        super().__init__()
        self.distance = distance if distance is not None else ImageDistance()

    @classmethod
    def build(cls, shared: Mapping[str, Any], **options: Any) -> "ImageTerm":
        return cls(shared.get("distance"), **options)


@register("reconstruction")
class Reconstruction(ImageTerm):
    """d(rendered image, teacher image), masked by the rendered valid-pixel mask (eq. 2)."""

    requires = ("rendered", "target")

    def forward(self, ctx) -> torch.Tensor:
        return self.distance(ctx.rendered.image, ctx.target, ctx.rendered.mask)


@register("flip")
class Flip(ImageTerm):
    """Symmetric reconstruction: the mirrored albedo, depth *and* T rendered with the same
    view and light must still give the teacher image."""

    requires = ("flipped", "target")

    def forward(self, ctx) -> torch.Tensor:
        return self.distance(ctx.flipped.image, ctx.target, ctx.flipped.mask)


class PerturbationTerm(ImageTerm):
    """An image term on a perturbed view, optionally compared at a coarser scale.

    Args:
        downsample: both images (and the mask) are area-averaged by this factor before the
            distance. G(w') is the teacher's picture of w's object turned, as M makes it; the
            view it shows is what the term is for, while its fine detail also carries whatever
            identity M lost, so comparing coarser keeps the multi-view signal and less of the
            other object. 1 = the full lifting resolution (paper).
    """

    def __init__(self, distance: ImageDistance | None = None, *, downsample: int = 1) -> None:
        super().__init__(distance)
        if int(downsample) != downsample or downsample < 1:
            raise ValueError(f"downsample must be an integer >= 1, got {downsample!r}")
        self.downsample = int(downsample)

    def compare(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        k = self.downsample
        if k > 1:
            a, b, mask = (F.avg_pool2d(x, k) for x in (a, b, mask))
            mask = (mask > 0.999).to(mask)  # pixels whose whole block is valid
        return self.distance(a, b, mask)


@register("perturbation_a")
class PerturbationA(PerturbationTerm):
    """Eq. 4 (a), its image part: G(w') with w' = M(w, L', V') must look like the render of
    the lifter's 3D under (V', L'), a stopped target, so the gradient reaches only M.

    The prior on w' (the second part of eq. 4 (a), eq. 3) is the separate ``prior`` term.
    """

    requires = ("teacher_perturbed", "perturbed_target")

    def forward(self, ctx) -> torch.Tensor:
        target = ctx.perturbed_target
        return self.compare(ctx.teacher_perturbed, target.image.detach(), target.mask.detach())


@register("perturbation_b")
class PerturbationB(PerturbationTerm):
    """Eq. 4 (b), its image part: the render under the re-estimated view and light of w',
    (D_V(w'), D_L(w')) with w' stopped, must match G(w') (a stopped target). It trains the 3D
    components (and the decoders) to explain the teacher's other views.

    The cycle of eq. 5 (the second part of eq. 4 (b)) is the separate ``cycle`` term.
    """

    requires = ("re_rendered", "teacher_perturbed")

    def forward(self, ctx) -> torch.Tensor:
        return self.compare(ctx.re_rendered.image, ctx.teacher_perturbed.detach(), ctx.re_rendered.mask)


@register("cycle")
class Cycle(LossTerm):
    """View/light cycle (eq. 5): D_V(w') should give V' and D_L(w') give L'.

    Differences are measured in unit space (divided by the half-ranges), so degrees and
    translations are comparable. By default the decoders are frozen in this term: it teaches
    M to put the requested view and light where the decoders read them; the decoders
    themselves learn from images only (reconstruction and perturbation (a)), so M cannot
    hide V' in a direction of w' that only the decoders see.

    Args:
        rotation_only: compare only the three rotations of the view (the official code).
        train_decoders: let this term train D_V and D_L as well.
    """

    requires = ("view_estimate_m", "view_perturb", "light_estimate_m", "light_perturb", "view_scale", "light_scale")

    def __init__(self, *, rotation_only: bool = True, train_decoders: bool = False) -> None:
        super().__init__()
        self.rotation_only = bool(rotation_only)
        self.train_decoders = bool(train_decoders)
        if self.train_decoders:
            self.requires = ("view_estimate_cycle", "view_perturb", "light_estimate_cycle", "light_perturb",
                             "view_scale", "light_scale")

    def forward(self, ctx) -> torch.Tensor:
        if self.train_decoders:
            view, light = ctx.view_estimate_cycle, ctx.light_estimate_cycle
        else:
            view, light = ctx.view_estimate_m, ctx.light_estimate_m
        dv = (view - ctx.view_perturb) / ctx.view_scale.to(ctx.view_perturb)
        if self.rotation_only:
            dv = dv[:, :3]
        dl = (light - ctx.light_perturb) / ctx.light_scale.to(ctx.light_perturb)
        return (dv**2).mean() + (dl**2).mean()


@register("prior")
class Prior(LossTerm):
    """Prior on the manipulated codes w' (eq. 3): ``ctx.prior_penalty(w')`` averaged over
    the batch (for the Gaussian prior ``|w' - mu|^2 / (2 sigma^2)`` per dimension)."""

    requires = ("w_perturb", "prior_penalty")

    def forward(self, ctx) -> torch.Tensor:
        return ctx.prior_penalty(ctx.w_perturb).mean()


@register("albedo_rank")
class AlbedoRank(LossTerm):
    """Albedo consistency (eq. 7): nuclear norm of the B x (size*size) matrix of masked,
    high-pass filtered grey albedos (grey minus its Gaussian blur).

    Args:
        size: the maps are average-pooled to size x size first (official: 64).
        blur: Gaussian kernel size of the low-pass that is subtracted (odd).
    """

    requires = ("albedo", "object_mask")

    def __init__(self, *, size: int = 64, blur: int = 5) -> None:
        super().__init__()
        if blur < 3 or blur % 2 == 0:
            raise ValueError(f"albedo_rank blur must be an odd kernel size >= 3, got {blur}")
        self.size = int(size)
        self.blur = int(blur)

    def high_pass(self, albedo: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W) -> (B, 1, h, w) masked high-pass grey maps."""
        grey = albedo.mean(1, keepdim=True)
        high = grey - blur(grey, self.blur)
        if mask is not None:
            high = high * mask.to(high)
        if high.shape[-1] > self.size:
            high = F.adaptive_avg_pool2d(high, self.size)
        return high

    def forward(self, ctx) -> torch.Tensor:
        high = self.high_pass(ctx.albedo, ctx.object_mask)
        return torch.linalg.svdvals(high.flatten(1)).sum()



@register("code_cycle")
class CodeCycle(LossTerm):
    """Code cycle (ours; the paper has no such term): M keeps the object when it turns it.

    Two squared errors in normalised code space ``(w - mean) / std``, averaged over batch
    and dimensions, with V = D_V(w), L = D_L(w) detached so only M learns:

    * own view: ``M(w, L, V) = w``, asking for w's own view and light changes nothing;
    * round trip: ``M(w', L, V) = w`` with ``w' = M(w, L', V')``, turning w' back gives w.

    Why: the paper keeps w' on the same face with a face-recognition network (eq. 6), which a
    new object does not have. Without it, M is free to return another object under the
    requested view, and the perturbation terms then teach the lifter that object's shape.
    Both errors are zero for an M that edits only view and light, and the round trip cannot
    be met by an M that forgets w, so it also rules out the collapse of w0 = M(w, L0, V0)
    to one code. Measured on synthetic-faces with the perturbation terms on (docs/
    evaluation.md, "The code cycle"): the non-view factors of w' drift 0.74 of the way to an
    unrelated sample's without it and 0.37 with weight 1 (32x32), 0.22 with weight 4 (64x64).

    Args:
        own_view: include the own-view error.
        round_trip: include the round-trip error (needs the perturbation, V' and L').
    """

    requires = ("w", "code_own", "code_return", "code_scale")

    def __init__(self, *, own_view: bool = True, round_trip: bool = True) -> None:
        super().__init__()
        if not (own_view or round_trip):
            raise ValueError("code_cycle needs own_view or round_trip (or both) to be true")
        self.own_view, self.round_trip = bool(own_view), bool(round_trip)
        self.requires = ("w", "code_scale") + (("code_own",) if own_view else ()) + (
            ("code_return",) if round_trip else ())

    def forward(self, ctx) -> torch.Tensor:
        scale = ctx.code_scale.to(ctx.w)
        loss = ctx.w.new_zeros(())
        for on, name in ((self.own_view, "code_own"), (self.round_trip, "code_return")):
            if on:
                loss = loss + (((getattr(ctx, name) - ctx.w) / scale) ** 2).mean()
        return loss


@register("neutral_cycle")
class NeutralCycle(LossTerm):
    """Neutral-view cycle (ours; eq. 5 asked at the neutral view): D_V(w0) should read the
    identity view V0 and D_L(w0) the frontal light direction of L0.

    Differences are in unit space (divided by the half-ranges), rotations only, and the light's
    direction only (L0 keeps w's intensities). The decoders are frozen and w's own view and
    light detached where they enter w0 = M(w, L0, V0), so only M learns from this term.

    Why: nothing else asks G(w0) to be frontal in pitch. Yaw and roll are pinned by the flip
    term (a symmetric canonical object faces the camera), but a pitch left in w0 is explained
    as well by a canonical shape at that pitch and a view short by as much. The eq. 5 cycle
    asks M for random views V' and never for V0. Measured on ``synthetic-faces`` (64x64, 1000
    steps, recipe ``synthetic``; docs/evaluation.md, "The neutral code's pitch"): G(w0) keeps
    24% of w's pitch (std 1.7 deg against 7.1) and 2% of its yaw; with this term at weight 40
    the share falls to 14% and the vertical light direction's slope on the truth rises from
    0.70 to 0.93, but over paired lifts of four synthetic and two GAN teachers the depth,
    normals and novel views do not follow reliably, so the shipped recipes leave it off.

    Args:
        light: include the light direction.
    """

    requires = ("view_estimate_neutral", "light_estimate_neutral", "view_scale", "light_scale")

    def __init__(self, *, light: bool = True) -> None:
        super().__init__()
        self.light = bool(light)

    def forward(self, ctx) -> torch.Tensor:
        view = ctx.view_estimate_neutral
        loss = ((view[:, :3] / ctx.view_scale[:3].to(view)) ** 2).mean()
        if self.light:
            light = ctx.light_estimate_neutral
            loss = loss + ((light[:, 2:] / ctx.light_scale[2:].to(light)) ** 2).mean()
        return loss
