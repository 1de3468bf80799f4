"""3D evaluation against known truth (synthetic teachers): ``ganlift.eval.evaluate``.

Example:
    >>> import ganlift
    >>> from ganlift.eval import evaluate, format_metrics
    >>> metrics = evaluate(lifter, "synthetic-faces", n=256, seed=0, out="metrics.json")
    >>> print(format_metrics(metrics))

See :mod:`ganlift.eval.suite` for what each number measures and
:mod:`ganlift.eval.metrics` for the formulas.
"""

from __future__ import annotations

from ganlift.eval.baselines import BASELINES, FlatPredictor, TruthPredictor, evaluate_baselines
from ganlift.eval.metrics import (
    angle_errors,
    depth_error,
    masked_l1,
    masked_mean_per_sample,
    masked_ssim,
    normal_error,
    ssim_map,
)
from ganlift.eval.pseudo import Fit, FitMismatchError, PseudoTruth, fit_synthetic, pseudo_truth_for, with_truth
from ganlift.eval.suite import NOVEL_YAWS, RELIGHT_DIRECTIONS, evaluate, format_metrics

__all__ = [
    "evaluate",
    "format_metrics",
    "NOVEL_YAWS",
    "RELIGHT_DIRECTIONS",
    "depth_error",
    "normal_error",
    "angle_errors",
    "masked_l1",
    "masked_ssim",
    "masked_mean_per_sample",
    "ssim_map",
    "TruthPredictor",
    "FlatPredictor",
    "BASELINES",
    "evaluate_baselines",
    "fit_synthetic",
    "Fit",
    "PseudoTruth",
    "FitMismatchError",
    "pseudo_truth_for",
    "with_truth",
]
