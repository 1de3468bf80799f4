"""Loss terms, one module each, composable in a weighted ``LossSet``; see :data:`LOSSES`.

Built-in terms (registered by :mod:`ganlift.losses.terms`): ``reconstruction``, ``flip``,
``perturbation_a``, ``perturbation_b`` (paper eq. 4 (a), (b)), ``cycle``, ``prior``, ``identity``, ``albedo_rank``. Each is an
``nn.Module`` whose ``forward(ctx)`` reads what it needs from a
:class:`~ganlift.losses.base.LossContext` and returns a scalar. Register your own with
``@ganlift.losses.register("name")`` and switch it on in a recipe with
``[losses.name] weight = ...``.
"""

from __future__ import annotations

from ganlift.registry import Registry

LOSSES = Registry("loss")
register = LOSSES.register
names = LOSSES.names

from ganlift.losses.base import LossContext, LossTerm  # noqa: E402
from ganlift.losses.lossset import LossSet  # noqa: E402

__all__ = ["LOSSES", "register", "names", "LossContext", "LossTerm", "LossSet"]
