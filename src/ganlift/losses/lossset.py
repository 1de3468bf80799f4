"""A weighted set of loss terms: ``total, terms = loss_set(ctx)``."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ganlift.losses import LOSSES

__all__ = ["LossSet"]


class LossSet(nn.Module):
    """Weighted sum of named loss terms (like pytorch-metric-learning's ``MultipleLosses``),
    each on its own schedule.

    A term's schedule ``(start, ramp)`` switches it on at step ``start`` and raises its weight
    linearly to the full weight over the next ``ramp`` steps (recipe keys ``start`` and
    ``ramp`` of every term). A term whose scheduled weight is 0 is not evaluated at all, so
    what it reads (a teacher pass, a render) is not computed either.

    Args:
        terms: name -> term module (``forward(ctx) -> scalar``).
        weights: name -> weight; terms missing here get weight 1.
        schedules: name -> ``(start, ramp)`` in steps; terms missing here are always on.

    Example:
        >>> losses = LossSet.from_recipe(load_recipe("synthetic"))
        >>> total, terms = losses(ctx, step=100)   # terms: name -> detached unweighted value
    """

    def __init__(
        self,
        terms: Mapping[str, nn.Module],
        weights: Mapping[str, float] | None = None,
        schedules: Mapping[str, tuple[int, int]] | None = None,
    ) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(dict(terms))
        weights, schedules = dict(weights or {}), dict(schedules or {})
        unknown = (set(weights) | set(schedules)) - set(self.terms)
        if unknown:
            raise ValueError(f"weights or schedules for unknown terms {sorted(unknown)}; terms: {list(self.terms)}")
        self.weights = {name: float(weights.get(name, 1.0)) for name in self.terms}
        self.schedules = {name: tuple(int(v) for v in schedules.get(name, (0, 0))) for name in self.terms}
        for name, (start, ramp) in self.schedules.items():
            if start < 0 or ramp < 0:
                raise ValueError(f"schedule of {name!r} must have start >= 0 and ramp >= 0, got {(start, ramp)}")

    def weight_at(self, name: str, step: int | None) -> float:
        """The scheduled weight of term ``name`` at (0-based) ``step``; None = the full weight."""
        weight = self.weights[name]
        if step is None:
            return weight
        start, ramp = self.schedules[name]
        if step < start:
            return 0.0
        return weight * min(1.0, (step - start + 1) / ramp) if ramp else weight

    def active(self, step: int | None = None) -> list[str]:
        """Names of the terms evaluated at ``step`` (scheduled weight > 0)."""
        return [name for name in self.terms if self.weight_at(name, step) > 0]

    def requires(self, step: int | None = None) -> set[str]:
        """What the active terms at ``step`` read from the context (their ``requires``)."""
        return {key for name in self.active(step) for key in getattr(self.terms[name], "requires", ())}

    @classmethod
    def from_recipe(cls, recipe: Any, shared: Mapping[str, Any] | None = None) -> "LossSet":
        """The recipe's enabled terms (weight != 0), built with their options.

        Args:
            recipe: a :class:`ganlift.recipe.Recipe`.
            shared: objects handed to every term's ``build`` (default: the image distance
                built from ``recipe.distance``, and the recipe).

        Raises:
            RuntimeError: a term needs weights that are missing (the message says how to
                supply them or switch the term off).
        """
        import ganlift.losses.terms  # noqa: F401  (registers the built-in terms)
        from ganlift.losses.distance import ImageDistance

        enabled = recipe.enabled_losses()
        shared = dict(shared or {})
        shared.setdefault("recipe", recipe)
        image_terms = {"reconstruction", "flip", "perturbation_a", "perturbation_b"}
        if "distance" not in shared and (image_terms & set(enabled) or not enabled):
            shared["distance"] = ImageDistance.from_recipe(recipe.distance)
        terms, weights, schedules = {}, {}, {}
        for name, options in enabled.items():
            options = dict(options)
            weights[name] = options.pop("weight")
            schedules[name] = (options.pop("start", 0), options.pop("ramp", 0))
            factory = LOSSES.get(name)
            build = getattr(factory, "build", None)
            terms[name] = build(shared, **options) if build else factory(**options)
        return cls(terms, weights, schedules)

    def train(self, mode: bool = True) -> "LossSet":
        # frozen backbones inside the terms decide their own mode
        for term in self.terms.values():
            term.train(mode)
        self.training = mode
        return self

    def forward(self, ctx: Any, step: int | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Evaluate the terms active at ``step`` on ``ctx``.

        Args:
            ctx: the loss context.
            step: the (0-based) training step, for the schedules; None = every term at its
                full weight.

        Returns:
            ``(total, terms)``: the weighted sum (a scalar with gradients) and name ->
            unweighted detached value of each term (0 for a term not yet switched on).

        Raises:
            FloatingPointError: a term is NaN or infinite (named in the message).
        """
        if not self.terms:
            raise ValueError("the loss set is empty: enable at least one loss term in the recipe")
        total: torch.Tensor | float = 0.0
        values: dict[str, torch.Tensor] = {}
        for name, term in self.terms.items():
            weight = self.weight_at(name, step)
            if weight == 0:
                continue
            value = term(ctx)
            if value.dim() != 0:
                raise ValueError(f"loss term {name!r} must return a scalar, got shape {tuple(value.shape)}")
            values[name] = value.detach()
            total = total + weight * value
        if not isinstance(total, torch.Tensor):
            raise ValueError(f"no loss term is switched on at step {step}: every term starts later "
                             f"({', '.join(f'{n} at {s[0]}' for n, s in self.schedules.items())})")
        values = {name: values.get(name, total.new_zeros(()).detach()) for name in self.terms}
        if not bool(torch.isfinite(total)):
            bad = [n for n, v in values.items() if not bool(torch.isfinite(v))]
            raise FloatingPointError(f"non-finite loss terms: {', '.join(bad) or 'total'}; values: "
                                     + ", ".join(f"{n}={float(v):.4g}" for n, v in values.items()))
        return total, values

    def extra_repr(self) -> str:
        def show(name: str) -> str:
            start, ramp = self.schedules[name]
            when = f" from {start}" if start else ""
            when += f" ramp {ramp}" if ramp else ""
            return f"{name}={self.weights[name]:g}{when}"

        return ", ".join(show(n) for n in self.weights)
