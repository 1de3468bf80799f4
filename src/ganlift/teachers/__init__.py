"""Teachers: frozen 2D generators and how to load them.

``ganlift.load_teacher(source, **options)`` accepts a registered name (see
``ganlift.teachers.names()``) or a path to a checkpoint file or folder.
"""

from __future__ import annotations

from ganlift.registry import Registry
from ganlift.teachers.base import Teacher

TEACHERS = Registry("teacher")
register = TEACHERS.register
names = TEACHERS.names


def get(name: str):
    """Return the factory registered under ``name``."""
    return TEACHERS.get(name)


__all__ = ["Teacher", "TEACHERS", "register", "names", "get"]
