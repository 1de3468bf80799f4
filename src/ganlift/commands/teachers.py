"""``ganlift teachers``: list the registered teachers (zoo entries and what is cached locally),
or ``--preview NAME --out grid.png`` to draw a grid of a teacher's samples."""

from __future__ import annotations

import argparse
import json
import math

HELP = "list registered teachers and what is cached locally; --preview NAME draws samples"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preview", default=None, metavar="NAME_OR_PATH",
                        help="draw samples of this teacher (registered name or checkpoint path)")
    parser.add_argument("--out", default=None, metavar="FILE", help="image file for --preview (e.g. grid.png)")
    parser.add_argument("--n", type=int, default=16, help="samples in the preview grid (default 16)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the preview codes (default 0)")
    parser.add_argument("--psi", type=float, default=1.0, help="truncation of the preview codes (default 1)")
    parser.add_argument("--cache-dir", default=None, metavar="DIR", help="Hugging Face cache folder")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")


def rows(cache_dir=None) -> list[dict]:
    """One dict per registered teacher: name, kind, resolution, format, recipe, source, local."""
    import ganlift  # noqa: F401  (registers the built-in teachers)
    from ganlift.teachers import TEACHERS
    from ganlift.zoo import ZOO, cached_path, find_user_copy, is_pickle_entry

    out = []
    for name in TEACHERS.names():
        entry = ZOO.get(name)
        row = {"name": name, "kind": "registered", "resolution": None, "format": None,
               "recipe": None, "license": None, "source": None, "local": "built in (code)"}
        if entry is not None:
            kind = "packaged" if entry.format == "packaged" else "zoo" if entry.repo_id else "builtin"
            row.update(kind=kind, resolution=entry.resolution,
                       format=entry.format, recipe=entry.recipe, license=entry.license,
                       source=f"{entry.repo_id}/{entry.filename}@{entry.revision}" if entry.repo_id else None)
            if entry.format == "packaged":
                row["local"] = "in the package (ganlift/teachers/weights)"
            elif entry.repo_id and is_pickle_entry(entry):
                # ganlift never downloads pickles: only a copy the user fetched counts.
                copy = find_user_copy(entry, cache_dir=cache_dir)
                row["local"] = (f"cached (user download): {copy[0]}" if copy is not None else
                                "manual download (pickle; `hf download REPO FILE`, $GANLIFT_HOME/teachers/ "
                                "or --teacher path/to/file)")
            elif entry.repo_id:
                found = cached_path(entry, cache_dir=cache_dir)
                if found is not None:
                    row["local"] = str(found)
                else:
                    row["local"] = "not cached (downloaded on first use)"
        out.append(row)
    return out


def _print_table(table: list[dict]) -> None:
    cols = ["name", "kind", "resolution", "format", "recipe", "local"]
    cells = [[("-" if r[c] is None else str(r[c])) for c in cols] for r in table]
    width = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(cols, width)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, width)).rstrip())
    sources = [r for r in table if r["source"]]
    if sources:
        print()
        for r in sources:
            print(f"{r['name']}: {r['source']} ({r['license']})")


def preview(source: str, out: str, n: int = 16, seed: int = 0, psi: float = 1.0) -> None:
    """Write a grid of ``n`` samples of the teacher ``source`` to the image file ``out``."""
    import torch

    from ganlift.teachers.loading import load_teacher
    from ganlift.utils.images import save_grid

    teacher = load_teacher(source)
    with torch.no_grad():
        w = teacher.sample_w(n, seed=seed, psi=psi)
        images = teacher.synthesis(w)
    if not torch.isfinite(images).all():
        raise RuntimeError(f"teacher {source!r} produced NaN/Inf images")
    save_grid(images, out, value_range=(-1.0, 1.0))


def run(args: argparse.Namespace) -> int:
    from ganlift.utils.io import check_writable

    if args.preview is not None:
        if not args.out:
            raise ValueError("--preview needs --out FILE (e.g. --out grid.png)")
        if args.n < 1:
            raise ValueError(f"--n must be >= 1, got {args.n}")
        if not (math.isfinite(args.psi) and 0 < args.psi <= 1.5):
            raise ValueError(f"--psi (truncation) must be a number in (0, 1.5], got {args.psi}")
        check_writable(args.out, "--out")
        preview(args.preview, args.out, n=args.n, seed=args.seed, psi=args.psi)
        print(f"wrote {args.n} samples of {args.preview} to {args.out}")
        return 0
    if args.out:
        raise ValueError("--out is only used with --preview NAME")
    table = rows(cache_dir=args.cache_dir)
    if args.json:
        print(json.dumps(table, indent=2))
    else:
        _print_table(table)
    return 0
