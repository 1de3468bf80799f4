"""Learning-rate schedules that are functions of the step alone (so a resumed run follows them)."""

from __future__ import annotations

import math


def cosine_lr(step: int, steps: int, lr: float, rampup: float = 0.0, rampdown: float = 0.0) -> float:
    """The rate of (0-based) step ``step`` of ``steps``: a linear ramp-up over the first
    ``rampup`` of the steps and a half cosine down to 0 over the last ``rampdown`` of them
    (fractions; 0 turns either off). With ``rampup=0.05, rampdown=0.25`` this is the StyleGAN2
    projector's schedule (``ganlift.invert``); training's ``train.lr_decay`` is ``rampdown``.
    """
    t = step / max(1, steps)
    scale = 1.0
    if rampdown > 0:
        scale = 0.5 - 0.5 * math.cos(min(1.0, (1.0 - t) / rampdown) * math.pi)
    if rampup > 0:
        scale *= min(1.0, t / rampup)
    return lr * scale
