"""``ganlift lift``: train a lifter for a teacher (the same as ``ganlift.lift``)."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

HELP = "train a 3D lifter for a teacher (resumes from OUT/checkpoints/last.pt when present)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", required=True, metavar="NAME_OR_PATH",
                        help="registered teacher (see `ganlift teachers`) or checkpoint path")
    parser.add_argument("--teacher-option", dest="teacher_options", action="append", default=[],
                        metavar="KEY=VALUE", help="option of a registered teacher (repeatable), "
                        "e.g. --teacher-option resolution=128")
    parser.add_argument("--recipe", default=None, metavar="NAME_OR_PATH",
                        help="recipe name (see `ganlift recipes`) or TOML file; "
                             "default: the teacher's recommended recipe")
    parser.add_argument("--steps", type=int, default=None, metavar="N",
                        help="total steps (default: the recipe's train.steps)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default: runs/<teacher name>)")
    parser.add_argument("--device", default=None, metavar="cpu|cuda",
                        help="cpu, cuda or cuda:N (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=None,
                        help="seed for everything (default 0; a resumed run keeps its own)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a recipe key (repeatable), "
                        "e.g. --set train.lr=5e-5 --set losses.flip=0")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=None,
                        help="--resume requires a checkpoint in OUT, --no-resume never resumes "
                             "(default: resume when one exists)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in a non-empty OUT, replacing what is there (without "
                             "it, OUT must be empty or a resumable run of the same set-up)")
    parser.add_argument("--no-eval", dest="evaluate", action="store_false",
                        help="skip the evaluation against ground truth at the end")
    parser.add_argument("--eval-samples", type=int, default=256, metavar="N",
                        help="held-out samples for metrics.json (default 256)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def default_out(teacher: str) -> Path:
    """``runs/<name>`` for a registered name, ``runs/<file stem>`` for a path."""
    name = Path(str(teacher).rstrip("/\\")).name
    for suffix in (".safetensors", ".pkl", ".pt", ".pth"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return Path("runs") / (name or "lift")


def _print_metrics(path: Path, since: float) -> None:
    """The evaluation table, when this run wrote ``metrics.json`` (teachers with ground truth)."""
    if path.is_file() and path.stat().st_mtime >= since - 1:
        from ganlift.eval import format_metrics

        print(format_metrics(json.loads(path.read_text(encoding="utf-8"))))


def run(args: argparse.Namespace) -> int:
    from ganlift.recipe import parse_overrides
    from ganlift.train import lift

    if args.steps is not None and args.steps < 0:
        raise ValueError(f"--steps must be >= 0, got {args.steps}")
    if args.eval_samples < 2:
        raise ValueError(f"--eval-samples must be >= 2, got {args.eval_samples}")
    overrides = parse_overrides(args.overrides)  # clear error on a malformed --set first
    try:
        teacher_options = parse_overrides(args.teacher_options)
    except ValueError:
        bad = next(o for o in args.teacher_options if "=" not in o)
        raise ValueError(f"--teacher-option {bad!r} must look like key=value "
                         "(e.g. resolution=128)") from None
    out = Path(args.out) if args.out else default_out(args.teacher)
    started = time.time()
    lifter = lift(args.teacher, recipe=args.recipe, steps=args.steps, out=out, device=args.device,
         seed=args.seed, overrides=overrides, resume=args.resume, overwrite=args.overwrite,
         progress=not args.quiet,
         evaluate=args.evaluate, eval_samples=args.eval_samples,
         teacher_options=teacher_options)
    if int(os.environ.get("RANK", "0")) == 0:  # under torchrun only rank 0 wrote it
        _print_metrics(out / "metrics.json", since=started)
        if args.recipe is None:
            print(f"recipe: {lifter.recipe.name} (the teacher's recommended recipe; --recipe picks another)")
        print(f"lifter saved to {out}")
    return 0
