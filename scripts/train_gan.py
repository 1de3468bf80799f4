"""Train a small StyleGAN2 teacher with ganlift.gan (how gan-faces-64 and gan-cats-64 were made).

Usage:
    python scripts/train_gan.py --data synthetic-faces --out runs/gan-faces-64 --steps 3000
    python scripts/train_gan.py --data path/to/images --out runs/my-gan --name my-gan

Resumes from ``OUT/checkpoint.pt`` when it exists (Ctrl-C or SIGTERM save one); the trained
G_ema is written to ``OUT/teacher/`` (load it with ``ganlift.load_teacher("OUT/teacher")``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ganlift.gan import GanSettings, train_gan


def main(argv: list[str] | None = None) -> int:
    defaults = GanSettings()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=defaults.data, help="registered teacher name or image folder")
    p.add_argument("--data-options", default="{}", help='JSON options of the teacher, e.g. \'{"seed": 0}\'')
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--name", default=None, help="the trained teacher's name (default: the folder name)")
    p.add_argument("--resolution", type=int, default=defaults.resolution)
    p.add_argument("--steps", type=int, default=defaults.steps)
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--r1-gamma", type=float, default=defaults.r1_gamma)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--sample-every", type=int, default=defaults.sample_every)
    p.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every)
    p.add_argument("--overwrite", action="store_true", help="start afresh even if OUT has a checkpoint")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        options = json.loads(args.data_options)
    except json.JSONDecodeError as err:
        p.error(f"--data-options is not JSON: {err}")
    from pathlib import Path

    settings = GanSettings(
        data=args.data, data_options=options, resolution=args.resolution, steps=args.steps,
        batch_size=args.batch_size, lr=args.lr, r1_gamma=args.r1_gamma, seed=args.seed,
        sample_every=args.sample_every, checkpoint_every=args.checkpoint_every,
        name=args.name or Path(args.out).name,
    )
    try:
        train_gan(settings, args.out, overwrite=args.overwrite)
    except KeyboardInterrupt:
        return 130
    print(f"teacher written to {Path(args.out) / 'teacher'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
