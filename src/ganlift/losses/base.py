"""What every loss term shares: the :class:`LossTerm` base class and the :class:`LossContext`."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import nn


class LossContext:
    """Everything a loss term may read for one training step.

    Values are given directly or as zero-argument functions (``lazy``) that run the first
    time a term reads them. :meth:`ganlift.lifter.Lifter.loss_context` fills it with exactly
    what the terms switched on at the step read (see ``LossTerm.requires``), computed in one
    readable pass; ``lazy`` is for hand-made contexts.

    The :class:`~ganlift.lifter.Lifter` provides (images in [0, 1], B = batch):

    - ``target`` (B, 3, R, R): the teacher's image G(w), no gradient.
    - ``rendered``: :class:`~ganlift.render.base.Rendered` of R(A, S, T, V, L).
    - ``flipped``: the render of the mirrored albedo, depth and T with the same V, L.
    - ``texture`` (B, 3, R, R): G(w0); ``albedo``, ``depth``, ``transform``, ``view``, ``light``.
    - ``object_mask`` (B, 1, R, R): 1 where the depth is object (T forced to 1), no gradient.
    - ``view_perturb`` (B, 6), ``light_perturb`` (B, 4): the random V', L' (no gradient).
    - ``w_perturb`` (B, w_dim): w' = M(w, L', V'); ``teacher_perturbed``: G(w') (gradient
      into M).
    - ``perturbed_target``: render with (V', L') without gradient (eq. 4 (a)'s target);
      ``perturbed``: the same with gradient (the identity term).
    - ``view_estimate``, ``light_estimate``: D_V(w'), D_L(w') with w' detached (they train
      the decoders); ``re_rendered``: render with those estimates (eq. 4 (b));
      ``view_estimate_m``, ``light_estimate_m``: the same through frozen decoders (they train
      M, eq. 5); ``view_estimate_cycle``, ``light_estimate_cycle``: through both;
      ``view_estimate_neutral``, ``light_estimate_neutral``: D_V(w0), D_L(w0) through frozen
      decoders, with w's view and light detached in w0 (they train M only).
    - ``code_own``, ``code_return`` (B, w_dim): M(w, L, V) and M(w', L, V) with w's own
      decoded view and light (detached), the code cycle's two codes; ``code_scale`` (1, w_dim):
      the code spread that normalises them.
    - ``view_scale`` (6,), ``light_scale`` (4,): half-ranges that map views/lights to unit
      space; ``prior_penalty``: ``f(w) -> (B,)`` penalties of the prior on w.

    Example:
        >>> ctx = LossContext(target=t, lazy={"flipped": lambda: renderer.render(...)})
    """

    def __init__(self, lazy: Mapping[str, Callable[[], Any]] | None = None, **values: Any) -> None:
        self.__dict__["_lazy"] = dict(lazy or {})
        self.__dict__.update(values)

    def __getattr__(self, name: str) -> Any:
        lazy = self.__dict__["_lazy"]
        if name in lazy:
            value = lazy.pop(name)()
            self.__dict__[name] = value
            return value
        known = sorted([k for k in self.__dict__ if not k.startswith("_")] + list(lazy))
        raise AttributeError(f"the loss context has no {name!r}; it provides: {', '.join(known)}")

    def __contains__(self, name: str) -> bool:
        return name in self.__dict__ or name in self.__dict__["_lazy"]

    def computed(self) -> list[str]:
        """Names already computed (for tests and profiling)."""
        return sorted(k for k in self.__dict__ if not k.startswith("_"))


class LossTerm(nn.Module):
    """Base class of the built-in terms: ``forward(ctx) -> scalar``.

    A term's recipe options are its keyword-only constructor arguments with defaults;
    ``weight`` is handled by :class:`~ganlift.losses.LossSet`. Terms that need objects shared
    across terms (the image distance) receive them through :meth:`build`.
    """

    #: context entries the term reads (documentation and tests).
    requires: tuple[str, ...] = ()

    @classmethod
    def build(cls, shared: Mapping[str, Any], **options: Any) -> "LossTerm":
        """Construct the term from recipe options and the shared objects."""
        return cls(**options)


__all__ = ["LossContext", "LossTerm"]
