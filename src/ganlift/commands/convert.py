"""``ganlift convert``: turn a StyleGAN2 checkpoint into ganlift's safetensors teacher folder.

NVIDIA ``.pkl`` files are read with the safe loader of :mod:`ganlift.teachers.nvidia` (no
code from the pickle runs); rosinality ``.pt`` files with ``torch.load(weights_only=True)``.
The output folder (``teacher.safetensors`` + ``teacher.json``) loads later with
``ganlift.load_teacher(folder)``, with no pickle involved at all.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert a StyleGAN2 checkpoint (NVIDIA .pkl or rosinality .pt) to a ganlift teacher folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="FILE", help="NVIDIA .pkl or rosinality .pt file")
    parser.add_argument("out", metavar="OUT_DIR", help="folder to write (teacher.safetensors, teacher.json)")
    parser.add_argument("--network", default="G_ema",
                        help="NVIDIA pickles: which generator entry to read (default G_ema)")
    parser.add_argument("--name", default=None, help="teacher name (default: the file name)")
    parser.add_argument("--w-samples", type=int, default=None, metavar="N",
                        help="mapped samples for the w statistics (default 50000)")
    parser.add_argument("--seed", type=int, default=None, help="seed of those samples (default 0)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing teacher in OUT_DIR")


def run(args: argparse.Namespace) -> int:
    from ganlift.teachers.files import load_teacher_file, save_teacher

    src, out = Path(args.checkpoint).expanduser(), Path(args.out).expanduser()
    if not src.is_file():
        raise FileNotFoundError(f"checkpoint {str(src)!r} does not exist (or is a folder)")
    if out.exists() and not out.is_dir():
        raise ValueError(f"OUT_DIR {str(out)!r} exists and is not a folder")
    if (out / "teacher.safetensors").exists() and not args.force:
        raise ValueError(f"{out} already holds a teacher; pass --force to overwrite it")
    options = {}
    if src.suffix.lower() == ".pkl":
        options["network"] = args.network
    elif args.network != "G_ema":
        raise ValueError("--network applies to NVIDIA .pkl files only")
    if args.name is not None:
        options["name"] = args.name
    if args.w_samples is not None:
        options["w_mean_samples"] = args.w_samples
    if args.seed is not None:
        options["seed"] = args.seed
    teacher = load_teacher_file(src, **options)
    save_teacher(teacher, out)
    cfg = teacher.config
    print(
        f"wrote {out} ({teacher.name}: {cfg['resolution']}x{cfg['resolution']}, "
        f"w_dim {cfg['w_dim']}, {cfg['n_mlp']} mapping layers, conv_clamp {cfg['conv_clamp']}); "
        f"load it with ganlift.load_teacher({str(out)!r})"
    )
    return 0
