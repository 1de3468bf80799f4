"""Differentiable renderers of depth-map meshes: ``create(name, **options)``.

Backends register themselves in :data:`RENDERERS`; ``"torch"`` (pure PyTorch) is the default
and ``"pytorch3d"`` is optional.
"""

from __future__ import annotations

from typing import Any

from ganlift.registry import Registry

RENDERERS = Registry("renderer")
register = RENDERERS.register
names = RENDERERS.names


def create(name: str = "torch", **options: Any):
    """Build a renderer by backend name, e.g. ``create("torch", size=64, fov=10)``."""
    return RENDERERS.get(name)(**options)


__all__ = ["RENDERERS", "register", "names", "create"]
