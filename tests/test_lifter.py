"""The lifter's networks, output ranges, config round trip and the training step's gradients."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json
import warnings

import pytest
import torch

import ganlift
from ganlift.lifter import Lifter, LifterOutput
from ganlift.lifter.networks import (
    LightDecoder,
    ShapeDecoder,
    StyleManipulation,
    TransformDecoder,
    ViewDecoder,
    decoder_widths,
    depth_from_logits,
    depth_prior_logits,
    light_from_unit,
    light_to_unit,
    transform_from_logits,
)
from ganlift.losses import LossSet
from ganlift.losses.distance import ImageDistance
from ganlift.losses.terms import CodeCycle, Cycle, Flip, NeutralCycle, PerturbationA, PerturbationB, Reconstruction
from ganlift.recipe import load_recipe
from ganlift.render.shading import flip_maps
from ganlift.utils.outputs import OutputFields

TINY = {
    "lifter.mlp_width": 32,
    "lifter.decoder_width": 32,
    "lifter.decoder_min_width": 8,
    "lifter.transform_blur": 3,
    "teacher.prior_samples": 256,
}


@pytest.fixture(scope="module")
def sg2_lifter():
    """A lifter at 16x16 on a 32x32 random-weight StyleGAN2 (teacher images are downsampled)."""
    from ganlift.teachers.stylegan2 import random_stylegan2

    torch.manual_seed(0)
    teacher = random_stylegan2(resolution=32, w_dim=32, seed=0)
    recipe = load_recipe("synthetic", {**TINY, "lifter.resolution": 16, "teacher.truncation": 0.7})
    return Lifter(teacher, recipe)


@pytest.fixture(scope="module")
def syn_lifter():
    torch.manual_seed(0)
    teacher = ganlift.load_teacher("synthetic-faces", resolution=32)
    # every paper term on (the synthetic recipe leaves the perturbation terms off)
    terms = {"losses.perturbation_b": 2.0, "losses.perturbation_a": 2.0, "losses.cycle": 4.0, "losses.prior": 0.5}
    return Lifter(teacher, load_recipe("synthetic", {**TINY, **terms, "lifter.resolution": 32}))


# ------------------------------------------------------------------------------ networks
def test_decoder_widths_follow_the_paper_at_256():
    assert decoder_widths(256, 512, 16) == {4: 512, 8: 256, 16: 128, 32: 64, 64: 32, 128: 16}
    assert decoder_widths(64, 128, 16) == {4: 128, 8: 64, 16: 32, 32: 16}
    with pytest.raises(ValueError, match="power of two"):
        decoder_widths(48, 64, 8)


@pytest.mark.parametrize("res", [8, 16, 32])
def test_decoder_shapes(res):
    w = torch.randn(2, 24)
    shape = ShapeDecoder(24, 16, 2, res, 32, 8, feature_channels=5)
    assert shape(w, torch.randn(2, 5, 64, 64)).shape == (2, 1, res, res)  # features are resized
    assert TransformDecoder(24, 16, 2, res, 32, 8)(w).shape == (2, 1, res, res)
    with pytest.raises(ValueError, match="feature map"):
        shape(w)


def test_decoder_heads_in_channels_last_agree_with_contiguous(monkeypatch):
    """The heads of D_S and D_T run channels-last (faster convolutions on the CPU); values and
    gradients match the contiguous computation to rounding."""
    import ganlift.lifter.networks as networks

    torch.manual_seed(0)
    w, feats = torch.randn(3, 24), torch.randn(3, 5, 32, 32)
    nets = [ShapeDecoder(24, 16, 2, 32, 32, 8, feature_channels=5), TransformDecoder(24, 16, 2, 32, 32, 8)]

    def run():
        outs = [nets[0](w, feats), nets[1](w)]
        for n in nets:
            n.zero_grad(set_to_none=True)
        sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
        return [o.detach() for o in outs] + [p.grad.clone() for n in nets for p in n.parameters()]

    seen = []
    real = networks._channels_last
    monkeypatch.setattr(networks, "_channels_last", lambda x: seen.append(x.shape) or real(x))
    fast = run()
    assert len(seen) == 2
    monkeypatch.setattr(networks, "_channels_last", lambda x: x)
    plain = run()
    for a, b in zip(fast, plain):  # float32 rounding of sums in another order
        assert float((a - b).abs().max()) <= 1e-4 * float(b.abs().max())


def test_view_light_decoders_and_manipulation():
    w = torch.randn(5, 12) * 10
    view = ViewDecoder(12, 16)(w)
    light = LightDecoder(12, 16)(w)
    assert view.shape == (5, 6) and light.shape == (5, 4)
    assert view.abs().max() <= 1 and light.abs().max() <= 1
    lit = light_from_unit(light * 0 + torch.tensor([-1.0, 1.0, 1.0, -1.0]), 0.8)
    assert torch.allclose(lit[0], torch.tensor([0.0, 1.0, 0.8, -0.8]))
    assert torch.allclose(light_to_unit(light_from_unit(light, 0.8), 0.8), light, atol=1e-6)
    assert torch.equal(StyleManipulation(12, 16, mode="residual")(w, light, view), w)  # the identity
    assert torch.equal(StyleManipulation(12, 16, mode="linear")(w, light, view), torch.zeros_like(w))  # the mean
    assert not torch.equal(StyleManipulation(12, 16, mode="mlp")(w, light, view), w)
    with pytest.raises(ValueError, match="mode must be one of"):
        StyleManipulation(12, 16, mode="other")


def test_delta_manipulation_edits_the_neutral_code_in_a_fixed_subspace():
    torch.manual_seed(0)
    w = torch.randn(5, 12)
    own_l = torch.rand(5, 4) * 2 - 1
    light0 = torch.cat([own_l[:, :2], torch.zeros(5, 2)], dim=1)
    view0 = torch.zeros(5, 6)
    m = StyleManipulation(12, 16, mode="delta", rank=3)
    new_v, new_l = torch.rand(5, 6) * 2 - 1, torch.rand(5, 4) * 2 - 1
    assert torch.equal(m(w, new_l, new_v, own_l), torch.zeros_like(w))  # starts at the mean code
    with torch.no_grad():
        for p in (m.out.net[-1].weight, m.edit.net[-1].weight, m.skip.weight):
            p.normal_()
    w0 = m(w, light0, view0, own_l)  # the neutral code: no edit at the neutral request
    assert torch.allclose(w0, m.skip(w) + m.out(m._hidden(w, light0, view0)), atol=1e-6)
    edit = (m(w, new_l, new_v, own_l) - w0).detach()
    assert edit.abs().sum() > 0
    # every edit lies in the span of the (12, 3) basis, whatever w and the request
    basis = m.basis.detach()
    inside = basis @ torch.linalg.lstsq(basis, edit.T).solution
    assert torch.allclose(inside.T, edit, atol=1e-5)
    with pytest.raises(ValueError, match="needs the light of w itself"):
        m(w, new_l, new_v)
    with pytest.raises(ValueError, match="rank must be in"):
        StyleManipulation(12, 16, mode="delta", rank=13)


def test_depth_range_border_and_transform_map():
    logits = torch.randn(2, 1, 16, 16) * 5
    depth = depth_from_logits(logits, (0.9, 1.1), 1.05, 2)
    inner = depth[..., 2:-2]
    assert inner.min() >= 0.9 and inner.max() <= 1.1
    assert torch.all(depth[..., :2] == 1.05) and torch.all(depth[..., -2:] == 1.05)
    t = transform_from_logits(torch.full((2, 1, 16, 16), -20.0), depth, threshold=1.04, blur=0, frame=1)
    obj = depth[..., 1:-1, 1:-1] <= 1.04
    assert torch.all(t[..., 1:-1, 1:-1][obj] == 1)  # forced to 1 on the object
    assert torch.all(t[..., 1:-1, 1:-1][~obj] < 1e-6)  # sigmoid(-15) elsewhere
    assert torch.all(t[..., 0, :] == 0) and torch.all(t[..., :, -1] == 0)  # frame pinned
    blurred = transform_from_logits(torch.zeros(2, 1, 16, 16), depth, blur=5, frame=1)
    assert blurred.min() >= 0 and blurred.max() <= 1


def test_depth_prior_is_a_dome_on_the_background():
    logits = depth_prior_logits(32, relief=0.08, width=0.2, background=1.05)
    depth = depth_from_logits(logits, (0.9, 1.1), 1.05, border_columns=1, center=False)
    assert torch.isclose(depth[0, 0, 0, 0], torch.tensor(1.05), atol=1e-3)  # background plane
    assert torch.isclose(depth.min(), torch.tensor(0.97), atol=2e-3)  # the top of the dome
    assert depth[0, 0, 16, 16] < depth[0, 0, 16, 8] < depth[0, 0, 16, 2]  # convex: rises to the middle
    assert torch.equal(depth_prior_logits(8, relief=0.0), torch.zeros(1, 1, 8, 8))
    centred = depth_from_logits(logits, (0.9, 1.1), 1.05, border_columns=0, center=True)
    assert torch.allclose(torch.atanh((centred - 1.0) / 0.1).mean(), torch.tensor(0.0), atol=1e-4)


# ------------------------------------------------------------------------------ lifter
def test_forward_shapes_and_ranges(sg2_lifter):
    lifter = sg2_lifter
    w = lifter.sample_w(3, seed=1)
    out = lifter(w)
    assert isinstance(out, LifterOutput)
    assert out.view.shape == (3, 6) and out.light.shape == (3, 4) and out.w0.shape == (3, 32)
    for name, c in (("depth", 1), ("transform", 1), ("albedo", 3), ("image_pm1", 3), ("texture", 3)):
        assert getattr(out, name).shape == (3, c, 16, 16), name
    assert out.view[:, :3].abs().max() <= 60 and out.view[:, 3:5].abs().max() <= 0.1
    assert out.view[:, 5].abs().max() <= 0.01
    assert out.light[:, :2].min() >= 0 and out.light[:, :2].max() <= 1
    assert out.albedo.min() >= 0 and out.albedo.max() <= 1
    assert out.image_pm1.min() >= -1 and out.image_pm1.max() <= 1
    assert torch.allclose(out.image_pm1, out.rendered.image * 2 - 1)
    pred = lifter.predict(w)
    assert set(pred) == {"view", "light", "depth", "transform", "albedo"}
    assert torch.allclose(pred["depth"], out.depth) and not pred["depth"].requires_grad
    with pytest.raises(ValueError, match=r"w must have shape \(B, 32\)"):
        lifter(torch.zeros(2, 3, 32))


def test_image_is_a_deprecated_name_of_image_pm1(sg2_lifter):
    with torch.no_grad():
        out = sg2_lifter(sg2_lifter.sample_w(2, seed=1))
    with pytest.warns(DeprecationWarning, match="image_pm1"):
        assert out.image is out.image_pm1
    with pytest.warns(DeprecationWarning, match="image_pm1"):
        assert out["image"] is out.image_pm1
    assert "image_pm1" in out.keys() and "image" not in out.keys()


def test_the_three_outputs_share_one_dict_like_base(sg2_lifter):
    """LifterOutput, Rendered and LiftedSample are read the same way, by attribute or name."""
    w = sg2_lifter.sample_w(2, seed=1)
    with torch.no_grad():
        out, sample = sg2_lifter(w), sg2_lifter.render(w)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)  # listing the fields never warns
        for o in (out, out.rendered, sample):
            assert isinstance(o, OutputFields)
            names = [f.name for f in dataclasses.fields(o)]
            assert o.keys() == names == list(o.as_dict()) == [k for k, _ in o.items()] == list(dict(o))
            for k in names:
                assert o[k] is getattr(o, k) and o.get(k) is getattr(o, k) and k in o
            assert o.get("nothing") is None and o.get("nothing", 1) == 1 and "nothing" not in o
            with pytest.raises(KeyError, match=f"'nothing'; {type(o).__name__} has {names[0]}, "):
                o["nothing"]
    with pytest.warns(DeprecationWarning, match="image_pm1"):
        assert out.get("image") is out.image_pm1  # a deprecated name reads as out[...] does


def test_teacher_is_frozen_and_not_in_the_state_dict(sg2_lifter):
    lifter = sg2_lifter
    keys = list(lifter.state_dict())
    assert keys and not any("teacher" in k or k.startswith(("style.", "convs.")) for k in keys)
    assert all(not p.requires_grad for p in lifter.teacher.parameters())
    assert {id(p) for p in lifter.parameters()}.isdisjoint({id(p) for p in lifter.teacher.parameters()})
    lifter.train()
    assert not lifter.teacher.training
    assert lifter.renderer.size == 16 and lifter.renderer.fov == 10.0


def test_to_moves_the_teacher_along(sg2_lifter):
    lifter = sg2_lifter
    lifter.to(torch.float64)
    try:
        assert lifter.w_mean.dtype == torch.float64
        assert next(lifter.teacher.parameters()).dtype == torch.float64
    finally:
        lifter.to(torch.float32)
    assert next(lifter.teacher.parameters()).dtype == torch.float32


def test_config_round_trip(sg2_lifter):
    lifter = sg2_lifter
    config = json.loads(json.dumps(lifter.config))
    assert config["architecture"] == "liftedgan" and config["resolution"] == 16
    assert config["teacher"] == lifter.teacher.reference()
    assert config["recipe"]["lifter"]["mlp_width"] == 32 and config["ganlift_version"] == ganlift.__version__
    assert len(config["w_mean"]) == 32 and len(config["w_std"]) == 32
    copy = Lifter.from_config(config, lifter.teacher)
    copy.load_state_dict(lifter.state_dict(), strict=True)
    w = lifter.sample_w(2, seed=3)
    a, b = lifter.predict(w), copy.predict(w)
    for k in a:
        assert torch.allclose(a[k], b[k]), k
    # from the teacher's reference alone
    again = Lifter.from_config(config)
    assert again.teacher.reference() == lifter.teacher.reference()
    bad = dict(config, w_dim=31)
    with pytest.raises(ValueError, match="w_dim"):
        Lifter.from_config(bad, lifter.teacher)
    with pytest.raises(ValueError, match="architecture"):
        Lifter.from_config(dict(config, architecture="other"), lifter.teacher)


def test_default_recipe_is_the_teachers_recommended_one():
    teacher = ganlift.load_teacher("synthetic-cats", resolution=32)
    lifter = Lifter(teacher)
    assert lifter.recipe.name == "synthetic-cats" and lifter.resolution == 64


def test_compute_losses_full_step(syn_lifter):
    lifter = syn_lifter
    lifter.zero_grad()
    w = lifter.sample_w(4, seed=0)
    total, terms = lifter.compute_losses(w, torch.Generator().manual_seed(0))
    assert set(terms) == set(lifter.recipe.enabled_losses())
    assert set(terms) == {"reconstruction", "flip", "perturbation_b", "perturbation_a", "cycle", "prior", "albedo_rank"}
    assert torch.isfinite(total) and total.requires_grad
    assert all(not v.requires_grad and torch.isfinite(v) for v in terms.values())
    manual = sum(lifter.loss_set.weights[k] * v for k, v in terms.items())
    assert torch.isclose(total.detach(), manual, rtol=1e-5)
    total.backward()
    for name in ("view_decoder", "light_decoder", "manipulation", "shape_decoder", "transform_decoder"):
        grads = [p.grad for n, p in lifter.named_parameters() if n.startswith(name)]
        assert any(g is not None and g.abs().sum() > 0 for g in grads), name
    # the same generator seed draws the same perturbation: identical losses
    again, _ = lifter.compute_losses(w, torch.Generator().manual_seed(0))
    assert torch.isclose(again, total)


def _grads_after(lifter, terms, w, seed=0):
    lifter.set_loss_set(LossSet(terms))
    try:
        lifter.zero_grad(set_to_none=True)
        total, _ = lifter.compute_losses(w, torch.Generator().manual_seed(seed))
        total.backward()
        return {n: p.grad for n, p in lifter.named_parameters()}
    finally:
        object.__setattr__(lifter, "_loss_set", None)


def _moved(grads, prefix):
    return any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith(prefix))


def test_perturbation_a_updates_only_the_manipulation_network(syn_lifter):
    d = ImageDistance(perceptual=None)
    grads = _grads_after(syn_lifter, {"perturbation_a": PerturbationA(d)}, syn_lifter.sample_w(4, seed=2))
    assert _moved(grads, "manipulation.")
    others = {n: g for n, g in grads.items() if not n.startswith("manipulation.")}
    assert others and all(g is None or g.abs().sum() == 0 for g in others.values())


def test_perturbation_b_trains_the_3d_components(syn_lifter):
    d = ImageDistance(perceptual=None)
    grads = _grads_after(syn_lifter, {"perturbation_b": PerturbationB(d)}, syn_lifter.sample_w(4, seed=2))
    for prefix in ("shape_decoder.", "view_decoder.", "light_decoder."):
        assert _moved(grads, prefix), prefix
    # the decoders read a detached w' here: (a) reaches M only through the canonical maps
    ctx = syn_lifter.loss_context(syn_lifter.sample_w(2, seed=3), torch.Generator().manual_seed(0))
    assert torch.autograd.grad(ctx.view_estimate.sum(), ctx.w_perturb, allow_unused=True)[0] is None
    assert torch.autograd.grad(ctx.view_estimate_m.sum(), ctx.w_perturb)[0].abs().sum() > 0


def test_cycle_trains_m_through_frozen_decoders(syn_lifter):
    w = syn_lifter.sample_w(4, seed=2)
    grads = _grads_after(syn_lifter, {"cycle": Cycle()}, w)
    assert _moved(grads, "manipulation.")
    assert not any(_moved(grads, p) for p in ("view_decoder.", "light_decoder.", "shape_decoder."))
    grads = _grads_after(syn_lifter, {"cycle": Cycle(train_decoders=True)}, w)
    assert _moved(grads, "manipulation.") and _moved(grads, "view_decoder.")


def test_neutral_cycle_trains_only_m_through_frozen_decoders(syn_lifter):
    lifter = copy.deepcopy(syn_lifter)
    _as_if_trained(lifter.manipulation)  # its zero-initialised last layers pass no gradient on
    w = lifter.sample_w(4, seed=2)
    grads = _grads_after(lifter, {"neutral_cycle": NeutralCycle()}, w)
    assert _moved(grads, "manipulation.")
    others = {n: g for n, g in grads.items() if not n.startswith("manipulation.")}
    assert others and all(g is None or g.abs().sum() == 0 for g in others.values())  # D_V, D_L too
    # it reads the decoders on the very w0 the rest of the step uses
    ctx = lifter.loss_context(w, torch.Generator().manual_seed(0), needs=set(NeutralCycle().requires))
    view, light = lifter.decode_view_light(ctx.w0)
    torch.testing.assert_close(ctx.view_estimate_neutral, view)
    torch.testing.assert_close(ctx.light_estimate_neutral, light)
    assert "w_perturb" not in ctx  # no perturbation is drawn for it


def _as_if_trained(manipulation: torch.nn.Module) -> None:
    """Move every weight of M a little: its zero-initialised last layers pass no gradient on."""
    with torch.no_grad():
        for p in manipulation.parameters():
            p.add_(0.05 * torch.randn_like(p))


def test_perturbation_can_leave_the_neutral_code_alone():
    teacher = ganlift.load_teacher("synthetic-faces", resolution=32)
    base = {**TINY, "lifter.resolution": 32, "losses.perturbation_a": 2.0}
    d = ImageDistance(perceptual=None)
    w = teacher.sample_w(4, seed=2)
    terms = {"perturbation_a": PerturbationA(d), "code_cycle": CodeCycle()}
    for (name, term), trains_neutral in itertools.product(terms.items(), (True, False)):
        torch.manual_seed(0)
        recipe = load_recipe("synthetic", {**base, "lifter.perturbation_trains_neutral": trains_neutral})
        lifter = Lifter(teacher, recipe)
        _as_if_trained(lifter.manipulation)
        grads = _grads_after(lifter, {name: term}, w)
        assert _moved(grads, "manipulation.edit."), name
        # skip and out form only the neutral code w0 in w' = w0 + edit
        assert _moved(grads, "manipulation.skip.") == trains_neutral, name
        assert _moved(grads, "manipulation.out.") == trains_neutral, name
        # the edit reads the embeddings it shares with w0
        assert _moved(grads, "manipulation.embed_w."), name
    with pytest.raises(ValueError, match="perturbation_trains_neutral"):
        load_recipe("synthetic", {"lifter.manipulation": "mlp", "lifter.perturbation_trains_neutral": False})


def test_the_delta_neutral_code_is_m_at_the_neutral_light_and_view(syn_lifter):
    """``neutral_code`` skips the edit term of the delta form, which is zero at the neutral
    light and view: it equals the whole M there up to rounding, for a trained-looking M."""
    from ganlift.render.shading import frontal_light

    lifter = copy.deepcopy(syn_lifter)
    assert lifter.manipulation.mode == "delta"
    _as_if_trained(lifter.manipulation)
    w = lifter.sample_w(5, seed=3)
    view, light = lifter.decode_view_light(w)
    with torch.no_grad():
        whole = lifter.manipulate(w, frontal_light(light[:, 0], light[:, 1]), torch.zeros_like(view),
                                  own=(view, light))
        w0 = lifter.neutral_code(w, view, light)
        w_p = lifter.manipulate(w, light, view + 10.0, own=(view, light))  # another view: an edit
    torch.testing.assert_close(w0, whole, atol=1e-5, rtol=1e-5)
    assert (w_p - w0).abs().max() > 1e-3  # the edit is not zero elsewhere, so the test sees it
    with pytest.raises(ValueError, match="mode 'delta'"):
        Lifter(lifter.teacher, load_recipe("synthetic", {**TINY, "lifter.manipulation": "mlp"})
               ).manipulation.neutral(w, light)


def test_a_separate_edit_shares_no_parameter_with_the_neutral_code():
    teacher = ganlift.load_teacher("synthetic-faces", resolution=32)
    overrides = {**TINY, "lifter.resolution": 32, "losses.perturbation_a": 2.0,
                 "lifter.perturbation_trains_neutral": False, "lifter.manipulation_separate_edit": True}
    torch.manual_seed(0)
    lifter = Lifter(teacher, load_recipe("synthetic", overrides))
    _as_if_trained(lifter.manipulation)
    grads = _grads_after(lifter, {"perturbation_a": PerturbationA(ImageDistance(perceptual=None))},
                         teacher.sample_w(4, seed=2))
    assert _moved(grads, "manipulation.edit.") and _moved(grads, "manipulation.edit_embeddings.")
    for prefix in ("skip.", "out.", "embed_w.", "embed_light.", "embed_view."):
        assert not _moved(grads, "manipulation." + prefix), prefix
    # changing the edit's embeddings changes w' but not w0; changing w0's changes both
    w = teacher.sample_w(3, seed=4)
    view, light = lifter.decode_view_light(w)
    view_p, light_p = lifter.perturbation(view, light, torch.Generator().manual_seed(1))

    def codes():
        with torch.no_grad():
            return lifter.neutral_code(w, view, light), lifter.manipulate(w, light_p, view_p, own=(view, light))

    w0, w_p = codes()
    with torch.no_grad():
        for p in lifter.manipulation.edit_embeddings.parameters():
            p.add_(0.1 * torch.randn_like(p))
    w0_edit, w_p_edit = codes()
    assert torch.equal(w0_edit, w0) and not torch.allclose(w_p_edit, w_p)
    with torch.no_grad():
        for p in lifter.manipulation.embed_w.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert not torch.allclose(codes()[0], w0)
    with pytest.raises(ValueError, match="manipulation_separate_edit"):
        load_recipe("synthetic", {"lifter.manipulation": "linear", "lifter.manipulation_separate_edit": True})


def test_code_cycle_trains_only_m_and_is_zero_for_an_identity_edit(syn_lifter):
    w = syn_lifter.sample_w(4, seed=2)
    grads = _grads_after(syn_lifter, {"code_cycle": CodeCycle()}, w)
    assert _moved(grads, "manipulation.")
    others = {n: g for n, g in grads.items() if not n.startswith("manipulation.")}
    assert others and all(g is None or g.abs().sum() == 0 for g in others.values())
    # an M that returns its input code for any view and light meets both parts exactly
    class Keep(torch.nn.Module):
        mode = "delta"

        def forward(self, w_norm, light_unit, view_unit, own_light_unit=None, neutral_grad=True):
            return w_norm

        def neutral(self, w_norm, own_light_unit):
            return w_norm

    lifter = copy.deepcopy(syn_lifter)
    lifter.manipulation = Keep()
    ctx = lifter.loss_context(w, torch.Generator().manual_seed(0), needs=set(CodeCycle().requires))
    assert torch.allclose(ctx.code_own, w, atol=1e-5) and torch.allclose(ctx.code_return, w, atol=1e-5)
    assert CodeCycle()(ctx) < 1e-8


def test_flip_renders_the_mirrored_transform_map_too(syn_lifter, monkeypatch):
    lifter = syn_lifter
    res = lifter.resolution

    def asymmetric(w_norm):  # T = 0 on the left background half, ~1 on the right
        logits = torch.zeros(w_norm.shape[0], 1, res, res)
        logits[..., : res // 2] = -30.0
        return logits

    def turned(w_norm):  # yaw 30 degrees, so T matters
        return torch.tensor([[0.0, 0.5, 0, 0, 0, 0]]).expand(w_norm.shape[0], -1)

    monkeypatch.setattr(lifter.transform_decoder, "forward", asymmetric)
    monkeypatch.setattr(lifter.view_decoder, "forward", turned)
    ctx = lifter.loss_context(lifter.sample_w(2, seed=4), torch.Generator().manual_seed(0))
    assert torch.allclose(ctx.view[:, 1], torch.tensor(30.0))
    with torch.no_grad():
        albedo, depth, t = flip_maps(ctx.albedo, ctx.depth, ctx.transform)
        mirrored = lifter.renderer.render(albedo, depth, t, ctx.view, ctx.light)
        stale = lifter.renderer.render(albedo, depth, ctx.transform, ctx.view, ctx.light)
    assert not torch.equal(t, ctx.transform)
    assert not torch.allclose(mirrored.image, stale.image, atol=1e-3)  # bug 8 would show
    assert torch.allclose(ctx.flipped.image, mirrored.image)


def test_context_computes_only_what_the_terms_read(syn_lifter):
    lifter = syn_lifter
    lifter.set_loss_set(LossSet({"reconstruction": Reconstruction(ImageDistance(perceptual=None))}))
    try:
        ctx = lifter.loss_context(lifter.sample_w(2, seed=5), torch.Generator().manual_seed(0))
        lifter.loss_set(ctx)
        assert "rendered" in ctx.computed()
        assert not {"flipped", "teacher_perturbed", "perturbed", "re_rendered"} & set(ctx.computed())
    finally:
        object.__setattr__(lifter, "_loss_set", None)
    grads = _grads_after(lifter, {"flip": Flip(ImageDistance(perceptual=None))}, lifter.sample_w(2, seed=5))
    assert _moved(grads, "shape_decoder.")


def test_perturbation_sampling_follows_the_recipe(syn_lifter):
    lifter = syn_lifter
    view = torch.zeros(64, 6)
    view[:, 3:] = 0.05
    light = torch.rand(64, 4)
    v, lt = lifter.perturbation(view, light, torch.Generator().manual_seed(0))
    pt = lifter.recipe.perturb
    assert v[:, 1].abs().max() <= pt.yaw and v[:, 1].abs().max() > pt.yaw * 0.8
    assert v[:, 0].abs().max() <= pt.pitch and torch.all(v[:, 2] == 0)
    assert torch.all(v[:, 3:] == 0.05)  # translations kept
    assert sorted(lt[:, 0].tolist()) == sorted(light[:, 0].tolist()) and not torch.equal(lt, light)
