"""Mesh, animation and figure export: files load back and agree with the maps they came from."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from PIL import Image

from ganlift.export import depth_to_mesh, save_mesh
from ganlift.export.mesh import write_glb
from ganlift.render.camera import focal_length, rotation_matrix

trimesh = pytest.importorskip("trimesh")

S = 12
FOV = 10.0


def _maps(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    depth = 1.0 + 0.05 * torch.rand(1, 1, S, S, generator=g)
    albedo = torch.rand(1, 3, S, S, generator=g)
    return depth, albedo


def _disc_mask():
    r = torch.arange(S, dtype=torch.float32) - (S - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    return ((xx**2 + yy**2) <= (S / 3) ** 2).float()[None, None]


def _load(path):
    return trimesh.load(str(path), process=False, force="mesh")


def _texture_colours(loaded) -> np.ndarray:
    return np.asarray(loaded.visual.to_color().vertex_colors)[:, :3].astype(int)


@pytest.mark.parametrize("fmt", ["obj", "ply", "glb"])
def test_mesh_loads_back_with_counts_texture_and_depth(tmp_path, fmt):
    depth, albedo = _maps()
    mesh = depth_to_mesh(depth, albedo, fov=FOV)
    written = save_mesh(mesh, tmp_path / f"face.{fmt}")
    if fmt == "obj":
        assert sorted(p.suffix for p in written) == [".mtl", ".obj", ".png"]
        assert "map_Kd face.png" in (tmp_path / "face.mtl").read_text()
    loaded = _load(tmp_path / f"face.{fmt}")
    assert loaded.vertices.shape == (S * S, 3)
    assert loaded.faces.shape == (2 * (S - 1) ** 2, 3)

    # The texture (OBJ/GLB) or the vertex colours (PLY) give back the albedo at each pixel.
    expected = np.round(albedo[0].permute(1, 2, 0).reshape(-1, 3).numpy() * 255).astype(int)
    if fmt == "ply":
        colours = np.asarray(loaded.visual.vertex_colors)[:, :3].astype(int)
    else:
        assert loaded.visual.uv is not None and loaded.visual.uv.shape == (S * S, 2)
        colours = _texture_colours(loaded)
    assert np.abs(colours - expected).max() <= 1

    # Coordinates: back to the camera frame, z is the depth map and x, y project to the pixel.
    v = np.asarray(loaded.vertices, dtype=np.float64)
    cam = v * np.array([1, -1, -1]) + np.array([0, 0, 1.0])
    d = depth[0, 0].numpy().reshape(-1).astype(np.float64)
    np.testing.assert_allclose(cam[:, 2], d, atol=1e-5)
    f, c = focal_length(S, FOV), (S - 1) / 2
    rows, cols = np.divmod(np.arange(S * S), S)
    np.testing.assert_allclose(f * cam[:, 0] / cam[:, 2] + c, cols, atol=1e-3)
    np.testing.assert_allclose(f * cam[:, 1] / cam[:, 2] + c, rows, atol=1e-3)


def test_front_faces_point_up_the_z_axis_and_y_is_up(tmp_path):
    depth = torch.ones(1, 1, S, S)
    mesh = depth_to_mesh(depth, fov=FOV)
    loaded = _load(write_glb(mesh, tmp_path / "plane.glb"))
    np.testing.assert_allclose(loaded.face_normals, np.tile([0, 0, 1.0], (mesh.num_faces, 1)), atol=1e-6)
    # Image row 0 (top) is the highest vertex row; the plane sits at the origin when centred.
    top = mesh.vertices[mesh.pixels[:, 0] == 0, 1]
    bottom = mesh.vertices[mesh.pixels[:, 0] == S - 1, 1]
    assert (top > 0).all() and (bottom < 0).all()
    np.testing.assert_allclose(mesh.vertices[:, 2], 0.0, atol=1e-6)
    uncentred = depth_to_mesh(depth, fov=FOV, center=False, scale=2.0)
    np.testing.assert_allclose(uncentred.vertices[:, 2], -2.0, atol=1e-6)


def test_mask_keeps_only_faces_inside_the_object(tmp_path):
    depth, albedo = _maps(1)
    mask = _disc_mask()
    mesh = depth_to_mesh(depth, albedo, mask, fov=FOV)
    inside = mask[0, 0].numpy() > 0.5
    n_faces = 0  # count by hand: each quad's two triangles (a, c, b) and (b, c, d)
    for r in range(S - 1):
        for col in range(S - 1):
            a, b, c, d = inside[r, col], inside[r, col + 1], inside[r + 1, col], inside[r + 1, col + 1]
            n_faces += int(a and c and b) + int(b and c and d)
    assert mesh.num_faces == n_faces > 0
    assert mesh.num_vertices < S * S
    assert inside[mesh.pixels[:, 0], mesh.pixels[:, 1]].all()
    loaded = _load(save_mesh(mesh, tmp_path / "masked.obj")[0])
    assert loaded.faces.shape == (n_faces, 3) and loaded.vertices.shape == (mesh.num_vertices, 3)
    assert loaded.faces.max() == mesh.num_vertices - 1


def test_posed_geometry_is_the_rotated_canonical_geometry():
    depth, albedo = _maps(2)
    canonical = depth_to_mesh(depth, albedo, fov=FOV)
    view = torch.tensor([[10.0, 30.0, -5.0, 0.0, 0.0, 0.0]])
    posed = depth_to_mesh(depth, albedo, fov=FOV, view=view)
    flip = np.diag([1.0, -1.0, -1.0])
    rot = flip @ rotation_matrix(view[:, :3])[0].double().numpy() @ flip
    np.testing.assert_allclose(posed.vertices, canonical.vertices @ rot.T, atol=1e-5)
    # T = 0 everywhere: nothing moves.
    still = depth_to_mesh(depth, albedo, fov=FOV, view=view, transform=torch.zeros(1, 1, S, S))
    np.testing.assert_allclose(still.vertices, canonical.vertices, atol=1e-6)


def test_mesh_arguments_are_checked(tmp_path):
    depth, albedo = _maps()
    with pytest.raises(ValueError, match=r"depth must have shape \(1, 1, H, W\)"):
        depth_to_mesh(depth.expand(2, 1, S, S), albedo)
    with pytest.raises(ValueError, match="NaN"):
        depth_to_mesh(depth * float("nan"), albedo)
    with pytest.raises(ValueError, match="mask must be 12x12"):
        depth_to_mesh(depth, albedo, torch.ones(1, 1, 4, 4))
    with pytest.raises(ValueError, match="fov"):
        depth_to_mesh(depth, albedo, fov=0)
    mesh = depth_to_mesh(depth, albedo)
    with pytest.raises(ValueError, match="obj, ply, glb"):
        save_mesh(mesh, tmp_path / "x.stl")


def test_glb_without_trimesh_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "trimesh", None)
    mesh = depth_to_mesh(*_maps())
    with pytest.raises(ImportError, match=r"pip install 'ganlift\[export\]'"):
        save_mesh(mesh, tmp_path / "x.glb")
    assert not (tmp_path / "x.glb").exists()


# ----------------------------------------------------------------------------- from a lifter

from ganlift import export  # noqa: E402
from ganlift.export import save_animation  # noqa: E402
from tiny_lifter import tiny_lifter  # noqa: E402


@pytest.fixture(scope="module")
def lifter():
    return tiny_lifter()


@pytest.fixture(scope="module")
def saved_lifter(lifter, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lifter") / "tiny"
    lifter.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("fmt", ["obj", "ply", "glb"])
def test_lifter_mesh_keeps_the_object_and_matches_its_depth(lifter, tmp_path, fmt):
    out = lifter.sample(1, seed=3)
    depth = out.canonical_depth[0, 0]
    inside = (depth <= lifter.recipe.lifter.transform_threshold).numpy()
    assert 0 < inside.sum() < inside.size  # the pinned border is outside
    written = getattr(export, f"to_{fmt}")(lifter, tmp_path / f"face.{fmt}", seed=3)
    loaded = _load(written[0])
    mesh = export.lifted_mesh(lifter, seed=3)
    assert loaded.vertices.shape == (mesh.num_vertices, 3) and loaded.faces.shape == (mesh.num_faces, 3)
    assert inside[mesh.pixels[:, 0], mesh.pixels[:, 1]].all()
    cam_z = 1.0 - np.asarray(loaded.vertices)[:, 2]
    np.testing.assert_allclose(cam_z, depth.numpy()[mesh.pixels[:, 0], mesh.pixels[:, 1]], atol=1e-5)
    if fmt != "ply":
        texel = out.canonical_albedo[0].permute(1, 2, 0).numpy()[mesh.pixels[:, 0], mesh.pixels[:, 1]]
        assert np.abs(_texture_colours(loaded) - np.round(texel * 255)).max() <= 1
    full = export.lifted_mesh(lifter, seed=3, mask=False)
    assert full.num_vertices == 16 * 16 and full.num_faces == 2 * 15 * 15


def test_posed_lifter_mesh_is_what_the_renderer_draws(lifter):
    mesh = export.lifted_mesh(lifter, seed=3, posed=True, yaw=30, mask=False)
    out = lifter.render(lifter.codes(1, 3), yaw=30)
    points = lifter.renderer.posed_points(out.canonical_depth, out.transform, out.view)[0].reshape(-1, 3)
    expected = (points - torch.tensor([0.0, 0.0, 1.0])) * torch.tensor([1.0, -1.0, -1.0])
    np.testing.assert_allclose(mesh.vertices, expected.numpy(), atol=1e-5)
    canonical = export.lifted_mesh(lifter, seed=3, mask=False)
    assert np.abs(mesh.vertices - canonical.vertices).max() > 1e-3
    shaded = export.lifted_mesh(lifter, seed=3, texture="shaded", light=(40, 0))
    assert np.abs(shaded.texture.astype(int) - export.lifted_mesh(lifter, seed=3).texture).max() > 0
    with pytest.raises(ValueError, match="texture must be one of albedo, shaded"):
        export.lifted_mesh(lifter, seed=3, texture="lit")


def test_turntable_and_relight_gifs_have_the_requested_frames(lifter, tmp_path):
    frames = export.turntable(lifter, tmp_path / "spin.gif", seed=1, frames=7, max_yaw=30)
    assert frames.shape == (7, 3, 16, 16)
    with Image.open(tmp_path / "spin.gif") as gif:
        assert gif.n_frames == 7 and gif.size == (16, 16)
    # Frame k is the render at the k-th yaw of the sweep.
    yaw = export.yaw_sweep(7, 30)[2]
    torch.testing.assert_close(frames[2:3], lifter.render(lifter.codes(1, 1), yaw=yaw).image, atol=1e-5, rtol=0)
    lit = export.relight_sweep(lifter, tmp_path / "light.gif", seed=1, frames=5, ambient=0.2, diffuse=0.9)
    with Image.open(tmp_path / "light.gif") as gif:
        assert gif.n_frames == 5
    assert (lit[0] - lit[2]).abs().max() > 0.02
    with pytest.raises(ValueError, match="max_yaw"):
        export.turntable(lifter, None, seed=1, yaw=10)


def test_mp4_has_the_requested_frames(lifter, tmp_path):
    ffmpeg = pytest.importorskip("imageio_ffmpeg")
    export.turntable(lifter, tmp_path / "spin.mp4", seed=1, frames=6)
    assert ffmpeg.count_frames_and_secs(str(tmp_path / "spin.mp4"))[0] == 6


def test_animation_arguments_are_checked(tmp_path, monkeypatch):
    frames = torch.rand(3, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\.gif or \.mp4"):
        save_animation(frames, tmp_path / "x.avi")
    with pytest.raises(ValueError, match="frames must be a positive integer"):
        export.yaw_sweep(0, 30)
    with pytest.raises(ValueError, match=r"frames must have shape \(N, 3, H, W\)"):
        save_animation(torch.rand(3, 8, 8), tmp_path / "x.gif")
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(ImportError, match=r"imageio-ffmpeg"):
        save_animation(frames, tmp_path / "x.mp4")


def test_figure_grid_has_one_row_per_sample_and_labelled_columns(lifter, tmp_path):
    image = export.figure_grid(lifter, tmp_path / "grid.png", n=2, seed=0, yaws=[-30, 0, 30])
    columns = 1 + 3 + 3 + 3  # teacher, yaws, shape, relit
    pad, size = 2, 16
    assert image.size[0] == columns * (size + pad) + pad
    assert image.size[1] > 2 * (size + pad) + pad  # plus the label strip
    assert Image.open(tmp_path / "grid.png").size == image.size
    plain = export.figure_grid(lifter, None, n=2, seed=0, yaws=[-30, 0, 30], labels=False)
    assert plain.size == (image.size[0], 2 * (size + pad) + pad)
    # The teacher column is the teacher's image of the same codes.
    teacher = lifter.teacher_images(lifter.codes(2, 0))
    tile = np.asarray(plain)[pad : pad + size, pad : pad + size].astype(int)
    assert np.abs(tile - np.round(teacher[0].permute(1, 2, 0).numpy() * 255)).max() <= 1


def test_cli_sample_export_turntable(saved_lifter, tmp_path, capsys):
    from ganlift.cli import main

    lifter_arg = ["--lifter", str(saved_lifter), "--device", "cpu"]
    assert main(["sample", *lifter_arg, "--seed", "3", "--yaw", "30", "--out", str(tmp_path / "x.png"), "--maps"]) == 0
    assert Image.open(tmp_path / "x.png").size == (20, 20)  # one 16px tile, 2px padding
    for name in ("depth", "normal", "albedo", "shading", "mask"):
        assert (tmp_path / f"x_{name}.png").exists()
    assert main(["sample", *lifter_arg, "-n", "2", "--figure", "--out", str(tmp_path / "fig.png")]) == 0
    assert main(["export", *lifter_arg, "--seed", "3", "--format", "glb", "--out", str(tmp_path / "face.glb")]) == 0
    assert _load(tmp_path / "face.glb").faces.shape[0] > 0
    assert main(["export", *lifter_arg, "--seed", "3", "--posed", "--yaw", "20", "--out", str(tmp_path / "f.obj")]) == 0
    assert (tmp_path / "f.mtl").exists() and (tmp_path / "f.png").exists()
    assert main(["turntable", *lifter_arg, "--seed", "3", "--frames", "4", "--out", str(tmp_path / "spin.gif")]) == 0
    assert Image.open(tmp_path / "spin.gif").n_frames == 4
    assert main(["turntable", *lifter_arg, "--relight", "--frames", "3", "--out", str(tmp_path / "l.gif")]) == 0
    capsys.readouterr()
    assert main(["sample", *lifter_arg, "--yaw", "200", "--out", str(tmp_path / "y.png")]) == 1
    assert "yaw must be a finite angle in degrees within [-90, 90], got 200" in capsys.readouterr().err
    assert main(["sample", *lifter_arg, "--light", "1", "2", "3", "4", "--out", str(tmp_path / "y.png")]) == 1
    assert "--light takes AZIMUTH ELEVATION" in capsys.readouterr().err
    assert main(["export", *lifter_arg, "--out", str(tmp_path / "face.stl")]) == 1
    assert "--format obj|ply|glb" in capsys.readouterr().err
