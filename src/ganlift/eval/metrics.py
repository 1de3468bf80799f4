"""3D metrics against known truth: depth, normals, angles, masked L1 and SSIM.

Every per-sample function returns a (B,) tensor and gives NaN for a sample with no valid
pixel (an empty mask); :func:`ganlift.eval.evaluate` counts and reports those instead of
averaging them in. (The training losses average over the whole batch and give 0 for an empty
mask instead: :func:`ganlift.losses.perceptual.masked_mean`.)

SSIM is ``kornia.metrics.ssim`` (11-tap Gaussian window, sigma 1.5, reflect padding at the
image border).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

ANGLES = ("pitch", "yaw", "roll")


def _check_maps(arg_a: str, a: Tensor, arg_b: str, b: Tensor, mask: Tensor | None) -> None:
    if a.dim() != 4 or a.shape != b.shape:
        raise ValueError(
            f"{arg_a} and {arg_b} must have the same shape (B, C, H, W), got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    if mask is not None and (mask.dim() != 4 or mask.shape[1] != 1 or mask.shape[0] != a.shape[0]
                             or mask.shape[2:] != a.shape[2:]):
        raise ValueError(f"mask must have shape ({a.shape[0]}, 1, {a.shape[2]}, {a.shape[3]}), got {tuple(mask.shape)}")


def masked_mean_per_sample(values: Tensor, mask: Tensor) -> Tensor:
    """Per-sample mean of ``values`` (B, C, H, W) over the pixels where ``mask`` (B, 1, H, W) > 0.5.

    Returns:
        (B,) means over pixels and channels; NaN where the mask is empty.
    """
    m = (mask > 0.5).to(values.dtype)
    count = m.sum(dim=(1, 2, 3)) * values.shape[1]
    total = (values * m).sum(dim=(1, 2, 3))
    return torch.where(count > 0, total / count.clamp_min(1), torch.full_like(total, math.nan))


def normalised_depth(depth: Tensor, mask: Tensor, eps: float = 1e-6) -> Tensor:
    """Depth with zero mean and unit population std over the pixels where ``mask`` > 0.5, zero
    elsewhere: the maps :func:`depth_error` compares.

    Args:
        depth: (B, 1, H, W).
        mask: (B, 1, H, W).
        eps: floor of the std, so a constant map gives 0 rather than NaN.

    Returns:
        (B, 1, H, W).
    """
    m = (mask > 0.5).to(depth.dtype)
    n = m.sum(dim=(1, 2, 3), keepdim=True).clamp_min(1)
    mean = (depth * m).sum(dim=(1, 2, 3), keepdim=True) / n
    var = (((depth - mean) * m) ** 2).sum(dim=(1, 2, 3), keepdim=True) / n
    return (depth - mean) / var.sqrt().clamp_min(eps) * m


def depth_error(pred: Tensor, true: Tensor, mask: Tensor, eps: float = 1e-6) -> Tensor:
    """Depth error of the paper's table 2: RMS difference of normalised depth maps.

    For each sample, over the pixel set P where ``mask`` > 0.5 (pixels valid in both maps)::

        a = (pred - mean_P(pred)) / max(std_P(pred), eps)
        b = (true - mean_P(true)) / max(std_P(true), eps)
        error = sqrt(mean_P((a - b) ** 2))

    with population std (divide by |P|). Since both maps have zero mean and unit variance on P,
    ``error = sqrt(2 - 2 * corr(pred, true))``: 0 for a perfect shape (up to depth offset and
    scale), 1 for a flat map, about sqrt(2) for an unrelated one, 2 for an inverted one.

    Args:
        pred: (B, 1, H, W) predicted depth.
        true: (B, 1, H, W) true depth.
        mask: (B, 1, H, W) pixels valid in both.
        eps: floor of the std, so a constant map gives ``a = 0`` rather than NaN.

    Returns:
        (B,) errors; NaN for samples with fewer than 2 valid pixels.
    """
    _check_maps("pred", pred, "true", true, mask)
    n = (mask > 0.5).to(pred.dtype).sum(dim=(1, 2, 3))
    diff2 = (normalised_depth(pred, mask, eps) - normalised_depth(true, mask, eps)) ** 2
    err = (diff2.sum(dim=(1, 2, 3)) / n.clamp_min(1)).sqrt()
    return torch.where(n >= 2, err, torch.full_like(err, math.nan))


def normal_error(pred: Tensor, true: Tensor, mask: Tensor) -> Tensor:
    """Mean angle in degrees between unit normal maps (B, 3, H, W) over ``mask``. Returns (B,)."""
    _check_maps("pred", pred, "true", true, mask)
    cos = F.cosine_similarity(pred, true, dim=1, eps=1e-8).clamp(-1.0, 1.0)[:, None]
    return masked_mean_per_sample(torch.rad2deg(torch.acos(cos)), mask)


def angle_errors(pred_view: Tensor, true_view: Tensor) -> dict[str, float]:
    """Pitch, yaw and roll errors in degrees after removing the mean offset.

    For each angle: ``d = pred - true`` over the samples, ``offset = mean(d)``, and the error
    is ``mean(|d - offset|)`` (the paper normalises the angles by subtracting their average,
    since a lifter's frontal pose may differ from the teacher's by a constant).

    Args:
        pred_view: (N, 6) predicted views (pitch, yaw, roll in degrees first).
        true_view: (N, 6) true views.

    Returns:
        ``{"pitch", "yaw", "roll"}`` errors and ``{"pitch_offset", "yaw_offset",
        "roll_offset"}`` (mean pred - true), all floats in degrees.
    """
    if pred_view.dim() != 2 or pred_view.shape[1] < 3 or pred_view.shape != true_view.shape:
        raise ValueError(
            f"pred_view and true_view must both have shape (N, 6), got {tuple(pred_view.shape)} and {tuple(true_view.shape)}"
        )
    out: dict[str, float] = {}
    for i, name in enumerate(ANGLES):
        d = (pred_view[:, i] - true_view[:, i]).double()
        offset = d.mean()
        out[name] = float((d - offset).abs().mean())
        out[f"{name}_offset"] = float(offset)
    return out


def masked_l1(pred: Tensor, true: Tensor, mask: Tensor) -> Tensor:
    """Mean absolute difference over ``mask`` (and channels). (B, C, H, W) -> (B,)."""
    _check_maps("pred", pred, "true", true, mask)
    return masked_mean_per_sample((pred - true).abs(), mask)


def ssim_map(a: Tensor, b: Tensor, window: int = 11, data_range: float = 1.0) -> Tensor:
    """Per-pixel SSIM (``kornia.metrics.ssim``: Gaussian window of sigma 1.5, reflect padding),
    averaged over channels.

    Args:
        a, b: (B, C, H, W) images with values spanning ``data_range``; H and W > window // 2.
        window: odd window size.
        data_range: value range (1 for [0, 1] images).

    Returns:
        (B, 1, H, W) SSIM in [-1, 1] (1 where the images agree).
    """
    import kornia

    _check_maps("a", a, "b", b, None)
    if window % 2 != 1:
        raise ValueError(f"window must be odd, got {window}")
    return kornia.metrics.ssim(a, b, window, max_val=float(data_range), eps=0.0).mean(dim=1, keepdim=True)


def masked_ssim(pred: Tensor, true: Tensor, mask: Tensor, **options) -> Tensor:
    """SSIM map (see :func:`ssim_map`) averaged over ``mask``. (B, C, H, W) -> (B,)."""
    _check_maps("pred", pred, "true", true, mask)
    return masked_mean_per_sample(ssim_map(pred, true, **options), mask)


__all__ = [
    "ANGLES",
    "masked_mean_per_sample",
    "depth_error",
    "normal_error",
    "angle_errors",
    "masked_l1",
    "ssim_map",
    "masked_ssim",
]
