"""The vectorised z-buffer against a brute-force rasteriser written here (loop over all
triangles for every pixel), on small random height fields seen from random views."""

from __future__ import annotations

import math

import pytest
import torch

from ganlift.render import create
from ganlift.render.camera import project
from ganlift.render.rasterize import (
    grid_corners,
    grid_face_corners,
    grid_faces,
    grid_triangles,
    rasterize_triangles,
)


def brute_force(tri: torch.Tensor, size: int, eps: float):
    """Reference z-buffer for one mesh: for each pixel centre, try every triangle.

    Args:
        tri: (F, 3, 3) float64 screen-space corners (u, v, z).
        eps: barycentric tolerance for the inside test.

    Returns:
        per pixel: list of (z, face) for every triangle containing the centre, sorted by z.
    """
    t = tri.tolist()
    hits = [[[] for _ in range(size)] for _ in range(size)]
    for py in range(size):
        for px in range(size):
            for f, ((u0, v0, z0), (u1, v1, z1), (u2, v2, z2)) in enumerate(t):
                area = (u1 - u0) * (v2 - v0) - (v1 - v0) * (u2 - u0)
                if abs(area) < 1e-12 or min(z0, z1, z2) <= 1e-2:
                    continue
                b1 = ((px - u0) * (v2 - v0) - (py - v0) * (u2 - u0)) / area
                b2 = ((u1 - u0) * (py - v0) - (v1 - v0) * (px - u0)) / area
                b0 = 1.0 - b1 - b2
                if min(b0, b1, b2) >= -eps:
                    z = 1.0 / (b0 / z0 + b1 / z1 + b2 / z2)  # perspective-correct depth
                    hits[py][px].append((z, f))
            hits[py][px].sort()
    return hits


