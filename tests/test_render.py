"""The pure-torch renderer: camera convention, geometry, shading, gradients and input checks."""

from __future__ import annotations

import math

import pytest
import torch

import ganlift
from ganlift.render import RENDERERS, create
from ganlift.render.base import Rendered
from ganlift.render.camera import apply_view, focal_length, mirror_view, project, unproject
from ganlift.render.shading import (
    delight,
    flip_maps,
    lambert,
    light_direction,
    mirror_light,
    normals_from_depth,
)

D64 = torch.float64


def face_like(S: int, dtype=torch.float32, batch: int = 1):
    """A left-right symmetric height field with a bump and a 'nose', and a symmetric albedo."""
    lin = torch.linspace(-1, 1, S, dtype=dtype)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    depth = 1.0 - 0.05 * torch.exp(-(xx**2 + (yy + 0.1) ** 2) * 3) - 0.02 * torch.exp(-(xx**2 * 40 + yy**2 * 6))
    albedo = torch.stack([xx.abs(), (yy + 1) / 2, torch.cos(3 * xx) ** 2])
    return albedo[None].repeat(batch, 1, 1, 1), depth[None, None].repeat(batch, 1, 1, 1)


def plane_depth(S: int, normal, k: float = 1.0, fov: float = 10.0, dtype=D64):
    """Depth map of the plane n . X = k seen by the camera (exactly planar in 3D)."""
    f, c = focal_length(S, fov), (S - 1) / 2
    r = torch.arange(S, dtype=dtype)
    v, u = torch.meshgrid(r, r, indexing="ij")
    n = torch.tensor(normal, dtype=dtype)
    return (k / (n[0] * (u - c) / f + n[1] * (v - c) / f + n[2]))[None, None]


# --- registry and API -------------------------------------------------------------------


def test_create_and_registry():
    r = create("torch", size=32, fov=10, background=0.5)
    assert "torch" in RENDERERS.names()
    assert ganlift.render.create("torch", size=32).size == 32
    assert r.config()["fov"] == 10.0 and r.config()["background"] == [0.5] * 3
    assert create("torch", **r.config()).config() == r.config()
    out = r(torch.rand(2, 3, 32, 32), torch.ones(2, 1, 32, 32))
    assert isinstance(out, Rendered)
    assert out.image.shape == (2, 3, 32, 32) and out.mask.shape == (2, 1, 32, 32)
    assert out.depth.shape == (2, 1, 32, 32) and out.normal.shape == (2, 3, 32, 32)
    assert out.shading.shape == (2, 1, 32, 32)
    assert set(out.as_dict()) == {"image", "mask", "depth", "normal", "shading"}
    with pytest.raises(KeyError, match="torch"):
        create("torchh")


# --- camera convention ------------------------------------------------------------------


@pytest.mark.parametrize("dtype,atol", [(torch.float32, 2e-5), (D64, 1e-10)])
@pytest.mark.parametrize("d", [1.0, 0.93])
def test_plane_renders_to_its_texture(dtype, atol, d):
    S = 24
    albedo = torch.rand(2, 3, S, S, dtype=dtype)
    out = create("torch").render(albedo, torch.full((2, 1, S, S), d, dtype=dtype))
    assert out.image.dtype == dtype
    assert torch.equal(out.mask, torch.ones_like(out.mask))
    assert torch.allclose(out.image, albedo, atol=atol, rtol=0)
    assert torch.allclose(out.depth, torch.full_like(out.depth, d), atol=atol)
    assert torch.allclose(out.normal, torch.tensor([0.0, 0.0, -1.0], dtype=dtype).view(1, 3, 1, 1).expand_as(out.normal), atol=atol)


def test_plane_at_another_output_size_is_bilinear_upsampling():
    S, out_size = 9, 17
    albedo = torch.rand(1, 3, S, S, dtype=D64)
    out = create("torch", size=out_size).render(albedo, torch.ones(1, 1, S, S, dtype=D64))
    want = torch.nn.functional.interpolate(albedo, size=out_size, mode="bilinear", align_corners=True)
    assert torch.allclose(out.image, want, atol=1e-10)


