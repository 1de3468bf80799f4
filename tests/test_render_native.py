"""The compiled CPU kernels of the renderer (ganlift.render.native) against the PyTorch code
they replace: forward values, gradients (gradcheck and autograd of the PyTorch stages), whole
renders, the build cache and the fallback without a compiler."""

from __future__ import annotations

import pytest
import torch

from ganlift.render import create, native
from ganlift.render.base import Renderer
from ganlift.render.camera import focal_length, pin_frame, posed_points, project, rotation_matrix
from ganlift.render.shading import light_direction, normals_from_points

D64 = torch.float64


@pytest.fixture(scope="module")
def kernels():
    k = native.library()
    if k is None:
        pytest.skip("the compiled kernels are not available here (no C compiler)")
    return k


def scene(seed: int, S: int, B: int = 2, dtype=D64, noisy: bool = False):
    g = torch.Generator().manual_seed(seed)
    lin = torch.linspace(-1, 1, S, dtype=dtype)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    depth = (1.0 - 0.05 * torch.exp(-(xx**2 + yy**2) * 3)).expand(B, 1, S, S).clone()
    depth += 0.01 * torch.rand(B, 1, S, S, generator=g, dtype=dtype) * (1.0 if noisy else 0.1)
    transform = (0.6 + 0.4 * torch.rand(B, 1, S, S, generator=g, dtype=dtype)) if noisy else torch.full_like(depth, 0.9)
    view = torch.cat([(torch.rand(B, 3, generator=g, dtype=dtype) * 2 - 1) * torch.tensor([15.0, 40.0, 5.0], dtype=dtype),
                      (torch.rand(B, 3, generator=g, dtype=dtype) * 2 - 1) * 0.02], 1)
    albedo = torch.rand(B, 3, S, S, generator=g, dtype=dtype)
    light = torch.cat([torch.rand(B, 2, generator=g, dtype=dtype), torch.randn(B, 2, generator=g, dtype=dtype) * 0.5], 1)
    return albedo, depth, transform, view, light


def _intrinsics(S: int, out: int, fov: float = 10.0):
    return (focal_length(S, fov), (S - 1) / 2.0, focal_length(out, fov), (out - 1) / 2.0)


def _grads(fn, inputs, seed=3):
    """Outputs of fn and the gradients of a random weighting of them w.r.t. the inputs."""
    xs = [x.clone().requires_grad_(True) for x in inputs]
    outs = fn(*xs)
    g = torch.Generator().manual_seed(seed)
    loss = sum((o * torch.randn(o.shape, generator=g, dtype=o.dtype)).sum() for o in outs)
    loss.backward()
    return [o.detach() for o in outs], [x.grad for x in xs]


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-4)])
@pytest.mark.parametrize("S,out", [(12, 12), (10, 15), (16, 9)])
def test_pose_normals_and_interpolation_match_the_pytorch_stages(kernels, dtype, tol, S, out):
    _, depth, transform, view, _ = scene(S, S, dtype=dtype, noisy=True)
    r = create("torch", size=out, pin_border=1)

    def torch_pose(d, t, v):
        p = posed_points(d, r.fov, v, t, 1)
        return p, project(p, out, r.fov)

    def native_pose(d, t, v):
        return native.pose(d, pin_frame(t, 1), rotation_matrix(v[:, :3]), v[:, 3:6], _intrinsics(S, out), kernels)

    (p_t, s_t), g_t = _grads(torch_pose, (depth, transform, view))
    (p_n, s_n), g_n = _grads(native_pose, (depth, transform, view))
    scale = lambda x: float(x.abs().max()) + 1.0  # noqa: E731
    for a, b in zip((p_t, s_t, *g_t), (p_n, s_n, *g_n)):
        assert (a - b).abs().max() <= tol * scale(a)

    (n_t,), (gp_t,) = _grads(lambda p: (normals_from_points(p),), (p_t,))
    (n_n,), (gp_n,) = _grads(lambda p: (native.normals(p, 1e-12, kernels),), (p_t,))
    assert (n_t - n_n).abs().max() <= tol * 10
    assert (gp_t - gp_n).abs().max() <= tol * scale(gp_t)

    face = r.rasterize(s_t, None, out)
    mask = face >= 0
    assert mask.float().mean() > 0.5
    (z_t, grid_t), (gs_t, gd_t) = _grads(lambda s, d: r._interpolate(s, d, face), (s_t, depth))
    (z_n, grid_n), (gs_n, gd_n) = _grads(lambda s, d: native.interpolate(s, d, face, r.znear, kernels), (s_t, depth))
    assert (z_t - z_n)[mask].abs().max() <= tol * 10
    assert (grid_t - grid_n)[mask].abs().max() <= tol * 10
    assert torch.equal(z_n[~mask], torch.ones_like(z_n[~mask]))
    # The PyTorch stage's gradients of background pixels also reach its stand-in triangle;
    # both give zero where only background pixels were weighted.
    (z_t, grid_t), (gs_t, gd_t) = _grads(lambda s, d: [x * (mask if x.dim() == 3 else mask[..., None])
                                                      for x in r._interpolate(s, d, face)], (s_t, depth))
    (z_n, grid_n), (gs_n, gd_n) = _grads(lambda s, d: [x * (mask if x.dim() == 3 else mask[..., None])
                                                      for x in native.interpolate(s, d, face, r.znear, kernels)],
                                         (s_t, depth))
    assert (gs_t - gs_n).abs().max() <= tol * scale(gs_t)
    assert (gd_t - gd_n).abs().max() <= tol * scale(gd_t)


