"""Parity of the pure-torch renderer with the optional pytorch3d backend.

The parity tests run only where pytorch3d imports (e.g. a separate environment with
``torch==2.11.0`` and ``pip install easypytorch3d``) and skip elsewhere.
"""

from __future__ import annotations

import pytest
import torch

from ganlift.render import create
from ganlift.render import pytorch3d_backend

needs_pytorch3d = pytest.mark.skipif(not pytorch3d_backend.available(), reason="pytorch3d does not import here")


def test_registered_and_missing_install_says_how_to_install():
    from ganlift.render import RENDERERS

    assert "pytorch3d" in RENDERERS.names()
    if pytorch3d_backend.available():
        pytest.skip("pytorch3d is installed here")
    with pytest.raises(ImportError, match="pip install easypytorch3d"):
        create("pytorch3d", size=16)


def _scene(seed: int, S: int, B: int = 3):
    g = torch.Generator().manual_seed(seed)
    lin = torch.linspace(-1, 1, S)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    bump = torch.exp(-(xx**2 + yy**2) * 3)
    depth = 1.0 - 0.05 * bump + 0.01 * torch.rand(B, 1, S, S, generator=g)
    albedo = torch.rand(B, 3, S, S, generator=g)
    t = 0.5 + 0.5 * torch.rand(B, 1, S, S, generator=g)
    view = torch.cat(
        [(torch.rand(B, 3, generator=g) * 2 - 1) * torch.tensor([20.0, 45.0, 10.0]),
         (torch.rand(B, 3, generator=g) * 2 - 1) * torch.tensor([0.03, 0.03, 0.02])], 1)
    light = torch.tensor([[0.4, 0.6, 0.3, -0.2]]).expand(B, 4)
    return albedo, depth, t, view, light


@pytest.mark.pytorch3d
@needs_pytorch3d
@pytest.mark.parametrize("seed,S", [(0, 24), (1, 24), (0, 64), (1, 64)])
def test_parity_with_pytorch3d(seed, S):
    albedo, depth, t, view, light = _scene(seed, S)
    ours = create("torch", size=S).render(albedo, depth, t, view, light)
    ref = create("pytorch3d", size=S).render(albedo, depth, t, view, light)
    # The two z-buffers may pick different faces only where a pixel centre lies on an edge
    # (shared edges give the same values; at a fold's silhouette the edge tolerances differ),
    # so mask, image and depth agree almost everywhere.
    assert (ours.mask == ref.mask).float().mean() > 0.995
    img = (ours.image - ref.image).abs().amax(1)
    dep = (ours.depth - ref.depth).abs()[:, 0]
    assert (img > 1e-3).float().mean() < 0.005
    assert (dep > 1e-4).float().mean() < 0.005
    assert img.median() < 1e-5 and dep.median() < 1e-6


@pytest.mark.pytorch3d
@needs_pytorch3d
def test_pytorch3d_frontal_plane_is_the_texture():
    S = 16
    albedo = torch.rand(2, 3, S, S)
    out = create("pytorch3d", size=S).render(albedo, torch.ones(2, 1, S, S))
    assert out.mask.all()
    assert torch.allclose(out.image, albedo, atol=5e-3)