def test_translation_moves_the_image_by_the_projected_shift():
    # A plane at depth 1 shifted by tx moves by f * tx pixels (pixel centres = integers).
    S = 21
    f = focal_length(S, 10.0)
    tx = 3.0 / f  # exactly 3 pixels
    albedo = torch.rand(1, 3, S, S, dtype=D64)
    view = torch.tensor([[0, 0, 0, tx, 0, 0]], dtype=D64)
    out = create("torch", pin_border=0).render(albedo, torch.ones(1, 1, S, S, dtype=D64), view=view)
    assert torch.allclose(out.image[..., 3:], albedo[..., :-3], atol=1e-9)
    assert (out.mask[..., :2] == 0).all() and (out.image[..., :2] == 0).all()
    assert (out.depth[..., :2] == 1.2).all()


# --- geometry ---------------------------------------------------------------------------


def test_mirror_symmetry_exact_on_planar_surface():
    # Symmetric planar surface + symmetric albedo: yaw +a equals the mirror of yaw -a exactly.
    S = 20
    depth = plane_depth(S, (0.0, 0.3, -1.0), k=-1.0)
    albedo, _ = face_like(S, D64)
    r = create("torch", pin_border=0)
    view = torch.tensor([[8.0, 25.0, 6.0, 0.02, 0.01, 0.01]], dtype=D64)
    mirrored = mirror_view(view)
    light = torch.tensor([[0.3, 0.7, 0.4, 0.2]], dtype=D64)
    a = r.render(albedo, depth, view=view, light=light)
    b = r.render(albedo, depth, view=mirrored, light=mirror_light(light))
    for name in ("image", "mask", "depth", "shading"):
        assert torch.allclose(getattr(a, name), getattr(b, name).flip(-1), atol=1e-8), name
    n_a, n_b = a.normal, b.normal.flip(-1) * torch.tensor([-1.0, 1, 1], dtype=D64).view(1, 3, 1, 1)
    assert torch.allclose(n_a, n_b, atol=1e-8)


@pytest.mark.parametrize("pin_border", [0, 1])
def test_mirror_symmetry_curved_surface(pin_border):
    # On a curved surface only the fixed diagonal of each quad breaks the symmetry (slightly).
    S = 32
    albedo, depth = face_like(S, D64)
    r = create("torch", pin_border=pin_border)
    view = torch.tensor([[10.0, 25.0, 5.0, 0.02, 0.01, 0.0]], dtype=D64)
    mirrored = mirror_view(view)
    light = torch.tensor([[0.4, 0.6, 0.5, 0.2]], dtype=D64)
    a = r.render(albedo, depth, view=view, light=light)
    b = r.render(albedo, depth, view=mirrored, light=mirror_light(light))
    inner = (slice(None), slice(None), slice(3, -3), slice(3, -3))  # away from the pinned frame
    assert torch.equal(a.mask, b.mask.flip(-1))
    diff = (a.image - b.image.flip(-1))[inner].abs()
    assert diff.mean() < 3e-4 and diff.max() < 1e-2
    assert (a.depth - b.depth.flip(-1))[inner].abs().max() < 1e-3
    # and the render is far from the unmirrored one: the test would notice a wrong mirror
    assert (a.image - b.image)[inner].abs().mean() > 20 * diff.mean()


def test_flip_maps_then_render_equals_mirrored_render():
    S = 24
    g = torch.Generator().manual_seed(3)
    albedo = torch.rand(1, 3, S, S, generator=g, dtype=D64)
    depth = 1.0 + 0.01 * torch.rand(1, 1, S, S, generator=g, dtype=D64)
    t = torch.rand(1, 1, S, S, generator=g, dtype=D64)
    fa, fd, ft = flip_maps(albedo, depth, t)
    assert torch.equal(fa, albedo.flip(-1)) and torch.equal(ft, t.flip(-1))
    assert flip_maps(albedo, depth)[2] is None
    r = create("torch", pin_border=0)
    light = torch.tensor([[0.5, 0.5, 0.0, 0.3]], dtype=D64)
    a = r.render(albedo, depth, t, light=light)
    b = r.render(fa, fd, ft, light=light)
    inner = (..., slice(1, -1), slice(1, -1))
    assert torch.allclose(a.image[inner], b.image.flip(-1)[inner], atol=1e-6)


