"""Where a lift's view and canonical shape go wrong, against a synthetic teacher's truth.

A development diagnostic, not part of the evaluation suite (whose metrics stay as they are).
For a saved lifter it draws the evaluation's codes (256 on seed 0 unless told) and prints:

* for every view and light parameter, the slope and the correlation of the prediction
  regressed on the truth (both less their means): a slope below 1 is a parameter predicted
  short (docs/evaluation.md, "Where the view goes wrong: pitch");
* the *tilt* of the canonical depth: the slope, per unit of the image's half-height, of a
  line fitted down the object to its depth normalised as the depth error normalises it (zero
  mean, unit spread over the object), for the prediction (over the true object mask and over
  its own object) and for the truth;
* the canonical depth error (the suite's ``depth_canonical``) as it is, with the mean tilt of
  prediction minus truth taken out, and with each sample's own tilt difference taken out.
  The last two say how much of the canonical error is a vertical shear of the shape alone.

Usage::

    python benchmarks/view_shape.py runs/demo               # a folder saved by ganlift lift
    python benchmarks/view_shape.py runs/demo --n 64 --seed 0
"""

from __future__ import annotations

import argparse

import torch

from ganlift.eval.metrics import normalised_depth

VIEW_NAMES = ("pitch", "yaw", "roll", "tx", "ty", "tz")
LIGHT_NAMES = ("ambient", "diffuse", "light dx", "light dy")


def centred_rows(mask: torch.Tensor) -> torch.Tensor:
    """The image row coordinate in [-1, 1] (top to bottom), less its mean over ``mask``, zero
    off it. (B, 1, H, W) -> (B, 1, H, W)."""
    y = torch.linspace(-1.0, 1.0, mask.shape[-2], dtype=mask.dtype).view(1, 1, -1, 1)
    n = mask.sum((1, 2, 3), keepdim=True).clamp_min(1.0)
    return (y - (y * mask).sum((1, 2, 3), keepdim=True) / n) * mask


def row_slope(field: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of ``field`` (B, 1, H, W) on :func:`centred_rows` ``rows``. Returns (B,)."""
    return (field * rows).sum((1, 2, 3)) / (rows**2).sum((1, 2, 3)).clamp_min(1e-6)


def tilt(depth: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Least-squares slope of normalised depth along the rows over ``mask``. Returns (B,)."""
    return row_slope(normalised_depth(depth, mask), centred_rows(mask))


def regression(pred: torch.Tensor, true: torch.Tensor) -> tuple[float, float]:
    """Slope and correlation of ``pred`` regressed on ``true`` (both (n,), less their means)."""
    p, t = pred - pred.mean(), true - true.mean()
    slope = float((p * t).sum() / (t * t).sum().clamp_min(1e-12))
    corr = float((p * t).mean() / (p.std(unbiased=False) * t.std(unbiased=False)).clamp_min(1e-12))
    return slope, corr


def rms(diff: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-sample root mean square of ``diff`` (B, 1, H, W) over ``mask``. Returns (B,)."""
    return ((diff * mask) ** 2).sum((1, 2, 3)).div(mask.sum((1, 2, 3)).clamp_min(1.0)).sqrt()


@torch.no_grad()
def diagnose(lifter, n: int = 256, seed: int = 0, batch: int = 64) -> dict:
    """The figures this script prints, as a dict (see the module docstring)."""
    teacher = lifter.teacher
    w = teacher.sample_w(n, seed=seed)
    size = lifter.resolution
    parts: dict[str, list[torch.Tensor]] = {}
    for start in range(0, n, batch):
        codes = w[start : start + batch]
        pred, truth = lifter.predict(codes), teacher.ground_truth(codes, size=size)
        mask = (truth["mask"] > 0.5).float()
        # the lifter's own object, as its loss context marks it (T forced to 1 there)
        own = (pred["depth"] <= float(lifter.recipe.lifter.transform_threshold)).float()
        values = {
            "view": pred["view"], "view_true": truth["view"],
            "light": pred["light"], "light_true": truth["light"],
            "tilt": tilt(pred["depth"], mask), "tilt_own": tilt(pred["depth"], own),
            "tilt_true": tilt(truth["depth"], mask),
            "diff": normalised_depth(pred["depth"], mask) - normalised_depth(truth["depth"], mask),
            "rows": centred_rows(mask), "mask": mask,
        }
        for name, value in values.items():
            parts.setdefault(name, []).append(value.float().cpu())
    p = {k: torch.cat(v) for k, v in parts.items()}
    out: dict = {"view": {}, "light": {}}
    for i, name in enumerate(VIEW_NAMES):
        out["view"][name] = regression(p["view"][:, i], p["view_true"][:, i])
    for i, name in enumerate(LIGHT_NAMES):
        out["light"][name] = regression(p["light"][:, i], p["light_true"][:, i])
    for key in ("tilt", "tilt_own", "tilt_true"):
        out[key] = (float(p[key].mean()), float(p[key].std()))
    rows, mask, diff = p["rows"], p["mask"], p["diff"]
    own_tilt = row_slope(diff, rows)
    out["canonical"] = float(rms(diff, mask).mean())
    out["canonical_mean_tilt_out"] = float(rms(diff - own_tilt.mean() * rows, mask).mean())
    out["canonical_own_tilt_out"] = float(rms(diff - own_tilt.view(-1, 1, 1, 1) * rows, mask).mean())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lifter", help="a folder saved by ganlift lift (or a Hub repo id)")
    parser.add_argument("--n", type=int, default=256, help="evaluation codes (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="their seed (default 0, the suite's)")
    args = parser.parse_args()
    import ganlift

    lifter = ganlift.Lifter.from_pretrained(args.lifter).eval()
    if not callable(getattr(lifter.teacher, "ground_truth", None)):
        parser.error(f"teacher {lifter.teacher.name!r} has no ground truth (a synthetic teacher is needed)")
    res = diagnose(lifter, args.n, args.seed)
    print(f"{args.lifter}: teacher {lifter.teacher.name}, {args.n} codes of seed {args.seed}, "
          f"{torch.get_num_threads()} threads")
    print("parameter   slope   corr   (prediction regressed on truth)")
    for group in ("view", "light"):
        for name, (slope, corr) in res[group].items():
            print(f"{name:<10} {slope:6.3f} {corr:6.3f}")
    print("canonical tilt (mean, std over samples): prediction on the true object "
          "{:+.3f} {:.3f}, on its own object {:+.3f} {:.3f}, truth {:+.3f} {:.3f}".format(
              *res["tilt"], *res["tilt_own"], *res["tilt_true"]))
    print(f"canonical depth error {res['canonical']:.3f}; with the mean tilt difference out "
          f"{res['canonical_mean_tilt_out']:.3f}; with each sample's out {res['canonical_own_tilt_out']:.3f}")


if __name__ == "__main__":
    main()