def test_gradcheck_of_each_kernel(kernels):
    _, depth, transform, view, _ = scene(1, 5, B=1, noisy=True)
    rot, shift = rotation_matrix(view[:, :3]), view[:, 3:6]
    intr = _intrinsics(5, 7)
    for i in range(4):
        args = [depth, pin_frame(transform, 1), rot, shift]

        def fn(x, i=i):
            a = list(args)
            a[i] = x
            return native.pose(*a, intr, kernels)

        assert torch.autograd.gradcheck(fn, (args[i].clone().requires_grad_(True),), eps=1e-6, atol=1e-6)
    points, screen = native.pose(depth, pin_frame(transform, 1), rot, shift, intr, kernels)
    assert torch.autograd.gradcheck(lambda p: native.normals(p, 1e-12, kernels),
                                    (points.clone().requires_grad_(True),), eps=1e-6, atol=1e-6)
    face = create("torch", size=7).rasterize(screen, None, 7)
    assert (face >= 0).sum() > 20
    s, d = screen.clone().requires_grad_(True), depth.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s, d: native.interpolate(s, d, face, 1e-2, kernels), (s, d),
                                    eps=1e-7, atol=1e-5)


def _shade_inputs(B: int, S: int, H: int, W: int, dtype=D64, seed: int = 5):
    """Maps, light and a grid that reaches past the maps' edges (the clip of border padding)
    with some pixels on the background."""
    g = torch.Generator().manual_seed(seed)
    albedo = torch.rand(B, 3, S, S, generator=g, dtype=dtype)
    nmap = torch.randn(B, 3, S, S, generator=g, dtype=dtype) * 0.3 + torch.tensor([0.0, 0.0, -1.0], dtype=dtype).view(1, 3, 1, 1)
    grid = (torch.rand(B, H, W, 2, generator=g, dtype=dtype) * 2 - 1) * 1.2
    face = torch.randint(0, 2 * (S - 1) ** 2, (B, H, W), generator=g)
    face[torch.rand(B, H, W, generator=g) < 0.3] = -1
    light = torch.cat([torch.rand(B, 2, generator=g, dtype=dtype), torch.randn(B, 2, generator=g, dtype=dtype)], 1)
    return albedo, nmap, grid, face, light


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-10), (torch.float32, 2e-5)])
@pytest.mark.parametrize("S,H,W", [(9, 9, 9), (8, 13, 11)])
def test_shading_matches_grid_sample_and_lambert(kernels, dtype, tol, S, H, W):
    albedo, nmap, grid, face, light = _shade_inputs(2, S, H, W, dtype)
    grid[0, 0, 0] = 1.0  # exactly on the last texel: its far taps lie past the maps
    grid[0, 0, 1] = -1.0
    background = torch.tensor([0.2, 0.5, 1.0], dtype=dtype)

    def native_shade(a, n, gr, li):
        return native.shade(a, n, gr, face, torch.cat([li[:, :2], light_direction(li)], 1), background, kernels)

    want, g_want = _grads(lambda a, n, gr, li: Renderer._shade(a, n, gr, (face >= 0)[:, None], li, background),
                          (albedo, nmap, grid, light))
    got, g_got = _grads(native_shade, (albedo, nmap, grid, light))
    assert (face < 0).any() and (grid.abs() > 1).any()
    for a, b in zip(want + g_want, got + g_got):
        assert a.dtype == b.dtype == dtype
        assert (a - b).abs().max() <= tol * (float(a.abs().max()) + 1.0)