def test_flipped_maps_at_mirrored_view_render_the_mirror_image():
    # The flip loss's premise, with a transformation map (mirrored with the maps) and a pose.
    S = 32
    albedo, depth = face_like(S, D64)
    albedo = albedo * torch.linspace(0.5, 1.0, S, dtype=D64)  # not symmetric any more
    t = (0.6 + 0.4 * torch.linspace(0, 1, S, dtype=D64)).view(1, 1, 1, S).expand(1, 1, S, S)
    view = torch.tensor([[10.0, 25.0, 5.0, 0.02, 0.01, 0.0]], dtype=D64)
    light = torch.tensor([[0.4, 0.6, 0.5, 0.2]], dtype=D64)
    r = create("torch")
    a = r.render(albedo, depth, t, view, light)
    fa, fd, ft = flip_maps(albedo, depth, t)
    b = r.render(fa, fd, ft, mirror_view(view), mirror_light(light))
    inner = (..., slice(3, -3), slice(3, -3))
    diff = (a.image - b.image.flip(-1))[inner].abs()
    assert diff.mean() < 3e-4 and diff.max() < 1e-2
    # reusing the unflipped T (the original code's bug) is visibly wrong
    c = r.render(fa, fd, t, mirror_view(view), mirror_light(light))
    assert (a.image - c.image.flip(-1))[inner].abs().mean() > 10 * diff.mean()


def test_occlusion_raised_block_hides_the_plane_behind_it():
    S = 33
    depth = torch.ones(1, 1, S, S, dtype=D64)
    depth[..., 12:21, 12:21] = 0.9  # a block raised towards the camera
    albedo = torch.zeros(1, 3, S, S, dtype=D64)
    albedo[:, 2] = 1.0  # blue plane
    albedo[:, :, 12:21, 12:21] = torch.tensor([1.0, 0.0, 0.0], dtype=D64).view(1, 3, 1, 1)  # red block
    r = create("torch", pin_border=0)
    view = torch.tensor([[0.0, 35.0, 0.0, 0.0, 0.0, 0.0]], dtype=D64)
    # Where the block's top centre lands on screen:
    centre = unproject(depth, r.fov)[:, 16, 16]
    moved = apply_view(centre[:, None], view)[0, 0]
    u, v, z = project(moved, S, r.fov).tolist()
    px, py = round(u), round(v)
    plane = r.render(albedo, torch.ones_like(depth), view=view)
    block = r.render(albedo, depth, view=view)
    assert plane.image[0, 2, py, px] > 0.99  # without the block the plane is seen there ...
    assert block.image[0, 0, py, px] > 0.99 and block.image[0, 2, py, px] < 0.01  # ... now hidden
    assert block.depth[0, 0, py, px] < plane.depth[0, 0, py, px] - 0.05
    assert block.depth[0, 0, py, px] == pytest.approx(z, abs=0.01)
    # The block also hides part of the plane: fewer blue pixels than the frontal view shows.
    blue = lambda out: int(((out.image[0, 2] > 0.99) & (out.image[0, 0] < 0.01)).sum())
    frontal = r.render(albedo, depth)
    assert blue(block) < blue(frontal) - 10


def test_batch_items_are_independent():
    S = 20
    g = torch.Generator().manual_seed(1)
    albedo = torch.rand(3, 3, S, S, generator=g)
    depth = 0.95 + 0.1 * torch.rand(3, 1, S, S, generator=g)
    t = torch.rand(3, 1, S, S, generator=g)
    view = torch.tensor([[5.0, 30, 0, 0, 0, 0], [0.0, -20, 10, 0.01, 0, 0], [-15.0, 0, 0, 0, 0.02, 0.01]])
    light = torch.tensor([[0.3, 0.7, 0.2, 0.1], [0.5, 0.5, -0.5, 0.0], [1.0, 0.0, 0.0, 0.0]])
    r = create("torch")
    full = r.render(albedo, depth, t, view, light)
    for i in range(3):
        one = r.render(albedo[i : i + 1], depth[i : i + 1], t[i : i + 1], view[i : i + 1], light[i : i + 1])
        for name in ("image", "mask", "depth", "normal", "shading"):
            assert torch.allclose(getattr(full, name)[i : i + 1], getattr(one, name), atol=1e-6), name


def test_transformation_map_blends_canonical_and_moved():
    S = 16
    depth = torch.ones(1, 1, S, S, dtype=D64)
    view = torch.tensor([[0.0, 20.0, 0.0, 0.0, 0.0, 0.0]], dtype=D64)
    r = create("torch", pin_border=2)
    t = torch.full_like(depth, 0.25)
    p = r.posed_points(depth, t, view)
    canonical = unproject(depth, r.fov)
    moved = apply_view(canonical, view)
    assert torch.allclose(p[:, 5, 7], 0.25 * moved[:, 5, 7] + 0.75 * canonical[:, 5, 7])
    assert torch.equal(p[:, :2], canonical[:, :2]) and torch.equal(p[:, :, -2:], canonical[:, :, -2:])
    # T = 0 everywhere: nothing moves, the render is the texture
    albedo = torch.rand(1, 3, S, S, dtype=D64)
    out = r.render(albedo, depth, torch.zeros_like(depth), view)
    assert torch.allclose(out.image, albedo, atol=1e-10)


