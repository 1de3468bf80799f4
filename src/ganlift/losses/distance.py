"""The image distance d(a, b) of the paper (eq. 2): masked L1 plus a perceptual term."""

from __future__ import annotations

import torch
from torch import nn

from ganlift.losses.perceptual import create_perceptual, masked_mean

__all__ = ["ImageDistance", "masked_l1"]


def masked_l1(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean absolute difference of (B, C, H, W) images over the pixels where ``mask`` is on.

    Returns 0 (not NaN) for an empty mask.
    """
    return masked_mean((a - b).abs(), mask)


class ImageDistance(nn.Module):
    """``d(a, b) = l1 * L1(a, b) + perceptual_weight * perceptual(a, b)``, both masked.

    Shared by the reconstruction, flip and perturbation terms. Images are in [0, 1].

    Args:
        l1: weight of the L1 term.
        perceptual: a module ``(a, b, mask) -> scalar`` (VGG16 or SSIM), or None.
        perceptual_weight: its weight.
    """

    def __init__(self, l1: float = 1.0, perceptual: nn.Module | None = None, perceptual_weight: float = 1.0) -> None:
        super().__init__()
        self.l1 = float(l1)
        self.perceptual = perceptual
        self.perceptual_weight = float(perceptual_weight) if perceptual is not None else 0.0

    @classmethod
    def from_recipe(cls, section) -> "ImageDistance":
        """Build from a recipe's ``[distance]`` section (:class:`ganlift.recipe.DistanceSection`)."""
        perceptual = None
        if section.perceptual != "none" and section.perceptual_weight != 0:
            perceptual = create_perceptual(
                section.perceptual, section.perceptual_weights, section.perceptual_repo, section.scales
            )
        return cls(section.l1, perceptual, section.perceptual_weight)

    def forward(self, a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, 3, H, W), (B, 3, H, W), optional (B, 1, H, W) -> scalar."""
        if a.shape != b.shape:
            raise ValueError(f"images must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}")
        total = a.new_zeros(())
        if self.l1:
            total = total + self.l1 * masked_l1(a, b, mask)
        if self.perceptual is not None and self.perceptual_weight:
            total = total + self.perceptual_weight * self.perceptual(a, b, mask)
        return total
