"""Priors on the style code w: ``create(name, **options)`` and the :data:`PRIORS` registry."""

from __future__ import annotations

from ganlift.registry import Registry

PRIORS = Registry("prior")
register = PRIORS.register
names = PRIORS.names


def create(name: str = "gaussian", **options):
    """Build a prior by name, e.g. ``create("gaussian", teacher=teacher)``."""
    return PRIORS.get(name)(**options)


__all__ = ["PRIORS", "register", "names", "create"]
