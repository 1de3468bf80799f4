"""The five networks of the lifter (paper section 3.1, appendix B, tables 3 and 4).

* :class:`ViewDecoder` D_V: w -> view (pitch, yaw, roll in degrees, tx, ty, tz).
* :class:`LightDecoder` D_L: w -> light (ambient, diffuse, dx, dy).
* :class:`StyleManipulation` M: (w, light, view) -> w' (three embedding MLPs, summed, MLP).
* :class:`ShapeDecoder` D_S: w0 (+ the teacher's last feature map, "InjectConv") -> depth logits.
* :class:`TransformDecoder` D_T: w0 -> transformation-map logits.

Widths follow the recipe: ``mlp_width`` (paper 512 = w_dim) and a decoder width that starts at
``decoder_width`` channels at 4x4 and halves at every doubling down to ``decoder_min_width``
(paper: 512 -> 16 at 256x256). All codes enter the networks normalised, ``(w - mean) / std``,
and views/lights in their unit (tanh) space, see :func:`view_to_unit`/:func:`light_to_unit`.

The post-processing that turns logits into the paper's ranges lives here too:
:func:`depth_from_logits` and :func:`transform_from_logits`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganlift.render.camera import pin_frame
from ganlift.utils.filters import blur as gaussian_blur

__all__ = [
    "MLP",
    "ViewDecoder",
    "LightDecoder",
    "StyleManipulation",
    "MANIPULATION_MODES",
    "ShapeDecoder",
    "TransformDecoder",
    "decoder_widths",
    "view_scale",
    "view_to_unit",
    "view_from_unit",
    "light_scale",
    "light_to_unit",
    "light_from_unit",
    "depth_from_logits",
    "transform_from_logits",
    "resize",
    "dome_map",
    "depth_prior_logits",
    "DEPTH_MODES",
]


# ------------------------------------------------------------------------------ ranges
def view_scale(max_rotation: float, max_translation: float, max_translation_z: float) -> torch.Tensor:
    """Per-component half-ranges of a view: (6,) = (rot, rot, rot, t, t, tz)."""
    r, t, tz = float(max_rotation), float(max_translation), float(max_translation_z)
    return torch.tensor([r, r, r, t, t, tz])


def view_from_unit(unit: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(B, 6) values in [-1, 1] -> view in degrees / scene units."""
    return unit * scale.to(unit)


