"""Make the documentation images from a trained lifter into docs/images/.

Usage:
    python scripts/make_doc_images.py --lifter runs/synthetic-faces [--out docs/images]

Writes:
    grid.png              paper-style figure: teacher | yaws | shape | relit, one row per sample
    maps.png              teacher, render, depth, normal, albedo and shading of a few samples
                          (turned to yaw 25, lit from the top left)
    turntable.gif         a yaw sweep of one sample
    turntable-frames.png  nine frames of the sweep side by side
    relight.gif           the light circling one sample
    mesh.png              the exported GLB read back with trimesh and drawn from three sides
                          by a tiny painter's-algorithm rasteriser (independent of ganlift's
                          renderer, so it shows what a 3D tool would load)
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import ganlift
from ganlift import export
from ganlift.utils.images import save_image


def zoomed(x: torch.Tensor, zoom: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(x, scale_factor=zoom, mode="nearest") if zoom > 1 else x


def draw_mesh(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray, yaw: float,
              size: int = 256, pitch: float = 10.0) -> Image.Image:
    """Flat-shaded, depth-sorted triangles of a mesh (+y up, front +z) seen from ``yaw``.

    Args:
        vertices: (N, 3); faces: (F, 3); colours: (F, 3) uint8 face colours.
        yaw: degrees the viewer walks around the object (positive: to the object's left).
    """
    v = vertices - vertices.mean(0)
    a, b = math.radians(yaw), math.radians(pitch)
    ry = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    v = v @ (rx @ ry).T
    tri = v[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
    light = np.array([-0.4, 0.5, 0.77])
    light /= np.linalg.norm(light)
    shade = 0.35 + 0.65 * np.clip(normal @ light, 0, 1)
    extent = np.abs(v[:, :2]).max() * 1.15
    xy = (tri[..., :2] / extent * 0.5 + 0.5) * (size - 1)
    xy[..., 1] = size - 1 - xy[..., 1]  # image rows grow downwards
    image = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for i in np.argsort(tri[..., 2].mean(1)):  # far (small z) first
        if normal[i, 2] <= 0:
            continue  # back face
        c = tuple(int(x) for x in np.clip(colours[i] * shade[i], 0, 255))
        draw.polygon([tuple(p) for p in xy[i]], fill=c, outline=c)
    return image


def mesh_preview(path: Path, size: int = 256) -> Image.Image:
    """Read a mesh file back with trimesh and draw it from the front, 3/4 and the side."""
    import trimesh

    mesh = trimesh.load(str(path), process=False, force="mesh")
    colours = np.asarray(mesh.visual.to_color().vertex_colors)[:, :3].astype(np.float64)
    face_colours = colours[mesh.faces].mean(1)
    views = [draw_mesh(np.asarray(mesh.vertices), np.asarray(mesh.faces), face_colours, yaw, size)
             for yaw in (0.0, 35.0, 70.0)]  # fmt: skip
    strip = Image.new("RGB", (size * len(views) + 2 * (len(views) - 1), size), (255, 255, 255))
    for k, view in enumerate(views):
        strip.paste(view, (k * (size + 2), 0))
    return strip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifter", required=True, help="saved lifter folder or Hub repo id")
    parser.add_argument("--out", default="docs/images", help="output folder (default docs/images)")
    parser.add_argument("--n", type=int, default=4, help="samples in the grids")
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples")
    parser.add_argument("--zoom", type=int, default=3, help="tile upscaling for small lifters")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    lifter = ganlift.Lifter.from_pretrained(args.lifter).eval()
    codes = lifter.codes(args.n, args.seed)
    one = codes[:1]

    # Relit columns with a clear diffuse part, so the light's direction shows.
    export.figure_grid(lifter, out / "grid.png", codes, ambient=0.45, diffuse=0.65, zoom=args.zoom)

    # Maps of a turned, side-lit render: the mask then shows what the turn uncovers.
    s = lifter.render(codes, yaw=25, light=(-35, 30), ambient=0.35, diffuse=0.75)
    maps = [
        ("teacher", lifter.teacher_images(codes)),
        ("yaw 25, lit", s.image),
        ("depth", export.depth_to_rgb(s.depth, s.mask)),
        ("normal", export.normal_to_rgb(s.normal, s.mask)),
        ("albedo", s.albedo),
        ("shading", s.shading.clamp(0, 1)),
    ]
    save_image(export.labelled_grid([(k, zoomed(v, args.zoom)) for k, v in maps]), out / "maps.png")

    frames = export.turntable(lifter, None, one, frames=36)
    export.save_animation(zoomed(frames, args.zoom), out / "turntable.gif", fps=12)
    limit = lifter.trained_ranges()["yaw"]
    yaws = np.linspace(-limit, limit, 9).tolist()
    strip = [(f"{y:+.0f}", zoomed(lifter.render(one, yaw=y).image, args.zoom)) for y in yaws]
    save_image(export.labelled_grid(strip), out / "turntable-frames.png")
    lit = export.relight_sweep(lifter, None, one, frames=24, ambient=0.3, diffuse=0.8)
    export.save_animation(zoomed(lit, args.zoom), out / "relight.gif", fps=12)

    with tempfile.TemporaryDirectory() as tmp:
        glb = Path(tmp) / "face.glb"
        export.to_glb(lifter, glb, one)
        save_image(mesh_preview(glb), out / "mesh.png")

    print(f"wrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out} ({len(frames)} turntable frames)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
