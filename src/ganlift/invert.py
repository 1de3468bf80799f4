"""GAN inversion: find the style codes whose teacher image reproduces given images.

:func:`invert` optimises codes in W (one code per image, what a lifter reads) or W+ (one code
per synthesis layer, a closer fit the lifter cannot read directly) so that the teacher's image
matches the input:

``loss = l1 * L1 + ssim * (1 - SSIM) / 2 + perceptual * d_vgg + prior * mean(((w - mu) / sigma) ** 2)``

The prior term keeps the code near the teacher's (or the lifter's) w statistics, so the code
stays in the region the lifter was trained on. Teachers are deterministic (their noise inputs
are fixed buffers), so there is no noise to optimise. Each image starts from several codes
(``restarts``): the mean code and the best of ``candidates`` random codes of the teacher; the
best result per image is kept.

Inputs are file paths, PIL images, numpy arrays (H, W, 3) or tensors (3, H, W) / (B, 3, H, W)
in [0, 1] (float) or 0..255 (uint8), of any size: non-square images are centre-cropped (or
stretched / padded, see ``fit``) with a logged note, then resized to the teacher's resolution.

Images far from the teacher's distribution (a cat given to a face teacher, noise) cannot be
reproduced: when the final residual lies above a threshold derived from the teacher's own
samples (:func:`residual_threshold`), :func:`invert` warns with the residual
(:class:`OutOfDistributionWarning`) and still returns its best fit.

Example:
    >>> import ganlift
    >>> teacher = ganlift.load_teacher("synthetic-faces")
    >>> result = ganlift.invert(teacher, "photo.png", steps=200)
    >>> result.codes.shape, result.residual
    (torch.Size([1, 64]), tensor([0.0123]))
"""

from __future__ import annotations

import logging
import math
import os
import warnings
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ganlift.utils.schedule import cosine_lr

logger = logging.getLogger("ganlift.invert")

__all__ = [
    "Inversion",
    "OutOfDistributionWarning",
    "invert",
    "prepare_images",
    "residual_threshold",
    "image_loss",
    "Rows",
    "RowAdam",
    "optimise_rows",
    "save_code",
    "load_code",
]

SPACES = ("w", "w+")
FITS = ("crop", "stretch", "pad")
MIN_SIZE = 4  # smaller images carry no usable content
DEFAULT_TRUNCATION = 0.7
THRESHOLD_FACTOR = 0.25  # of the median L1 between two of the teacher's own samples
THRESHOLD_SAMPLES = 32

_THRESHOLDS: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


class OutOfDistributionWarning(UserWarning):
    """An image could not be reproduced by the teacher (residual above the threshold)."""


@dataclass
class Inversion:
    """The result of :func:`invert`.

    Attributes:
        codes: (B, w_dim) codes for ``space="w"``, or (B, num_ws, w_dim) for ``"w+"``.
        residual: (B,) mean absolute difference in [0, 1] between the teacher's image of
            ``codes`` and the input, at the comparison size.
        loss: (B,) the final objective (image terms and prior) of each kept code.
        images: (B, 3, S, S) the teacher's images of ``codes`` in [0, 1] (comparison size S).
        targets: (B, 3, S, S) the inputs as compared: cropped and resized, in [0, 1].
        space: ``"w"`` or ``"w+"``.
        threshold: the residual above which an image counts as out of distribution.
        out_of_distribution: (B,) True where ``residual > threshold``.
        restart: (B,) index of the starting code that won (0 = the mean code or ``init``).
    """

    codes: torch.Tensor
    residual: torch.Tensor
    loss: torch.Tensor
    images: torch.Tensor
    targets: torch.Tensor
    space: str
    threshold: float
    out_of_distribution: torch.Tensor
    restart: torch.Tensor

    @property
    def w(self) -> torch.Tensor:
        """The codes (same as :attr:`codes`)."""
        return self.codes

    def __len__(self) -> int:
        return int(self.codes.shape[0])


# ---------------------------------------------------------------------------- inputs


def _describe(x: Any) -> str:
    return type(x).__name__