def view_to_unit(view: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """(B, 6) view in degrees / scene units -> unit space (the decoder's tanh space)."""
    return view / scale.to(view)


def light_scale(direction_range: float) -> torch.Tensor:
    """Half-range of the light direction: (4,) multipliers for (ambient, diffuse, dx, dy)."""
    return torch.tensor([1.0, 1.0, float(direction_range), float(direction_range)])


def light_from_unit(unit: torch.Tensor, direction_range: float) -> torch.Tensor:
    """(B, 4) tanh outputs -> (ambient, diffuse) in [0, 1] and (dx, dy) in +-range."""
    ab = (unit[:, :2] + 1.0) / 2.0
    return torch.cat([ab, unit[:, 2:] * direction_range], dim=1)


def light_to_unit(light: torch.Tensor, direction_range: float) -> torch.Tensor:
    """Inverse of :func:`light_from_unit`: (B, 4) light -> [-1, 1]^4."""
    return torch.cat([light[:, :2] * 2.0 - 1.0, light[:, 2:] / direction_range], dim=1)


# ------------------------------------------------------------------------------ MLPs
class MLP(nn.Module):
    """``layers`` linear layers with LeakyReLU(0.2) in between (paper: 4 layers, width 512).

    Args:
        in_dim: input size.
        width: hidden size.
        out_dim: output size.
        layers: number of linear layers (>= 1).
        norm: GroupNorm after each hidden linear layer (the official M uses it).
        out_gain: scales the initial weights of the last layer; 0 makes the MLP output zero
            at initialisation (used for residual heads).
    """

    def __init__(
        self,
        in_dim: int,
        width: int,
        out_dim: int,
        layers: int = 4,
        norm: bool = False,
        out_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        mods: list[nn.Module] = []
        dim = in_dim
        for _ in range(layers - 1):
            mods.append(nn.Linear(dim, width))
            if norm:
                mods.append(nn.GroupNorm(_groups(width), width))
            mods.append(nn.LeakyReLU(0.2))
            dim = width
        last = nn.Linear(dim, out_dim)
        with torch.no_grad():
            last.weight.mul_(out_gain)
            last.bias.mul_(out_gain)
        mods.append(last)
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, in_dim) -> (B, out_dim)."""
        return self.net(x)


class ViewDecoder(nn.Module):
    """D_V: normalised w (B, w_dim) -> unit view (B, 6) in [-1, 1] (tanh).

    Multiply by :func:`view_scale` for degrees (+-60 in the paper) and translations (+-0.1,
    z +-0.01). The last layer starts small, so initial views are near the identity.
    """

    def __init__(self, w_dim: int, width: int, layers: int = 4) -> None:
        super().__init__()
        self.mlp = MLP(w_dim, width, 6, layers, out_gain=0.1)

    def forward(self, w_norm: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mlp(w_norm))


class LightDecoder(nn.Module):
    """D_L: normalised w (B, w_dim) -> unit light (B, 4) in [-1, 1] (tanh).

    :func:`light_from_unit` maps it to ambient, diffuse in [0, 1] and dx, dy in range.
    """

    def __init__(self, w_dim: int, width: int, layers: int = 4) -> None:
        super().__init__()
        self.mlp = MLP(w_dim, width, 4, layers, out_gain=0.1)

    def forward(self, w_norm: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mlp(w_norm))


MANIPULATION_MODES = ("delta", "linear", "residual", "mlp")


class StyleManipulation(nn.Module):
    """M: (w, light, view) -> w' (paper section 3.1, appendix B).

    Three embedding MLPs (of w, the light and the view) are summed and an MLP reads the sum,
    as in the paper. How w' is formed is the ``mode`` (all in normalised code space, views and
    lights in unit space):

    * ``"delta"`` (default): ``M(w, L, V) = N(w) + B (h(w, L, V) - h(w, L0, V0))``. ``N(w) = S w
      + MLP(w, L0, V0)`` is the neutral code w0 (frontal light with w's own intensities,
      identity view; ``S`` and the MLP's last layer start at zero, so w0 starts at the mean
      code, a frontal, neutrally lit average). The edit away from the neutral view and light
      is ``B (h(...) - h(w, L0, V0))`` with ``h`` a second head of ``rank`` outputs and ``B`` a
      learned (w_dim, rank) basis: it is exactly zero for w0 itself, and every edit lies in one
      ``rank``-dimensional subspace of W shared by all codes, which bounds how much of the
      object an edit can change. (Measured on synthetic-faces, the non-view factors of w'
      still drift about 0.7 of the way to an unrelated sample's with rank 16 of w_dim 64, as
      with the paper's form: docs/evaluation.md, "The objective, measured": w0 itself keeps
      little of w's object.) :meth:`turn` applies the same edit to w itself instead, from
      w's own view and light, which keeps the object.
    * ``"linear"``: ``w' = S w + MLP(w, L, V)`` (the neutral part above for every request).
    * ``"residual"``: ``w' = w + MLP(...)``, starts as the identity.
    * ``"mlp"``: ``w' = MLP(...)``, the paper's form.

    Args:
        w_dim: style code size.
        width: hidden size of the MLPs.
        layers: layers per MLP.
        mode: one of :data:`MANIPULATION_MODES`.
        rank: size of the edit subspace in ``"delta"`` mode.
        separate_edit: ``"delta"`` mode only: the edit head reads its own three embeddings
            instead of sharing the neutral code's, so no parameter serves both (with the
            neutral code detached, the perturbation terms then cannot move w0 at all).
    """

    def __init__(self, w_dim: int, width: int, layers: int = 4, mode: str = "delta", rank: int = 16,
                 separate_edit: bool = False) -> None:
        super().__init__()
        if mode not in MANIPULATION_MODES:
            raise ValueError(f"mode must be one of {MANIPULATION_MODES}, got {mode!r}")
        if mode == "delta" and not 1 <= int(rank) <= w_dim:
            raise ValueError(f"rank must be in [1, w_dim={w_dim}], got {rank!r}")
        if separate_edit and mode != "delta":
            raise ValueError(f"separate_edit needs mode 'delta' (the form with an edit), got {mode!r}")
        self.mode = mode
        self.separate_edit = bool(separate_edit)
        self.embed_w = MLP(w_dim, width, width, layers, norm=True)
        self.embed_light = MLP(4, width, width, layers, norm=True)
        self.embed_view = MLP(6, width, width, layers, norm=True)
        if self.separate_edit:
            self.edit_embeddings = nn.ModuleList([MLP(n, width, width, layers, norm=True) for n in (w_dim, 4, 6)])
        self.out = MLP(width, width, w_dim, layers, norm=True, out_gain=1.0 if mode == "mlp" else 0.0)
        if mode in ("linear", "delta"):
            self.skip = nn.Linear(w_dim, w_dim, bias=False)
            nn.init.zeros_(self.skip.weight)
        if mode == "delta":
            self.edit = MLP(width, width, int(rank), layers, norm=True, out_gain=0.0)
            # Orthonormal columns: the edit's outputs start as independent directions of W.
            self.basis = nn.Parameter(torch.linalg.qr(torch.randn(w_dim, int(rank)))[0])

    def _hidden(self, w_norm: torch.Tensor, light_unit: torch.Tensor, view_unit: torch.Tensor,
                embeddings: tuple[nn.Module, nn.Module, nn.Module] | None = None) -> torch.Tensor:
        ew, el, ev = embeddings or (self.embed_w, self.embed_light, self.embed_view)
        return F.leaky_relu(ew(w_norm) + el(light_unit) + ev(view_unit), 0.2)

    def _edit(self, w_norm: torch.Tensor, ref_light: torch.Tensor, ref_view: torch.Tensor,
              light_unit: torch.Tensor, view_unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``"delta"`` mode: the edit ``B (h(w, L', V') - h(w, L_ref, V_ref))`` from a reference
        light and view to the requested ones, both (B, w_dim) normalised, and the reference's
        hidden state (B, width) (the edit's own embeddings with ``separate_edit``)."""
        embeddings = tuple(self.edit_embeddings) if self.separate_edit else None
        ref, target = self._hidden(torch.cat([w_norm, w_norm]), torch.cat([ref_light, light_unit]),
                                   torch.cat([ref_view, view_unit]), embeddings).chunk(2)
        return (self.edit(target) - self.edit(ref)) @ self.basis.T, ref

    def neutral(self, w_norm: torch.Tensor, own_light_unit: torch.Tensor) -> torch.Tensor:
        """``"delta"`` mode: the neutral code alone, (B, w_dim), (B, 4) -> (B, w_dim) normalised.

        M at the neutral light (w's own intensities, frontal) and the identity view, where the
        edit term ``edit(target) - edit(neutral)`` is zero by construction; computing it would
        only add rounding (a batched GEMM need not round equal rows equally) and the edit's
        cost.
        """
        if self.mode != "delta":
            raise ValueError(f"the neutral code alone is defined in mode 'delta', got {self.mode!r}")
        light0 = _neutral_light(own_light_unit)
        view0 = w_norm.new_zeros(w_norm.shape[0], 6)
        return self.skip(w_norm) + self.out(self._hidden(w_norm, light0, view0))

    def turn(
        self,
        w_norm: torch.Tensor,
        light_unit: torch.Tensor,
        view_unit: torch.Tensor,
        own_light_unit: torch.Tensor,
        own_view_unit: torch.Tensor,
    ) -> torch.Tensor:
        """``"delta"`` mode: w itself edited from its own view and light to the requested ones.

        ``w' = w + B (h(w, L', V') - h(w, L, V))`` with (V, L) w's own view and light: exactly w
        when w's own view and light are asked for, and otherwise w moved only inside the
        ``rank``-dimensional edit subspace, so w' keeps what w's object is (the recipe key
        ``lifter.perturbation_base = "own"``). The neutral code w0 (:meth:`neutral`) is not
        part of it.

        Args:
            w_norm: (B, w_dim) normalised codes.
            light_unit, view_unit: (B, 4), (B, 6) the requested light and view (unit space).
            own_light_unit, own_view_unit: (B, 4), (B, 6) w's own light and view (unit space).

        Returns:
            (B, w_dim) normalised manipulated code.
        """
        if self.mode != "delta":
            raise ValueError(f"turn is defined in mode 'delta', got {self.mode!r}")
        return w_norm + self._edit(w_norm, own_light_unit, own_view_unit, light_unit, view_unit)[0]

    def edit_parameters(self) -> list[nn.Parameter]:
        """``"delta"`` mode: the parameters only the edit uses (its head and basis, and its own
        embeddings with ``separate_edit``); training them leaves the neutral code unchanged."""
        if self.mode != "delta":
            raise ValueError(f"the edit's parameters are defined in mode 'delta', got {self.mode!r}")
        params = list(self.edit.parameters()) + [self.basis]
        if self.separate_edit:
            params += list(self.edit_embeddings.parameters())
        return params

    def forward(
        self,
        w_norm: torch.Tensor,
        light_unit: torch.Tensor,
        view_unit: torch.Tensor,
        own_light_unit: torch.Tensor | None = None,
        neutral_grad: bool = True,
    ) -> torch.Tensor:
        """(B, w_dim), (B, 4), (B, 6) -> (B, w_dim) normalised manipulated code.

        ``own_light_unit`` (B, 4), the light of w itself (its intensities define the neutral
        light), is required in ``"delta"`` mode and ignored otherwise. ``neutral_grad=False``
        (``"delta"`` mode) detaches the neutral code: gradients of the result reach only the
        edit.
        """
        if self.mode == "delta":
            if own_light_unit is None:
                raise ValueError("delta-mode manipulation needs the light of w itself (own_light_unit)")
            light0 = _neutral_light(own_light_unit)
            view0 = torch.zeros_like(view_unit)
            edit, neutral = self._edit(w_norm, light0, view0, light_unit, view_unit)
            # w0 reads the shared embeddings; with a separate edit, ``neutral`` is the edit's own
            w0 = self.neutral(w_norm, own_light_unit) if self.separate_edit else self.skip(w_norm) + self.out(neutral)
            if not neutral_grad:
                w0 = w0.detach()
            return w0 + edit
        delta = self.out(self._hidden(w_norm, light_unit, view_unit))
        if self.mode == "residual":
            return w_norm + delta
        if self.mode == "linear":
            return self.skip(w_norm) + delta
        return delta