# --- shading ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "normal,light",
    [
        ((0.0, 0.0, -1.0), (0.2, 0.8, 0.0, 0.0)),
        ((0.3, 0.0, -1.0), (0.1, 0.9, 0.5, -0.2)),
        ((-0.2, 0.4, -1.0), (0.3, 0.6, 0.7, 0.4)),
        ((0.5, 0.0, -1.0), (0.25, 0.5, -2.0, 0.0)),  # light grazing away: ambient only
    ],
)
def test_lambert_on_tilted_planes(normal, light):
    S = 15
    n = torch.tensor(normal, dtype=D64)
    n = n / n.norm()
    depth = plane_depth(S, n.tolist(), k=float(n[2]))
    light_t = torch.tensor([light], dtype=D64)
    out = create("torch").render(torch.full((1, 3, S, S), 0.5, dtype=D64), depth, light=light_t)
    d = torch.tensor([light[2], light[3], 1.0], dtype=D64)
    d = d / d.norm()
    want = light[0] + light[1] * max(0.0, float(-(n @ d)))
    assert torch.allclose(out.normal, n.view(1, 3, 1, 1).expand_as(out.normal), atol=1e-9)
    assert torch.allclose(out.shading, torch.full_like(out.shading, want), atol=1e-9)
    assert torch.allclose(out.image, 0.5 * out.shading.expand(-1, 3, -1, -1), atol=1e-9)


def test_light_stays_with_the_camera_when_the_object_turns():
    # A frontal plane turned by yaw a has normal R (0, 0, -1); the shading uses that posed
    # normal, not the canonical one (the original code baked shading before the pose).
    S = 15
    yaw = 30.0
    depth = torch.ones(1, 1, S, S, dtype=D64)
    view = torch.tensor([[0.0, yaw, 0.0, 0.0, 0.0, 0.0]], dtype=D64)
    light = torch.tensor([[0.0, 1.0, 0.0, 0.0]], dtype=D64)
    out = create("torch", pin_border=0).render(torch.ones(1, 3, S, S, dtype=D64), depth, view=view, light=light)
    a = math.radians(yaw)
    want_n = torch.tensor([-math.sin(a), 0.0, -math.cos(a)], dtype=D64)
    m = out.mask[0, 0] > 0
    assert m.sum() > 50
    assert torch.allclose(out.normal[0][:, m], want_n[:, None].expand(3, int(m.sum())), atol=1e-9)
    assert torch.allclose(out.shading[0, 0][m], torch.full((int(m.sum()),), math.cos(a), dtype=D64), atol=1e-9)


def test_shading_helpers():
    n = normals_from_depth(torch.ones(2, 1, 8, 8))
    assert torch.allclose(n, torch.tensor([0.0, 0.0, -1.0]).view(1, 3, 1, 1).expand_as(n))
    light = torch.tensor([[0.2, 0.5, 3.0, 4.0]])
    d = light_direction(light)
    assert torch.allclose(d, torch.tensor([[3.0, 4.0, 1.0]]) / math.sqrt(26))
    # light travelling towards +x lights surfaces that face -x
    left = torch.tensor([-1.0, 0.0, 0.0]).view(1, 3, 1, 1)
    assert lambert(left, torch.tensor([[0.0, 1.0, 1.0, 0.0]])).item() == pytest.approx(1 / math.sqrt(2))
    assert lambert(-left, torch.tensor([[0.1, 1.0, 1.0, 0.0]])).item() == pytest.approx(0.1)
    assert torch.equal(mirror_light(light), torch.tensor([[0.2, 0.5, -3.0, 4.0]]))


def test_delight_clamps_the_divisor():
    image = torch.full((1, 3, 4, 4), 0.5, requires_grad=True)
    shading = torch.tensor([0.0, 1e-9, 0.5, 2.0]).view(1, 1, 1, 4).expand(1, 1, 4, 4)
    albedo = delight(image, shading, min_shading=0.1)
    assert torch.isfinite(albedo).all()
    assert torch.allclose(albedo[0, 0, 0], torch.tensor([5.0, 5.0, 1.0, 0.25]))
    albedo.sum().backward()
    assert torch.isfinite(image.grad).all()
    with pytest.raises(ValueError, match="min_shading"):
        delight(image, shading, min_shading=0.0)


