"""A StyleGAN2 generator teacher compatible with rosinality/stylegan2-pytorch checkpoints.

Pure torch (no custom CUDA ops), so it runs on CPU and GPU alike. The module's parameter and
buffer names are exactly the rosinality state-dict keys (``style.{i}.*``, ``input.input``,
``conv1.*``, ``convs.{i}.*``, ``to_rgb1.*``, ``to_rgbs.{i}.*``, ``noises.noise_{i}``, blur
kernels), plus two ganlift buffers ``w_mean`` and ``w_std`` (1, w_dim).

What the network computes (rosinality semantics; ``tests/test_stylegan2.py`` checks it against
reference outputs of rosinality's generator):

* mapping: PixelNorm, then ``n_mlp`` equalised-lr linear layers (lr_mul 0.01; stored weights are
  1/lr_mul larger, as in real checkpoints) each followed by ``lrelu(x + b) * sqrt(2)``;
* synthesis: constant 4x4 input, ``conv1`` + ``to_rgb1``, then per resolution an upsampling
  modulated conv (transposed conv stride 2 + FIR blur), a plain modulated conv and a ToRGB whose
  skip input is FIR-upsampled. Noise is the fixed ``noises.noise_{i}`` buffers (never random).

Modulated convs run in the "fused" form by default: modulate the activations by the style,
run one ordinary conv for the whole batch, then demodulate the output by the per-sample
weight norm. It is the same function as the per-sample-weight (grouped) conv up to float
rounding and much faster on CPU. ``teacher.modconv = "grouped"`` switches to the literal
per-sample weights (batch as groups).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ganlift.teachers import TEACHERS
from ganlift.teachers.base import Teacher
from ganlift.utils.tensors import check_tensors

__all__ = [
    "StyleGAN2Teacher",
    "random_stylegan2",
    "CONFIG_F_CHANNELS",
    "CONFIG_E_CHANNELS",
    "NARROW_CHANNELS",
    "CHANNEL_TABLES",
    "MAPPING_LR_MUL",
]

# Standard rosinality channel tables: channel_multiplier=2 ("config-f") and 1 ("config-e").
CONFIG_F_CHANNELS: dict[int, int] = {
    4: 512, 8: 512, 16: 512, 32: 512, 64: 512, 128: 256, 256: 128, 512: 64, 1024: 32,
}
CONFIG_E_CHANNELS: dict[int, int] = {
    4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16,
}
# The narrow table of the LiftedGAN paper's FFHQ-256 teacher.
NARROW_CHANNELS: dict[int, int] = {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 32, 256: 16}
# A tiny table for tests (what random_stylegan2 uses when channels=None).
TINY_CHANNELS: dict[int, int] = {
    4: 32, 8: 32, 16: 32, 32: 16, 64: 16, 128: 8, 256: 8, 512: 8, 1024: 8,
}
CHANNEL_TABLES: dict[str, dict[int, int]] = {
    "config-f": CONFIG_F_CHANNELS,
    "config-e": CONFIG_E_CHANNELS,
    "narrow": NARROW_CHANNELS,
    "tiny": TINY_CHANNELS,
}

MAPPING_LR_MUL = 0.01  # rosinality's lr_mlp: every mapping layer scales weight and bias by it
# Largest architecture a file may describe (StyleGAN2 tops out at 1024 px, 512 channels,
# 8 mapping layers): anything beyond is refused before a network is built.
MAX_RESOLUTION = 4096
MAX_WIDTH = 8192
MAX_MAPPING_LAYERS = 64
ACT_GAIN = math.sqrt(2.0)
_STATS = ("w_mean", "w_std")
_W_STATS_BATCH = 4096  # fixed so the estimate depends only on (samples, seed)


# ----------------------------------------------------------------------------------------
# building blocks (attribute names = rosinality state-dict names)


class _PixelNorm(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class _MappingLinear(nn.Module):
    """Equalised-lr linear + lrelu*sqrt(2); runtime scale lr_mul/sqrt(in), bias * lr_mul."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = MAPPING_LR_MUL) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.scale)
        return F.leaky_relu(x + self.bias * self.lr_mul, 0.2) * ACT_GAIN


class _Modulation(nn.Module):
    """Style affine: s = w @ (M / sqrt(w_dim))^T + b (lr_mul 1)."""

    def __init__(self, w_dim: int, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(channels, w_dim))
        self.bias = nn.Parameter(torch.ones(channels))
        self.scale = 1.0 / math.sqrt(w_dim)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        return F.linear(w, self.weight * self.scale, self.bias)


