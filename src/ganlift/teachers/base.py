"""The Teacher interface: a frozen, deterministic 2D generator that the lifter distils."""

from __future__ import annotations

import torch
from torch import nn


class Teacher(nn.Module):
    """A frozen 2D generator: ``z -> w`` (mapping) and ``w -> image`` (synthesis).

    Subclasses set ``z_dim``, ``w_dim``, ``num_ws`` and ``resolution``, implement
    :meth:`mapping` and :meth:`synthesis`, and register a ``w_mean`` buffer of shape
    ``(1, w_dim)``. Teachers are frozen (``requires_grad=False`` on every parameter, see
    :meth:`freeze`) and deterministic (fixed noise), but differentiable in ``w``.

    Images are in the generator's own range, nominally ``[-1, 1]``.

    Attributes:
        z_dim: size of the input latent z.
        w_dim: size of the style code w.
        num_ws: number of per-layer style codes the synthesis network reads.
        resolution: output image size (square).
        name: a short human-readable reference (registry name or file name).
    """

    z_dim: int
    w_dim: int
    num_ws: int
    resolution: int
    name: str = "teacher"
    w_mean: torch.Tensor

    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Map latents ``z`` (B, z_dim) to style codes ``w`` (B, w_dim)."""
        raise NotImplementedError

    def synthesis(
        self, w: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Render images from style codes.

        Args:
            w: (B, w_dim) one code for all layers, or (B, num_ws, w_dim) per-layer codes.
            return_features: also return the last feature map (the output of the last
                full-resolution layer before the final RGB projection).

        Returns:
            image (B, 3, resolution, resolution), or ``(image, features)`` with
            features (B, C, resolution, resolution).
        """
        raise NotImplementedError

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """Same as ``synthesis(w)``."""
        return self.synthesis(w)

    def truncate(
        self, w: torch.Tensor, psi: float, center: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Truncation trick: ``center + psi * (w - center)``.

        Args:
            w: (B, w_dim) or (B, num_ws, w_dim).
            psi: truncation factor; 1 leaves ``w`` unchanged.
            center: (1, w_dim) or (w_dim,); defaults to :attr:`w_mean`.
        """
        c = self.w_mean if center is None else center
        c = c.reshape(1, -1).to(w)
        if w.dim() == 3:
            c = c[:, None, :]
        return c + psi * (w - c)

    def sample_z(self, n: int, seed: int | None = None, device=None) -> torch.Tensor:
        """Draw ``n`` latents from N(0, I) with an optional seed. Returns (n, z_dim)."""
        g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
        z = torch.randn(n, self.z_dim, generator=g, dtype=self.w_mean.dtype)
        return z.to(device if device is not None else self.w_mean.device)

    def sample_w(
        self, n: int, seed: int | None = None, psi: float = 1.0
    ) -> torch.Tensor:
        """Sample style codes: ``truncate(mapping(z), psi)``. Returns (n, w_dim)."""
        with torch.no_grad():
            w = self.mapping(self.sample_z(n, seed))
        return self.truncate(w, psi) if psi != 1.0 else w

    def freeze(self) -> "Teacher":
        """Turn off gradients for every parameter and switch to eval mode."""
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()
        return self

    def train(self, mode: bool = True) -> "Teacher":
        # A teacher never trains: keep eval mode whatever the parent module asks.
        return super().train(False)

    def reference(self) -> dict:
        """A JSON-serialisable description used to re-load this teacher (name, config)."""
        return {"name": self.name}
