"""Reference predictors for :func:`ganlift.eval.evaluate`, so a lifter's numbers have context.

* :class:`TruthPredictor`: the teacher's own ground truth (the floor: depth and angle errors
  are 0; image errors show the anti-aliasing gap between a render at the lifting resolution
  and the teacher's supersampled images). An ``edit`` hook changes the truth, which is how
  the tests build flat, noisy, mirrored or mis-posed predictions.
* :class:`FlatPredictor`: no 3D at all: the teacher's image pasted on a flat card at the
  frontal view under a neutral light (what a 2D-only method would do).
"""

from __future__ import annotations

from typing import Any, Callable

import torch

from ganlift.render import create

Tensor = torch.Tensor
Edit = Callable[[dict, Tensor], dict]


class TruthPredictor:
    """Predicts the teacher's ground-truth maps (optionally edited).

    Args:
        teacher: a teacher with ``ground_truth`` (a synthetic teacher).
        size: map and render size (default: the teacher's resolution).
        edit: optional ``edit(prediction, w) -> prediction`` applied to the dict of view,
            light, depth, transform, albedo before it is returned.
        renderer: a ganlift renderer (default ``create("torch", size=size, fov=teacher.fov)``).
    """

    def __init__(self, teacher: Any, size: int | None = None, edit: Edit | None = None, renderer: Any = None) -> None:
        if not callable(getattr(teacher, "ground_truth", None)):
            raise ValueError("teacher must have ground_truth(w), like the synthetic teachers")
        self.teacher = teacher
        self.size = size or teacher.resolution
        self.edit = edit
        self.renderer = renderer or create("torch", size=self.size, fov=getattr(teacher, "fov", 10.0))

    @torch.no_grad()
    def predict(self, w: Tensor) -> dict[str, Tensor]:
        """view (B, 6), light (B, 4), depth (B, 1, S, S), transform (B, 1, S, S), albedo (B, 3, S, S)."""
        gt = self.teacher.ground_truth(w, size=self.size)
        pred = {k: gt[k].clone() for k in ("view", "light", "depth", "transform", "albedo")}
        return self.edit(pred, w) if self.edit is not None else pred


class FlatPredictor:
    """A flat card at depth 1 carrying the teacher's image, seen frontally, neutral light.

    Args:
        teacher: any teacher (only ``synthesis`` is used).
        size: render size (default: the teacher's resolution).
        renderer: a ganlift renderer (default ``create("torch", size=size, fov=10)``).
    """

    def __init__(self, teacher: Any, size: int | None = None, renderer: Any = None) -> None:
        self.teacher = teacher
        self.size = size or teacher.resolution
        self.renderer = renderer or create("torch", size=self.size, fov=getattr(teacher, "fov", 10.0))

    @torch.no_grad()
    def predict(self, w: Tensor) -> dict[str, Tensor]:
        image = (self.teacher.synthesis(w) + 1) / 2
        if image.shape[-1] != self.size:
            image = torch.nn.functional.interpolate(image, size=(self.size, self.size), mode="area")
        B = image.shape[0]
        light = torch.zeros(B, 4, device=image.device)
        light[:, 0] = 1.0
        return {
            "view": torch.zeros(B, 6, device=image.device),
            "light": light,
            "depth": torch.ones(B, 1, self.size, self.size, device=image.device),
            "transform": torch.ones(B, 1, self.size, self.size, device=image.device),
            "albedo": image.clamp(0, 1),
        }


BASELINES: dict[str, Callable[..., Any]] = {"truth": TruthPredictor, "flat": FlatPredictor}


def evaluate_baselines(teacher: Any, names=("truth", "flat"), **options: Any) -> dict[str, dict]:
    """Evaluate the reference predictors on ``teacher``.

    Args:
        teacher: a teacher with ground truth, or its registered name.
        names: which baselines (keys of :data:`BASELINES`).
        **options: passed to :func:`ganlift.eval.evaluate` (n, seed, batch_size, psi, ...).

    Returns:
        ``{name: metrics}``.
    """
    from ganlift.eval.suite import evaluate
    from ganlift.teachers.loading import load_teacher

    from ganlift.eval.pseudo import with_truth

    teacher = load_teacher(teacher)
    teacher = with_truth(teacher) or teacher  # GAN teachers: their pseudo truth, once for every row
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise KeyError(f"unknown baseline(s) {unknown}; choose from {sorted(BASELINES)}")
    return {name: evaluate(BASELINES[name](teacher), teacher, **options) for name in names}


__all__ = ["TruthPredictor", "FlatPredictor", "BASELINES", "evaluate_baselines"]