# --- gradients --------------------------------------------------------------------------


def _tiny(S=5):
    g = torch.Generator().manual_seed(7)
    albedo = torch.rand(1, 3, S, S, generator=g, dtype=D64)
    depth = 1.0 + 0.02 * torch.rand(1, 1, S, S, generator=g, dtype=D64)
    t = 0.5 + 0.5 * torch.rand(1, 1, S, S, generator=g, dtype=D64)
    view = torch.tensor([[4.3, 7.1, 2.2, 0.003, -0.002, 0.01]], dtype=D64)
    light = torch.tensor([[0.4, 0.6, 0.3, -0.2]], dtype=D64)
    return albedo, depth, t, view, light


@pytest.mark.parametrize("wrt", ["albedo", "depth", "transform", "view", "light"])
def test_gradcheck(wrt, render_code):
    albedo, depth, t, view, light = _tiny()
    r = create("torch", size=6, pin_border=0)
    inputs = {"albedo": albedo, "depth": depth, "transform": t, "view": view, "light": light}
    x = inputs[wrt].clone().requires_grad_(True)

    def fn(x):
        return r.render(**{**inputs, wrt: x}).image

    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradients_reach_every_input_at_normal_size(render_code):
    S = 64
    albedo, depth = face_like(S, batch=2)
    depth = depth.clone().requires_grad_(True)
    albedo = albedo.clone().requires_grad_(True)
    t = torch.full_like(depth, 0.9).requires_grad_(True)
    view = torch.tensor([[10.0, 30.0, 5.0, 0.01, 0.0, 0.0], [-5.0, -20.0, 0.0, 0.0, 0.01, 0.0]], requires_grad=True)
    light = torch.tensor([[0.3, 0.7, 0.4, 0.1], [0.5, 0.5, -0.2, 0.3]], requires_grad=True)
    out = create("torch").render(albedo, depth, t, view, light)
    (out.image.square().mean() + out.depth.mean()).backward()
    for name, x in (("albedo", albedo), ("depth", depth), ("transform", t), ("view", view), ("light", light)):
        assert x.grad is not None and torch.isfinite(x.grad).all(), name
        assert x.grad.abs().sum() > 0, name
    assert (view.grad[:, :3].abs() > 0).all() and (light.grad.abs() > 0).all()


def test_background_pixels_give_finite_gradients(render_code):
    # Half the image is background (the plane slides out); no NaN leaks through torch.where.
    S = 16
    depth = torch.ones(1, 1, S, S, requires_grad=True)
    view = torch.tensor([[0.0, 0.0, 0.0, 0.05, 0.0, 0.0]], requires_grad=True)
    out = create("torch", pin_border=0, background=(0.1, 0.2, 0.3)).render(torch.rand(1, 3, S, S), depth, view=view)
    assert 0 < out.mask.mean() < 1
    bg = out.mask[0, 0] == 0
    assert torch.allclose(out.image[0][:, bg], torch.tensor([0.1, 0.2, 0.3])[:, None].expand(3, int(bg.sum())))
    assert (out.normal[0][:, bg] == 0).all() and (out.shading[0, 0][bg] == 0).all()
    out.image.sum().backward()
    assert torch.isfinite(depth.grad).all() and torch.isfinite(view.grad).all()


# --- devices and input checks -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_inputs_render_in_float32(dtype):
    albedo, depth = face_like(32, batch=2)
    view = torch.tensor([[5.0, 20.0, 0.0, 0.0, 0.0, 0.0]] * 2)
    light = torch.tensor([[0.5, 0.5, 0.1, 0.1]] * 2)
    r = create("torch")
    want = r.render(albedo, depth, view=view, light=light)
    x = albedo.to(dtype).requires_grad_(True)
    got = r.render(x, depth.to(dtype), view=view.to(dtype), light=light.to(dtype))
    assert got.image.dtype == dtype and torch.isfinite(got.image.float()).all()
    assert (got.image.float() - want.image).abs().mean() < 2e-2
    got.image.float().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad.float()).all()


