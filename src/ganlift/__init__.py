"""ganlift: lift pretrained 2D GANs (StyleGAN2) into 3D generators (LiftedGAN).

Public API::

    import ganlift
    lifter = ganlift.lift(teacher="synthetic-faces")           # train a lifter
    teacher = ganlift.load_teacher("path/to/stylegan2.pt")     # any StyleGAN2 checkpoint
    codes = ganlift.invert(teacher, "photo.png").codes          # GAN inversion of a photo
    lifter = ganlift.Lifter.from_pretrained("runs/demo")
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from ganlift import losses, priors, render, teachers  # noqa: E402
from ganlift.registry import Registry  # noqa: E402
from ganlift.teachers import Teacher  # noqa: E402
from ganlift.teachers.loading import load_teacher  # noqa: E402

# Modules that register built-in teachers, renderers, priors, losses and recipes.
_BUILTINS = (
    "ganlift.teachers.stylegan2",
    "ganlift.teachers.synthetic",
    "ganlift.zoo",
    "ganlift.render.torch_backend",
    "ganlift.render.pytorch3d_backend",
    "ganlift.priors.gaussian",
    "ganlift.losses.terms",
)
for _name in _BUILTINS:
    importlib.import_module(_name)

# Eager, so that ``ganlift.invert`` is the function even after ``import ganlift.invert``
# (a submodule import would otherwise shadow a lazy name of the same spelling).
from ganlift.invert import invert  # noqa: E402

_LAZY = {
    "lift": ("ganlift.train", "lift"),
    "Lifter": ("ganlift.lifter", "Lifter"),
    "Recipe": ("ganlift.recipe", "Recipe"),
    "load_recipe": ("ganlift.recipe", "load_recipe"),
    "evaluate": ("ganlift.eval", "evaluate"),
}


def __getattr__(name: str):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'ganlift' has no attribute {name!r}")


__all__ = [
    "__version__",
    "Registry",
    "Teacher",
    "load_teacher",
    "lift",
    "Lifter",
    "Recipe",
    "load_recipe",
    "evaluate",
    "invert",
    "teachers",
    "render",
    "priors",
    "losses",
]
