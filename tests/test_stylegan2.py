"""StyleGAN2 teacher: parity with the rosinality reference vectors, inference, freezing."""

from __future__ import annotations

import importlib.util
import json

import pytest
import torch
import torch.nn.functional as F

import ganlift
from conftest import shared_path
from ganlift.teachers.stylegan2 import (
    CONFIG_E_CHANNELS,
    CONFIG_F_CHANNELS,
    NARROW_CHANNELS,
    StyleGAN2Teacher,
    infer_config,
    random_state_dict,
    random_stylegan2,
)

FIXTURE = ("fixtures", "stylegan2")
W_TOL, IMG_TOL = 2e-5, 1e-4


def _make_state_fn():
    path = shared_path(*FIXTURE, "make_state.py")
    spec = importlib.util.spec_from_file_location("sg2_fixture_make_state", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_state


@pytest.fixture(scope="module")
def fixture_64():
    """(state dict from the fixture's weight rule, reference tensors)."""
    from safetensors.torch import load_file

    make_state = _make_state_fn()
    shapes = json.loads(shared_path(*FIXTURE, "key_shapes_64.json").read_text())
    state = make_state(shapes)
    # confirm that this torch's RNG reproduces the fixture's weights
    checksums = json.loads(shared_path(*FIXTURE, "state_checksums_64.json").read_text())
    for key in ("style.1.weight", "conv1.conv.weight", "noises.noise_8"):
        t = state[key].double()
        assert t.flatten()[0].item() == pytest.approx(checksums[key]["first"], abs=1e-6)
        assert t.abs().sum().item() == pytest.approx(checksums[key]["abs_sum"], rel=1e-6)
    ref = load_file(str(shared_path(*FIXTURE, "reference_64.safetensors")))
    return state, ref


@pytest.fixture(scope="module")
def teacher_64(fixture_64, tmp_path_factory):
    """The reference generator loaded through the public API from a .pt the test writes."""
    state, ref = fixture_64
    path = tmp_path_factory.mktemp("sg2") / "fixture64.pt"
    torch.save({"g_ema": state, "latent_avg": ref["truncation_latent"][0].clone()}, path)
    return ganlift.load_teacher(path, w_mean_samples=4096)  # w_std from 4096 seeded codes


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


# ----------------------------------------------------------------------------------------
# parity with rosinality/stylegan2-pytorch


def test_fixture_architecture_is_inferred(teacher_64, fixture_64):
    t = teacher_64
    _, ref = fixture_64
    assert isinstance(t, StyleGAN2Teacher)
    assert (t.resolution, t.w_dim, t.z_dim, t.n_mlp, t.num_ws) == (64, 512, 512, 8, 10)
    assert t.channels == {4: 512, 8: 512, 16: 512, 32: 512, 64: 512}
    assert t.config["channels"] == {"4": 512, "8": 512, "16": 512, "32": 512, "64": 512}
    assert torch.equal(t.w_mean, ref["truncation_latent"])  # latent_avg is used as is
    ref_info = t.reference()
    assert ref_info["format"] == "rosinality" and ref_info["w_mean_source"] == "latent_avg"
    assert len(ref_info["sha256"]) == 64 and ref_info["path"].endswith("fixture64.pt")


def test_parity_with_reference_vectors(teacher_64, fixture_64):
    t = teacher_64
    _, ref = fixture_64
    with torch.no_grad():
        w = t.mapping(ref["z"])
        assert _maxdiff(w, ref["w"]) < W_TOL
        w_mix = t.mapping(ref["z_mix"])
        k = int(ref["inject_index"])
        w_plus = torch.cat(
            [w[:, None].expand(-1, k, -1), w_mix[:, None].expand(-1, t.num_ws - k, -1)], 1
        )
        assert _maxdiff(w_plus, ref["w_plus"]) < W_TOL

        # one batched call: single w (truncation 1), truncated w (psi 0.7 towards
        # truncation_latent), and the style-mixed per-layer codes w+
        psi = float(ref["psi"])
        trunc = t.truncate(w, psi, center=ref["truncation_latent"])
        rows = [c[:, None].expand(-1, t.num_ws, -1) for c in (w, trunc)]
        ws = torch.cat([*rows, ref["w_plus"]])
        image, feat = t.synthesis(ws, return_features=True)
    n = len(w)
    assert _maxdiff(image[:n], ref["images"]) < IMG_TOL
    assert _maxdiff(image[:n], ref["images_from_w"]) < IMG_TOL
    assert _maxdiff(image[n : 2 * n], ref["images_trunc"]) < IMG_TOL
    assert _maxdiff(image[2 * n :], ref["images_w_plus"]) < IMG_TOL
    assert tuple(feat[:n].shape) == tuple(ref["last_feature_shape"].tolist())
    assert _maxdiff(feat[:n, :32], ref["last_feature_slice"]) < IMG_TOL
    assert _maxdiff(feat[:n].mean(dim=(2, 3)), ref["last_feature_channel_mean"]) < IMG_TOL
    # the default truncation centre is w_mean, here the file's latent_avg
    assert torch.equal(t.truncate(w, psi), trunc)


def test_parity_single_w_and_grouped_form(teacher_64, fixture_64):
    # (B, w_dim) input, and the literal per-sample-weight (grouped) modulated convs.
    t = teacher_64
    _, ref = fixture_64
    try:
        t.modconv = "grouped"
        with torch.no_grad():
            image, feat = t.synthesis(ref["w"][:1], return_features=True)
    finally:
        t.modconv = "fused"
    assert t.modconv == "fused"
    assert _maxdiff(image, ref["images"][:1]) < IMG_TOL
    assert _maxdiff(feat[:, :32], ref["last_feature_slice"][:1]) < IMG_TOL


def test_estimated_w_mean_matches_the_reference_seeded_mean(fixture_64):
    # The reference's truncation_latent is the mean of mapping(randn(4096, 512, seed 1)):
    # the seeded estimate draws exactly those codes.
    state, ref = fixture_64
    a = StyleGAN2Teacher.from_state_dict(state, w_mean_samples=4096, seed=1)
    assert _maxdiff(a.w_mean, ref["truncation_latent"]) < W_TOL
    assert a.reference()["w_mean_source"] == "estimated"
    assert a.reference()["w_mean_samples"] == 4096 and a.reference()["seed"] == 1
    assert (a.w_std > 0).all() and a.w_std.shape == (1, 512)


def test_w_stats_are_seeded_and_reproducible():
    state = random_state_dict(16, 32, 2, seed=0)
    a = StyleGAN2Teacher.from_state_dict(state, w_mean_samples=5000, seed=7)
    b = StyleGAN2Teacher.from_state_dict(state, w_mean_samples=5000, seed=7)
    c = StyleGAN2Teacher.from_state_dict(state, w_mean_samples=5000, seed=8)
    assert torch.equal(a.w_mean, b.w_mean) and torch.equal(a.w_std, b.w_std)
    assert not torch.equal(a.w_mean, c.w_mean)
    # and they are the statistics of the mapped samples (same seeded stream)
    w = a.mapping(torch.cat([
        torch.randn(n, 32, generator=g)
        for g in [torch.Generator().manual_seed(7)] for n in (4096, 904)
    ]))
    assert _maxdiff(a.w_mean, w.mean(0, keepdim=True)) < 1e-5
    assert _maxdiff(a.w_std, w.std(0, keepdim=True)) < 1e-4
    # a given mean is kept, the std still estimated
    d = StyleGAN2Teacher.from_state_dict(state, w_mean=torch.zeros(32), w_mean_samples=5000, seed=7)
    assert torch.equal(d.w_mean, torch.zeros(1, 32)) and torch.equal(d.w_std, a.w_std)


# ----------------------------------------------------------------------------------------
# architecture inference


@pytest.mark.parametrize(
    "resolution,channels,n_mlp,w_dim",
    [
        (64, NARROW_CHANNELS, 2, 64),
        (32, {4: 64, 8: 48, 16: 24, 32: 12}, 8, 32),
        (16, "config-e", 3, 16),
    ],
)
def test_custom_channel_tables_load_from_a_file(tmp_path, resolution, channels, n_mlp, w_dim):
    state = random_state_dict(resolution, w_dim, n_mlp, channels, seed=3)
    path = tmp_path / "custom.pt"
    torch.save({"g_ema": state}, path)
    t = ganlift.load_teacher(path, w_mean_samples=256)
    table = CONFIG_E_CHANNELS if channels == "config-e" else channels
    assert t.channels == {r: table[r] for r in t.channels}
    num_ws = 2 * (resolution.bit_length() - 1) - 2
    assert (t.resolution, t.n_mlp, t.w_dim, t.num_ws) == (resolution, n_mlp, w_dim, num_ws)
    assert infer_config(state)["channels"] == t.channels
    w = t.sample_w(2, seed=0)
    with torch.no_grad():
        image, feat = t.synthesis(w, return_features=True)
        t.modconv = "grouped"  # the literal per-sample-weight form agrees
        image_g, feat_g = t.synthesis(w[:1], return_features=True)
    assert image.shape == (2, 3, resolution, resolution)
    assert feat.shape == (2, table[resolution], resolution, resolution)
    assert torch.isfinite(image).all()
    assert _maxdiff(image[:1], image_g) < 1e-4 and _maxdiff(feat[:1], feat_g) < 1e-4


def test_standard_tables():
    assert CONFIG_F_CHANNELS[256] == 128 and CONFIG_E_CHANNELS[256] == 64
    assert NARROW_CHANNELS == {4: 512, 8: 512, 16: 256, 32: 128, 64: 64, 128: 32, 256: 16}
    shapes = json.loads(shared_path(*FIXTURE, "key_shapes_256.json").read_text())
    meta = {k: torch.empty(v, device="meta") for k, v in shapes.items()}
    cfg = infer_config(meta)
    assert cfg["resolution"] == 256 and cfg["n_mlp"] == 8 and cfg["w_dim"] == 512
    assert cfg["channels"] == {r: CONFIG_F_CHANNELS[r] for r in cfg["channels"]}
    # the architecture built from it has exactly the checkpoint's keys and shapes
    t = StyleGAN2Teacher(**cfg)
    own = {k: list(v.shape) for k, v in t.state_dict().items() if k not in ("w_mean", "w_std")}
    assert own == {k: list(v) for k, v in shapes.items()}


def test_strict_keys_name_missing_unexpected_and_mismatched():
    state = random_state_dict(16, 16, 2, seed=0)
    missing = dict(state)
    del missing["convs.1.noise.weight"]
    with pytest.raises(ValueError, match=r"missing keys \(1\): 'convs.1.noise.weight'"):
        StyleGAN2Teacher.from_state_dict(missing, w_mean_samples=64)
    extra = dict(state, **{"convs.1.foo": torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected keys \(1\): 'convs.1.foo'"):
        StyleGAN2Teacher.from_state_dict(extra, w_mean_samples=64)
    bad = dict(state)
    bad["to_rgbs.0.bias"] = torch.zeros(1, 4, 1, 1)
    with pytest.raises(ValueError, match=r"to_rgbs.0.bias: file \[1, 4, 1, 1\] vs expected \[1, 3, 1, 1\]"):
        StyleGAN2Teacher.from_state_dict(bad, w_mean_samples=64)
    nan = dict(state)
    nan["style.1.weight"] = state["style.1.weight"].clone()
    nan["style.1.weight"][0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        StyleGAN2Teacher.from_state_dict(nan, w_mean_samples=64)


# ----------------------------------------------------------------------------------------
# behaviour


def test_frozen_gradients_reach_w_only():
    t = random_stylegan2(resolution=16, w_dim=32, n_mlp=2)
    assert all(not p.requires_grad for p in t.parameters())
    t.train()
    assert not t.training
    w = t.sample_w(3, seed=0).requires_grad_(True)
    image, feat = t.synthesis(w, return_features=True)
    (image.square().mean() + feat.mean()).backward()
    assert w.grad is not None and torch.isfinite(w.grad).all() and w.grad.abs().sum() > 0
    assert all(p.grad is None for p in t.parameters())
    # per-layer codes get per-layer gradients
    wp = t.sample_w(2, seed=1)[:, None].repeat(1, t.num_ws, 1).requires_grad_(True)
    t.synthesis(wp).sum().backward()
    assert (wp.grad.abs().sum(dim=(0, 2)) > 0).all()


def test_deterministic_and_batch_independent():
    t = random_stylegan2(resolution=16, w_dim=32, n_mlp=2)
    w = t.sample_w(4, seed=0)
    with torch.no_grad():
        a, b = t.synthesis(w), t.synthesis(w)
        one = t.synthesis(w[2:3])
    assert torch.equal(a, b)  # fixed noise buffers, no randomness
    assert _maxdiff(a[2:3], one) < 1e-5
    assert a.is_contiguous()


def test_shape_errors_name_the_expected_shapes():
    t = random_stylegan2(resolution=16, w_dim=32, n_mlp=2)
    with pytest.raises(ValueError, match=r"\(B, 32\) or \(B, 6, 32\)"):
        t.synthesis(torch.zeros(2, 31))
    with pytest.raises(ValueError, match=r"\(B, 32\)"):
        t.mapping(torch.zeros(2, 3, 32))
    with pytest.raises(ValueError, match="power of two"):
        StyleGAN2Teacher(48, 16, None, 2, "tiny")
    with pytest.raises(ValueError, match="no entry for resolution"):
        StyleGAN2Teacher(512, 16, None, 2, NARROW_CHANNELS)


def test_conv_clamp_bounds_layer_outputs():
    state = random_state_dict(16, 16, 2, seed=0)
    free = StyleGAN2Teacher.from_state_dict(state, w_mean_samples=64)
    clamped = StyleGAN2Teacher.from_state_dict(state, conv_clamp=0.3, w_mean_samples=64)
    loose = StyleGAN2Teacher.from_state_dict(state, conv_clamp=1e6, w_mean_samples=64)
    assert clamped.config["conv_clamp"] == 0.3
    w = free.sample_w(4, seed=0)
    with torch.no_grad():
        img, feat = free.synthesis(w, return_features=True)
        img_c, feat_c = clamped.synthesis(w, return_features=True)
        assert feat.abs().max() > 0.3 and feat_c.abs().max() <= 0.3 + 1e-6
        # the image is a sum of FIR-upsampled ToRGB outputs, each clamped to +-0.3
        assert img_c.abs().max() < img.abs().max() and _maxdiff(img, img_c) > 1e-2
        assert torch.equal(loose.synthesis(w), img)


def test_fir_helpers_match_their_definitions():
    # Upsample = zero insertion, pad 2 top/left 1 bottom/right, true convolution with K
    # (checked with an asymmetric K so flips cannot hide).
    from ganlift.teachers.stylegan2 import _Kernel

    k = _Kernel()
    k.kernel = torch.rand(4, 4, generator=torch.Generator().manual_seed(0))
    x = torch.randn(2, 3, 5, 5)
    up = torch.zeros(2, 3, 10, 10)
    up[:, :, ::2, ::2] = x
    kf = torch.flip(k.kernel, (0, 1))[None, None].expand(3, 1, 4, 4)
    literal = F.conv2d(F.pad(up, (2, 1, 2, 1)), kf, groups=3)
    assert _maxdiff(k.upsample2x(x), literal) < 1e-6
    literal_blur = F.conv2d(F.pad(x, (1, 1, 1, 1)), kf, groups=3)
    assert _maxdiff(k.fir(x, 1), literal_blur) < 1e-6


def test_random_teacher_is_registered_and_reproducible():
    t = random_stylegan2()
    assert (t.resolution, t.w_dim, t.n_mlp) == (32, 64, 2)
    ref = t.reference()
    assert ref["name"] == "stylegan2-random"
    json.dumps(ref)
    options = {k: v for k, v in ref.items() if k != "name"}
    again = ganlift.load_teacher(ref["name"], **options)
    w = t.sample_w(2, seed=0)
    with torch.no_grad():
        assert torch.equal(t.synthesis(w), again.synthesis(w))
    assert torch.equal(t.w_mean, again.w_mean)
    other = random_stylegan2(seed=1)
    assert not torch.equal(other.style[1].weight, t.style[1].weight)
    # stored mapping weights are 1/lr_mul larger, as in real checkpoints, so w depends on z
    assert t.style[1].weight.std() > 50
    assert t.sample_w(256, seed=0).std(0).mean() > 0.1


@pytest.mark.parametrize("modconv", ["fused", "grouped"])
def test_gradient_matches_finite_differences(modconv):
    # float64 gradcheck through the fused epilogue (in-place lrelu) and both conv forms
    t = random_stylegan2(resolution=8, w_dim=6, n_mlp=1, channels={4: 4, 8: 3}, w_mean_samples=64)
    t = t.double()
    t.modconv = modconv
    w = torch.randn(2, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w.requires_grad_(True)

    g = torch.Generator().manual_seed(1)
    probe_img = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)
    probe_feat = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64)

    def fn(codes):  # a scalar of both outputs keeps gradcheck to one backward pass
        image, feat = t.synthesis(codes, return_features=True)
        return (image * probe_img).sum() + (feat * probe_feat).sum()

    assert torch.autograd.gradcheck(fn, (w,), eps=1e-6, atol=1e-5)
