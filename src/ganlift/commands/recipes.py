"""``ganlift recipes``: list the registered recipes, or print one fully resolved as TOML."""

from __future__ import annotations

import argparse
import json

HELP = "list recipes (name, resolution, steps, losses); NAME prints one resolved as TOML"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", default=None, metavar="NAME_OR_PATH",
                        help="print this recipe (registered name or TOML path) with extends resolved")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="apply an override before printing (repeatable), e.g. --set train.steps=100")
    parser.add_argument("--json", action="store_true", help="print JSON instead of TOML / a table")


def rows() -> list[dict]:
    """One dict per registered recipe: name, description, resolution, steps, enabled losses."""
    from ganlift.recipe import RECIPES, load_recipe

    out = []
    for name in RECIPES.names():
        recipe = load_recipe(name)
        out.append({
            "name": name,
            "resolution": recipe.lifter.resolution,
            "steps": recipe.train.steps,
            "perceptual": recipe.distance.perceptual,
            "losses": ", ".join(f"{k}={v['weight']:g}" for k, v in recipe.enabled_losses().items()),
            "description": recipe.description,
        })
    return out


def run(args: argparse.Namespace) -> int:
    from ganlift.recipe import load_recipe, parse_overrides

    if args.name is not None:
        recipe = load_recipe(args.name, parse_overrides(args.overrides) or None)
        print(json.dumps(recipe.to_dict(), indent=2) if args.json else recipe.to_toml(), end="" if not args.json else "\n")
        return 0
    if args.overrides:
        raise ValueError("--set needs a recipe NAME to apply to")
    table = rows()
    if args.json:
        print(json.dumps(table, indent=2))
        return 0
    cols = ["name", "resolution", "steps", "perceptual", "description"]
    width = {c: max(len(c), *(len(str(r[c])) for r in table)) for c in cols}
    print("  ".join(c.upper().ljust(width[c]) for c in cols).rstrip())
    for r in table:
        print("  ".join(str(r[c]).ljust(width[c]) for c in cols).rstrip())
    print("\nshow one with `ganlift recipes NAME`; write your own with `extends = \"NAME\"`")
    return 0
