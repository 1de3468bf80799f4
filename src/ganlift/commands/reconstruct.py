"""``ganlift reconstruct``: lift a photograph (GAN inversion into W, then the lifter's 3D)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ganlift.commands._controls import add_lifter_arguments, add_pose_arguments, controls, load_lifter

HELP = ("lift a photograph: fit the teacher's code to it (GAN inversion), then write the code, depth and "
        "normal maps, a relit turntable and a mesh")  # fmt: skip

CODE_NAME = "code.safetensors"
DEFAULT_LIGHT = (-40.0, 20.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_lifter_arguments(parser, seed=False)
    parser.add_argument("--image", required=True, help="the photograph (PNG, JPEG, ...), cropped like the "
                        "teacher's training images (for faces: an aligned, centred face)")
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    g = parser.add_argument_group("inversion")
    g.add_argument("--steps", type=int, default=200, help="optimisation steps (default 200)")
    g.add_argument("--restarts", type=int, default=4, help="starting codes tried (default 4)")
    g.add_argument("--seed", type=int, default=0, help="seed of the random starting codes (default 0)")
    g.add_argument("--fit", choices=("crop", "stretch", "pad"), default="crop",
                   help="how a non-square photo becomes square (default: centre crop)")
    g.add_argument("--perceptual", choices=("none", "ssim", "vgg16"), default="none",
                   help="extra perceptual term (vgg16 downloads its weights once; default none)")
    g.add_argument("--prior", type=float, default=1e-3, help="weight of the prior on w (default 1e-3)")
    g.add_argument("--lifted", type=float, default=1.0,
                   help="weight of the lifter's own render against the photo (default 1; 0 fits the "
                        "teacher's image alone)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g = parser.add_argument_group("outputs")
    g.add_argument("--mesh-format", choices=("obj", "ply", "glb"), default="obj",
                   help="mesh format (default obj: mesh.obj + mesh.mtl + mesh.png; glb needs trimesh)")
    g.add_argument("--frames", type=int, default=36, help="turntable frames (default 36)")
    g.add_argument("--fps", type=float, default=12.0, help="turntable frames per second (default 12)")
    add_pose_arguments(parser)


def _outputs(out: Path, mesh_format: str) -> dict[str, list[Path]]:
    mesh = out / f"mesh.{mesh_format}"
    files = {
        "code": [out / CODE_NAME],
        "input": [out / "input.png"],
        "fit": [out / "fit.png"],
        "render": [out / "render.png"],
        "depth": [out / "depth.png"],
        "normal": [out / "normal.png"],
        "turntable": [out / "turntable.gif"],
        "relight": [out / "relight.gif"],
        "overview": [out / "overview.png"],
        "mesh": [mesh] + ([mesh.with_suffix(".mtl"), mesh.with_suffix(".png")] if mesh_format == "obj" else []),
        "report": [out / "reconstruct.json"],
    }
    return files


def run(args: argparse.Namespace) -> int:
    import torch

    from ganlift.export import depth_to_rgb, export_mesh, normal_to_rgb, reconstruction_figure
    from ganlift.export import relight_sweep, turntable
    from ganlift.invert import invert, save_code
    from ganlift.utils.images import save_grid
    from ganlift.utils.io import write_json

    image = Path(args.image)
    if not image.is_file():
        raise FileNotFoundError(f"--image {args.image!r}: no such file")
    for name, value, low in (("--steps", args.steps, 0), ("--restarts", args.restarts, 1), ("--frames", args.frames, 2)):
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {args.out!r} is a file; give a folder")
    files = _outputs(out, args.mesh_format)
    existing = [p for paths in files.values() for p in paths if p.exists()]
    if existing and not args.overwrite:
        shown = ", ".join(str(p) for p in existing[:4]) + (" ..." if len(existing) > 4 else "")
        print(f"ganlift reconstruct: error: {len(existing)} output file(s) already exist ({shown}); "
              "pass --overwrite to replace them or choose another --out", file=sys.stderr)  # fmt: skip
        return 1
    options = controls(args)
    lifter = load_lifter(args)
    inversion = invert(
        lifter, str(image), "w", args.steps, restarts=args.restarts, seed=args.seed, fit=args.fit,
        perceptual=None if args.perceptual == "none" else args.perceptual, prior=args.prior,
        lifted=args.lifted, progress=not args.quiet,
    )  # fmt: skip
    code = inversion.codes
    out.mkdir(parents=True, exist_ok=True)
    if args.overwrite:  # an OBJ's .mtl/.png of another origin is only replaced when asked
        for path in files["mesh"][1:]:
            if path.exists():
                path.unlink()

    save_code(files["code"][0], inversion, image=str(image), teacher=getattr(lifter.teacher, "name", "teacher"))
    resized = torch.nn.functional.interpolate(inversion.targets, size=(lifter.resolution,) * 2, mode="area")
    save_grid(resized, files["input"][0], nrow=1)
    save_grid(lifter.teacher_images(code), files["fit"][0], nrow=1)
    sample = lifter.render(code, **options)
    save_grid(sample.image, files["render"][0], nrow=1)
    save_grid(depth_to_rgb(sample.depth, sample.mask), files["depth"][0], nrow=1)
    save_grid(normal_to_rgb(sample.normal, sample.mask), files["normal"][0], nrow=1)
    spin = {k: v for k, v in options.items() if k != "yaw"}
    if spin.get("light") is None:
        spin["light"] = DEFAULT_LIGHT  # a side light shows the shape as it turns
    turntable(lifter, files["turntable"][0], code, frames=args.frames, fps=args.fps, **spin)
    relight = {k: v for k, v in options.items() if k != "light"}
    relight_sweep(lifter, files["relight"][0], code, frames=args.frames, fps=args.fps, **relight)
    reconstruction_figure(lifter, files["overview"][0], inversion, zoom=max(1, 128 // lifter.resolution))
    export_mesh(lifter, files["mesh"][0], code, format=args.mesh_format)
    report = {
        "image": str(image),
        "teacher": lifter.teacher.reference(),
        "residual_l1": float(inversion.residual[0]),
        "threshold": inversion.threshold,
        "out_of_distribution": bool(inversion.out_of_distribution[0]),
        "steps": args.steps,
        "restarts": args.restarts,
        "seed": args.seed,
        "lifted": args.lifted,
        "view": [float(v) for v in sample.view[0]],
        "light": [float(v) for v in sample.light[0]],
        "files": [str(p) for paths in files.values() for p in paths],
    }
    write_json(files["report"][0], json.loads(json.dumps(report)))
    print(f"residual L1 {report['residual_l1']:.4f} (out-of-distribution threshold {inversion.threshold:.4f})")
    print(f"wrote {len(report['files'])} files to {out}")
    return 0
