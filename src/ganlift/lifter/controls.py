"""Explicit pose, light and code controls for a trained lifter (mixed into ``Lifter``)."""


class ControlsMixin:
    """Adds ``sample`` and ``render`` with yaw/pitch/roll/light controls to ``Lifter``."""
