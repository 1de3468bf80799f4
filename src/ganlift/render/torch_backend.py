"""The default pure-PyTorch renderer backend, registered as ``"torch"``.

Runs on any device and dtype; the z-buffer is :func:`ganlift.render.rasterize.rasterize_grid`.
"""

from __future__ import annotations

import torch

from ganlift.render import RENDERERS
from ganlift.render.base import Renderer
from ganlift.render.rasterize import rasterize_grid


@RENDERERS.register("torch")
class TorchRenderer(Renderer):
    """Pure-PyTorch depth-map renderer: ``ganlift.render.create("torch", size=64, fov=10)``.

    See :class:`ganlift.render.base.Renderer` for the options and conventions.
    """

    name = "torch"

    def rasterize(self, screen: torch.Tensor, faces: torch.Tensor, size: int) -> torch.Tensor:
        # faces is the standard grid table, so the grid's own corner order is the same.
        return rasterize_grid(screen, size, size, znear=self.znear)


__all__ = ["TorchRenderer"]
