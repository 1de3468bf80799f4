"""Alias of :mod:`ganlift.render`: ``ganlift.renderers.create("torch", size=64)``."""

from ganlift.render import RENDERERS, create, names, register

__all__ = ["RENDERERS", "create", "names", "register"]
