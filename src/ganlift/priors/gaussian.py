"""Gaussian prior on the style code w (LiftedGAN eq. 3): N(mu_w, sigma_w^2 I).

The paper regularises manipulated codes w' with ``||w' - mu_w||^2 / (2 sigma_w^2)``, where
mu_w and sigma_w are the empirical mean and standard deviation of mapped samples and the
variance is one scalar. ``mean`` and ``std`` are buffers, so they are saved and loaded with
the module that owns the prior.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ganlift.priors import PRIORS

__all__ = ["GaussianPrior"]


@PRIORS.register("gaussian")
class GaussianPrior(nn.Module):
    """Isotropic Gaussian prior on w with the teacher's empirical statistics.

    Statistics come from, in order: explicit ``mean``/``std``; the teacher's ``w_mean`` and
    ``w_std`` buffers; or ``samples`` mapped codes drawn with ``seed`` (when the teacher has no
    ``w_std``). With only ``w_dim`` the prior starts at N(0, I), ready for ``load_state_dict``.

    Args:
        teacher: a ganlift Teacher (``w_mean`` (1, w_dim), optional ``w_std``, ``sample_w``).
        mean: (w_dim,) or (1, w_dim).
        std: (w_dim,) or (1, w_dim) per-dimension std (positive).
        w_dim: size of w when neither teacher nor mean is given.
        samples: number of mapped samples when statistics must be estimated.
        seed: seed for those samples.

    Buffers:
        mean (1, w_dim), std (1, w_dim). The scalar variance is ``mean(std**2)``.
    """

    def __init__(
        self,
        teacher: Any = None,
        *,
        mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
        w_dim: int | None = None,
        samples: int = 50_000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.samples, self.seed = int(samples), int(seed)
        if teacher is not None:
            w_dim = int(teacher.w_dim)
            if mean is None:
                mean = teacher.w_mean
            if std is None:
                std = getattr(teacher, "w_std", None)
            if std is None:
                std = self._estimate_std(teacher)
        elif mean is not None:
            w_dim = int(torch.as_tensor(mean).numel())
        if w_dim is None:
            raise ValueError("GaussianPrior needs a teacher, a mean, or w_dim")
        self.w_dim = w_dim
        self.register_buffer("mean", self._stat(mean, 0.0, "mean"))
        self.register_buffer("std", self._stat(std, 1.0, "std"))
        if not (self.std > 0).all():
            raise ValueError("std must be positive in every dimension")

    def _stat(self, value: Any, default: float, what: str) -> torch.Tensor:
        if value is None:
            return torch.full((1, self.w_dim), default)
        t = torch.as_tensor(value).detach().to("cpu", torch.float32)
        if t.numel() != self.w_dim:
            raise ValueError(
                f"{what} must have shape ({self.w_dim},) or (1, {self.w_dim}), got {tuple(t.shape)}"
            )
        if not torch.isfinite(t).all():
            raise ValueError(f"{what} contains NaN or Inf values")
        return t.reshape(1, self.w_dim).clone()

    @torch.no_grad()
    def _estimate_std(self, teacher: Any) -> torch.Tensor:
        # Batches from one seeded stream; the mean comes from the teacher's own w_mean.
        ws = []
        gen_seed = self.seed
        left, i = self.samples, 0
        while left > 0:
            n = min(4096, left)
            ws.append(teacher.sample_w(n, seed=gen_seed + i).double().cpu())
            left, i = left - n, i + 1
        return torch.cat(ws).std(dim=0, keepdim=True).float()

    @property
    def variance(self) -> torch.Tensor:
        """The scalar variance sigma_w^2 = mean over dimensions of std**2 (0-dim tensor)."""
        return self.std.pow(2).mean()

    def _centered(self, w: torch.Tensor) -> torch.Tensor:
        if w.shape[-1] != self.w_dim or w.dim() not in (2, 3):
            raise ValueError(
                f"w must have shape (B, {self.w_dim}) or (B, L, {self.w_dim}), got {tuple(w.shape)}"
            )
        return w - self.mean.to(w)

    def penalty(self, w: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        """The paper's prior term ``||w - mu||^2 / (2 sigma^2)``, averaged over the batch.

        Args:
            w: (B, w_dim) or (B, L, w_dim).
            reduction: ``"mean"`` (default) divides by w_dim, i.e. averages
                ``(w - mu)^2 / (2 sigma^2)`` over every element, so a typical prior sample
                scores about 0.5 whatever w_dim is; ``"sum"`` is the paper's per-code sum over
                dimensions (averaged over the batch and layers).

        Returns:
            A scalar (differentiable in w).
        """
        sq = self._centered(w).pow(2) / (2.0 * self.variance.to(w))
        if reduction == "mean":
            return sq.mean()
        if reduction == "sum":
            return sq.sum(-1).mean()
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")

    def nll(self, w: torch.Tensor) -> torch.Tensor:
        """Negative log-density of each code under N(mu, sigma^2 I).

        Args:
            w: (B, w_dim) or (B, L, w_dim).

        Returns:
            (B,) or (B, L): ``||w - mu||^2 / (2 sigma^2) + w_dim/2 * log(2 pi sigma^2)``.
        """
        var = self.variance.to(w)
        sq = self._centered(w).pow(2).sum(-1) / (2.0 * var)
        return sq + 0.5 * self.w_dim * torch.log(2.0 * math.pi * var)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """Same as :meth:`penalty`."""
        return self.penalty(w)

    def sample(self, n: int, seed: int | None = None) -> torch.Tensor:
        """Draw ``n`` codes (n, w_dim) from N(mean, diag(std^2)) with an optional seed."""
        gen = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        eps = torch.randn(n, self.w_dim, generator=gen).to(self.mean)
        return self.mean + self.std * eps

    @property
    def config(self) -> dict[str, Any]:
        """JSON description (the statistics themselves live in the buffers)."""
        return {"name": "gaussian", "w_dim": self.w_dim, "samples": self.samples, "seed": self.seed}

    def extra_repr(self) -> str:
        return f"w_dim={self.w_dim}, variance={float(self.variance):.4g}"
