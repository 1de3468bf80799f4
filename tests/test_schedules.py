"""Loss schedules (start, ramp), the eq. 4 names, relief depth and the recipe chooser."""

import warnings

import pytest
import torch

import ganlift
from ganlift.lifter.networks import depth_from_logits, depth_prior_logits
from ganlift.losses import LossContext, LossSet
from ganlift.losses.base import LossTerm
from ganlift.recipe import choose_recipe, load_recipe


class Const(LossTerm):
    requires = ("needs_const",)

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value
        self.calls = 0

    def forward(self, ctx):
        self.calls += 1
        return torch.tensor(self.value)


def test_schedule_switches_on_at_start_and_ramps_linearly():
    a, b = Const(1.0), Const(10.0)
    ls = LossSet({"a": a, "b": b}, {"a": 1.0, "b": 2.0}, {"b": (10, 4)})
    assert [ls.weight_at("b", s) for s in (0, 9, 10, 11, 13, 14, 100)] == [0, 0, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert ls.weight_at("b", None) == 2.0  # no step: the full weight
    assert ls.active(5) == ["a"] and ls.active(10) == ["a", "b"]
    assert ls.requires(5) == {"needs_const"}
    total, terms = ls(LossContext(), step=5)
    assert b.calls == 0 and float(total) == 1.0 and float(terms["b"]) == 0.0  # not evaluated
    total, _ = ls(LossContext(), step=11)
    assert b.calls == 1 and float(total) == pytest.approx(1.0 + 1.0 * 10.0)
    with pytest.raises(ValueError, match="no loss term is switched on at step 0"):
        LossSet({"b": Const(1.0)}, schedules={"b": (3, 0)})(LossContext(), step=0)
    with pytest.raises(ValueError, match="start >= 0"):
        LossSet({"a": Const(1.0)}, schedules={"a": (-1, 0)})


def test_recipe_schedules_reach_the_loss_set_and_are_validated():
    recipe = load_recipe("synthetic-full")
    ls = LossSet.from_recipe(recipe)
    assert ls.schedules["perturbation_b"] == (100, 100) and ls.schedules["reconstruction"] == (0, 0)
    assert "perturbation_a" not in ls.active(99) and "perturbation_a" in ls.active(100)
    # before the start, a step computes no perturbation at all
    assert not {"teacher_perturbed", "re_rendered", "perturbed_target"} & ls.requires(50)
    assert {"teacher_perturbed", "re_rendered", "perturbed_target"} <= ls.requires(100)
    over = load_recipe("synthetic-full", {"losses.cycle.start": 7})
    assert over.losses["cycle"]["start"] == 7 and over.losses["cycle"]["ramp"] == 100
    with pytest.raises(ValueError, match="start must be a step count >= 0"):
        load_recipe("synthetic", {"losses.cycle.start": -3})
    with pytest.raises(ValueError, match="ramp must be a int"):
        load_recipe("synthetic", {"losses.cycle.ramp": 1.5})


def test_old_perturbation_keys_load_under_the_eq4_names_with_a_warning():
    with pytest.warns(DeprecationWarning, match="'perturb_a' is now called 'perturbation_b'"):
        recipe = load_recipe("synthetic", {"losses": {"perturb_a": 0.0, "perturb_b": 3.0}})
    assert recipe.losses["perturbation_b"]["weight"] == 0.0  # the old key wins: it was on top
    assert recipe.losses["perturbation_a"]["weight"] == 3.0
    assert "perturb_a" not in recipe.losses
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_recipe("synthetic")  # the shipped recipes use the new names


def test_training_step_skips_what_is_not_yet_switched_on():
    teacher = ganlift.load_teacher("synthetic-faces", resolution=16)
    lifter = ganlift.Lifter(teacher, load_recipe("synthetic-full", {
        "lifter.resolution": 16, "lifter.mlp_width": 16, "lifter.decoder_width": 16,
        "lifter.decoder_min_width": 8, "teacher.prior_samples": 200}))
    calls = []
    real = teacher.synthesis
    teacher.synthesis = lambda w, **kw: calls.append(w.shape[0]) or real(w, **kw)
    w = lifter.sample_w(3, seed=0)
    _, early = lifter.compute_losses(w, torch.Generator().manual_seed(0), step=0)
    assert calls == [3, 3]  # G(w) and G(w0)
    assert float(early["perturbation_b"]) == 0
    calls.clear()
    total, late = lifter.compute_losses(w, torch.Generator().manual_seed(0), step=500)
    assert calls == [3, 3, 3]  # G(w), G(w0) and G(w')
    assert float(late["perturbation_b"]) > 0 and float(late["cycle"]) > 0
    total.backward()


def test_relief_depth_lies_in_front_of_the_background():
    logits = torch.randn(2, 1, 16, 16) * 6
    depth = depth_from_logits(logits, (0.9, 1.1), 1.05, border_columns=0, mode="relief")
    assert depth.max() <= 1.05 and depth.min() >= 0.9
    prior = depth_prior_logits(16, 0.08, 0.2, (0.9, 1.1), 1.05, mode="relief")
    dome = depth_from_logits(prior, (0.9, 1.1), 1.05, border_columns=0, mode="relief")
    assert 1.05 - dome.min() == pytest.approx(0.08, abs=0.01)  # the dome's relief
    assert (1.05 - dome[..., 0, 0]).item() < 0.003  # a corner: about on the background plane
    with pytest.raises(ValueError, match="depth mode must be one of"):
        depth_prior_logits(16, 0.08, mode="other")
    with pytest.raises(ValueError, match="depth_mode must be 'range' or 'relief'"):
        load_recipe("synthetic", {"lifter.depth_mode": "hollow"})


class _T:
    def __init__(self, name, resolution):
        self.name, self.resolution = name, resolution


def test_choose_recipe_by_resolution_and_category():
    assert choose_recipe(_T("my-gan", 64))[0] == "synthetic"
    assert choose_recipe(_T("afhq-cat", 64))[0] == "synthetic-cats"
    assert choose_recipe(_T("ffhq-256", 256))[0] == "faces"
    name, why = choose_recipe(_T("lsun-car", 512))
    assert name == "cats" and "without the face-identity term" in why
    assert ganlift.recipe.recommended_recipe(_T("stylegan2-cars", 256)) == "cats"


def test_perturbation_terms_can_compare_at_a_coarser_scale():
    from ganlift.losses.distance import ImageDistance
    from ganlift.losses.terms import PerturbationB
    from ganlift.render.base import Rendered

    d = ImageDistance(perceptual=None)
    fine = torch.zeros(1, 3, 8, 8)
    fine[..., ::2] = 1.0  # a pattern finer than 2 pixels: averages out at half resolution
    grey = torch.full((1, 3, 8, 8), 0.5, requires_grad=True)
    ones = torch.ones(1, 1, 8, 8)
    z = torch.zeros(1, 1, 8, 8)
    ctx = LossContext(re_rendered=Rendered(grey, ones, z, torch.zeros(1, 3, 8, 8), z), teacher_perturbed=fine)
    assert float(PerturbationB(d)(ctx)) == pytest.approx(0.5)
    coarse = PerturbationB(d, downsample=2)(ctx)
    assert float(coarse) == pytest.approx(0.0, abs=1e-6)
    coarse.backward()
    assert grey.grad is not None  # still trains the render
    with pytest.raises(ValueError, match="downsample must be an integer >= 1"):
        PerturbationB(d, downsample=0)
    recipe = load_recipe("synthetic-full", {"losses.perturbation_b.downsample": 2})
    assert LossSet.from_recipe(recipe).terms["perturbation_b"].downsample == 2
