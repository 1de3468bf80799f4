"""The lifter: five networks and the :class:`Lifter` module that renders their outputs."""

from ganlift.lifter.model import Lifter, LifterOutput

__all__ = ["Lifter", "LifterOutput"]
