"""Quality figures of the shipped GAN teachers against the synthetic distribution they imitate.

For each GAN teacher it reads the shipped pseudo-truth fits of the 256 evaluation codes
(``sample_w(256, seed=0)``; nothing is refitted) and prints:

* the fit residual (median, mean, 90th percentile; mean L1 on [0, 1] images) of the GAN's
  samples: how far the closest object the synthetic family can draw is from each sample (the
  fitter's floor on the synthetic images themselves is about 0.005, see benchmarks/fitter.py);
* the spread (standard deviation) of the fitted yaw, pitch and light direction next to the
  true spread of the synthetic teacher's own samples: how much of the pose and light range
  the GAN covers.

Usage::

    python benchmarks/gan_quality.py                 # both shipped teachers
"""

from __future__ import annotations

import argparse

import torch

SHIPPED = {"gan-faces-64": "synthetic-faces", "gan-cats-64": "synthetic-cats"}


def spread(views: torch.Tensor, lights: torch.Tensor) -> dict[str, float]:
    return {"yaw": float(views[:, 1].std()), "pitch": float(views[:, 0].std()),
            "light_x": float(lights[:, 2].std()), "light_y": float(lights[:, 3].std())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teachers", nargs="+", default=list(SHIPPED), choices=list(SHIPPED))
    args = ap.parse_args(argv)

    import ganlift
    from ganlift.eval.pseudo import pseudo_truth_for

    print("| teacher | residual median | mean | p90 | yaw std (GAN / true) | pitch std | light x std | light y std |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.teachers:
        gan = ganlift.load_teacher(name)
        truth = pseudo_truth_for(gan, progress=False)
        w = gan.sample_w(256, seed=0)
        fitted = truth.ground_truth(w)
        residual = truth.residuals(w)
        model = ganlift.load_teacher(SHIPPED[name])
        own = model.ground_truth(model.sample_w(256, seed=0))
        g, t = spread(fitted["view"], fitted["light"]), spread(own["view"], own["light"])
        print(f"| `{name}` | {float(residual.median()):.4f} | {float(residual.mean()):.4f} | "
              f"{float(residual.quantile(0.9)):.4f} | {g['yaw']:.1f} / {t['yaw']:.1f} | "
              f"{g['pitch']:.1f} / {t['pitch']:.1f} | {g['light_x']:.2f} / {t['light_x']:.2f} | "
              f"{g['light_y']:.2f} / {t['light_y']:.2f} |")
        assert truth.fit_calls == 0, "the shipped fits should cover the evaluation codes"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
