"""Inversion benchmark: lift held-out synthetic images through GAN inversion (issue 15).

Given a trained lifter folder whose teacher has 3D ground truth (``synthetic-faces`` or
``synthetic-cats``), it draws ``--n`` held-out codes with a seed of its own (``--seed``,
default 271828; training draws its codes from streams derived from the run seed, so these
codes were never trained on), renders their images with ``teacher.render_truth`` and, per image:

* inverts the image into W with :func:`ganlift.invert` (seeded, on the CPU by default) and
  reports the image L1 residual (images in [0, 1], teacher resolution) and the wall time
  per image;
* lifts the inverted code and scores its depth (rendered at its own predicted view) against
  the image's true posed depth with :func:`ganlift.eval.depth_error` (the paper's depth
  error, over pixels on the true object covered by the render), next to the lifter's own
  error on the true codes, computed the same way.

Acceptance (issue 15): mean image L1 <= 0.03, and the inverted images' mean depth error at
most 0.05 above the lifter's own. ``--figures DIR`` also writes the figure 5 / figure 9 /
reconstruction images of the docs from these held-out images.

Usage::

    python benchmarks/invert.py runs/demo                          # 16 images, 200 steps, CPU
    python benchmarks/invert.py runs/demo --n 32 --threads 2 --out invert.json
    python benchmarks/invert.py runs/demo --n 4 --steps 50 --figures docs/images
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings

HELD_OUT_SEED = 271828
L1_TARGET = 0.03
DEPTH_MARGIN = 0.05


def _depth_errors(lifter, teacher, w, truth):
    """Depth error (B,) of the lifter's render of codes ``w`` against the true posed depth."""
    import torch

    from ganlift.eval import depth_error

    with torch.no_grad():
        pred = lifter.predict(w)
        own = lifter.renderer.render(pred["albedo"], pred["depth"], pred["transform"], pred["view"], pred["light"])
        valid = truth["posed_mask"] * own.mask.to(truth["posed_mask"])
        return depth_error(own.depth.to(valid), truth["posed_depth"], valid)


def _nanmean(x) -> float:
    import torch

    ok = torch.isfinite(x)
    return float(x[ok].mean()) if bool(ok.any()) else math.nan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lifter", help="a saved lifter folder (or Hub repo id) with a synthetic teacher")
    parser.add_argument("--n", type=int, default=16, help="held-out images (default 16)")
    parser.add_argument("--seed", type=int, default=HELD_OUT_SEED, help="seed of the held-out codes")
    parser.add_argument("--steps", type=int, default=200, help="inversion steps (default 200)")
    parser.add_argument("--restarts", type=int, default=4, help="starting codes per image (default 4)")
    parser.add_argument("--batch-size", type=int, default=4, help="images inverted together (default 4)")
    parser.add_argument("--lifted", type=float, default=1.0,
                        help="weight of the lifter's own render against the image (ganlift.invert's lifted; "
                             "default 1, as ganlift reconstruct)")
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--out", default=None, help="write the numbers to this JSON file")
    parser.add_argument("--figures", default=None, metavar="DIR",
                        help="also write photo-fig5.png/.gif, photo-fig9.png and photo-reconstruct.png to DIR")
    parser.add_argument("--progress", action="store_true", help="show the inversion progress bars")
    args = parser.parse_args(argv)

    import torch

    import ganlift
    from ganlift.invert import OutOfDistributionWarning

    if args.threads:
        torch.set_num_threads(args.threads)
    lifter = ganlift.Lifter.from_pretrained(args.lifter, device=args.device).eval()
    teacher = lifter.teacher
    if not (callable(getattr(teacher, "ground_truth", None)) and callable(getattr(teacher, "render_truth", None))):
        print(f"teacher {teacher.name!r} has no 3D ground truth: use a lifter of synthetic-faces or synthetic-cats",
              file=sys.stderr)  # fmt: skip
        return 2
    psi = float(lifter.recipe.teacher.truncation)
    w_true = teacher.sample_w(args.n, seed=args.seed, psi=psi).to(lifter.device)
    with torch.no_grad():
        images = ((teacher.render_truth(w_true)["image"] + 1) / 2).clamp(0, 1)
        truth = teacher.ground_truth(w_true, size=lifter.resolution)

    from ganlift.invert import residual_threshold

    residual_threshold(lifter.teacher)  # computed once and cached: not part of the timing
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", OutOfDistributionWarning)
        inversion = ganlift.invert(lifter, images, "w", args.steps, restarts=args.restarts,
                                   batch_size=args.batch_size, seed=0, lifted=args.lifted,
                                   progress=args.progress)  # fmt: skip
    seconds = time.perf_counter() - start

    own = _depth_errors(lifter, teacher, w_true, truth)
    inverted = _depth_errors(lifter, teacher, inversion.codes, truth)
    l1 = inversion.residual
    result = {
        "lifter": str(args.lifter),
        "teacher": teacher.reference(),
        "n": args.n,
        "seed": args.seed,
        "psi": psi,
        "steps": args.steps,
        "restarts": args.restarts,
        "lifted": args.lifted,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "image_l1_mean": float(l1.mean()),
        "image_l1_max": float(l1.max()),
        "image_l1_at_most_0.03": float((l1 <= L1_TARGET).float().mean()),
        "seconds_per_image": seconds / args.n,
        "depth_error_lifter_own": _nanmean(own),
        "depth_error_inverted": _nanmean(inverted),
        "depth_error_gap": _nanmean(inverted) - _nanmean(own),
        "out_of_distribution_warnings": len(caught),
    }
    result["pass_l1"] = result["image_l1_mean"] <= L1_TARGET
    result["pass_depth"] = result["depth_error_gap"] <= DEPTH_MARGIN
    width = max(len(k) for k in result)
    for key, value in result.items():
        shown = f"{value:.4f}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(result, fh, indent=2, sort_keys=True)
            fh.write("\n")

    if args.figures:
        from pathlib import Path

        from ganlift import export
        from ganlift.invert import Inversion

        folder = Path(args.figures)
        folder.mkdir(parents=True, exist_ok=True)
        zoom = max(1, 96 // lifter.resolution)

        def pick(index):
            return Inversion(**{**inversion.__dict__, **{k: getattr(inversion, k)[index] for k in
                                ("codes", "residual", "loss", "images", "targets", "out_of_distribution", "restart")}})  # fmt: skip

        count = min(4, args.n)
        export.reconstruction_figure(lifter, folder / "photo-reconstruct.png", pick(slice(0, count)), zoom=zoom)
        if args.n >= 2:
            export.interpolation_figure(lifter, folder / "photo-fig5.png", pick(slice(0, 1)), pick(slice(1, 2)),
                                        zoom=zoom)  # fmt: skip
            export.interpolation_animation(lifter, folder / "photo-fig5.gif", pick(slice(0, 1)), pick(slice(1, 2)))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a single-w teacher says it interpolates instead
            export.style_transfer_figure(lifter, folder / "photo-fig9.png", pick(slice(0, min(3, args.n))),
                                         [101, 102, 103], zoom=zoom)  # fmt: skip
        print(f"figures written to {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