def random_scene(seed: int, S: int):
    g = torch.Generator().manual_seed(seed)
    depth = 0.95 + 0.1 * torch.rand(2, 1, S, S, generator=g, dtype=torch.float64)
    angles = (torch.rand(2, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([40.0, 60.0, 30.0], dtype=torch.float64)
    shift = (torch.rand(2, 3, generator=g, dtype=torch.float64) * 2 - 1) * torch.tensor([0.03, 0.03, 0.05], dtype=torch.float64)
    transform = torch.rand(2, 1, S, S, generator=g, dtype=torch.float64)
    return depth, torch.cat([angles, shift], 1), transform


@pytest.mark.parametrize("seed,S,out", [(0, 6, 9), (1, 6, 9), (2, 6, 9), (3, 8, 12), (4, 8, 5)])
def test_matches_brute_force(seed, S, out, render_code):
    depth, view, transform = random_scene(seed, S)
    r = create("torch", size=out, pin_border=1)
    points = r.posed_points(depth, transform, view)
    screen = project(points, out, r.fov)
    tri = grid_triangles(screen)
    face = rasterize_triangles(tri, out, out)
    frag, _ = r.fragments(depth, transform, view)
    assert torch.equal(frag.face, face)
    faces = grid_faces(S, S)
    # grid_triangles follows the grid_faces table
    assert torch.equal(tri, screen.reshape(2, -1, 3)[:, faces])
    checked = 0
    for b in range(2):
        strict = brute_force(tri[b], out, eps=-1e-6)  # strictly inside
        loose = brute_force(tri[b], out, eps=1e-3)  # inside or on an edge
        for py in range(out):
            for px in range(out):
                got = int(face[b, py, px])
                if not loose[py][px]:
                    assert got == -1, (b, py, px)
                    continue
                if strict[py][px]:
                    assert got >= 0, (b, py, px)
                    zmin = strict[py][px][0][0]
                    # the chosen face holds the centre (up to the edge tolerance) and nothing
                    # that strictly holds it is nearer
                    zs = dict((f, z) for z, f in loose[py][px])
                    assert got in zs, (b, py, px)
                    assert zs[got] <= zmin + 1e-9
                    assert float(frag.depth[b, py, px]) == pytest.approx(zs[got], abs=1e-9)
                    unique = len(strict[py][px]) == 1 or strict[py][px][1][0] - zmin > 1e-6
                    if unique and len(loose[py][px]) == len(strict[py][px]):
                        # far from every edge: exactly the reference's face and depth
                        assert got == strict[py][px][0][1], (b, py, px)
                        assert float(frag.depth[b, py, px]) == pytest.approx(zmin, abs=1e-9)
                        checked += 1
    assert checked > out * out // 2  # the comparison saw many unambiguous pixels


def test_perspective_correct_barycentrics_interpolate_3d_points():
    # The barycentrics of a pixel must reproduce the 3D point on the triangle seen along
    # that pixel's ray (perspective-correct), on a tilted, rotated mesh.
    S = 7
    depth, view, transform = random_scene(5, S)
    r = create("torch", size=11, pin_border=0)
    frag, points = r.fragments(depth, transform, view)
    faces = grid_faces(S, S)
    corner = faces[frag.face.clamp_min(0)]
    pts = points.reshape(2, -1, 3)
    tri = torch.stack([pts[b][corner[b]] for b in range(2)])  # (B, H, W, 3, 3)
    p = (frag.bary[..., None] * tri).sum(-2)  # (B, H, W, 3)
    uvz = project(p, 11, r.fov)
    rows, cols = torch.meshgrid(torch.arange(11.0, dtype=torch.float64), torch.arange(11.0, dtype=torch.float64), indexing="ij")
    m = frag.mask
    assert m.sum() > 50
    assert torch.allclose(uvz[..., 0][m], cols.expand_as(m)[m], atol=1e-7)
    assert torch.allclose(uvz[..., 1][m], rows.expand_as(m)[m], atol=1e-7)
    assert torch.allclose(uvz[..., 2][m], frag.depth[m], atol=1e-9)


def test_big_and_thin_triangles_are_found(render_code):
    # One huge triangle and one long thin one land in big buckets; every covered pixel found.
    size = 40
    tri = torch.tensor(
        [
            [[[-5.0, -5.0, 2.0], [60.0, -5.0, 2.0], [-5.0, 60.0, 2.0]], [[0.0, 39.0, 1.0], [39.0, 37.2, 1.0], [39.0, 38.8, 1.0]]],
        ]
    )
    face = rasterize_triangles(tri, size, size)
    strict = brute_force(tri[0].double(), size, eps=-1e-3)
    loose = brute_force(tri[0].double(), size, eps=1e-3)
    for py in range(size):
        for px in range(size):
            if len(strict[py][px]) == len(loose[py][px]):  # not on an edge
                want = strict[py][px][0][1] if strict[py][px] else -1
                assert int(face[0, py, px]) == want
    assert (face == 1).sum() > 10
    assert (face == -1).sum() > 0


def test_near_plane_and_offscreen(render_code):
    tri = torch.tensor([[[[1.0, 1.0, -1.0], [5.0, 1.0, 1.0], [1.0, 5.0, 1.0]], [[-50.0, -50.0, 1.0], [-40.0, -50.0, 1.0], [-50.0, -40.0, 1.0]]]])
    face = rasterize_triangles(tri, 8, 8)
    assert (face == -1).all()


def test_rotated_plane_with_pinned_border_covers_frame(render_code):
    # The pinned frame keeps the mesh spanning the whole image, so every pixel is covered.
    depth = torch.ones(1, 1, 64, 64)
    r = create("torch")
    frag, _ = r.fragments(depth, None, torch.tensor([[5.0, 20.0, 3.0, 0.0, 0.0, 0.0]]))
    assert frag.mask.float().mean() > 0.9
    assert not math.isnan(float(frag.depth.sum()))


def test_grid_face_corners_match_the_face_table():
    faces = grid_faces(5, 7)
    ids = torch.arange(faces.shape[0]).view(2, -1)
    assert torch.equal(grid_face_corners(ids, 5, 7), faces.view(2, -1, 3))
    # and the grid's corner rows follow the same table
    screen = torch.rand(2, 5, 7, 3)
    tri = grid_triangles(screen)
    assert torch.equal(tri, screen.reshape(2, -1, 3)[:, faces])
    assert torch.equal(grid_corners(screen), tri.permute(3, 2, 0, 1).reshape(9, -1))


def test_chunking_does_not_change_the_result(monkeypatch):
    # Small chunks exercise the chunked per-face stage and the tall-row / wide-span
    # expansions (big triangles from a noisy, strongly rotated mesh) of the PyTorch z-buffer.
    import ganlift.render.rasterize as rasterize

    monkeypatch.setenv("GANLIFT_NATIVE", "0")
    S = 24
    g = torch.Generator().manual_seed(4)
    depth = 0.95 + 0.1 * torch.rand(2, 1, S, S, generator=g)
    view = torch.tensor([[20.0, 50.0, 10.0, 0.0, 0.0, 0.0], [-10.0, -40.0, 0.0, 0.02, 0.0, 0.0]])
    r = create("torch", size=40)
    screen = project(r.posed_points(depth, None, view), 40, r.fov)
    tri = grid_triangles(screen)
    want = rasterize_triangles(tri, 40, 40)
    monkeypatch.setattr(rasterize, "_FACE_CHUNK", 700)
    monkeypatch.setattr(rasterize, "_CHUNK", 200)
    parts = []
    split = rasterize._split
    monkeypatch.setattr(rasterize, "_split", lambda idx, counts: parts.append(len(split(idx, counts))) or split(idx, counts))
    got = rasterize_triangles(tri, 40, 40)
    assert torch.equal(got, want)
    assert max(parts) > 1  # the expansions really ran in several chunks
    assert (want >= 0).float().mean() > 0.9