def _neutral_light(light_unit: torch.Tensor) -> torch.Tensor:
    """(B, 4) unit lights -> the same intensities with a frontal direction (zero offsets)."""
    return torch.cat([light_unit[:, :2], torch.zeros_like(light_unit[:, 2:])], dim=1)


# ------------------------------------------------------------------------------ decoders
def _groups(channels: int) -> int:
    """GroupNorm groups as in table 3: channels / 4 (GN(64) for 256 channels), at least 1."""
    g = max(1, channels // 4)
    while channels % g:
        g -= 1
    return g


def decoder_widths(resolution: int, width: int, min_width: int) -> dict[int, int]:
    """Channels per feature-map size: ``{4: width, 8: width/2, ..., resolution/2: ...}``.

    With the paper's (256, 512, 16): 512, 256, 128, 64, 32, 16 at 4 .. 128.
    """
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    out, size, ch = {}, 4, int(width)
    while size <= resolution // 2:
        out[size] = max(int(min_width), ch)
        size, ch = size * 2, ch // 2
    return out


def _block(cin: int, cout: int, k: int, deconv: bool = False, norm: bool = True) -> list[nn.Module]:
    if deconv:
        conv: nn.Module = nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=not norm)
    else:
        conv = nn.Conv2d(cin, cout, k, 1, k // 2, bias=not norm, padding_mode="replicate")
    mods = [conv]
    if norm:
        mods.append(nn.GroupNorm(_groups(cout), cout))
    mods.append(nn.ReLU(inplace=True))
    return mods


class _Trunk(nn.Module):
    """MLP -> Deconv 4x4 -> up-sampling deconvs to resolution/2 (tables 3 and 4, upper part)."""

    def __init__(
        self, w_dim: int, mlp_width: int, mlp_layers: int, resolution: int,
        width: int, min_width: int, convs: bool,
    ) -> None:
        super().__init__()
        widths = decoder_widths(resolution, width, min_width)
        sizes = sorted(widths)
        self.mlp = MLP(w_dim, mlp_width, mlp_width, mlp_layers)
        mods: list[nn.Module] = [nn.ConvTranspose2d(mlp_width, widths[4], 4, 1, 0), nn.ReLU(inplace=True)]
        if convs:  # table 3 has a plain Conv + ReLU at 4x4
            mods += [nn.Conv2d(widths[4], widths[4], 3, 1, 1, padding_mode="replicate"), nn.ReLU(inplace=True)]
        for prev, size in zip(sizes[:-1], sizes[1:]):
            mods += _block(widths[prev], widths[size], 4, deconv=True)
            if convs:
                mods += _block(widths[size], widths[size], 3)
        self.net = nn.Sequential(*mods)
        self.out_channels = widths[sizes[-1]]

    def forward(self, w_norm: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.mlp(w_norm), 0.2)
        return self.net(h[:, :, None, None])


class ShapeDecoder(nn.Module):
    """D_S (table 3): normalised w0 and the teacher's last feature map -> depth logits.

    Args:
        w_dim: style code size.
        mlp_width, mlp_layers: the input MLP.
        resolution: output size R (power of two >= 8).
        width, min_width: decoder widths (see :func:`decoder_widths`).
        feature_channels: channels of the teacher's last feature map (0 = no InjectConv).

    Forward:
        w_norm (B, w_dim), features (B, C, h, w) or None -> logits (B, 1, R, R).
    """

    def __init__(
        self, w_dim: int, mlp_width: int, mlp_layers: int, resolution: int,
        width: int, min_width: int, feature_channels: int = 0, prior: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.resolution = int(resolution)
        # Fixed logits added to the output (see depth_prior_logits): the initial shape, which
        # picks the convex side of the convex/concave (hollow-face) ambiguity. None = flat.
        if prior is None:
            prior = torch.zeros(1, 1, self.resolution, self.resolution)
        if tuple(prior.shape) != (1, 1, self.resolution, self.resolution):
            raise ValueError(f"prior must have shape (1, 1, {self.resolution}, {self.resolution}), got {tuple(prior.shape)}")
        self.register_buffer("prior", prior.clone(), persistent=False)
        self.trunk = _Trunk(w_dim, mlp_width, mlp_layers, resolution, width, min_width, convs=True)
        c = self.trunk.out_channels
        self.feature_channels = int(feature_channels)
        # InjectConv: a 1x1 conv of the teacher's features, added after the last up-sampling.
        self.inject = nn.Conv2d(self.feature_channels, c, 1) if self.feature_channels else None
        last = nn.Conv2d(c, 1, 5, 1, 2, padding_mode="replicate")
        with torch.no_grad():  # start close to the (dome or flat) prior shape
            last.weight.mul_(0.1)
            last.bias.zero_()
        self.head = nn.Sequential(*_block(c, c, 3), *_block(c, c, 5), last)

    def forward(self, w_norm: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(self.trunk(w_norm), scale_factor=2, mode="nearest")
        if self.inject is not None:
            if features is None:
                raise ValueError(
                    f"ShapeDecoder was built with feature_channels={self.feature_channels}; "
                    "pass the teacher's last feature map"
                )
            if features.shape[1] != self.feature_channels:
                raise ValueError(
                    f"features must have {self.feature_channels} channels, got {tuple(features.shape)}"
                )
            h = h + self.inject(resize(features, self.resolution))
        return self.head(_channels_last(h)) + self.prior


def dome_map(size: int, sigma: float = 0.3) -> torch.Tensor:
    """A centred Gaussian bump with peak 1 and width ``sigma`` (fraction of the image). (1, 1, S, S)."""
    r = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) / size
    d2 = r[None, :] ** 2 + r[:, None] ** 2
    return torch.exp(-d2 / (2 * sigma**2))[None, None]


DEPTH_MODES = ("range", "relief")


def depth_prior_logits(
    size: int,
    relief: float,
    width: float = 0.3,
    depth_range: tuple[float, float] = (0.9, 1.1),
    background: float = 1.05,
    mode: str = "range",
) -> torch.Tensor:
    """Logits whose depth (:func:`depth_from_logits` without centring) is a dome.

    The dome rises ``relief`` scene units from a ``background`` plane towards the camera in the
    middle (a Gaussian of width ``width``). ``relief = 0`` gives all-zero logits in ``"range"``
    mode (flat at the middle of the range) and a plane about 1% of the range in front of the
    background in ``"relief"`` mode. Returns (1, 1, S, S).
    """
    if mode not in DEPTH_MODES:
        raise ValueError(f"depth mode must be one of {DEPTH_MODES}, got {mode!r}")
    lo, hi = float(depth_range[0]), float(depth_range[1])
    if mode == "relief":
        height = float(relief) * dome_map(size, width) / (background - lo)
        return torch.logit(height.clamp(0.01, 0.99))
    if relief == 0:
        return torch.zeros(1, 1, size, size)
    depth = background - float(relief) * dome_map(size, width)
    unit = ((depth - (lo + hi) / 2) / ((hi - lo) / 2)).clamp(-0.99, 0.99)
    return torch.atanh(unit)


class TransformDecoder(nn.Module):
    """D_T (table 4): normalised w0 (B, w_dim) -> transformation-map logits (B, 1, R, R)."""

    def __init__(
        self, w_dim: int, mlp_width: int, mlp_layers: int, resolution: int,
        width: int, min_width: int,
    ) -> None:
        super().__init__()
        self.trunk = _Trunk(w_dim, mlp_width, mlp_layers, resolution, width, min_width, convs=False)
        c = self.trunk.out_channels
        self.head = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            *_block(c, c, 3),
            nn.Conv2d(c, 1, 5, 1, 2, padding_mode="replicate"),
        )

    def forward(self, w_norm: torch.Tensor) -> torch.Tensor:
        return self.head(_channels_last(self.trunk(w_norm)))


def _channels_last(x: torch.Tensor) -> torch.Tensor:
    """``x`` in channels-last memory for the full-resolution heads of D_S and D_T. On the CPU
    oneDNN runs their 5x5 convolutions 2-3 times faster so (the one to a single output channel
    most: 16 channels at 64x64, batch 8, forward+backward 14.6 ms contiguous, 6.3 ms
    channels-last); the values agree to rounding."""
    return x.contiguous(memory_format=torch.channels_last)


# ------------------------------------------------------------------------------ outputs
def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize (B, C, H, W) to size x size: area averaging down, bilinear up."""
    if x.shape[-1] == size and x.shape[-2] == size:
        return x
    if x.shape[-1] > size:
        return F.interpolate(x, size=(size, size), mode="area")
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def depth_from_logits(
    logits: torch.Tensor,
    depth_range: tuple[float, float] = (0.9, 1.1),
    border_depth: float = 1.05,
    border_columns: int = 2,
    center: bool = True,
    mode: str = "range",
) -> torch.Tensor:
    """Depth from the shape decoder's logits.

    ``mode="range"`` (paper): logits minus their per-image mean, tanh, mapped to the range.
    ``center=False`` skips the mean subtraction (the official code subtracts it, which ties
    the depth of the background to the area and relief of the object).

    ``mode="relief"``: a height field in front of the background plane,
    ``depth = border_depth - (border_depth - lo) * sigmoid(logits)``, so no point lies behind
    the background. The concave (hollow-face) twin of a convex object, with the view and light
    mirrored, explains a teacher image exactly as well as the object itself, and a lift at CPU
    scale fell into it (depth error 1.9 on ``synthetic-faces`` at 32 px with the range
    form); behind-the-background shapes are what that twin needs, and no GAN category
    (faces, cats, cars) has them. ``center`` is ignored.

    The left and right ``border_columns`` columns are pinned to ``border_depth`` (official
    code), which anchors the background behind the object.

    Args:
        logits: (B, 1, H, W).

    Returns:
        (B, 1, H, W) depth.
    """
    lo, hi = float(depth_range[0]), float(depth_range[1])
    if mode == "relief":
        depth = border_depth - (border_depth - lo) * torch.sigmoid(logits)
    else:
        x = logits - logits.mean(dim=(1, 2, 3), keepdim=True) if center else logits
        depth = (lo + hi) / 2 + (hi - lo) / 2 * torch.tanh(x)
    k = int(border_columns)
    if k > 0:
        cols = torch.arange(depth.shape[-1], device=depth.device)
        edge = (cols < k) | (cols >= depth.shape[-1] - k)
        depth = torch.where(edge.view(1, 1, 1, -1), torch.full_like(depth, border_depth), depth)
    return depth


def transform_from_logits(
    logits: torch.Tensor,
    depth: torch.Tensor,
    threshold: float = 1.04,
    blur: int = 21,
    frame: int = 1,
    bias: float = 5.0,
) -> torch.Tensor:
    """Transformation map T (paper eq. 1, official post-processing).

    ``T = sigmoid(logits + bias)`` (official bias 5: starts near 1), forced to 1 on the object
    (``depth <= threshold``), blurred with a ``blur`` x ``blur`` Gaussian, and forced to 0 on
    the outer ``frame`` pixels so the image border never moves
    (:func:`~ganlift.render.camera.pin_frame`).

    Args:
        logits: (B, 1, H, W).
        depth: (B, 1, H, W) canonical depth.

    Returns:
        (B, 1, H, W) in [0, 1].
    """
    t = torch.sigmoid(logits + bias)
    t = torch.where(depth.detach() <= threshold, torch.ones_like(t), t)
    if blur and blur > 1:
        t = gaussian_blur(t, blur)
    return pin_frame(t, frame)

