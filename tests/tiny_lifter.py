"""A tiny untrained lifter for mechanics tests (16x16, narrow networks; builds in < 1 s)."""

from __future__ import annotations

import torch

TINY_OVERRIDES = {
    "lifter.resolution": 16,
    "lifter.mlp_width": 32,
    "lifter.decoder_width": 32,
    "lifter.decoder_min_width": 8,
    "teacher.prior_samples": 256,
}


def tiny_lifter():
    """A synthetic-faces Lifter (teacher at 32x32) with the 'synthetic' recipe, shrunk."""
    import ganlift
    from ganlift.lifter.model import Lifter
    from ganlift.recipe import load_recipe

    torch.manual_seed(0)
    teacher = ganlift.load_teacher("synthetic-faces", resolution=32, seed=0)
    return Lifter(teacher, load_recipe("synthetic", overrides=TINY_OVERRIDES)).eval()