def _from_file(path: Path, name: str) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise FileNotFoundError(f"{name}: no such image file: {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ValueError(f"{name}: the image file {str(path)!r} is empty (0 bytes)")
    try:
        with Image.open(path) as image:
            image.load()
            return _from_pil(image, name)
    except UnidentifiedImageError as err:
        raise ValueError(
            f"{name}: {str(path)!r} is not an image file Pillow can read (PNG, JPEG, WebP, ...)"
        ) from err
    except OSError as err:  # truncated or corrupt image data
        raise ValueError(f"{name}: cannot read the image {str(path)!r}: {err}") from err


def _from_pil(image: Any, name: str) -> torch.Tensor:
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)  # transparent parts become white
    array = np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy
    return _from_array(array, name)


def _from_array(array: np.ndarray, name: str) -> torch.Tensor:
    if array.ndim == 2:
        array = array[:, :, None].repeat(3, axis=2)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(
            f"{name}: a numpy image must be (H, W) grey or (H, W, 3) RGB, got shape {array.shape}"
        )
    if array.dtype == np.uint8:
        t = torch.tensor(array).permute(2, 0, 1)  # a copy: the caller's array may be read-only
    elif np.issubdtype(array.dtype, np.floating):
        t = torch.tensor(array, dtype=torch.float32).permute(2, 0, 1)
    else:
        raise TypeError(f"{name}: a numpy image must be uint8 or float, got dtype {array.dtype}")
    return _from_tensor(t[None], name)[0]


