"""Pose, light and code controls of a lifter (``sample``, ``render``, ``interpolate``)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from ganlift.lifter.controls import (
    LiftedSample,
    OutOfRangeWarning,
    light_from_angles,
    light_from_vector,
    light_to_angles,
)
from ganlift.render.shading import lambert
from tiny_lifter import tiny_lifter


@pytest.fixture(scope="module")
def lifter():
    return tiny_lifter()


@pytest.fixture()
def fresh(lifter):
    """The shared lifter with its warn-once memory cleared."""
    lifter.__dict__.pop("_controls_warned", None)
    return lifter


def test_default_controls_reproduce_the_reconstruction(lifter):
    w = lifter.codes(3, seed=1)
    with torch.no_grad():
        out = lifter(w)
    reconstruction = ((out.image_pm1 + 1) / 2).clamp(0, 1)
    pred = lifter.predict(w)
    for sample in (
        lifter.render(w),
        lifter.render(w, yaw=0, pitch=0, roll=0, relative=True),  # "yaw 0" relative to the prediction
        lifter.render(w, yaw=pred["view"][:, 1], light=light_to_angles(pred["light"])),
    ):
        torch.testing.assert_close(sample.image, reconstruction, atol=1e-5, rtol=0)
        torch.testing.assert_close(sample.view, out.view)
        torch.testing.assert_close(sample.light, out.light, atol=1e-6, rtol=0)
        torch.testing.assert_close(sample.mask, out.rendered.mask)
        torch.testing.assert_close(sample.canonical_depth, out.depth)


def test_sample_returns_every_map_with_shapes_and_consistent_values(lifter):
    s = lifter.sample(2, seed=0, yaw=20, pitch=-10, light=(30, 20))
    assert isinstance(s, LiftedSample) and len(s) == 2
    shapes = {"image": 3, "depth": 1, "normal": 3, "albedo": 3, "shading": 1, "mask": 1}
    for name, channels in shapes.items():
        assert s[name].shape == (2, channels, 16, 16), name
        assert torch.isfinite(s[name]).all(), name
    assert set(shapes) <= set(s.as_dict())
    m = s.mask.bool().expand(-1, 3, -1, -1)
    assert m.any()
    # On the object the image is albedo x shading; normals are unit length.
    torch.testing.assert_close((s.albedo * s.shading).clamp(0, 1)[m], s.image[m], atol=1e-5, rtol=0)
    norms = s.normal.norm(dim=1)[s.mask[:, 0].bool()]
    torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-4, rtol=0)
    assert (s.view[:, 1] == 20).all() and (s.view[:, 0] == -10).all()
    # The same seed gives the same codes as the lifter's own sampler.
    torch.testing.assert_close(s.w, lifter.sample_w(2, seed=0))
    torch.testing.assert_close(lifter.sample(2, seed=0, yaw=20, pitch=-10, light=(30, 20)).image, s.image)


def test_pose_controls_set_angles_and_keep_the_rest(lifter):
    w = lifter.codes(2, seed=2)
    base = lifter.render(w)
    turned = lifter.render(w, yaw=30)
    assert torch.equal(turned.view[:, 1], torch.full((2,), 30.0))
    torch.testing.assert_close(turned.view[:, [0, 2, 3, 4, 5]], base.view[:, [0, 2, 3, 4, 5]])
    assert (turned.image - base.image).abs().max() > 0.01
    torch.testing.assert_close(turned.canonical_albedo, base.canonical_albedo)  # canonical maps do not move
    rel = lifter.render(w, yaw=10, relative=True)
    torch.testing.assert_close(rel.view[:, 1], base.view[:, 1] + 10)
    per_sample = lifter.render(w, roll=[5.0, -5.0], translation="zero")
    assert per_sample.view[:, 2].tolist() == [5.0, -5.0] and (per_sample.view[:, 3:] == 0).all()


def test_relit_sample_changes_shading_but_not_albedo(lifter):
    w = lifter.codes(2, seed=3)
    base = lifter.render(w)
    relit = lifter.render(w, light=(40, 25), ambient=0.2, diffuse=0.9)
    torch.testing.assert_close(relit.albedo, base.albedo)
    torch.testing.assert_close(relit.canonical_albedo, base.canonical_albedo)
    torch.testing.assert_close(relit.mask, base.mask)
    on = base.mask.bool()
    assert (relit.shading - base.shading)[on].abs().max() > 0.05
    assert relit.light[:, 0].tolist() == pytest.approx([0.2, 0.2])
    assert relit.light[:, 1].tolist() == pytest.approx([0.9, 0.9])


def test_light_directions_follow_the_documented_convention():
    # A light at azimuth +30 (from the image's right) fully lights a surface turned 30 degrees
    # to the right; elevation +30 (from above) one turned 30 degrees up (camera y is down).
    s, c = math.sin(math.radians(30)), math.cos(math.radians(30))
    cases = [((30.0, 0.0), (s, 0.0, -c)), ((0.0, 30.0), (0.0, -s, -c)), ((-30.0, 0.0), (-s, 0.0, -c))]
    for (az, el), normal in cases:
        dxdy = light_from_angles(torch.tensor([az]), torch.tensor([el]))
        light = torch.cat([torch.tensor([[0.1, 0.8]]), dxdy], 1)
        n = torch.tensor(normal).view(1, 3, 1, 1)
        assert lambert(n, light).item() == pytest.approx(0.9, abs=1e-5)
        assert lambert(-n * torch.tensor([-1.0, -1.0, 1.0]).view(1, 3, 1, 1), light).item() < 0.9
        torch.testing.assert_close(light_to_angles(light), torch.tensor([[az, el]]), atol=1e-4, rtol=0)
    # A vector towards the light, viewer frame (x right, y up, z towards the viewer).
    torch.testing.assert_close(light_from_vector(torch.tensor([[0.0, 0.0, 1.0]])), torch.zeros(1, 2))
    torch.testing.assert_close(
        light_from_vector(torch.tensor([[s, 0.0, c]])), light_from_angles(torch.tensor([30.0]), torch.tensor([0.0]))
    )


def test_light_forms_agree(lifter):
    w = lifter.codes(1, seed=4)
    frontal = lifter.render(w, light="frontal")
    assert frontal.light[0, 2:].abs().max() == 0
    torch.testing.assert_close(lifter.render(w, light=(0, 0)).light, frontal.light)
    torch.testing.assert_close(lifter.render(w, light=(0, 0, 2.0)).light, frontal.light)


def test_interpolation_walks_between_the_codes(lifter):
    a, b = lifter.codes(1, seed=5), lifter.codes(1, seed=6)
    path = lifter.interpolate(a, b, steps=5, yaw=10)
    assert path.image.shape[0] == 5 and (path.view[:, 1] == 10).all()
    torch.testing.assert_close(path.w[0], a[0])
    torch.testing.assert_close(path.w[-1], b[0])
    torch.testing.assert_close(path.w[2], (a[0] + b[0]) / 2)
    torch.testing.assert_close(path.image[-1:], lifter.render(b, yaw=10).image, atol=1e-5, rtol=0)
    by_seed = lifter.interpolate(5, 6, steps=2)
    torch.testing.assert_close(by_seed.w, torch.cat([a, b]))


def test_angles_outside_the_trained_range_warn_once(fresh):
    w = fresh.codes(1, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.render(w, yaw=40, pitch=-15, roll=10)  # inside: yaw 45, pitch 15, roll 15
    with pytest.warns(OutOfRangeWarning, match=r"yaw=60 .*\[-40, 40\].*synthetic"):
        fresh.render(w, yaw=60)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh.render(w, yaw=-70)  # already warned about yaw
    with pytest.warns(OutOfRangeWarning, match="pitch"):
        fresh.render(w, pitch=30)


@pytest.mark.parametrize(
    "controls, message",
    [
        ({"yaw": float("nan")}, r"yaw must be a finite angle in degrees within \[-90, 90\], got nan"),
        ({"yaw": 120}, r"yaw .*\[-90, 90\].*120"),
        ({"pitch": -91}, r"pitch .*\[-90, 90\]"),
        ({"roll": float("inf")}, r"roll .*\[-90, 90\]"),
        ({"yaw": [1.0, 2.0, 3.0]}, r"yaw must be one number or 2 numbers"),
        ({"light": (90, 0)}, r"light azimuth .*\(-90, 90\)"),
        ({"light": (0, float("nan"))}, r"light elevation .*\(-90, 90\)"),
        ({"light": (0.3, 0.2, -1.0)}, r"z > 0"),
        ({"light": (0.5, 0.5, 0.1, 0.2)}, r"azimuth, elevation.*ambient= and diffuse="),
        ({"light": "sideways"}, r"'frontal'"),
        ({"ambient": -0.1}, r"ambient must be a finite intensity >= 0"),
        ({"diffuse": float("nan")}, r"diffuse must be a finite intensity"),
        ({"translation": (1, 2)}, r"translation must be \(tx, ty, tz\)"),
        ({"translation": "up"}, r"translation must be None, 'zero'"),
    ],
)
def test_bad_controls_are_clear_errors(lifter, controls, message):
    w = lifter.codes(2, seed=0)
    with pytest.raises(ValueError, match=message):
        lifter.render(w, **controls)


def test_relative_angles_are_checked_after_adding_the_prediction(lifter):
    predicted = torch.tensor([[0.0, 50.0, 0.0, 0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"yaw \(predicted \+ relative\) .*\[-90, 90\].*110"):
        lifter.control_view(predicted, yaw=60, relative=True)


def test_bad_codes_are_clear_errors(lifter):
    with pytest.raises(ValueError, match=r"w must have shape \(B, 64\)"):
        lifter.render(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="n must be a positive integer"):
        lifter.sample(0)
    with pytest.raises(ValueError, match="either z or w"):
        lifter.sample(z=torch.zeros(1, 64), w=torch.zeros(1, 64))
    with pytest.raises(ValueError, match="steps must be an integer >= 2"):
        lifter.interpolate(0, 1, steps=1)
    with pytest.raises(ValueError, match="NaN"):
        lifter.render(torch.full((1, 64), float("nan")))
    z = torch.randn(2, 64, generator=torch.Generator().manual_seed(9))
    torch.testing.assert_close(lifter.sample(z=z).w, lifter.sample(2, seed=9).w)


def test_from_pretrained_lifter_samples_the_same(lifter, tmp_path):
    if not hasattr(type(lifter), "save_pretrained"):
        pytest.skip("HubMixin.save_pretrained is not available yet")
    import ganlift

    lifter.save_pretrained(tmp_path / "tiny")
    loaded = ganlift.Lifter.from_pretrained(tmp_path / "tiny")
    a = lifter.sample(2, seed=7, yaw=25, light=(20, 10))
    b = loaded.sample(2, seed=7, yaw=25, light=(20, 10))
    torch.testing.assert_close(b.image, a.image)
    torch.testing.assert_close(b.depth, a.depth)


def test_texture_is_a_deprecated_name_of_canonical_albedo(lifter):
    s = lifter.render(lifter.codes(1, seed=5))
    with pytest.warns(DeprecationWarning, match="canonical_albedo"):
        assert s.texture is s.canonical_albedo
    with pytest.warns(DeprecationWarning, match="canonical_albedo"):
        assert s["texture"] is s.canonical_albedo
    assert "texture" not in s.keys()
