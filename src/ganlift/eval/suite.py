"""``evaluate``: score a lifter's 3D against a teacher whose 3D truth is known.

The lifter (or any predictions object) must provide ``predict(w) -> dict(view (B, 6),
light (B, 4), depth (B, 1, S, S), transform (B, 1, S, S) or None, albedo (B, 3, S, S))`` and a
``renderer`` (a ganlift renderer). The teacher must provide ``ground_truth(w, size)`` and
``render_truth(w, view, light, size)``, as the synthetic teachers do (and may provide
``render_truth_views(w, [(view, light), ...], size)``, the same renders in one call).

Metrics (each a mean over the n samples; per-view/per-light breakdowns in sub-dicts):

* ``depth``: paper table 2 depth error between the posed depth maps (prediction rendered at
  its own view; truth at the true view) over pixels valid in both: on the true object and
  covered by the prediction's render. See :func:`ganlift.eval.metrics.depth_error`.
* ``depth_canonical``: the same formula on the canonical depth maps over the true object.
* ``normal_deg``: mean angle between posed normals over the same pixels as ``depth``.
* ``pitch``, ``yaw``, ``roll``: mean absolute angle error in degrees after removing the mean
  offset (reported as ``*_offset``). See :func:`ganlift.eval.metrics.angle_errors`.
* ``recon_l1``, ``recon_ssim``: the prediction's render at its own view and light against
  the teacher's image (images in [0, 1], whole covered image).
* ``novel_view_l1``, ``novel_view_ssim``: both objects rendered at yaw -40, -20, 0, 20, 40
  (pitch, roll, translation 0), each with its own light, compared on the true object mask.
* ``relight_l1``, ``relight_ssim``: both objects at their own view, each keeping its own
  ambient and diffuse strengths, lit from fixed directions (front, left, right, above,
  below), compared on the true object mask. Keeping each side's own strengths makes the
  score blind to the albedo/light scale ambiguity and sensitive to shape and albedo.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ganlift.eval.metrics import (
    angle_errors,
    depth_error,
    masked_l1,
    masked_ssim,
    normal_error,
)
from ganlift.utils.io import write_json

Tensor = torch.Tensor

NOVEL_YAWS: tuple[float, ...] = (-40.0, -20.0, 0.0, 20.0, 40.0)
# Light directions (dx, dy): the light travels along normalise(dx, dy, 1) (ganlift.render.shading),
# so dx > 0 comes from the image's left and dy > 0 from above.
RELIGHT_DIRECTIONS: dict[str, tuple[float, float]] = {
    "front": (0.0, 0.0),
    "left": (0.8, 0.0),
    "right": (-0.8, 0.0),
    "above": (0.0, 0.6),
    "below": (0.0, -0.6),
}
PREDICTION_KEYS = ("view", "light", "depth", "albedo")


def _device_of(obj: Any, default: torch.device) -> torch.device:
    if isinstance(obj, nn.Module):
        for t in obj.parameters():
            return t.device
        for t in obj.buffers():
            return t.device
    return default


def _check_predictions(pred: Mapping[str, Tensor], batch: int) -> None:
    if not isinstance(pred, Mapping):
        raise TypeError(f"predict(w) must return a dict with keys {PREDICTION_KEYS}, got {type(pred).__name__}")
    missing = [k for k in PREDICTION_KEYS if k not in pred]
    if missing:
        raise KeyError(f"predict(w) returned no {missing}; it must return view, light, depth, transform, albedo")
    shapes = {"view": (batch, 6), "light": (batch, 4)}
    for key, shape in shapes.items():
        if tuple(pred[key].shape) != shape:
            raise ValueError(f"predict(w)[{key!r}] must have shape {shape}, got {tuple(pred[key].shape)}")


def _key(yaw: float) -> str:
    return f"{yaw:g}"


def _truth_views(teacher: Any, w: Tensor, requests: Sequence[tuple[Tensor | None, Tensor | None]],
                 size: int) -> list[dict[str, Tensor]]:
    """``teacher.render_truth`` for each ``(view, light)``; in one call where the teacher has
    ``render_truth_views`` (the synthetic teachers draw the canonical maps once for all)."""
    many = getattr(teacher, "render_truth_views", None)
    if callable(many):
        return many(w, requests, size=size)
    return [teacher.render_truth(w, view=view, light=light, size=size) for view, light in requests]


def _nanmean(values: list[Tensor]) -> tuple[float, int]:
    """Mean over finite values and the number of NaN (empty-mask) samples."""
    x = torch.cat(values).double()
    ok = torch.isfinite(x)
    mean = float(x[ok].mean()) if bool(ok.any()) else math.nan
    return mean, int((~ok).sum())


@torch.no_grad()
def evaluate(
    lifter_or_predictions: Any,
    teacher: Any = None,
    n: int = 256,
    seed: int = 0,
    out: str | None = None,
    batch_size: int = 32,
    psi: float = 1.0,
    yaws: Sequence[float] = NOVEL_YAWS,
    light_directions: Mapping[str, tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """Score predicted 3D against the teacher's truth on ``n`` seeded samples.

    Args:
        lifter_or_predictions: a :class:`ganlift.Lifter` or any object with
            ``predict(w) -> dict`` and ``renderer`` (see the module docstring).
        teacher: a teacher with ground truth (``"synthetic-faces"``, ``"synthetic-cats"`` or an
            instance); default: ``lifter_or_predictions.teacher``.
        n: number of samples (>= 2, so angle offsets can be removed).
        seed: seed of the sampled w (``teacher.sample_w(n, seed, psi)``).
        out: optional path of a JSON file to write the metrics to (atomically).
        batch_size: samples per forward pass.
        psi: truncation of the sampled w (1 = the full distribution).
        yaws: novel-view yaw angles in degrees (``()`` skips the novel-view metrics).
        light_directions: name -> (dx, dy) relighting directions (default
            :data:`RELIGHT_DIRECTIONS`; ``{}`` skips the relighting metrics).

    Returns:
        A JSON-ready dict of floats (see the module docstring), plus ``teacher`` (its
        reference), ``n``, ``seed``, ``psi``, ``size`` and ``invalid`` (per metric, samples
        left out because their mask was empty; usually all 0). With a
        :class:`ganlift.eval.pseudo.PseudoTruth` teacher also ``pseudo`` (True) and
        ``pseudo_truth`` (the fit residuals' median, mean and max).
    """
    predictor = lifter_or_predictions
    if not callable(getattr(predictor, "predict", None)) or getattr(predictor, "renderer", None) is None:
        raise TypeError(
            "lifter_or_predictions must have predict(w) -> dict(view, light, depth, transform, albedo) "
            f"and a renderer attribute, got {type(predictor).__name__}"
        )
    if teacher is None:
        teacher = getattr(predictor, "teacher", None)
        if teacher is None:
            raise ValueError("no teacher: pass teacher=... (for example 'synthetic-faces')")
    if isinstance(teacher, str):
        from ganlift.teachers.loading import load_teacher

        teacher = load_teacher(teacher)
    from ganlift.eval.pseudo import with_truth

    teacher = with_truth(teacher) or teacher  # a shipped GAN teacher: its fitted pseudo truth
    if not (callable(getattr(teacher, "ground_truth", None)) and callable(getattr(teacher, "render_truth", None))):
        raise ValueError(
            f"teacher {getattr(teacher, 'name', type(teacher).__name__)!r} has no 3D ground truth; 3D metrics "
            "need a teacher with ground_truth() and render_truth(), such as 'synthetic-faces' or 'synthetic-cats'"
        )
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n must be an int >= 2, got {n!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    directions = dict(RELIGHT_DIRECTIONS if light_directions is None else light_directions)
    yaws = [float(y) for y in yaws]

    renderer = predictor.renderer
    was_training = predictor.training if isinstance(predictor, nn.Module) else None
    if isinstance(predictor, nn.Module):
        predictor.eval()
    try:
        w_all = teacher.sample_w(n, seed=seed, psi=psi)
        tdev = w_all.device
        pdev = _device_of(predictor, tdev)
        per: dict[str, list[Tensor]] = {}
        views_pred, views_true = [], []
        size = None

        def add(name: str, value: Tensor) -> None:
            per.setdefault(name, []).append(value.detach().float().cpu())

        for start in range(0, n, batch_size):
            w = w_all[start : start + batch_size]
            B = w.shape[0]
            pred = predictor.predict(w.to(pdev))
            _check_predictions(pred, B)
            albedo, depth = pred["albedo"], pred["depth"]
            transform, p_view, p_light = pred.get("transform"), pred["view"], pred["light"]

            def render(view: Tensor, light: Tensor) -> Any:
                return renderer.render(albedo, depth, transform, view.to(pdev), light.to(pdev))

            own = render(p_view, p_light)
            size = own.image.shape[-1]
            truth = teacher.ground_truth(w, size=size)
            views_pred.append(p_view.detach().float().to(tdev))
            views_true.append(truth["view"].float())

            # Geometry in the image's own view, and canonical depth.
            valid = truth["posed_mask"] * own.mask.to(tdev)
            add("depth", depth_error(own.depth.to(tdev), truth["posed_depth"], valid))
            add("normal_deg", normal_error(own.normal.to(tdev), truth["posed_normal"], valid))
            canon = depth.to(tdev)
            if canon.shape[-1] != size:
                canon = torch.nn.functional.interpolate(canon, size=(size, size), mode="bilinear", align_corners=True)
            add("depth_canonical", depth_error(canon, truth["depth"], truth["mask"]))

            # The teacher's renders: its own image, the novel views (fixed yaws, own light)
            # and the relit images (fixed directions, own ambient and diffuse, own view).
            views = []
            for yaw in yaws:
                v = torch.zeros(B, 6, device=tdev)
                v[:, 1] = yaw
                views.append(v)
            lights = []
            for dx, dy in directions.values():
                t_light = truth["light"].clone()
                t_light[:, 2], t_light[:, 3] = dx, dy
                lights.append(t_light)
            truths = _truth_views(teacher, w, [(None, None)] + [(v, None) for v in views]
                                  + [(None, t_light) for t_light in lights], size)

            # Reconstruction of the teacher's image.
            image = (truths[0]["image"] + 1) / 2
            add("recon_l1", masked_l1(own.image.to(tdev), image, own.mask.to(tdev)))
            add("recon_ssim", masked_ssim(own.image.to(tdev), image, own.mask.to(tdev)))

            # Novel views: both objects turned to fixed yaws, each under its own light.
            for yaw, v, t in zip(yaws, views, truths[1 : 1 + len(views)]):
                p = render(v, p_light).image.to(tdev)
                m = (t["mask"] > 0.5).float()
                add(f"novel_view/{_key(yaw)}/l1", masked_l1(p, (t["image"] + 1) / 2, m))
                add(f"novel_view/{_key(yaw)}/ssim", masked_ssim(p, (t["image"] + 1) / 2, m))

            # Relighting: fixed directions, each side's own ambient and diffuse, own view.
            for (name, (dx, dy)), t in zip(directions.items(), truths[1 + len(views) :]):
                q_light = p_light.detach().clone()
                q_light[:, 2], q_light[:, 3] = dx, dy
                p = render(p_view, q_light).image.to(tdev)
                m = (t["mask"] > 0.5).float()
                add(f"relight/{name}/l1", masked_l1(p, (t["image"] + 1) / 2, m))
                add(f"relight/{name}/ssim", masked_ssim(p, (t["image"] + 1) / 2, m))
    finally:
        if was_training is not None:
            predictor.train(was_training)

    metrics: dict[str, Any] = {
        "teacher": teacher.reference() if callable(getattr(teacher, "reference", None)) else str(teacher),
        "n": n,
        "seed": seed,
        "psi": psi,
        "size": size,
    }
    invalid: dict[str, int] = {}
    for name in ("depth", "depth_canonical", "normal_deg", "recon_l1", "recon_ssim"):
        metrics[name], invalid[name] = _nanmean(per[name])
    metrics.update(angle_errors(torch.cat(views_pred), torch.cat(views_true)))
    for group, keys in (("novel_view", [_key(y) for y in yaws]), ("relight", list(directions))):
        table: dict[str, dict[str, float]] = {}
        for key in keys:
            table[key] = {}
            for stat in ("l1", "ssim"):
                name = f"{group}/{key}/{stat}"
                table[key][stat], invalid[name] = _nanmean(per[name])
        if not keys:
            continue  # that part of the suite was switched off (yaws=() or light_directions={})
        metrics[group] = table
        for stat in ("l1", "ssim"):
            metrics[f"{group}_{stat}"] = float(sum(table[k][stat] for k in keys) / len(keys))
    metrics["invalid"] = {k: v for k, v in invalid.items() if v}
    if getattr(teacher, "pseudo", False):  # a GAN teacher scored against fitted synthetic objects
        metrics["pseudo"] = True
        metrics["pseudo_truth"] = teacher.residual_summary(w_all)
    if out is not None:
        write_json(out, metrics)
    return metrics


SUMMARY = (
    ("depth", "depth error (normalised RMS, posed)", "{:.3f}"),
    ("depth_canonical", "depth error (canonical)", "{:.3f}"),
    ("normal_deg", "normal error (deg)", "{:.2f}"),
    ("yaw", "yaw error (deg)", "{:.2f}"),
    ("pitch", "pitch error (deg)", "{:.2f}"),
    ("roll", "roll error (deg)", "{:.2f}"),
    ("recon_l1", "reconstruction L1", "{:.4f}"),
    ("recon_ssim", "reconstruction SSIM", "{:.3f}"),
    ("novel_view_l1", "novel view L1", "{:.4f}"),
    ("novel_view_ssim", "novel view SSIM", "{:.3f}"),
    ("relight_l1", "relight L1", "{:.4f}"),
    ("relight_ssim", "relight SSIM", "{:.3f}"),
)


def format_metrics(metrics: Mapping[str, Any] | Mapping[str, Mapping[str, Any]]) -> str:
    """A plain-text table of the headline metrics.

    Args:
        metrics: one result of :func:`evaluate`, or ``{column name: result}`` to compare
            several (for example a lifter and the baselines).

    Returns:
        The table, one metric per row.
    """
    columns = {"value": metrics} if "depth" in metrics else dict(metrics)
    names = list(columns)
    width = max(len(label) for _, label, _ in SUMMARY) + 2
    cells = [[fmt.format(columns[c][key]) if key in columns[c] else "-" for c in names] for key, _, fmt in SUMMARY]
    colw = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(names)]
    lines = ["metric".ljust(width) + "  ".join(c.rjust(colw[i]) for i, c in enumerate(names))]
    lines.append("-" * len(lines[0]))
    for (key, label, _), row in zip(SUMMARY, cells):
        lines.append(label.ljust(width) + "  ".join(v.rjust(colw[i]) for i, v in enumerate(row)))
    offsets = [f"{c}: " + ", ".join(f"{a} {columns[c][a + '_offset']:+.2f}" for a in ("yaw", "pitch", "roll"))
               for c in names if "yaw_offset" in columns[c]]
    if offsets:
        lines.append("mean angle offsets (deg, removed above): " + "; ".join(offsets))
    pseudo = [f"{c}: median fit residual {columns[c]['pseudo_truth']['residual_median']:.4f}"
              for c in names if columns[c].get("pseudo") and "pseudo_truth" in columns[c]]
    if pseudo:
        lines.append("PSEUDO ground truth (synthetic objects fitted to the GAN's images, "
                     "see docs/evaluation.md): " + "; ".join(pseudo))
    return "\n".join(lines)


__all__ = ["evaluate", "format_metrics", "NOVEL_YAWS", "RELIGHT_DIRECTIONS"]
