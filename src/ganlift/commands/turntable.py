"""``ganlift turntable``: a yaw sweep (or a relighting sweep) of a lifted sample as GIF/MP4."""

from __future__ import annotations

import argparse
import math

from ganlift.commands._controls import add_lifter_arguments, add_pose_arguments, controls, load_lifter

HELP = "animate a lifted sample: yaw sweep (turntable) or --relight sweep, as .gif or .mp4"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifter_arguments(parser)
    parser.add_argument("--out", required=True, help="output animation (.gif, or .mp4 with imageio-ffmpeg)")
    parser.add_argument("--frames", type=int, default=36, help="number of frames (default 36)")
    parser.add_argument("--fps", type=float, default=12.0, help="frames per second (default 12)")
    parser.add_argument("--max-yaw", type=float, default=None,
                        help="yaw amplitude in degrees (default: the recipe's trained yaw range)")
    parser.add_argument("--relight", action="store_true",
                        help="circle the light around the view axis instead of turning the object")
    parser.add_argument("--elevation", type=float, default=35.0,
                        help="with --relight: the light's angle off the view axis (degrees)")
    add_pose_arguments(parser, yaw=False)


def run(args: argparse.Namespace) -> int:
    from ganlift.export import relight_sweep, turntable
    from ganlift.utils.io import check_writable

    if not args.out.lower().endswith((".gif", ".mp4")):
        raise ValueError(f"--out must end in .gif or .mp4, got {args.out!r}")
    if args.frames < 1:
        raise ValueError(f"--frames must be >= 1, got {args.frames}")
    if not (math.isfinite(args.fps) and args.fps > 0):
        raise ValueError(f"--fps must be a positive number, got {args.fps}")
    if not (math.isfinite(args.elevation) and 0 <= args.elevation < 90):
        raise ValueError(f"--elevation is the light's angle off the view axis: it must be in "
                         f"[0, 90) degrees, got {args.elevation:g}")
    if args.max_yaw is not None and not (math.isfinite(args.max_yaw) and 0 <= args.max_yaw <= 90):
        raise ValueError(f"--max-yaw must be in [0, 90] degrees, got {args.max_yaw:g}")
    check_writable(args.out, "--out")
    lifter = load_lifter(args)
    code = lifter.codes(1, args.seed, psi=args.psi)
    options = controls(args)
    options.pop("yaw")
    if args.relight:
        if options.pop("light") is not None:
            raise ValueError("--relight moves the light itself; drop --light (use --elevation)")
        relight_sweep(lifter, args.out, code, frames=args.frames, elevation=args.elevation,
                      fps=args.fps, **options)  # fmt: skip
    else:
        turntable(lifter, args.out, code, frames=args.frames, max_yaw=args.max_yaw, fps=args.fps,
                  **options)  # fmt: skip
    print(f"wrote {args.out} ({args.frames} frames)")
    return 0
