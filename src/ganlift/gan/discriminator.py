"""A StyleGAN2 residual discriminator (Karras et al. 2020, fig. 7b, "resnet" D).

FromRGB at full resolution, one residual block per halving down to 4x4, then the minibatch
standard-deviation feature, a 3x3 conv and two dense layers giving one logit per image. Every
layer uses the equalised learning rate (weights stored N(0, 1), scaled by 1/sqrt(fan_in) at run
time), leaky ReLU(0.2) with gain sqrt(2), and residual sums scaled by 1/sqrt(2), as the paper.

One simplification, said here: the blurred 2x downsampling of the paper (a [1, 3, 3, 1] FIR
before a stride-2 conv) is a 2x2 average pool after the conv. At 64 px on a CPU budget the
difference is in aliasing of the features, not in what the discriminator can learn.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

Tensor = torch.Tensor
GAIN = math.sqrt(2.0)

# Half the generator's widths at 16 px and above: the discriminator runs three times a step
# (fake and real for its update, fake for the generator's), so its cost dominates on a CPU.
DEFAULT_CHANNELS: dict[int, int] = {4: 128, 8: 128, 16: 64, 32: 32, 64: 16, 128: 16, 256: 16}


class EqualConv2d(nn.Module):
    """Conv with the equalised learning rate: ``conv(x, W / sqrt(fan_in)) + b``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int, bias: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_ch)) if bias else None
        self.scale = 1.0 / math.sqrt(in_ch * kernel_size * kernel_size)
        self.padding = kernel_size // 2

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, padding=self.padding)


class EqualLinear(nn.Module):
    """Dense layer with the equalised learning rate."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim))
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale = 1.0 / math.sqrt(in_dim)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.scale, self.bias)


def _act(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2) * GAIN


class ResBlock(nn.Module):
    """conv3x3 -> conv3x3 -> 2x down, plus a 1x1 skip of the downsampled input; sum / sqrt(2)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(in_ch, in_ch, 3)
        self.conv2 = EqualConv2d(in_ch, out_ch, 3)
        self.skip = EqualConv2d(in_ch, out_ch, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        y = _act(self.conv1(x))
        y = F.avg_pool2d(_act(self.conv2(y)), 2)
        skip = self.skip(F.avg_pool2d(x, 2))
        return (y + skip) / GAIN


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator for square RGB images.

    Args:
        resolution: input size (power of two >= 8).
        channels: dict resolution -> width for 4..resolution (default :data:`DEFAULT_CHANNELS`).
        mbstd_group: group size of the minibatch standard deviation (the batch is split into
            groups of this size, or of the whole batch when it does not divide).
    """

    def __init__(self, resolution: int, channels: Mapping[int, int] | None = None, mbstd_group: int = 4) -> None:
        super().__init__()
        log = int(round(math.log2(resolution)))
        if resolution < 8 or 2**log != resolution:
            raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
        table = {int(k): int(v) for k, v in (channels or DEFAULT_CHANNELS).items()}
        missing = [2**i for i in range(2, log + 1) if 2**i not in table]
        if missing:
            raise ValueError(f"channels has no width for resolution(s) {missing}")
        self.resolution = int(resolution)
        self.channels = {2**i: table[2**i] for i in range(2, log + 1)}
        self.mbstd_group = int(mbstd_group)
        self.from_rgb = EqualConv2d(3, self.channels[resolution], 1)
        self.blocks = nn.ModuleList(
            ResBlock(self.channels[2**i], self.channels[2 ** (i - 1)]) for i in range(log, 2, -1)
        )
        c4 = self.channels[4]
        self.final_conv = EqualConv2d(c4 + 1, c4, 3)
        self.final_linear = EqualLinear(c4 * 16, c4)
        self.out = EqualLinear(c4, 1)

    @property
    def config(self) -> dict[str, Any]:
        """JSON description (enough to rebuild it: ``Discriminator(**config)``)."""
        return {"resolution": self.resolution, "channels": {str(k): v for k, v in self.channels.items()},
                "mbstd_group": self.mbstd_group}

    def _minibatch_std(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        group = self.mbstd_group if B % self.mbstd_group == 0 else B
        y = x.reshape(group, -1, C, H, W)
        std = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B / group,)
        feature = std.reshape(1, -1, 1, 1, 1).expand(group, -1, 1, H, W).reshape(B, 1, H, W)
        return torch.cat([x, feature], dim=1)

    def forward(self, image: Tensor) -> Tensor:
        """Logits (B,) for images (B, 3, R, R) in [-1, 1]."""
        if image.dim() != 4 or image.shape[1] != 3 or image.shape[-1] != self.resolution:
            raise ValueError(
                f"image must have shape (B, 3, {self.resolution}, {self.resolution}), got {tuple(image.shape)}"
            )
        x = _act(self.from_rgb(image))
        for block in self.blocks:
            x = block(x)
        x = _act(self.final_conv(self._minibatch_std(x)))
        x = _act(self.final_linear(x.flatten(1)))
        return self.out(x)[:, 0]


__all__ = ["Discriminator", "DEFAULT_CHANNELS", "EqualConv2d", "EqualLinear", "ResBlock"]