class _Kernel(nn.Module):
    """Holds a FIR ``kernel`` buffer (4x4, sum 4 = normalised taps times up-factor**2)."""

    def __init__(self) -> None:
        super().__init__()
        k = torch.tensor([1.0, 3.0, 3.0, 1.0])
        k2 = torch.outer(k, k)
        self.register_buffer("kernel", k2 / k2.sum() * 4.0)

    def fir(self, x: torch.Tensor, pad: int) -> torch.Tensor:
        """True 2D convolution (kernel flipped) of every channel with ``kernel`` after zero
        padding ``pad`` on every side."""
        c = x.shape[1]
        k = torch.flip(self.kernel, (0, 1)).to(x.dtype)
        weight = k[None, None].expand(c, 1, *k.shape).contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, weight, padding=pad, groups=c)

    def upsample2x(self, x: torch.Tensor) -> torch.Tensor:
        """2x FIR upsampling: zero insertion (sample p -> 2p), pad 2 top/left and 1
        bottom/right, convolve with ``kernel``. Written as the equivalent transposed conv
        (stride 2, crop 1), which skips the multiplications by inserted zeros."""
        c = x.shape[1]
        weight = self.kernel.to(x.dtype)[None, None].expand(c, 1, *self.kernel.shape)
        return F.conv_transpose2d(x, weight.contiguous(), stride=2, padding=1, groups=c)


