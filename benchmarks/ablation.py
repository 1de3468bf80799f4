"""Ablation of the LiftedGAN objective on ground truth, in the shape of the paper's table 2.

Rows: the full objective, and the same recipe without the flip term, without the perturbation
terms (``perturbation_a``, ``perturbation_b``, ``cycle``, ``prior``: eqs. 3-5) and without the
albedo rank term (eq. 7); the identity term (eq. 6) needs a face-recognition network, which
these teachers do not have. Columns: posed and canonical depth error, normal error, yaw /
pitch / roll error, novel-view L1 / SSIM, relight L1 and the training seconds.

Two budgets per teacher:

* equal steps: every row trains ``--steps`` steps;
* equal wall time: every row trains as long as the full objective did. A row whose step is
  cheaper (no perturbation: no G(w') pass, one render fewer) gets more steps: its
  equal-steps run is continued from its checkpoint (resume is exact, so this equals a fresh
  run of that many steps) until its training time matches the full row's. A row whose step
  is dearer keeps its equal-steps result (marked ``*``).

Teachers: ``synthetic-faces`` and ``synthetic-cats`` with their recommended recipes, and the
test teachers ``synthetic-glossy-faces`` (highlights and a cluttered backdrop the lifter's
renderer cannot draw) and ``synthetic-cars`` (neither face nor cat) with the recipes in
``benchmarks/recipes/`` (``extends = "synthetic"``, nothing tuned for them), and the shipped
GAN teachers ``gan-faces-64`` and ``gan-cats-64`` (StyleGAN2s trained on renders, scored
against their pseudo ground truth, marked so in ``ablation.json``; their images are 64x64 and
resized to the lifting resolution). The evaluation codes are ``ganlift.eval``'s fixed held-out
seed, separate from every training seed.

Time every run with nothing else busy on the machine (a second busy process slows 2-thread
torch by 10x or more on a 2-core CPU); the script prints the thread count next to the table.

Usage::

    python benchmarks/ablation.py --out runs/ablation                      # everything
    python benchmarks/ablation.py --teachers synthetic-faces --resolution 32 --steps 600
    python benchmarks/ablation.py --rows full no_perturbation --teachers synthetic-cars
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
OFF_PERTURBATION = {"losses.perturbation_a.weight": 0, "losses.perturbation_b.weight": 0,
                    "losses.cycle.weight": 0, "losses.prior.weight": 0}
# The full objective on top of the recommended recipe (what recipes/synthetic-full.toml adds).
FULL = {**{f"losses.{name}.{key}": value for name, weight in
           (("perturbation_a", 2.0), ("perturbation_b", 2.0), ("cycle", 4.0)) for key, value in
           (("weight", weight), ("start", 100), ("ramp", 100))},
        "lifter.perturbation_trains_neutral": False, "lifter.perturbation_base": "own",
        "perturb.shuffle_light": False, "perturb.warmup_steps": 1000}
ROWS = {
    "full": FULL,
    "no_flip": {**FULL, "losses.flip.weight": 0},
    "no_perturbation": OFF_PERTURBATION,
    "no_albedo_rank": {**FULL, "losses.albedo_rank.weight": 0},
}
TEST_RECIPES = {"synthetic-glossy-faces": HERE / "recipes" / "glossy-faces.toml",
                "synthetic-cars": HERE / "recipes" / "cars.toml"}
# Teachers of one fixed resolution (no ``resolution`` option): the lifter resizes their images.
FIXED_RESOLUTION = ("gan-faces-64", "gan-cats-64")
COLUMNS = (("depth", "depth", "{:.3f}"), ("depth_canonical", "canonical", "{:.3f}"),
           ("normal_deg", "normal (deg)", "{:.1f}"), ("yaw", "yaw", "{:.2f}"), ("pitch", "pitch", "{:.2f}"),
           ("roll", "roll", "{:.2f}"), ("novel_view_l1", "novel-view L1", "{:.4f}"),
           ("novel_view_ssim", "novel-view SSIM", "{:.3f}"), ("relight_l1", "relight L1", "{:.4f}"))


def _train_seconds(folder: Path) -> tuple[float, int]:
    """Training seconds and steps of a run folder (from its log.jsonl)."""
    last = json.loads((folder / "log.jsonl").read_text().strip().splitlines()[-1])
    return float(last["elapsed"]), int(last["step"])


def _teacher_options(teacher: str, resolution: int) -> dict:
    return {} if teacher in FIXED_RESOLUTION else {"resolution": resolution}


def _lift(teacher: str, recipe, overrides: dict, steps: int, resolution: int, out: Path, resume: bool,
          seconds_before: float = 0.0) -> dict:
    """One lift; ``seconds_before``: training time of the checkpoint a resumed run continues
    (a resumed log counts its time from the resume)."""
    import ganlift

    ganlift.lift(teacher, recipe=recipe, steps=steps, out=out, overrides={"lifter.resolution": resolution, **overrides},
                 teacher_options=_teacher_options(teacher, resolution), resume=resume, overwrite=not resume,
                 progress=False)
    metrics = json.loads((out / "metrics.json").read_text())
    seconds, done = _train_seconds(out)
    return {**metrics, "seconds": seconds_before + seconds, "steps": done}


def run_teacher(teacher: str, rows: list[str], steps: int, resolution: int, out: Path) -> dict:
    """Both budgets for one teacher. Returns {"equal_steps": {row: metrics}, "equal_time": ...}."""
    import ganlift
    from ganlift.recipe import load_recipe, recommended_recipe

    from ganlift.eval import evaluate_baselines

    teacher_obj = ganlift.load_teacher(teacher, **_teacher_options(teacher, resolution))
    recipe = TEST_RECIPES.get(teacher) or recommended_recipe(teacher_obj)
    flat = evaluate_baselines(teacher_obj, names=("flat",), n=256, psi=1.0)["flat"]
    result = {"recipe": str(recipe), "flat": {**flat, "seconds": 0.0, "steps": 0},
              "equal_steps": {}, "equal_time": {}}
    # The prior on w' is part of the full objective: the recipe's weight, or the paper's 0.5.
    prior = float(load_recipe(recipe).losses.get("prior", {}).get("weight", 0.0)) or 0.5
    with_prior = {"losses.prior.weight": prior, "losses.prior.start": 100, "losses.prior.ramp": 100}
    overrides = {row: ({**ROWS[row], **with_prior} if row != "no_perturbation" else ROWS[row]) for row in rows}
    for row in rows:
        result["equal_steps"][row] = _lift(teacher, recipe, overrides[row], steps, resolution, out / row, resume=False)
    budget = result["equal_steps"]["full"]["seconds"] if "full" in rows else None
    for row in rows:
        base = result["equal_steps"][row]
        if budget is None or row == "full" or base["seconds"] >= budget:
            result["equal_time"][row] = {**base, "dearer": row != "full" and budget is not None}
            continue
        longer = int(round(steps * budget / base["seconds"]))
        if longer <= steps:  # cheaper by less than a step: nothing to continue
            result["equal_time"][row] = {**base, "dearer": False}
            continue
        folder = out / f"{row}-equal-time"
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(out / row, folder)
        result["equal_time"][row] = _lift(teacher, recipe, overrides[row], longer, resolution, folder, resume=True,
                                          seconds_before=base["seconds"])
    return result


def markdown(results: dict, steps: int, resolution: int) -> str:
    """The tables: one per teacher and budget."""
    lines = [f"Lifts at {resolution}x{resolution}, {steps} steps (equal steps) or the full row's training time "
             f"(equal wall time), batch 8, {torch.get_num_threads()} CPU threads; evaluation: 256 held-out codes, "
             "ganlift.eval's fixed seed.", ""]
    for teacher, res in results.items():
        for budget in ("equal_steps", "equal_time"):
            truth = ", against pseudo ground truth" if res["flat"].get("pseudo") else ""
            lines += [f"**{teacher}**, {budget.replace('_', ' ')} (recipe `{Path(res['recipe']).stem}`{truth})", "",
                      "| row | " + " | ".join(c[1] for c in COLUMNS) + " | steps | seconds |",
                      "|---" * (len(COLUMNS) + 3) + "|"]
            for row, m in [*res[budget].items(), ("flat card", res["flat"])]:
                cells = [fmt.format(m[key]) if isinstance(m.get(key), (int, float)) else "-" for key, _, fmt in COLUMNS]
                mark = "*" if m.get("dearer") else ""
                lines.append(f"| {row}{mark} | " + " | ".join(cells) + f" | {m['steps']} | {m['seconds']:.0f} |")
            lines.append("")
    lines.append("`*`: this row's step costs more than the full objective's; its equal-steps result is shown. "
                 "`flat card`: the teacher's image on a frontal plane (ganlift.eval.baselines), for scale.")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teachers", nargs="+", default=["synthetic-faces", "synthetic-cats",
                                                          "synthetic-glossy-faces", "synthetic-cars",
                                                          *FIXED_RESOLUTION])
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--table", type=Path, default=None, help="markdown file (default OUT/ablation.md)")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="only write the tables of an earlier run's ablation.json")
    args = parser.parse_args()
    if args.from_json:
        path = args.table or args.from_json.with_suffix(".md")
        path.write_text(markdown(json.loads(args.from_json.read_text()), args.steps, args.resolution))
        print(path.read_text())
        return
    if "full" not in args.rows:
        parser.error("--rows must include full (the equal-wall-time budget is the full row's time)")
    started = time.perf_counter()
    results = {}
    for teacher in args.teachers:
        results[teacher] = run_teacher(teacher, args.rows, args.steps, args.resolution, args.out / teacher)
        (args.out / "ablation.json").write_text(json.dumps(results, indent=1, default=float))
    table = markdown(results, args.steps, args.resolution)
    path = args.table or args.out / "ablation.md"
    path.write_text(table)
    print(table)
    print(f"written to {path} ({time.perf_counter() - started:.0f} s in all)")


if __name__ == "__main__":
    main()
