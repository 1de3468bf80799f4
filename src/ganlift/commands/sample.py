"""``ganlift sample``: render lifted samples at a chosen pose and light (plus their maps)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ganlift.commands._controls import add_lifter_arguments, add_pose_arguments, controls, load_lifter

HELP = "render lifted samples with a chosen yaw/pitch/roll and light; optionally depth, normal, albedo maps"
MAPS = ("depth", "normal", "albedo", "shading", "mask")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifter_arguments(parser)
    parser.add_argument("-n", "--num", type=int, default=1, help="number of samples (tiled in a grid)")
    add_pose_arguments(parser)
    parser.add_argument("--out", required=True, help="output image (.png or .jpg)")
    parser.add_argument("--maps", action="store_true",
                        help=f"also write OUT_{{{','.join(MAPS)}}}.png next to the image")
    parser.add_argument("--figure", action="store_true",
                        help="write the paper-style figure instead (teacher, yaws, shape, relit)")


def run(args: argparse.Namespace) -> int:
    from ganlift.export import depth_to_rgb, figure_grid, normal_to_rgb
    from ganlift.utils.images import save_grid
    from ganlift.utils.io import check_writable

    out = Path(args.out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise ValueError(f"--out must be a .png or .jpg image, got {args.out!r}")
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    check_writable(out, "--out")
    lifter = load_lifter(args)
    if args.figure:
        codes = lifter.codes(args.num, args.seed, psi=args.psi)
        figure_grid(lifter, out, codes)
        print(f"wrote {out}")
        return 0
    sample = lifter.sample(args.num, args.seed, psi=args.psi, **controls(args))
    save_grid(sample.image, out)
    written = [out]
    if args.maps:
        images = {
            "depth": depth_to_rgb(sample.depth, sample.mask),
            "normal": normal_to_rgb(sample.normal, sample.mask),
            "albedo": sample.albedo,
            "shading": sample.shading.clamp(0, 1),
            "mask": sample.mask,
        }
        for name in MAPS:
            path = out.with_name(f"{out.stem}_{name}{out.suffix}")
            save_grid(images[name], path)
            written.append(path)
    print("wrote " + ", ".join(str(p) for p in written))
    return 0
