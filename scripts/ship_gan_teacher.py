"""Ship a GAN trained by scripts/train_gan.py as a packaged zoo teacher (done once, by a developer).

Usage:
    python scripts/ship_gan_teacher.py --run runs/gan/gan-faces-64 --model synthetic-faces

It copies ``RUN/teacher/teacher.safetensors`` to ``src/ganlift/teachers/weights/NAME.safetensors``,
fits the pseudo ground truth of the evaluation codes (``sample_w(256, seed=0)``, what
``ganlift eval`` and the end of ``ganlift lift`` score) to ``NAME.fits.safetensors``, writes a
preview grid to ``docs/images/NAME.png``, and prints the sha256 to pin in ``ganlift/zoo.py``
and the quality figure (the median fit residual of the GAN's samples next to that of the
synthetic model's own samples, the floor the fitter reaches on the images it imitates).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "src" / "ganlift" / "teachers" / "weights"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", required=True, help="a train_gan.py output folder")
    p.add_argument("--model", required=True, help="the synthetic teacher whose renders it was trained on")
    p.add_argument("--name", help="zoo name (default: the run folder's name)")
    p.add_argument("--n", type=int, default=256, help="evaluation codes to fit")
    args = p.parse_args(argv)

    from ganlift.eval.pseudo import PseudoTruth, fit_synthetic
    from ganlift.teachers.loading import load_teacher
    from ganlift.utils.images import save_grid
    from ganlift.utils.io import sha256_file

    run = Path(args.run)
    name = args.name or run.name
    WEIGHTS.mkdir(parents=True, exist_ok=True)
    weights = WEIGHTS / f"{name}.safetensors"
    shutil.copyfile(run / "teacher" / "teacher.safetensors", weights)
    gan = load_teacher(str(weights), name=name)
    model = load_teacher(args.model, resolution=gan.resolution)

    grid = gan.synthesis(gan.sample_w(64, seed=12345)).clamp(-1, 1)
    save_grid(grid, ROOT / "docs" / "images" / f"{name}.png", nrow=8, value_range=(-1.0, 1.0))

    started = time.perf_counter()
    truth = PseudoTruth(gan, model)
    fits = WEIGHTS / f"{name}.fits.safetensors"
    truth.save_fits(fits, n=args.n, seed=0)
    seconds = time.perf_counter() - started
    w = gan.sample_w(args.n, seed=0)
    gan_residual = truth.residuals(w)
    # The floor: the same fitter on the synthetic model's own images (held-out seed 1 codes).
    own = fit_synthetic(model, model.synthesis(model.sample_w(64, seed=1)).clamp(-1, 1), progress=False)
    summary = json.loads((run / "summary.json").read_text())
    report = {
        "name": name, "sha256": sha256_file(weights), "bytes": weights.stat().st_size,
        "fits_sha256": sha256_file(fits), "fit_seconds": round(seconds, 1),
        "gan_residual_median": float(gan_residual.median()), "gan_residual_mean": float(gan_residual.mean()),
        "synthetic_residual_median": float(own.residual.median()),
        "steps": summary["steps"], "images_seen": summary["images_seen"],
        "seconds_per_step": summary["seconds_per_step"],
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
