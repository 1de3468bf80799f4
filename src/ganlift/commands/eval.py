"""``ganlift eval``: score a lifter's 3D against a synthetic teacher's ground truth.

Examples::

    ganlift eval --lifter runs/demo --n 256 --out metrics.json
    ganlift eval --lifter runs/demo --baseline truth --baseline flat     # with reference rows
    ganlift eval --teacher synthetic-cats --baseline flat --n 64          # baselines only

Prints a table (one column per evaluated model) and writes the lifter's metrics as JSON, with
the baselines' metrics under ``"baselines"`` (without a lifter: only ``"baselines"``).
"""

from __future__ import annotations

import argparse
import math

import torch

NAME = "eval"
HELP = "Score a lifter's depth, pose, novel views and relighting against a synthetic teacher's truth."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lifter", help="a saved lifter folder (or Hub repo id) to evaluate")
    parser.add_argument(
        "--teacher",
        help="teacher with 3D truth, a registered name such as synthetic-faces (default: the lifter's own teacher)",
    )
    parser.add_argument(
        "--baseline",
        action="append",
        default=[],
        metavar="NAME",
        help="also evaluate a reference predictor: truth (the teacher's own maps) or flat (no 3D); repeatable",
    )
    parser.add_argument("--n", type=int, default=256, help="number of samples (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sampled style codes (default 0)")
    parser.add_argument("--batch-size", type=int, default=32, help="samples per batch (default 32)")
    parser.add_argument("--psi", type=float, default=1.0, help="truncation of the sampled w (default 1: none)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument(
        "--out", default="metrics.json", help="JSON file to write (default metrics.json; '' writes nothing)"
    )


def run(args: argparse.Namespace) -> int:
    from ganlift.eval import BASELINES, evaluate, format_metrics
    from ganlift.eval.pseudo import with_truth
    from ganlift.teachers.loading import load_teacher
    from ganlift.utils.config import check_lifter_folder
    from ganlift.utils.io import check_writable, write_json

    if not args.lifter and not args.baseline:
        raise ValueError("pass --lifter DIR (a saved lifter) and/or --baseline truth|flat")
    unknown = [b for b in args.baseline if b not in BASELINES]
    if unknown:
        raise ValueError(f"unknown --baseline {unknown[0]!r}; choose from {sorted(BASELINES)}")
    if args.n < 2:
        raise ValueError(f"--n must be at least 2, got {args.n}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    if not (math.isfinite(args.psi) and 0 < args.psi <= 1.5):
        raise ValueError(f"--psi (truncation) must be a number in (0, 1.5], got {args.psi}")
    if args.out:
        check_writable(args.out, "--out")  # before minutes of evaluation, not after
    if args.lifter:
        check_lifter_folder(args.lifter)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    options = {"n": args.n, "seed": args.seed, "batch_size": args.batch_size, "psi": args.psi}

    teacher = load_teacher(args.teacher) if args.teacher else None
    columns: dict[str, dict] = {}
    result: dict = {}
    size = None  # baselines render at the lifter's size, so the columns compare like for like
    if args.lifter:
        from ganlift.lifter import Lifter

        lifter = Lifter.from_pretrained(args.lifter, teacher=teacher) if teacher is not None else (
            Lifter.from_pretrained(args.lifter)
        )
        lifter = lifter.to(device)
        teacher = teacher if teacher is not None else lifter.teacher
    elif teacher is None:
        teacher = load_teacher("synthetic-faces")
    # A shipped GAN teacher's pseudo truth, loaded once for every column.
    teacher = with_truth(teacher.to(device)) or teacher
    if args.lifter:
        result = evaluate(lifter, teacher, **options)
        columns["lifter"] = result
        size = result["size"]
    if args.baseline:
        result["baselines"] = {}
        for name in dict.fromkeys(args.baseline):
            metrics = evaluate(BASELINES[name](teacher, size=size), teacher, **options)
            result["baselines"][name] = metrics
            columns[name] = metrics

    print(f"teacher: {getattr(teacher, 'name', teacher)}  n={args.n}  seed={args.seed}  psi={args.psi}")
    print(format_metrics(columns))
    if args.out:
        write_json(args.out, result)
        print(f"wrote {args.out}")
    return 0