def _from_tensor(t: torch.Tensor, name: str) -> torch.Tensor:
    if t.dim() == 3:
        t = t[None]
    if t.dim() != 4:
        raise ValueError(f"{name}: an image tensor must be (3, H, W) or (B, 3, H, W), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise ValueError(f"{name}: the image batch is empty (shape {tuple(t.shape)})")
    if t.shape[1] != 3:
        hint = ""
        if t.shape[1] == 1:
            hint = " (for grey images repeat the channel: x.expand(-1, 3, -1, -1))"
        elif t.shape[1] == 4:
            hint = " (drop or composite the alpha channel first)"
        elif t.shape[-1] in (3, 4):
            hint = " (channels must come first: use x.permute(0, 3, 1, 2))"
        raise ValueError(f"{name}: images must have 3 channels (RGB), got shape {tuple(t.shape)}{hint}")
    if t.dtype == torch.uint8:
        t = t.float() / 255.0
    elif t.is_floating_point():
        t = t.detach().float()
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: the image contains NaN or infinite values")
        lo, hi = float(t.min()), float(t.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(
                f"{name}: float images must be in [0, 1], got values in [{lo:.3g}, {hi:.3g}] "
                "(for [-1, 1] images pass (x + 1) / 2; for 0..255 pass a uint8 tensor)"
            )
        t = t.clamp(0, 1)
    else:
        raise TypeError(f"{name}: image tensors must be uint8 or float, got {t.dtype}")
    return t


def _to_square(image: torch.Tensor, size: int, fit: str, name: str) -> torch.Tensor:
    """(3, H, W) in [0, 1] -> (3, size, size): make it square per ``fit``, then resize."""
    _, h, w = image.shape
    if min(h, w) < MIN_SIZE:
        raise ValueError(f"{name}: the image is {w}x{h} pixels; it must be at least {MIN_SIZE}x{MIN_SIZE}")
    if h != w:
        if fit == "crop":
            s = min(h, w)
            top, left = (h - s) // 2, (w - s) // 2
            image = image[:, top : top + s, left : left + s]
            how = f"centre-cropped to {s}x{s}"
        elif fit == "pad":
            s = max(h, w)
            top, left = (s - h) // 2, (s - w) // 2
            image = F.pad(image[None], (left, s - w - left, top, s - h - top), mode="replicate")[0]
            how = f"padded (edge colours) to {s}x{s}"
        else:
            how = "stretched"
        logger.warning(
            "%s is %dx%d pixels, not square: %s, then resized to %dx%d. The teacher expects its "
            "own square crop (for faces: aligned as in its training set), see docs/photo.md.",
            name, w, h, how, size, size,
        )  # fmt: skip
    _, h, w = image.shape
    if (h, w) != (size, size):
        x = image[None]
        if h > size or w > size:
            x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        else:
            x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
        image = x[0].clamp(0, 1)
    return image


def prepare_images(images: Any, size: int, fit: str = "crop") -> torch.Tensor:
    """Load and convert images to a (B, 3, size, size) batch in [0, 1].

    Args:
        images: a file path, a PIL image, a numpy array (H, W) or (H, W, 3) (uint8 or float
            in [0, 1]), a tensor (3, H, W) or (B, 3, H, W) (uint8, or float in [0, 1]), or a
            list/tuple of these.
        size: output size in pixels.
        fit: how a non-square image becomes square: ``"crop"`` (the centred square),
            ``"stretch"`` or ``"pad"`` (edge colours); logged as a warning.

    Returns:
        (B, 3, size, size) float tensor on the CPU.

    Raises:
        ValueError: an empty list or file, a file that is not an image, a wrong channel
            count, an image smaller than 4x4, values out of range. The message names the
            argument (``images`` or ``images[i]``).
        TypeError: an unsupported input type or dtype.
        FileNotFoundError: a path that does not exist.
    """
    from PIL import Image

    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, got {fit!r}")
    if not isinstance(size, int) or isinstance(size, bool) or size < MIN_SIZE:
        raise ValueError(f"size must be an integer >= {MIN_SIZE}, got {size!r}")
    single = not isinstance(images, (list, tuple))
    items = [images] if single else list(images)
    if not items:
        raise ValueError("images is empty: give at least one image (path, PIL image or tensor)")
    out: list[torch.Tensor] = []
    for i, item in enumerate(items):
        name = "images" if single else f"images[{i}]"
        if isinstance(item, (str, os.PathLike)):
            if isinstance(item, str) and not item:
                raise ValueError(f"{name}: the path is an empty string")
            batch = _from_file(Path(item), name)[None]
        elif isinstance(item, Image.Image):
            batch = _from_pil(item, name)[None]
        elif isinstance(item, np.ndarray):
            batch = _from_array(item, name)[None]
        elif isinstance(item, torch.Tensor):
            batch = _from_tensor(item, name)
        else:
            raise TypeError(
                f"{name} must be a file path, a PIL image, a numpy array or a tensor, got {_describe(item)}"
            )
        for j, image in enumerate(batch):
            label = name if batch.shape[0] == 1 else f"{name}[{j}]"
            out.append(_to_square(image.cpu(), size, fit, label))
    return torch.stack(out)


# ---------------------------------------------------------------------------- distances


def _ssim_window(size: int) -> int:
    return 11 if size >= 64 else 7 if size >= 24 else 3


def image_loss(
    a: torch.Tensor,
    b: torch.Tensor,
    l1: float = 1.0,
    ssim: float = 1.0,
    perceptual: torch.nn.Module | None = None,
    perceptual_weight: float = 0.0,
) -> torch.Tensor:
    """Per-image distance ``l1 * L1 + ssim * (1 - SSIM) / 2 (+ perceptual)``.

    Args:
        a, b: (B, 3, S, S) images in [0, 1].
        l1: weight of the mean absolute difference.
        ssim: weight of the structural term (``kornia.metrics.ssim``, Gaussian window).
        perceptual: optional module ``(a, b, mask) -> scalar`` (e.g. ganlift's VGG16
            distance); evaluated per image.
        perceptual_weight: its weight.

    Returns:
        (B,) distances.
    """
    import kornia

    total = l1 * (a - b).abs().mean(dim=(1, 2, 3))
    if ssim:
        window = _ssim_window(a.shape[-1])
        s = kornia.metrics.ssim(a, b, window, max_val=1.0).mean(dim=(1, 2, 3))
        total = total + ssim * (1.0 - s) / 2.0
    if perceptual is not None and perceptual_weight:
        p = torch.stack([perceptual(a[i : i + 1], b[i : i + 1]) for i in range(a.shape[0])])
        total = total + perceptual_weight * p
    return total


def _teacher_images(teacher: Any, w: torch.Tensor, size: int) -> torch.Tensor:
    """G(w) in [0, 1] at ``size`` (area-downsampled, or bilinear up). (B, 3, size, size)."""
    image = teacher.synthesis(w)
    return ((_resize(image, size) + 1.0) / 2.0).clamp(0.0, 1.0)


def _resize(image: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, size, size): area-downsampled, or bilinear up."""
    if image.shape[-1] == size:
        return image
    mode = "area" if image.shape[-1] > size else "bilinear"
    options = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(image, size=(size, size), mode=mode, **options)


# ---------------------------------------------------------------------------- helpers


def _is_lifter(source: Any) -> bool:
    return hasattr(source, "teacher") and hasattr(source, "w_mean") and hasattr(source, "recipe")


def _split_source(source: Any) -> tuple[Any, torch.Tensor, torch.Tensor, float]:
    """(teacher, w_mean (1, D), w_std (1, D), truncation) of a teacher or a lifter."""
    from ganlift.teachers.loading import load_teacher

    if _is_lifter(source):
        teacher = source.teacher
        mean, std = source.w_mean, source.w_std
        psi = float(source.recipe.teacher.truncation)
    else:
        teacher = load_teacher(source) if isinstance(source, (str, os.PathLike)) else source
        if not callable(getattr(teacher, "synthesis", None)) or not hasattr(teacher, "w_mean"):
            raise TypeError(f"teacher must be a ganlift Teacher or Lifter, got {_describe(source)}")
        mean = teacher.w_mean
        std = getattr(teacher, "w_std", None)
        if std is None:
            with torch.no_grad():
                std = teacher.sample_w(4096, seed=0).std(0, keepdim=True)
        psi = DEFAULT_TRUNCATION
    device = teacher.w_mean.device
    mean = mean.reshape(1, -1).to(device, torch.float32)
    std = std.reshape(1, -1).to(device, torch.float32).clamp_min(1e-6)
    return teacher, mean, std, psi


def residual_threshold(
    teacher: Any, size: int | None = None, samples: int = THRESHOLD_SAMPLES, factor: float = THRESHOLD_FACTOR
) -> float:
    """The residual above which :func:`invert` calls an image out of distribution.

    ``factor`` (default a quarter) times the median L1 between two different samples of the
    teacher (codes drawn with seed 0 and truncation 0.7): a fit that stays that far from its
    input has not found the image. For the 64x64 synthetic faces this is about 0.036, above
    the residuals of their own held-out images (under 0.03 after 100 steps) and below those of
    synthetic cats given to the face teacher (0.06 to 0.08). Cached per teacher.

    Args:
        teacher: a Teacher (or a Lifter: its teacher).
        size: comparison size (default: the teacher's resolution, at most 256).
        samples: number of teacher samples (pairs of consecutive samples are compared).
        factor: the fraction of the median pair distance.

    Returns:
        The threshold, a float in [0, 1].
    """
    teacher = getattr(teacher, "teacher", teacher)
    size = size or min(int(teacher.resolution), 256)
    key = (int(size), int(samples), float(factor))
    cache = _THRESHOLDS.setdefault(teacher, {}) if _weakrefable(teacher) else {}
    if key not in cache:
        with torch.no_grad():
            w = teacher.sample_w(samples, seed=0, psi=DEFAULT_TRUNCATION)
            images = torch.cat([_teacher_images(teacher, w[i : i + 8], size) for i in range(0, samples, 8)])
            pair = (images[1:] - images[:-1]).abs().mean(dim=(1, 2, 3))
        cache[key] = float(factor * pair.median())
    return cache[key]


def _weakrefable(obj: Any) -> bool:
    try:
        weakref.ref(obj)
        return True
    except TypeError:
        return False


class RowAdam:
    """Adam (betas 0.9, 0.999) written out so that rows can be dropped between steps
    (``torch.optim.Adam`` keeps its state per parameter tensor, not per row)."""

    def __init__(self, p: torch.Tensor) -> None:
        self.m, self.v, self.t = torch.zeros_like(p), torch.zeros_like(p), 0

    def step(self, p: torch.Tensor, grad: torch.Tensor, lr: float) -> torch.Tensor:
        """The parameters after one step (a new tensor). ``p``, ``grad``: (R, ...)."""
        self.t += 1
        self.m.mul_(0.9).add_(grad, alpha=0.1)
        self.v.mul_(0.999).addcmul_(grad, grad, value=0.001)
        m_hat = self.m / (1 - 0.9**self.t)
        v_hat = self.v / (1 - 0.999**self.t)
        return p - lr * m_hat / (v_hat.sqrt() + 1e-8)

    def keep(self, rows: torch.Tensor) -> None:
        self.m, self.v = self.m[rows], self.v[rows]


@dataclass
class Rows:
    """Rows optimised together: several starts per image, each row fitting one image.

    Attributes:
        p: (R, ...) parameters of each row.
        owner: (R,) the image each row fits.
        origin: (R,) the start (restart index) each row came from.
        best_p: (R, ...) the best parameters seen per row.
        best_loss: (R,) their loss.
    """

    p: torch.Tensor
    owner: torch.Tensor
    origin: torch.Tensor
    best_p: torch.Tensor
    best_loss: torch.Tensor

    @classmethod
    def start(cls, p: torch.Tensor, images: int, restarts: int) -> "Rows":
        """Rows from ``p`` (images * restarts, ...) ordered image by image, restart by restart."""
        device = p.device
        return cls(p=p, owner=torch.arange(images, device=device).repeat_interleave(restarts),
                   origin=torch.arange(restarts, device=device).repeat(images), best_p=p.clone(),
                   best_loss=torch.full((p.shape[0],), math.inf, device=device))

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only ``rows`` (indices) of every field."""
        self.p, self.owner, self.origin = self.p[rows], self.owner[rows], self.origin[rows]
        self.best_p, self.best_loss = self.best_p[rows], self.best_loss[rows]

    def best(self, images: int) -> torch.Tensor:
        """Index of the lowest-``best_loss`` row of each of ``images`` images. (images,)."""
        table = torch.full((images, self.best_loss.shape[0]), math.inf, device=self.best_loss.device)
        table[self.owner, torch.arange(self.best_loss.shape[0], device=self.best_loss.device)] = self.best_loss
        return table.argmin(dim=1)


def optimise_rows(
    rows: Rows,
    loss_of: Any,
    steps: int,
    lr: float,
    images: int,
    prune_step: int = -1,
    project: Any = None,
    report: Any = None,
) -> None:
    """Adam on every row at once, keeping the best parameters seen per row (in place).

    The learning rate follows the StyleGAN2 projector's ramp
    (:func:`~ganlift.utils.schedule.cosine_lr`); at ``prune_step`` only the best row of each
    image goes on; one last pass scores the final parameters.

    Args:
        rows: the rows (updated in place).
        loss_of: ``loss_of(p, owner) -> (R,)`` per-row losses (differentiable in ``p``).
        steps: optimiser steps.
        lr: peak learning rate.
        images: number of images the rows fit.
        prune_step: the step after which one row per image is kept (-1: never).
        project: optional ``project(p) -> p`` applied after every step (a constraint).
        report: optional ``report(step, rows)`` called after every step (progress bars).
    """
    adam = RowAdam(rows.p)
    for step in range(steps + 1):
        p = rows.p.detach().requires_grad_(True)
        loss = loss_of(p, rows.owner)
        with torch.no_grad():
            better = loss.detach() < rows.best_loss
            rows.best_loss = torch.where(better, loss.detach(), rows.best_loss)
            rows.best_p[better] = p.detach()[better]
        if step == steps:  # the last pass only scores the final parameters
            break
        (grad,) = torch.autograd.grad(loss.sum(), p)
        with torch.no_grad():
            if step == prune_step:  # keep the most promising start of each image only
                keep = rows.best(images)
                rows.keep(keep)
                adam.keep(keep)
                grad = grad[keep]
            rows.p = adam.step(rows.p.detach(), grad, cosine_lr(step, steps, lr, rampup=0.05, rampdown=0.25))
            if project is not None:
                rows.p = project(rows.p)
        if report is not None:
            report(step, rows)


def _check_int(name: str, value: Any, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return value


def _check_weight(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


# ---------------------------------------------------------------------------- inversion


def invert(
    teacher: Any,
    images: Any,
    space: str = "w",
    steps: int = 200,
    *,
    restarts: int = 4,
    candidates: int = 64,
    prune: float = 0.25,
    lr: float = 0.08,
    l1: float = 1.0,
    ssim: float = 1.0,
    perceptual: str | torch.nn.Module | None = None,
    perceptual_weight: float = 1.0,
    prior: float = 1e-3,
    lifted: float = 0.0,
    init: torch.Tensor | None = None,
    size: int | None = None,
    fit: str = "crop",
    batch_size: int = 8,
    seed: int = 0,
    threshold: float | None = None,
    progress: bool = True,
) -> Inversion:
    """Find codes whose teacher image reproduces ``images``.

    Every image is optimised from ``restarts`` starting codes at once (the mean code, or
    ``init``, and the best ``restarts - 1`` of ``candidates`` random codes by the initial
    loss); after ``prune * steps`` steps only the best start of each image goes on, and the
    best code seen per image is kept. The optimiser is Adam on the standardised code
    ``(w - mu) / sigma`` with the StyleGAN2 projector's learning-rate ramp.

    Args:
        teacher: a Teacher (registered name or path also accepted) or a Lifter; with a
            Lifter, the prior and the normalisation use the lifter's w statistics and random
            starts its recipe's truncation, so codes stay where the lifter was trained.
        images: see :func:`prepare_images` (paths, PIL images, arrays, tensors, lists).
        space: ``"w"`` (B, w_dim) codes, or ``"w+"`` (B, num_ws, w_dim) per-layer codes.
        steps: optimisation steps (0 keeps the best starting code).
        restarts: starting codes per image (>= 1).
        candidates: random codes scored to pick the starts (>= restarts - 1).
        prune: fraction of ``steps`` after which only the best start of each image goes on
            (the others are dropped, which saves most of their cost); 1 keeps all to the end.
        lr: peak learning rate (standardised code units).
        l1, ssim: weights of the L1 and the SSIM terms (:func:`image_loss`).
        perceptual: None, ``"vgg16"`` (ganlift's VGG16 distance; its weights are fetched
            from the Hub on first use), ``"ssim"`` (ganlift's multi-scale SSIM) or a module
            ``(a, b, mask) -> scalar``.
        perceptual_weight: weight of ``perceptual``.
        prior: weight of the prior ``mean(((w - mu) / sigma) ** 2)`` per image.
        lifted: with a Lifter, weight of a second image distance (the same L1 and SSIM
            weights): the lifter's own render of the code in its decoded view and light
            against the image. Of the codes that reproduce an image, it prefers those the
            lifter explains in 3D (the teacher alone cannot tell them apart); ``space="w"``
            only.
        init: optional (B, w_dim) or (B, num_ws, w_dim) codes used as the first start.
        size: comparison size (default: the teacher's resolution, at most 256).
        fit: how non-square images become square (see :func:`prepare_images`).
        batch_size: images optimised together (each with its ``restarts`` codes).
        seed: seed of the random starting codes (results are reproducible).
        threshold: residual above which an image is out of distribution and a warning is
            given; None = :func:`residual_threshold` of the teacher.
        progress: show a tqdm progress bar.

    Returns:
        :class:`Inversion` with ``codes`` (B, w_dim) or (B, num_ws, w_dim) and the per-image
        ``residual``.

    Raises:
        ValueError: bad images (see :func:`prepare_images`) or options, naming the argument.
        TypeError: an unsupported input type.
    """
    from tqdm.auto import tqdm

    lifter = teacher if _is_lifter(teacher) else None
    teacher, mu, sigma, psi = _split_source(teacher)
    if space not in SPACES:
        raise ValueError(f"space must be 'w' or 'w+', got {space!r}")
    steps = _check_int("steps", steps, 0)
    restarts = _check_int("restarts", restarts, 1)
    candidates = _check_int("candidates", candidates, restarts - 1)
    batch_size = _check_int("batch_size", batch_size, 1)
    if seed is None or isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    lr = _check_weight("lr", lr)
    prune = _check_weight("prune", prune)
    if prune > 1:
        raise ValueError(f"prune must be a fraction of the steps in [0, 1], got {prune!r}")
    l1, ssim_w, prior = _check_weight("l1", l1), _check_weight("ssim", ssim), _check_weight("prior", prior)
    perceptual_weight = _check_weight("perceptual_weight", perceptual_weight)
    lifted = _check_weight("lifted", lifted)
    if lifted and lifter is None:
        raise ValueError(f"lifted > 0 compares the lifter's render with the image: teacher must be a Lifter, "
                         f"got {_describe(teacher)}")
    if lifted and space != "w":
        raise ValueError(f"lifted > 0 needs space='w' (the lifter reads one code per image), got {space!r}")
    if isinstance(perceptual, str):
        if perceptual not in ("vgg16", "ssim", "none"):
            raise ValueError(f"perceptual must be None, 'vgg16', 'ssim' or a module, got {perceptual!r}")
        from ganlift.losses.perceptual import create_perceptual

        perceptual = create_perceptual(perceptual)
    if perceptual is not None and not callable(perceptual):
        raise TypeError(f"perceptual must be None, a name or a module, got {_describe(perceptual)}")
    if l1 == 0 and ssim_w == 0 and (perceptual is None or perceptual_weight == 0):
        raise ValueError("l1, ssim and perceptual_weight are all 0: nothing compares the images")
    if size is None:
        size = min(int(teacher.resolution), 256)
    size = _check_int("size", size, MIN_SIZE)
    device = teacher.w_mean.device
    if isinstance(perceptual, torch.nn.Module):
        perceptual = perceptual.to(device).eval()

    targets = prepare_images(images, size, fit).to(device)
    batch = targets.shape[0]
    num_ws = int(getattr(teacher, "num_ws", 1))
    w_dim = int(teacher.w_dim)
    if init is not None:
        init = torch.as_tensor(init, dtype=torch.float32).to(device)
        if init.dim() == 1:
            init = init[None]
        ok = init.shape[0] == batch and (
            (init.dim() == 2 and init.shape[1] == w_dim)
            or (space == "w+" and init.dim() == 3 and init.shape[1:] == (num_ws, w_dim))
        )
        if not ok:
            plus = f" or ({batch}, {num_ws}, {w_dim})" if space == "w+" else ""
            raise ValueError(f"init must have shape ({batch}, {w_dim}){plus}, got {tuple(init.shape)}")
        if not bool(torch.isfinite(init).all()):
            raise ValueError("init contains NaN or infinite values")
    if threshold is None:
        threshold = residual_threshold(teacher, size)
    threshold = _check_weight("threshold", threshold)

    def objective(w: torch.Tensor, u: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image = _teacher_images(teacher, w, size)
        dist = image_loss(image, target, l1, ssim_w, perceptual, perceptual_weight)
        if lifted:
            rendered = _resize(lifter(w).rendered.image, size)  # [0, 1], from the lifter's resolution
            dist = dist + lifted * image_loss(rendered, target, l1, ssim_w)
        reg = u.pow(2).flatten(1).mean(1)
        return dist + prior * reg, image

    # Random starting candidates, the same for every chunk (seeded).
    pool = None
    if restarts > 1:
        with torch.no_grad():
            z = torch.randn(candidates, teacher.z_dim, generator=torch.Generator().manual_seed(seed))
            pool = teacher.mapping(z.to(device))
            pool = teacher.truncate(pool, psi) if psi != 1.0 else pool
            pool_images = torch.cat(
                [_teacher_images(teacher, pool[i : i + 16], size) for i in range(0, candidates, 16)]
            )

    results = {k: [] for k in ("codes", "residual", "loss", "images", "restart")}
    for start in range(0, batch, batch_size):
        target = targets[start : start + batch_size]
        b = target.shape[0]
        # Starting codes (b, restarts, w_dim), or (b, restarts, num_ws, w_dim) for W+.
        first = (init[start : start + b] if init is not None else mu.expand(b, -1)).clone()
        if space == "w+" and first.dim() == 2:
            first = first[:, None, :].expand(-1, num_ws, -1)
        parts = [first[:, None]]
        if pool is not None:
            with torch.no_grad():
                scores = torch.stack(
                    [image_loss(pool_images, target[i : i + 1].expand_as(pool_images), l1, ssim_w) for i in range(b)]
                )  # (b, candidates)
                best = scores.topk(restarts - 1, dim=1, largest=False).indices  # (b, restarts - 1)
            extra = pool[best]  # (b, restarts - 1, w_dim)
            if space == "w+":
                extra = extra[:, :, None, :].expand(-1, -1, num_ws, -1)
            parts.append(extra)
        codes0 = torch.cat(parts, dim=1)
        flat = codes0.reshape(b * restarts, *codes0.shape[2:])
        view = (1, w_dim) if flat.dim() == 2 else (1, 1, w_dim)
        m, s = mu.reshape(view), sigma.reshape(view)
        rows = Rows.start(((flat - m) / s).detach().clone(), b, restarts)
        prune_step = int(round(prune * steps)) if restarts > 1 else -1
        bar = tqdm(total=steps, desc=f"invert {start + 1}-{start + b}/{batch}", disable=not progress, leave=False)

        def report(step: int, rows: Rows) -> None:
            bar.update(1)
            if progress and step % 10 == 0:
                bar.set_postfix(loss=f"{float(rows.best_loss[rows.best(b)].mean()):.4f}")

        optimise_rows(rows, lambda u, owner: objective(u * s + m, u, target[owner])[0], steps, lr, b,
                      prune_step, report=report)
        bar.close()
        with torch.no_grad():
            best = rows.best(b)
            codes = rows.best_p[best] * s + m
            image = _teacher_images(teacher, codes, size)
            results["codes"].append(codes.detach())
            results["residual"].append((image - target).abs().mean(dim=(1, 2, 3)))
            results["loss"].append(rows.best_loss[best])
            results["images"].append(image)
            results["restart"].append(rows.origin[best])

    out = {k: torch.cat(v) for k, v in results.items()}
    ood = out["residual"] > threshold
    for i in torch.nonzero(ood).flatten().tolist():
        warnings.warn(
            f"image {i}: the teacher {getattr(teacher, 'name', 'teacher')!r} reproduces it only with a "
            f"residual L1 of {float(out['residual'][i]):.4f}, above the threshold {threshold:.4f} derived "
            "from its own samples: the image looks out of the teacher's distribution "
            "(another kind of object, another crop or alignment, or noise), so its code and any 3D lifted "
            "from it are unreliable (if it is the teacher's kind of image, more steps or restarts may help).",
            OutOfDistributionWarning,
            stacklevel=2,
        )
    return Inversion(
        codes=out["codes"],
        residual=out["residual"],
        loss=out["loss"],
        images=out["images"],
        targets=targets,
        space=space,
        threshold=float(threshold),
        out_of_distribution=ood,
        restart=out["restart"],
    )


# ---------------------------------------------------------------------------- code files


def save_code(path: str | os.PathLike, codes: Any, **metadata: Any) -> Path:
    """Write codes (or an :class:`Inversion`'s codes and residuals) to a safetensors file.

    Args:
        path: the ``.safetensors`` file to write (atomically).
        codes: (B, w_dim) or (B, num_ws, w_dim) codes, or an :class:`Inversion`.
        **metadata: extra strings stored in the file's header (e.g. ``image="photo.png"``).

    Returns:
        The path written. :func:`load_code` reads it back.
    """
    from safetensors.torch import save_file

    from ganlift.utils.io import atomic_path

    tensors: dict[str, torch.Tensor] = {}
    meta = {str(k): str(v) for k, v in metadata.items()}
    if isinstance(codes, Inversion):
        tensors["residual"] = codes.residual.detach().float().cpu().contiguous()
        meta["space"] = codes.space
        meta["threshold"] = f"{codes.threshold:.6g}"
        codes = codes.codes
    if not isinstance(codes, torch.Tensor) or codes.dim() not in (2, 3):
        raise ValueError(f"codes must be (B, w_dim) or (B, num_ws, w_dim) or an Inversion, got {_describe(codes)}")
    meta.setdefault("space", "w" if codes.dim() == 2 else "w+")
    tensors["w"] = codes.detach().float().cpu().contiguous()
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_code(path: str | os.PathLike) -> torch.Tensor:
    """Read the codes of a file written by :func:`save_code` (or ``ganlift reconstruct``).

    Returns:
        (B, w_dim) or (B, num_ws, w_dim) float tensor on the CPU.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such code file: {str(path)!r}")
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{str(path)!r} is not a safetensors code file: {err}") from err
    if "w" not in tensors:
        raise ValueError(f"{str(path)!r} holds no 'w' tensor (keys: {', '.join(sorted(tensors)) or 'none'})")
    return tensors["w"]