class _ModConv(nn.Module):
    """Modulated conv. weight (1, Cout, Cin, k, k); optional 2x upsampling (+ FIR blur)."""

    def __init__(
        self, in_ch: int, out_ch: int, w_dim: int, kernel_size: int, demodulate: bool,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, out_ch, in_ch, kernel_size, kernel_size))
        self.modulation = _Modulation(w_dim, in_ch)
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel_size // 2
        self.fused = True
        if upsample:
            self.blur = _Kernel()

    def forward(
        self, x: torch.Tensor, w: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns ``(y, d)``: the conv output and the demodulation factors (B, Cout) still
        to be multiplied in (None when already applied or not demodulating). The caller
        fuses ``y * d`` with its bias/noise add to save a pass over the activations."""
        s = self.modulation(w)  # (B, Cin)
        weight = self.weight[0] * self.scale  # (Cout, Cin, k, k)
        if self.fused:
            y, d = self._fused(x, s, weight)
        else:
            y, d = self._grouped(x, s, weight), None
        if self.upsample:
            # transposed conv gives 2H+1; pad 1 and blur -> 2H (blur commutes with y * d)
            y = self.blur.fir(y, 1)
        return y, d

    def _fused(
        self, x: torch.Tensor, s: torch.Tensor, weight: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        # Scaling input channels by s[b] and output channels by d[b] equals convolving with
        # the per-sample weight W*s*d, but runs as a single batched conv. channels_last makes
        # the CPU (oneDNN) convs 1.5-2.5x faster at the narrow, high-resolution layers.
        x = (x * s[:, :, None, None]).contiguous(memory_format=torch.channels_last)
        if self.upsample:
            y = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
        else:
            y = F.conv2d(x, weight, padding=self.padding)
        d = None
        if self.demodulate:
            wsq = weight.pow(2).sum(dim=(2, 3))  # (Cout, Cin)
            d = torch.rsqrt(F.linear(s.pow(2), wsq) + 1e-8)  # (B, Cout)
        return y, d

    def _grouped(self, x: torch.Tensor, s: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        b, cin, h, wd = x.shape
        cout, k = weight.shape[0], weight.shape[-1]
        wb = weight[None] * s[:, None, :, None, None]  # (B, Cout, Cin, k, k)
        if self.demodulate:
            wb = wb * torch.rsqrt(wb.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        x = x.contiguous().reshape(1, b * cin, h, wd)
        if self.upsample:
            wt = wb.transpose(1, 2).reshape(b * cin, cout, k, k)
            y = F.conv_transpose2d(x, wt, stride=2, groups=b)
        else:
            y = F.conv2d(x, wb.reshape(b * cout, cin, k, k), padding=self.padding, groups=b)
        return y.reshape(b, cout, *y.shape[2:])


class _Noise(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))  # scalar noise strength


class _Act(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))


class _StyledConv(nn.Module):
    """Modulated 3x3 conv -> + strength * fixed noise -> lrelu(x + b) * sqrt(2) [-> clamp]."""

    def __init__(self, in_ch: int, out_ch: int, w_dim: int, upsample: bool) -> None:
        super().__init__()
        self.conv = _ModConv(in_ch, out_ch, w_dim, 3, demodulate=True, upsample=upsample)
        self.noise = _Noise()
        self.activate = _Act(out_ch)

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor, clamp: float | None
    ) -> torch.Tensor:
        y, d = self.conv(x, w)
        # lrelu(t) * g == lrelu(t * g) for g > 0, so the gain folds into the small tensors and
        # y * d + noise + bias becomes one addcmul pass, followed by an in-place lrelu.
        offset = (self.noise.weight * noise + self.activate.bias[None, :, None, None]) * ACT_GAIN
        offset = offset.contiguous(memory_format=torch.channels_last)
        if d is None:
            y = torch.add(offset, y, alpha=ACT_GAIN)
        else:
            y = torch.addcmul(offset, y, (d * ACT_GAIN)[:, :, None, None])
        y = F.leaky_relu(y, 0.2, inplace=True)
        if clamp is not None:  # NVIDIA conv_clamp: after the activation gain
            y = y.clamp(-clamp, clamp)
        return y


class _ToRGB(nn.Module):
    """1x1 modulated conv without demodulation + bias [-> clamp], plus FIR-upsampled skip."""

    def __init__(self, in_ch: int, w_dim: int, upsample: bool) -> None:
        super().__init__()
        self.conv = _ModConv(in_ch, 3, w_dim, 1, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        if upsample:
            self.upsample = _Kernel()

    def forward(
        self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None, clamp: float | None
    ) -> torch.Tensor:
        if self.conv.fused:
            rgb = self._project(x, w)
        else:
            rgb = self.conv(x, w)[0] + self.bias
        if clamp is not None:  # NVIDIA conv_clamp: ToRGB output after its bias
            rgb = rgb.clamp(-clamp, clamp)
        if skip is not None:
            rgb = rgb + self.upsample.upsample2x(skip)
        return rgb

    def _project(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        # Per-sample 1x1 weights (B, Cin, 3) applied as one batched matmul over the pixels;
        # for a channels_last x the (B, H*W, Cin) view needs no copy.
        s = self.conv.modulation(w)  # (B, Cin)
        weight = self.conv.weight[0, :, :, 0, 0] * self.conv.scale  # (3, Cin)
        wb = weight.t()[None] * s[:, :, None]  # (B, Cin, 3)
        pixels = rearrange(x, "b c h w -> b (h w) c")
        rgb = torch.baddbmm(self.bias.reshape(1, 1, 3), pixels, wb)  # (B, H*W, 3)
        return rearrange(rgb, "b (h w) rgb -> b rgb h w", h=x.shape[2])


class _Const(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.zeros(1, channels, 4, 4))


class _Noises(nn.Module):
    def __init__(self, num_layers: int) -> None:
        super().__init__()
        for i in range(num_layers):
            res = 2 ** ((i + 5) // 2)
            self.register_buffer(f"noise_{i}", torch.zeros(1, 1, res, res))


# ----------------------------------------------------------------------------------------
# the teacher


def _log2_resolution(resolution: int) -> int:
    log = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 8 or 2**log != resolution:
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    return log


def _normalise_channels(channels: Any, resolution: int) -> dict[int, int]:
    """Accept a dict res->ch (int or str keys) or a table name; return the 4..resolution part."""
    if channels is None:
        channels = TINY_CHANNELS
    if isinstance(channels, str):
        if channels not in CHANNEL_TABLES:
            raise ValueError(
                f"channels must be a dict resolution->channels or one of "
                f"{sorted(CHANNEL_TABLES)}, got {channels!r}"
            )
        channels = CHANNEL_TABLES[channels]
    if not isinstance(channels, Mapping):
        raise ValueError(f"channels must be a dict resolution->channels, got {type(channels).__name__}")
    table = {int(k): int(v) for k, v in channels.items()}
    needed = [2**i for i in range(2, _log2_resolution(resolution) + 1)]
    missing = [r for r in needed if r not in table]
    if missing:
        raise ValueError(
            f"channels table has no entry for resolution(s) {missing} "
            f"(needs 4..{resolution}); got {sorted(table)}"
        )
    bad = {r: table[r] for r in needed if table[r] < 1}
    if bad:
        raise ValueError(f"channel counts must be positive, got {bad}")
    return {r: table[r] for r in needed}


class StyleGAN2Teacher(Teacher):
    """Frozen rosinality-compatible StyleGAN2 generator (see the module docstring).

    Build it with :meth:`from_state_dict` (a checkpoint's ``g_ema``),
    :func:`ganlift.load_teacher` (a file) or :func:`random_stylegan2` (tests). The plain
    constructor makes an all-zero network of the given architecture.

    Args:
        resolution: output size (power of two >= 8).
        w_dim: style size.
        z_dim: latent size (the mapping's input).
        n_mlp: number of mapping layers (>= 1).
        channels: dict resolution -> channels for 4..resolution, or a table name
            (``"config-f"``, ``"config-e"``, ``"narrow"``, ``"tiny"``).
        conv_clamp: clamp every styled-conv output (after the activation gain) and every ToRGB
            output (after its bias) to +-conv_clamp, like NVIDIA's generator; None = no clamp.
        name: short human-readable name.
    """

    def __init__(
        self,
        resolution: int,
        w_dim: int = 512,
        z_dim: int | None = None,
        n_mlp: int = 8,
        channels: Any = "config-f",
        conv_clamp: float | None = None,
        name: str = "stylegan2",
    ) -> None:
        super().__init__()
        log = _log2_resolution(int(resolution))
        if int(n_mlp) < 1:
            raise ValueError(f"n_mlp must be >= 1, got {n_mlp}")
        if int(w_dim) < 1:
            raise ValueError(f"w_dim must be positive, got {w_dim}")
        if conv_clamp is not None and not float(conv_clamp) > 0:
            raise ValueError(f"conv_clamp must be positive or None, got {conv_clamp}")
        self.resolution = int(resolution)
        self.w_dim = int(w_dim)
        self.z_dim = int(z_dim) if z_dim is not None else self.w_dim
        self.n_mlp = int(n_mlp)
        self.num_ws = 2 * log - 2
        self.channels = _normalise_channels(channels, self.resolution)
        self.conv_clamp = float(conv_clamp) if conv_clamp is not None else None
        self.name = name
        # Extra JSON fields for reference(): file path/sha256, how w_mean was obtained.
        self.origin: dict[str, Any] = {}

        ch = self.channels
        layers: list[nn.Module] = [_PixelNorm()]
        for i in range(self.n_mlp):
            layers.append(_MappingLinear(self.z_dim if i == 0 else self.w_dim, self.w_dim))
        self.style = nn.Sequential(*layers)

        self.input = _Const(ch[4])
        self.conv1 = _StyledConv(ch[4], ch[4], self.w_dim, upsample=False)
        self.to_rgb1 = _ToRGB(ch[4], self.w_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        for i in range(3, log + 1):
            prev, cur = ch[2 ** (i - 1)], ch[2**i]
            self.convs.append(_StyledConv(prev, cur, self.w_dim, upsample=True))
            self.convs.append(_StyledConv(cur, cur, self.w_dim, upsample=False))
            self.to_rgbs.append(_ToRGB(cur, self.w_dim, upsample=True))
        self.num_layers = 2 * (log - 2) + 1
        self.noises = _Noises(self.num_layers)

        self.register_buffer("w_mean", torch.zeros(1, self.w_dim))
        self.register_buffer("w_std", torch.ones(1, self.w_dim))
        self.freeze()

    # ------------------------------------------------------------------ description
    @property
    def config(self) -> dict[str, Any]:
        """JSON description of the architecture (enough to rebuild it with ``from_config``)."""
        return {
            "resolution": self.resolution,
            "w_dim": self.w_dim,
            "z_dim": self.z_dim,
            "n_mlp": self.n_mlp,
            "channels": {str(r): c for r, c in self.channels.items()},
            "conv_clamp": self.conv_clamp,
        }

    @classmethod
    def from_config(cls, config: Mapping[str, Any], name: str = "stylegan2") -> "StyleGAN2Teacher":
        """An all-zero network with the architecture of ``config`` (see :attr:`config`)."""
        known = {"resolution", "w_dim", "z_dim", "n_mlp", "channels", "conv_clamp"}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"unknown StyleGAN2 config keys {unknown}; allowed: {sorted(known)}")
        return cls(name=name, **dict(config))

    def reference(self) -> dict:
        """JSON description to re-load this teacher.

        From a file: ``{"name", "kind", "config", "path", "sha256", "format", ...}`` plus the
        w-statistics options (``w_mean_samples``, ``seed``) when the mean was estimated. From
        :func:`random_stylegan2`: ``{"name": "stylegan2-random", **factory options}`` so that
        ``load_teacher(ref.pop("name"), **ref)`` rebuilds it.
        """
        ref: dict[str, Any] = {"name": self.name}
        ref.update(self.origin or {"kind": "stylegan2", "config": self.config})
        return ref

    @property
    def modconv(self) -> str:
        """How modulated convs run: ``"fused"`` (default) or ``"grouped"``."""
        return "fused" if self.conv1.conv.fused else "grouped"

    @modconv.setter
    def modconv(self, mode: str) -> None:
        if mode not in ("fused", "grouped"):
            raise ValueError(f"modconv must be 'fused' or 'grouped', got {mode!r}")
        for m in self.modules():
            if isinstance(m, _ModConv):
                m.fused = mode == "fused"

    def extra_repr(self) -> str:
        return (
            f"resolution={self.resolution}, w_dim={self.w_dim}, n_mlp={self.n_mlp}, "
            f"channels={self.channels}, conv_clamp={self.conv_clamp}"
        )

    # ------------------------------------------------------------------ networks
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Map z (B, z_dim) to w (B, w_dim) (PixelNorm + n_mlp layers)."""
        if z.dim() != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (B, {self.z_dim}), got {tuple(z.shape)}")
        return self.style(z)

    def _per_layer(self, w: torch.Tensor) -> torch.Tensor:
        if w.dim() == 2 and w.shape[1] == self.w_dim:
            return w[:, None, :].expand(-1, self.num_ws, -1)
        if w.dim() == 3 and w.shape[1:] == (self.num_ws, self.w_dim):
            return w
        raise ValueError(
            f"w must have shape (B, {self.w_dim}) or (B, {self.num_ws}, {self.w_dim}), "
            f"got {tuple(w.shape)}"
        )

    def synthesis(
        self, w: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Render images from style codes.

        Args:
            w: (B, w_dim) one code for every layer, or (B, num_ws, w_dim) per-layer codes.
                Layer use: conv1 0, to_rgb1 1, convs.{2j} 2j+1, convs.{2j+1} 2j+2,
                to_rgbs.{j} 2j+3.
            return_features: also return the output of the last styled conv
                (B, C_res, resolution, resolution), the input of the final ToRGB.

        Returns:
            image (B, 3, resolution, resolution), not clamped (nominally [-1, 1]), or
            ``(image, features)``.
        """
        ws = self._per_layer(w)
        clamp = self.conv_clamp
        noises = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        x = self.input.input.expand(ws.shape[0], -1, -1, -1)
        x = self.conv1(x, ws[:, 0], noises[0], clamp)
        rgb = self.to_rgb1(x, ws[:, 1], None, clamp)
        for j, to_rgb in enumerate(self.to_rgbs):
            x = self.convs[2 * j](x, ws[:, 2 * j + 1], noises[2 * j + 1], clamp)
            x = self.convs[2 * j + 1](x, ws[:, 2 * j + 2], noises[2 * j + 2], clamp)
            rgb = to_rgb(x, ws[:, 2 * j + 3], rgb, clamp)
        rgb = rgb.contiguous()
        return (rgb, x.contiguous()) if return_features else rgb

    # ------------------------------------------------------------------ w statistics
    @torch.no_grad()
    def estimate_w_stats(
        self, samples: int = 50_000, seed: int = 0, batch_size: int = _W_STATS_BATCH
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std (each (1, w_dim)) of ``mapping(z)`` over ``samples`` seeded draws.

        z is drawn on the CPU from ``torch.Generator().manual_seed(seed)`` in batches of
        ``batch_size`` (keep the default for reproducible numbers); moments are accumulated
        in float64 by merging batch statistics.
        """
        samples = int(samples)
        if samples < 2:
            raise ValueError(f"w_mean_samples must be >= 2, got {samples}")
        gen = torch.Generator().manual_seed(int(seed))
        device = self.w_mean.device
        count = 0
        mean = torch.zeros(self.w_dim, dtype=torch.float64, device=device)
        m2 = torch.zeros(self.w_dim, dtype=torch.float64, device=device)
        while count < samples:
            n = min(batch_size, samples - count)
            z = torch.randn(n, self.z_dim, generator=gen).to(device=device, dtype=self.w_mean.dtype)
            w = self.mapping(z).double()
            bmean = w.mean(0)
            bm2 = (w - bmean).pow(2).sum(0)
            delta = bmean - mean
            total = count + n
            mean = mean + delta * (n / total)
            m2 = m2 + bm2 + delta.pow(2) * (count * n / total)
            count = total
        std = (m2 / (count - 1)).sqrt()
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise RuntimeError("the mapping network produced non-finite w; the weights are broken")
        dtype = self.w_mean.dtype
        return mean[None].to(dtype), std[None].to(dtype)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_state_dict(
        cls,
        state: Mapping[str, torch.Tensor],
        *,
        w_mean: torch.Tensor | None = None,
        w_std: torch.Tensor | None = None,
        conv_clamp: float | None = None,
        name: str = "stylegan2",
        w_mean_samples: int = 50_000,
        seed: int = 0,
    ) -> "StyleGAN2Teacher":
        """Build a frozen teacher from a rosinality generator state dict (``g_ema``).

        Resolution, w_dim, z_dim, mapping depth and the channel table are inferred from the
        tensor shapes; every key must match (strict).

        Args:
            state: rosinality generator state dict (tensors; any float dtype/device).
            w_mean: (w_dim,) or (1, w_dim), e.g. the checkpoint's ``latent_avg``. When None
                it is estimated from ``w_mean_samples`` mapped samples seeded by ``seed``.
            w_std: (w_dim,) or (1, w_dim) per-dimension std of w; estimated when None.
            conv_clamp: NVIDIA-style output clamp (see the class docstring); None = off.
            name: the teacher's name.
            w_mean_samples: number of mapped samples for the w statistics.
            seed: seed of those samples.

        Raises:
            ValueError: the state is not a StyleGAN2 generator, keys are missing or
                unexpected (all named), shapes do not fit, or values are not finite.
        """
        if not isinstance(state, Mapping):
            raise ValueError(f"state must be a dict of tensors, got {type(state).__name__}")
        state = dict(state)
        # Everything is checked on shapes alone (a meta-device template allocates nothing)
        # before the real network is built or any tensor is copied.
        check_tensors({"state": state, "w_mean": w_mean, "w_std": w_std}, "generator state dict")
        stats = {k: state.pop(k) for k in _STATS if k in state}
        if w_mean is None:
            w_mean = stats.get("w_mean")
        if w_std is None:
            w_std = stats.get("w_std")
        config = infer_config(state)
        with torch.device("meta"):
            template = cls(conv_clamp=conv_clamp, name=name, **config)
        expected = {k: v for k, v in template.state_dict().items() if k not in _STATS}
        _check_keys(state, expected, config)
        for what, value in (("w_mean", w_mean), ("w_std", w_std)):
            if value is not None:
                _check_stat_shape(value, config["w_dim"], what)
        teacher = cls(conv_clamp=conv_clamp, name=name, **config)
        converted = {}
        for key, value in state.items():
            t = value.detach().to("cpu", torch.float32)
            if not torch.isfinite(t).all():
                raise ValueError(f"generator weight {key!r} contains NaN or Inf values")
            converted[key] = t
        converted["w_mean"] = teacher.w_mean
        converted["w_std"] = teacher.w_std
        teacher.load_state_dict(converted, strict=True)

        teacher.origin = {"kind": "stylegan2", "config": teacher.config}
        if w_mean is None or w_std is None:
            est_mean, est_std = teacher.estimate_w_stats(w_mean_samples, seed)
            teacher.origin.update({"w_mean_samples": int(w_mean_samples), "seed": int(seed)})
        if w_mean is not None:
            teacher.w_mean.copy_(_stat(w_mean, teacher.w_dim, "w_mean"))
            teacher.origin["w_mean_source"] = "given"
        else:
            teacher.w_mean.copy_(est_mean)
            teacher.origin["w_mean_source"] = "estimated"
        teacher.w_std.copy_(_stat(w_std, teacher.w_dim, "w_std") if w_std is not None else est_std)
        return teacher.freeze()


def _check_stat_shape(value: Any, w_dim: int, what: str) -> None:
    shape = tuple(value.shape) if torch.is_tensor(value) else None
    if shape is None:
        return  # numbers or lists: small, checked by _stat
    if len(shape) > 2 or math.prod(shape) != w_dim:
        raise ValueError(f"{what} must have shape ({w_dim},) or (1, {w_dim}), got {shape}")
    if not value.is_floating_point():
        raise ValueError(f"{what} has dtype {value.dtype}; it must be a floating-point tensor")


def _stat(value: Any, w_dim: int, what: str) -> torch.Tensor:
    _check_stat_shape(value, w_dim, what)
    t = torch.as_tensor(value).detach().to("cpu", torch.float32)
    if t.numel() != w_dim or t.dim() > 2:
        raise ValueError(f"{what} must have shape ({w_dim},) or (1, {w_dim}), got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{what} contains NaN or Inf values")
    return t.reshape(1, w_dim)


# ----------------------------------------------------------------------------------------
# architecture inference and strict key checks


def _shape(state: Mapping[str, torch.Tensor], key: str) -> tuple[int, ...] | None:
    t = state.get(key)
    return tuple(t.shape) if isinstance(t, torch.Tensor) else None


def describe_state(keys: Any) -> str | None:
    """Say what a non-generator state dict looks like, or None when it is not recognised."""
    keys = [str(k) for k in keys]
    if any(re.match(r"convs\.\d+\.\d+\.", k) for k in keys) or any(
        k.startswith(("final_linear.", "final_conv.")) for k in keys
    ):
        return (
            "a rosinality StyleGAN2 discriminator (keys like 'convs.0.0.weight', "
            "'final_linear.*'), not a generator; a training checkpoint keeps the generator "
            "under 'g_ema'"
        )
    if any(k.startswith(("mapping.fc", "synthesis.b")) for k in keys):
        return (
            "an NVIDIA-layout generator (keys like 'mapping.fc0.weight', 'synthesis.b4.*'); "
            "load the original NVIDIA .pkl with ganlift.load_teacher('file.pkl')"
        )
    lifter_markers = ("view", "light", "shape", "depth", "albedo", "manip", "transform", "lifter")
    if keys and not any(k.startswith(("style.", "conv1.", "convs.", "to_rgb")) for k in keys) and any(
        any(m in k.split(".")[0].lower() for m in lifter_markers) for k in keys
    ):
        return (
            "a ganlift lifter checkpoint (view/light/shape decoders), not a 2D generator; "
            "load it with ganlift.Lifter.from_pretrained(folder)"
        )
    if any(k.startswith(("g.", "d.", "g_ema.")) for k in keys):
        return "a whole training module (keys prefixed 'g.', 'd.' or 'g_ema.'), not a bare generator"
    return None


def _indices(state: Mapping[str, Any], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.match(str(k)))})


def infer_config(state: Mapping[str, torch.Tensor]) -> dict[str, Any]:
    """Infer resolution, w_dim, z_dim, n_mlp and channels from rosinality tensor shapes.

    Raises:
        ValueError: the state is not (or not enough of) a StyleGAN2 generator, with a
            description of what it looks like instead where recognisable.
    """
    core = ("input.input", "conv1.conv.weight", "conv1.conv.modulation.weight", "style.1.weight")
    absent = [k for k in core if _shape(state, k) is None]
    if absent:
        what = describe_state(state.keys())
        sample = ", ".join(repr(k) for k in list(state)[:6]) or "(none)"
        raise ValueError(
            "not a rosinality StyleGAN2 generator state dict: "
            f"missing {absent}. "
            + (f"It looks like {what}. " if what else "")
            + f"First keys: {sample}"
        )
    mlp = _indices(state, r"style\.(\d+)\.weight$")
    n_mlp = max(mlp)
    for key in ("style.1.weight", f"style.{n_mlp}.weight"):
        if len(_shape(state, key) or ()) != 2:
            raise ValueError(f"{key!r} must be a 2-D (out, in) matrix, got shape {list(_shape(state, key) or [])}")
    w_dim, z_dim = _shape(state, f"style.{n_mlp}.weight")[0], _shape(state, "style.1.weight")[1]
    c4 = _shape(state, "input.input")
    if len(c4) != 4 or c4[2:] != (4, 4):
        raise ValueError(f"'input.input' must have shape (1, C, 4, 4), got {list(c4)}")
    channels = {4: c4[1]}
    convs = _indices(state, r"convs\.(\d+)\.")
    rgbs = _indices(state, r"to_rgbs\.(\d+)\.")
    n_blocks = max((max(convs) // 2 + 1) if convs else 0, (max(rgbs) + 1) if rgbs else 0)
    if n_blocks < 1:
        raise ValueError("the generator has no 'convs.*' layers: cannot infer its resolution")
    if 2 ** (n_blocks + 2) > MAX_RESOLUTION:
        raise ValueError(f"the keys describe a {2 ** (n_blocks + 2)}px generator; at most "
                         f"{MAX_RESOLUTION}px is supported (convs.*/to_rgbs.* indices too large)")
    for j in range(n_blocks):
        res = 2 ** (j + 3)
        found = None
        for key in (f"convs.{2 * j}.conv.weight", f"convs.{2 * j + 1}.conv.weight"):
            shp = _shape(state, key)
            if shp is not None and len(shp) == 5:
                found = shp[1]
                break
        if found is None:
            shp = _shape(state, f"to_rgbs.{j}.conv.weight")
            found = shp[2] if shp is not None and len(shp) == 5 else None
        if found is None:
            raise ValueError(
                f"cannot infer the channel count at resolution {res}: keys "
                f"'convs.{2 * j}.conv.weight', 'convs.{2 * j + 1}.conv.weight' and "
                f"'to_rgbs.{j}.conv.weight' are all missing"
            )
        channels[res] = found
    config = {
        "resolution": 2 ** (n_blocks + 2),
        "w_dim": w_dim,
        "z_dim": z_dim,
        "n_mlp": n_mlp,
        "channels": channels,
    }
    _check_bounds(config)
    return config


def _check_bounds(config: Mapping[str, Any]) -> None:
    """Refuse an inferred architecture too large for any real StyleGAN2 (before building it)."""
    if not 1 <= config["n_mlp"] <= MAX_MAPPING_LAYERS:
        raise ValueError(f"the generator has {config['n_mlp']} mapping layers (style.*); "
                         f"1 to {MAX_MAPPING_LAYERS} are supported")
    sizes = {"w_dim": config["w_dim"], "z_dim": config["z_dim"],
             **{f"channels at {r}px": c for r, c in config["channels"].items()}}
    bad = {k: v for k, v in sizes.items() if not 1 <= v <= MAX_WIDTH}
    if bad:
        raise ValueError(f"the generator's widths {bad} are outside 1..{MAX_WIDTH}")


def _names(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f", ... and {len(keys) - limit} more" if len(keys) > limit else "")


def _check_keys(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor], config: dict
) -> None:
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing keys ({len(missing)}): {_names(missing)}")
    if unexpected:
        problems.append(f"unexpected keys ({len(unexpected)}): {_names(unexpected)}")
    bad = []
    for key, ref in expected.items():
        value = state.get(key)
        if key in state and not isinstance(value, torch.Tensor):
            bad.append(f"{key}: not a tensor ({type(value).__name__})")
        elif key in state and tuple(value.shape) != tuple(ref.shape):
            bad.append(f"{key}: file {list(value.shape)} vs expected {list(ref.shape)}")
        elif key in state and not value.is_floating_point():
            bad.append(f"{key}: dtype {value.dtype} (weights must be floating point; it would "
                       "be cast silently)")
    if bad:
        more = " ..." if len(bad) > 8 else ""
        problems.append(f"shape or dtype mismatches ({len(bad)}): " + "; ".join(bad[:8]) + more)
    if problems:
        arch = (
            f"resolution {config['resolution']}, w_dim {config['w_dim']}, "
            f"n_mlp {config['n_mlp']}, channels {config['channels']}"
        )
        what = describe_state(unexpected)
        raise ValueError(
            f"state dict does not match a StyleGAN2 generator ({arch} inferred from its "
            "shapes): " + "; ".join(problems)
            + (f". The extra keys look like {what}" if what else "")
        )


# ----------------------------------------------------------------------------------------
# random teachers for tests and benchmarks


def random_state_dict(
    resolution: int = 32,
    w_dim: int = 64,
    n_mlp: int = 2,
    channels: Any = None,
    seed: int = 0,
    z_dim: int | None = None,
) -> dict[str, torch.Tensor]:
    """A rosinality-layout generator state dict with seeded random weights.

    Like real checkpoints, mapping weights and biases are stored 1/lr_mul (100x) larger,
    modulation biases are near 1 and noise strengths are small. ToRGB weights are scaled by
    0.25 so that images fall roughly in [-1, 1].
    """
    template = StyleGAN2Teacher(resolution, w_dim, z_dim, n_mlp, channels)
    gen = torch.Generator().manual_seed(int(seed))
    state = {}
    for key, ref in template.state_dict().items():
        if key in _STATS:
            continue
        if key.endswith(".kernel"):
            state[key] = ref.clone()
            continue
        t = torch.randn(ref.shape, generator=gen)
        if key.endswith("modulation.bias"):
            t = 1.0 + 0.1 * t
        elif key.endswith("bias") or key.endswith("noise.weight"):
            t = 0.1 * t
        if key.startswith("style."):
            t = t / MAPPING_LR_MUL
        if key.startswith("to_rgb") and key.endswith("conv.weight"):
            t = t * 0.25  # keeps random images roughly within [-1, 1], like trained ones
        state[key] = t
    return state


def random_stylegan2(
    resolution: int = 32,
    w_dim: int = 64,
    n_mlp: int = 2,
    channels: Any = None,
    seed: int = 0,
    *,
    w_mean_samples: int = 4096,
    conv_clamp: float | None = None,
) -> StyleGAN2Teacher:
    """A small frozen StyleGAN2 teacher with seeded random weights (tests and benchmarks).

    Args:
        resolution: output size (power of two >= 8).
        w_dim: style (and z) size.
        n_mlp: mapping depth.
        channels: dict resolution -> channels or a table name (``"narrow"``, ``"config-f"``,
            ``"config-e"``, ``"tiny"``); None = ``TINY_CHANNELS``.
        seed: weight seed (the w statistics use the same seed).
        w_mean_samples: mapped samples for ``w_mean``/``w_std``.
        conv_clamp: optional NVIDIA-style clamp.

    Returns:
        A :class:`StyleGAN2Teacher` named ``"stylegan2-random"`` whose ``reference()`` re-creates
        it through ``ganlift.load_teacher("stylegan2-random", **options)``.
    """
    state = random_state_dict(resolution, w_dim, n_mlp, channels, seed)
    teacher = StyleGAN2Teacher.from_state_dict(
        state, conv_clamp=conv_clamp, name="stylegan2-random",
        w_mean_samples=w_mean_samples, seed=seed,
    )
    teacher.origin = {
        "resolution": teacher.resolution,
        "w_dim": teacher.w_dim,
        "n_mlp": teacher.n_mlp,
        "channels": {str(r): c for r, c in teacher.channels.items()},
        "seed": int(seed),
        "w_mean_samples": int(w_mean_samples),
        "conv_clamp": teacher.conv_clamp,
    }
    return teacher


TEACHERS.register("stylegan2-random", random_stylegan2)
