"""Gaussian blur with the kernel sizes the official LiftedGAN code used (through kornia)."""

from __future__ import annotations

import kornia
import torch


def opencv_sigma(size: int) -> float:
    """OpenCV's default Gaussian sigma for a kernel of ``size`` pixels (the official code's
    ``cv2.GaussianBlur(..., sigma=0)``): ``0.3 * ((size - 1) / 2 - 1) + 0.8``."""
    return 0.3 * ((size - 1) * 0.5 - 1) + 0.8


def blur(x: torch.Tensor, size: int) -> torch.Tensor:
    """Blur (B, C, H, W) with a normalised ``size`` x ``size`` Gaussian (OpenCV's sigma) and
    replicated borders. Returns the same shape."""
    sigma = opencv_sigma(size)
    return kornia.filters.gaussian_blur2d(x, (size, size), (sigma, sigma), border_type="replicate")


__all__ = ["opencv_sigma", "blur"]