def test_gradcheck_of_the_shading_kernel(kernels):
    albedo, nmap, grid, face, light = _shade_inputs(2, 5, 6, 7, seed=8)
    light5 = torch.cat([light[:, :2], light_direction(light)], 1)
    background = torch.tensor([1.0, 1.0, 1.0], dtype=D64)
    inputs = [x.clone().requires_grad_(True) for x in (albedo, nmap, grid, light5)]
    assert torch.autograd.gradcheck(lambda a, n, gr, li: native.shade(a, n, gr, face, li, background, kernels),
                                    inputs, eps=1e-7, atol=1e-5)


@pytest.mark.parametrize("used", [(True, False, False), (True, True, False), (True, False, True), (False, True, True)])
def test_shading_gradients_of_unused_outputs_are_exact_zeros(kernels, used):
    """An output left out of the loss sends no gradient (NULL in the kernel): the gradients
    equal those of a loss that takes it with weight 0 (explicit zeros), bit for bit."""
    albedo, nmap, grid, face, light = _shade_inputs(2, 9, 10, 11, seed=4)
    light5 = torch.cat([light[:, :2], light_direction(light)], 1)
    background = torch.tensor([0.2, 0.5, 1.0], dtype=D64)

    def grads(weights):
        xs = [x.clone().requires_grad_(True) for x in (albedo, nmap, grid, light5)]
        outs = native.shade(*xs[:3], face, xs[3], background, kernels)
        g = torch.Generator().manual_seed(5)
        randoms = [torch.randn(o.shape, generator=g, dtype=o.dtype) for o in outs]
        terms = [(o * r).sum() * w for o, r, w in zip(outs, randoms, weights) if w is not None]
        sum(terms).backward()
        return [x.grad for x in xs]

    left_out = grads([1.0 if u else None for u in used])
    zero_weighted = grads([1.0 if u else 0.0 for u in used])
    for a, b in zip(left_out, zero_weighted):
        assert torch.equal(a, b)


@pytest.mark.parametrize("noisy,lit", [(False, True), (True, True), (True, False)])
def test_renders_agree_with_the_pytorch_renderer(kernels, monkeypatch, noisy, lit):
    inputs = scene(7, 48, B=2, dtype=torch.float32, noisy=noisy)[: 5 if lit else 4]  # unlit: light None
    r = create("torch", size=64)

    def render(use_native: bool):
        monkeypatch.setenv("GANLIFT_NATIVE", "1" if use_native else "0")
        xs = [x.clone().requires_grad_(True) for x in inputs]
        out = r.render(*xs)
        (out.image.square().mean() + out.depth.mean()).backward()
        return out, [x.grad for x in xs]

    (a, ga), (b, gb) = render(False), render(True)
    # Pixel centres on a shared edge may go to either neighbour (a tie within rounding);
    # everywhere else the two renders are the same up to float32 rounding.
    same = (a.mask == b.mask).all(1) & ((a.image - b.image).abs().amax(1) < 1e-4)
    assert same.float().mean() > 0.995
    assert (a.depth - b.depth)[:, 0][same].abs().max() < 1e-5
    # Normals come from differences of neighbouring points: float32 cancellation in the
    # PyTorch stage (the C one works in double) leaves up to ~2e-4 on the noisy mesh.
    assert (a.normal - b.normal).abs().amax(1)[same].max() < 1e-3
    for x, y in zip(ga, gb):
        assert torch.allclose(x, y, rtol=0.05, atol=0.05 * float(x.abs().max()))


