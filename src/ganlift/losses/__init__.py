"""Loss terms, one module each, composable in a weighted ``LossSet``; see :data:`LOSSES`."""

from __future__ import annotations

from ganlift.registry import Registry

LOSSES = Registry("loss")
register = LOSSES.register
names = LOSSES.names

__all__ = ["LOSSES", "register", "names"]