def test_empty_batch():
    out = create("torch", size=16).render(torch.rand(0, 3, 8, 8), torch.ones(0, 1, 8, 8))
    assert out.image.shape == (0, 3, 16, 16) and out.mask.shape == (0, 1, 16, 16)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    albedo, depth = face_like(32, batch=2)
    view = torch.tensor([[10.0, 30.0, 5.0, 0.01, 0.0, 0.0], [-5.0, -20.0, 0.0, 0.0, 0.01, 0.0]])
    light = torch.tensor([[0.3, 0.7, 0.4, 0.1], [0.5, 0.5, -0.2, 0.3]])
    r = create("torch")
    cpu = r.render(albedo, depth, view=view, light=light)
    gpu = r.render(albedo.cuda(), depth.cuda(), view=view.cuda(), light=light.cuda())
    assert gpu.image.device.type == "cuda"
    assert (cpu.mask != gpu.mask.cpu()).float().mean() < 0.01
    assert (cpu.image - gpu.image.cpu()).abs().mean() < 1e-3


def test_bad_inputs_name_the_argument_and_shape():
    r = create("torch")
    a, d = torch.rand(2, 3, 8, 8), torch.ones(2, 1, 8, 8)
    cases = [
        (dict(albedo=torch.rand(2, 4, 8, 8), depth=d), r"albedo.*\(2, 3, 8, 8\)"),
        (dict(albedo=torch.rand(2, 3, 9, 9), depth=d), r"albedo.*\(2, 3, 8, 8\)"),
        (dict(albedo=a, depth=torch.ones(2, 8, 8)), r"depth.*\(B, 1, S, S\)"),
        (dict(albedo=a, depth=torch.ones(2, 1, 8, 6)), r"depth.*\(B, 1, S, S\)"),
        (dict(albedo=a, depth=d, transform=torch.ones(2, 1, 4, 4)), r"transform.*\(2, 1, 8, 8\)"),
        (dict(albedo=a, depth=d, view=torch.zeros(2, 3)), r"view.*\(2, 6\)"),
        (dict(albedo=a, depth=d, view=torch.zeros(3, 6)), r"view.*\(2, 6\)"),
        (dict(albedo=a, depth=d, light=torch.zeros(2, 2)), r"light.*\(2, 4\)"),
        (dict(albedo=a[:1], depth=d), r"albedo.*\(2, 3, 8, 8\)"),
    ]
    for kwargs, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            r.render(**kwargs)
    bad = d.clone()
    bad[0, 0, 3, 3] = float("nan")
    with pytest.raises(ValueError, match="depth.*NaN"):
        r.render(a, bad)
    with pytest.raises(ValueError, match="light.*NaN"):
        r.render(a, d, light=torch.full((2, 4), float("nan")))
    with pytest.raises(ValueError, match="depth must be positive"):
        r.render(a, d - 1.0)
    inf = a.clone()
    inf[1, 2, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="albedo.*inf"):
        r.render(inf, d)
    # finite values whose sum overflows to inf pass (the element-wise check settles it)
    assert torch.isinf(torch.full((2, 3, 8, 8), 3e38).sum())
    r.check_inputs(torch.full((2, 3, 8, 8), 3e38), d, None, None, None)
    one = d.clone()
    one[0, 0, 5, 5] = 0.0  # a single non-positive depth is found
    with pytest.raises(ValueError, match="depth must be positive"):
        r.render(a, one)
    with pytest.raises(TypeError, match="albedo"):
        r.render(a.numpy(), d)
    with pytest.raises(TypeError, match="view.*floating"):
        r.render(a, d, view=torch.zeros(2, 6, dtype=torch.long))
    with pytest.raises(ValueError, match="fov"):
        create("torch", fov=0)
    with pytest.raises(ValueError, match="background"):
        create("torch", background=(1.0, 2.0))


def test_render_agrees_with_fragments():
    # render() uses a fused interpolation; it must agree with the public fragments() path.
    S = 20
    g = torch.Generator().manual_seed(2)
    depth = 0.97 + 0.05 * torch.rand(2, 1, S, S, generator=g, dtype=D64)
    t = torch.rand(2, 1, S, S, generator=g, dtype=D64)
    view = torch.tensor([[12.0, 35.0, 4.0, 0.01, 0.0, 0.0], [-8.0, -25.0, 0.0, 0.0, 0.01, 0.01]], dtype=D64)
    r = create("torch", size=27)
    out = r.render(torch.rand(2, 3, S, S, generator=g, dtype=D64), depth, t, view)
    frag, _ = r.fragments(depth, t, view)
    assert torch.equal(out.mask[:, 0] > 0, frag.mask)
    assert torch.allclose(out.depth[:, 0][frag.mask], frag.depth[frag.mask], atol=1e-12)
