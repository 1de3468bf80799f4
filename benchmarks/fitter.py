"""Validate the pseudo-ground-truth fitter on synthetic images, whose truth is known (issue 14).

For each synthetic teacher (``synthetic-faces``, ``synthetic-cats``) it draws ``--n`` codes
with ``--seed`` (default 1: the fitter was tuned on seed 1 codes only; the evaluation suite
draws seed 0), renders their images, fits the same synthetic model to the images with
:func:`ganlift.eval.pseudo.fit_synthetic` (the true codes are never shown to the fitter) and
scores the fitted object's truth against the true truth, as :func:`ganlift.eval.evaluate`
scores a lifter:

* depth: :func:`ganlift.eval.metrics.depth_error` of the posed depth over the true posed
  object mask; depth_canonical: the same on the canonical maps over the true object mask;
* yaw / pitch / roll: :func:`ganlift.eval.metrics.angle_errors` (mean offset removed), and
  the raw mean absolute error (``*_raw``, no offset removed: the fit shares the teacher's frame);
* residual: mean L1 in [0, 1] between the fitted render and the image; seconds: fit time.

Acceptance (issue 14): depth error <= 0.10 and yaw error <= 1.5 degrees.

Usage::

    python benchmarks/fitter.py                         # 256 images per teacher, 1 thread
    python benchmarks/fitter.py --n 32 --kinds faces --steps 40 --space w
"""

from __future__ import annotations

import argparse
import json
import sys
import time

DEPTH_TARGET = 0.10
YAW_TARGET = 1.5


def parse(argv: list[str] | None) -> argparse.Namespace:
    from ganlift.eval.pseudo import DEFAULTS

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kinds", nargs="+", default=["faces", "cats"], choices=["faces", "cats"])
    ap.add_argument("--n", type=int, default=256, help="images per teacher")
    ap.add_argument("--seed", type=int, default=1, help="seed of the held-out codes (not the eval's 0)")
    ap.add_argument("--resolution", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--out", help="write the rows as JSON here")
    for key, value in DEFAULTS.items():
        ap.add_argument(f"--{key.replace('_', '-')}", type=type(value), default=value)
    return ap.parse_args(argv)


def score(teacher, w, fit) -> dict[str, float]:
    """Errors of the fitted object's truth against the true one (floats)."""
    from ganlift.eval.metrics import angle_errors, depth_error

    true = teacher.ground_truth(w)
    est = teacher.ground_truth(fit.codes)
    posed = depth_error(est["posed_depth"], true["posed_depth"], true["posed_mask"])
    canon = depth_error(est["depth"], true["depth"], true["mask"])
    row = {"depth": float(posed.nanmean()), "depth_canonical": float(canon.nanmean()),
           "depth_p90": float(posed.nanquantile(0.9))}
    angles = angle_errors(est["view"], true["view"])
    for i, name in enumerate(("pitch", "yaw", "roll")):
        row[name] = angles[name]
        row[f"{name}_raw"] = float((est["view"][:, i] - true["view"][:, i]).abs().mean())
    row["residual"] = float(fit.residual.mean())
    row["residual_median"] = float(fit.residual.median())
    row["seconds"] = fit.seconds
    return row


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    import torch

    import ganlift
    from ganlift.eval.pseudo import DEFAULTS, fit_synthetic

    torch.set_num_threads(args.threads)
    options = {key: getattr(args, key) for key in DEFAULTS}
    rows = {}
    for kind in args.kinds:
        teacher = ganlift.load_teacher(f"synthetic-{kind}", resolution=args.resolution, seed=0)
        w = teacher.sample_w(args.n, seed=args.seed)
        with torch.no_grad():
            images = teacher.synthesis(w)
        start = time.perf_counter()
        fit = fit_synthetic(teacher, images, seed=0, batch_size=args.batch_size, progress=False, **options)
        rows[f"synthetic-{kind}"] = score(teacher, w, fit)
        print(f"synthetic-{kind}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)

    print(f"\nn = {args.n} per teacher, codes seed {args.seed}, {args.resolution} px, {args.threads} thread(s); "
          f"settings {json.dumps(options)}\n")
    print("| teacher | depth | depth p90 | depth canonical | yaw | pitch | roll | yaw raw | residual (median) | seconds |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in rows.items():
        print(f"| {name} | {r['depth']:.3f} | {r['depth_p90']:.3f} | {r['depth_canonical']:.3f} | {r['yaw']:.2f} | "
              f"{r['pitch']:.2f} | {r['roll']:.2f} | {r['yaw_raw']:.2f} | {r['residual']:.4f} "
              f"({r['residual_median']:.4f}) | {r['seconds']:.0f} |")
    ok = all(r["depth"] <= DEPTH_TARGET and r["yaw"] <= YAW_TARGET for r in rows.values())
    print(f"\ntargets: depth <= {DEPTH_TARGET}, yaw <= {YAW_TARGET} deg: {'met' if ok else 'NOT met'}")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"settings": options, "n": args.n, "seed": args.seed, "threads": args.threads,
                       "rows": rows}, fh, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
