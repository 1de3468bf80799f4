"""A weighted set of loss terms: ``total, terms = loss_set(ctx)``."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from ganlift.losses import LOSSES

__all__ = ["LossSet"]


class LossSet(nn.Module):
    """Weighted sum of named loss terms (like pytorch-metric-learning's ``MultipleLosses``).

    Args:
        terms: name -> term module (``forward(ctx) -> scalar``).
        weights: name -> weight; terms missing here get weight 1.

    Example:
        >>> losses = LossSet.from_recipe(load_recipe("synthetic"))
        >>> total, terms = losses(ctx)      # terms: name -> detached unweighted value
    """

    def __init__(self, terms: Mapping[str, nn.Module], weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(dict(terms))
        weights = dict(weights or {})
        unknown = set(weights) - set(self.terms)
        if unknown:
            raise ValueError(f"weights for unknown terms {sorted(unknown)}; terms: {list(self.terms)}")
        self.weights = {name: float(weights.get(name, 1.0)) for name in self.terms}

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
        image_terms = {"reconstruction", "flip", "perturb_a", "perturb_b"}
        if "distance" not in shared and (image_terms & set(enabled) or not enabled):
            shared["distance"] = ImageDistance.from_recipe(recipe.distance)
        terms, weights = {}, {}
        for name, options in enabled.items():
            options = dict(options)
            weights[name] = options.pop("weight")
            factory = LOSSES.get(name)
            build = getattr(factory, "build", None)
            terms[name] = build(shared, **options) if build else factory(**options)
        return cls(terms, weights)

    def train(self, mode: bool = True) -> "LossSet":
        # frozen backbones inside the terms decide their own mode
        for term in self.terms.values():
            term.train(mode)
        self.training = mode
        return self

    def forward(self, ctx: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Evaluate every term on ``ctx``.

        Returns:
            ``(total, terms)``: the weighted sum (a scalar with gradients) and name ->
            unweighted detached value of each term.

        Raises:
            FloatingPointError: a term is NaN or infinite (named in the message).
        """
        if not self.terms:
            raise ValueError("the loss set is empty: enable at least one loss term in the recipe")
        total: torch.Tensor | float = 0.0
        values: dict[str, torch.Tensor] = {}
        for name, term in self.terms.items():
            value = term(ctx)
            if value.dim() != 0:
                raise ValueError(f"loss term {name!r} must return a scalar, got shape {tuple(value.shape)}")
            values[name] = value.detach()
            total = total + self.weights[name] * value
        if not bool(torch.isfinite(total)):
            bad = [n for n, v in values.items() if not bool(torch.isfinite(v))]
            raise FloatingPointError(f"non-finite loss terms: {', '.join(bad) or 'total'}; values: "
                                     + ", ".join(f"{n}={float(v):.4g}" for n, v in values.items()))
        return total, values

    def extra_repr(self) -> str:
        return ", ".join(f"{n}={w:g}" for n, w in self.weights.items())