def test_build_is_cached_and_atomic(tmp_path, monkeypatch):
    if native.compiler() is None:
        pytest.skip("no C compiler here")
    monkeypatch.setenv("GANLIFT_HOME", str(tmp_path))
    first = native._build("float")
    assert first.parent == tmp_path / "native" and first.exists()
    stamp = first.stat().st_mtime_ns
    assert native._build("float") == first and first.stat().st_mtime_ns == stamp  # no rebuild
    assert [p.name for p in first.parent.iterdir()] == [first.name]  # no temporary left behind


def test_without_a_compiler_the_pytorch_code_runs(tmp_path, monkeypatch):
    inputs = scene(2, 16, B=1, dtype=torch.float32)
    r = create("torch", size=16)
    monkeypatch.setenv("GANLIFT_NATIVE", "0")
    assert native.library() is None
    want = r.render(*inputs).image
    monkeypatch.setenv("GANLIFT_NATIVE", "1")
    monkeypatch.setenv("GANLIFT_HOME", str(tmp_path))  # nothing built there yet
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    monkeypatch.setattr(native, "_kernels", native._UNSET)
    with pytest.warns(RuntimeWarning, match="GANLIFT_NATIVE=0"):
        assert native.library() is None
    assert torch.equal(r.render(*inputs).image, want)


def test_kernels_refuse_shapes_they_would_read_out_of_bounds(kernels):
    _, depth, transform, view, _ = scene(0, 6, B=1)
    points, screen = native.pose(depth, transform, rotation_matrix(view[:, :3]), view[:, 3:6], _intrinsics(6, 6),
                                 kernels)
    with pytest.raises(ValueError, match="face holds ids beyond"):
        native.interpolate(screen, depth, torch.full((1, 6, 6), 50, dtype=torch.long), 1e-2, kernels)
    with pytest.raises(ValueError, match="depth must be a CPU tensor of shape"):
        native.interpolate(screen, depth[:, :, :5], torch.zeros(1, 6, 6, dtype=torch.long), 1e-2, kernels)
    with pytest.raises(ValueError, match="rot must be"):
        native.pose(depth, transform, torch.eye(3, dtype=D64), view[:, 3:6], _intrinsics(6, 6), kernels)
    albedo, nmap, grid, face, light = _shade_inputs(1, 4, 5, 5)
    light5 = torch.cat([light[:, :2], light_direction(light)], 1)
    with pytest.raises(ValueError, match="background must be"):
        native.shade(albedo, nmap, grid, face, light5, torch.ones(()), kernels)
    with pytest.raises(ValueError, match="grid must be"):
        native.shade(albedo, nmap, grid[:, :4], face, light5, torch.ones(3, dtype=D64), kernels)
    with pytest.raises(ValueError, match="at least 2 x 2"):
        native.shade(albedo[..., :1, :1], nmap[..., :1, :1], grid, face, light5, torch.ones(3, dtype=D64), kernels)


def test_batch_split_over_threads_gives_the_same_results(kernels, monkeypatch):
    inputs = scene(4, 24, B=3, dtype=torch.float32, noisy=True)
    r = create("torch", size=32)

    def render():
        xs = [x.clone().requires_grad_(True) for x in inputs]
        out = r.render(*xs)
        (out.image.square().mean() + out.depth.mean()).backward()
        return [out.image, out.depth, out.normal] + [x.grad for x in xs]

    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        want = render()
        torch.set_num_threads(2)
        monkeypatch.setattr(native, "_PARALLEL_WORK", 0)  # split even this small batch
        got = render()
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(want, got):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
