"""``ganlift export``: write a lifted sample as a textured mesh (OBJ+MTL+PNG, PLY or GLB)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganlift.commands._controls import add_lifter_arguments, add_pose_arguments, controls, load_lifter

HELP = "export a lifted sample as a textured mesh: OBJ (+MTL+PNG), PLY (vertex colours) or GLB"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifter_arguments(parser)
    parser.add_argument("--format", choices=("obj", "ply", "glb"), default=None,
                        help="mesh format (default: from the --out extension)")
    parser.add_argument("--out", required=True, help="output file, e.g. face.glb")
    parser.add_argument("--posed", action="store_true",
                        help="export the posed geometry (predicted pose, or --yaw/--pitch/--roll) "
                        "instead of the canonical frontal one")
    parser.add_argument("--no-mask", action="store_true",
                        help="keep the whole depth-map grid (background included)")
    parser.add_argument("--texture", choices=("albedo", "shaded"), default="albedo",
                        help="unlit albedo (default) or albedo with the light's shading baked in")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="scale of the coordinates (1 unit = camera-to-object distance)")
    parser.add_argument("--no-center", action="store_true",
                        help="keep camera coordinates (camera at the origin looking down -z)")
    parser.add_argument("--overwrite", action="store_true",
                        help="OBJ: replace an existing OUT.mtl/OUT.png that is not a previous "
                             "ganlift export of OUT (they are kept and the export refused otherwise)")
    add_pose_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ganlift.export import lifted_mesh
    from ganlift.export.mesh import check_obj_sidecars, save_mesh
    from ganlift.utils.io import check_writable

    fmt = args.format or Path(args.out).suffix.lstrip(".").lower()
    if fmt not in ("obj", "ply", "glb"):
        raise ValueError(f"cannot tell the mesh format of {args.out!r}: use --format obj|ply|glb")
    check_writable(args.out, "--out")
    if fmt == "obj":  # before loading anything: never replace a .png/.mtl the user has
        check_obj_sidecars(args.out, overwrite=args.overwrite)
    lifter = load_lifter(args)
    code = lifter.codes(1, args.seed, psi=args.psi)
    mesh = lifted_mesh(
        lifter, code, posed=args.posed, mask=not args.no_mask, texture=args.texture,
        center=not args.no_center, scale=args.scale, **controls(args),
    )  # fmt: skip
    written = save_mesh(mesh, args.out, format=fmt, overwrite=args.overwrite)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
