"""Arguments shared by ``ganlift sample``, ``export`` and ``turntable``: lifter, code, controls."""

from __future__ import annotations

import argparse
from typing import Any


def add_lifter_arguments(parser: argparse.ArgumentParser, seed: bool = True, title: str = "lifter and code") -> None:
    """``--lifter`` (folder or Hub repo), ``--revision``, ``--teacher``, ``--device``, codes.

    Args:
        parser: the command's parser.
        seed: also add ``--seed`` and ``--psi``.
        title: the help group's title.
    """
    g = parser.add_argument_group(title)
    g.add_argument("--lifter", required=True, metavar="DIR_OR_REPO",
                   help="saved lifter: a folder (e.g. the output of `ganlift lift`) or a Hub repo id")
    g.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit)")
    g.add_argument("--teacher", default=None,
                   help="teacher to use instead of the one the lifter references (name or path)")
    g.add_argument("--force-teacher", action="store_true",
                   help="accept a --teacher whose hash/options differ from the recorded one")
    g.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    if seed:
        g.add_argument("--seed", type=int, default=0, help="seed of the latent code(s) (default 0)")
        g.add_argument("--psi", type=float, default=None,
                       help="truncation psi (default: the lifter's recipe, e.g. 0.7)")


def add_pose_arguments(parser: argparse.ArgumentParser, yaw: bool = True) -> None:
    """``--yaw/--pitch/--roll`` (degrees), ``--relative``, light and translation controls."""
    g = parser.add_argument_group("pose and light (default: the lifter's prediction)")
    if yaw:
        g.add_argument("--yaw", type=float, default=None, help="yaw in degrees, within [-90, 90]")
    g.add_argument("--pitch", type=float, default=None, help="pitch in degrees, within [-90, 90]")
    g.add_argument("--roll", type=float, default=None, help="roll in degrees, within [-90, 90]")
    g.add_argument("--relative", action="store_true",
                   help="add the angles to the predicted pose instead of setting them")
    g.add_argument("--frontal-translation", action="store_true",
                   help="zero the predicted translation (centre the object)")
    g.add_argument("--light", type=float, nargs="+", default=None, metavar="X",
                   help="light direction: AZIMUTH ELEVATION in degrees (0 0 = from the camera; "
                   "+azimuth = from the right, +elevation = from above) or a vector X Y Z "
                   "towards the light (x right, y up, z towards the viewer)")
    g.add_argument("--ambient", type=float, default=None, help="ambient light intensity (>= 0)")
    g.add_argument("--diffuse", type=float, default=None, help="diffuse light intensity (>= 0)")


def controls(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword controls of ``lifter.render`` from parsed arguments."""
    if args.light is not None and len(args.light) not in (2, 3):
        raise ValueError(
            f"--light takes AZIMUTH ELEVATION (2 numbers) or X Y Z (3 numbers), got {len(args.light)}"
        )
    out = {
        "yaw": getattr(args, "yaw", None),
        "pitch": args.pitch,
        "roll": args.roll,
        "light": tuple(args.light) if args.light is not None else None,
        "ambient": args.ambient,
        "diffuse": args.diffuse,
        "relative": args.relative,
    }
    if args.frontal_translation:
        out["translation"] = "zero"
    return out


def load_lifter(args: argparse.Namespace):
    """``Lifter.from_pretrained`` with the command's options, on the chosen device."""
    import torch

    import ganlift
    from ganlift.utils.config import check_lifter_folder

    check_lifter_folder(args.lifter)  # a local config.json: missing keys, bad types, sizes
    options: dict[str, Any] = {}
    if args.revision is not None:
        options["revision"] = args.revision
    if args.teacher is not None:
        options["teacher"] = args.teacher
    if args.force_teacher:
        options["force_teacher"] = True
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    return ganlift.Lifter.from_pretrained(args.lifter, device=device, **options).eval()
