"""M turning w itself (``lifter.perturbation_base = "own"``) and M's warm-up on the view cycle."""

from __future__ import annotations

import copy

import pytest
import torch

import ganlift
from ganlift.lifter import Lifter
from ganlift.lifter.networks import StyleManipulation
from ganlift.recipe import load_recipe
from test_lifter import TINY as LIFTER_TINY

TINY = {**LIFTER_TINY, "lifter.resolution": 32}
FULL = {"losses.perturbation_a": {"weight": 2.0, "start": 3, "ramp": 2},
        "losses.perturbation_b": {"weight": 2.0, "start": 5},
        "losses.cycle": {"weight": 4.0, "start": 4}}


def _randomise(module: torch.nn.Module, scale: float = 0.05) -> None:
    """Move every weight off its initial value (the edit's last layer starts at zero)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))


@pytest.fixture(scope="module")
def teacher():
    return ganlift.load_teacher("synthetic-faces", resolution=32)


def _lifter(teacher, init_seed: int = 0, **overrides) -> Lifter:
    torch.manual_seed(init_seed)
    return Lifter(teacher, load_recipe("synthetic", {**TINY, "lifter.perturbation_base": "own", **overrides}))


def test_turn_is_w_for_its_own_view_and_an_edit_in_the_basis_otherwise():
    m = StyleManipulation(16, 24, mode="delta", rank=3)
    _randomise(m)
    w = torch.randn(5, 16)
    light, view = torch.rand(5, 4) * 2 - 1, torch.rand(5, 6) * 0.5
    torch.testing.assert_close(m.turn(w, light, view, light, view), w, atol=1e-6, rtol=0)
    moved = m.turn(w, light, view + 0.3, light, view) - w
    assert moved.abs().max() > 1e-3
    # the move lies in the span of the basis: nothing outside it remains after projecting
    q = torch.linalg.qr(m.basis.detach())[0]
    torch.testing.assert_close(moved - moved @ q @ q.T, torch.zeros_like(moved), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="mode 'delta'"):
        StyleManipulation(16, 24, mode="linear").turn(w, light, view, light, view)


def test_edit_parameters_leave_the_neutral_code_alone():
    for separate in (False, True):
        m = StyleManipulation(16, 24, mode="delta", rank=3, separate_edit=separate)
        _randomise(m)
        w, light = torch.randn(4, 16), torch.rand(4, 4) * 2 - 1
        w0 = m.neutral(w, light).detach()
        edit_ids = {id(p) for p in m.edit_parameters()}
        assert {id(p) for p in m.edit.parameters()} <= edit_ids and id(m.basis) in edit_ids
        assert not edit_ids & {id(p) for p in m.out.parameters()}
        assert bool(edit_ids & {id(p) for p in m.edit_embeddings.parameters()}) if separate else True
        with torch.no_grad():
            for p in m.edit_parameters():
                p.add_(0.3 * torch.randn_like(p))
        assert torch.equal(m.neutral(w, light), w0)


def test_the_own_base_keeps_w_for_its_own_view_and_differs_from_the_neutral_base(teacher):
    lifter = _lifter(teacher)
    _randomise(lifter.manipulation)
    w = lifter.sample_w(4, seed=3)
    with torch.no_grad():
        view, light = lifter.decode_view_light(w)
        torch.testing.assert_close(lifter.manipulate(w, light, view, own=(view, light)), w, atol=1e-4, rtol=1e-5)
        turned = lifter.manipulate(w, light, view + torch.tensor([10.0, 20.0, 0, 0, 0, 0]), own=(view, light))
        lifter.recipe.lifter.perturbation_base = "neutral"
        from_w0 = lifter.manipulate(w, light, view + torch.tensor([10.0, 20.0, 0, 0, 0, 0]), own=(view, light))
        w0_own = lifter.manipulate(w, light, view, own=(view, light))
    # the neutral base turns w0, which is not w: asked for w's own view, it does not return w
    assert (w0_own - w).abs().max() > 1e-2
    assert (turned - from_w0).abs().max() > 1e-2


def test_the_own_base_does_not_train_the_decoders_through_m(teacher):
    lifter = _lifter(teacher)
    _randomise(lifter.manipulation)
    w = lifter.sample_w(4, seed=3)
    view, light = lifter.decode_view_light(w)
    lifter.manipulate(w, light, view.detach() + 5.0, own=(view, light)).square().sum().backward()
    assert all(p.grad is None for p in lifter.view_decoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in lifter.manipulation.edit.parameters())


@pytest.mark.parametrize("overrides", [{"lifter.perturbation_base": "w"},
                                       {"lifter.perturbation_base": "own", "lifter.manipulation": "mlp"},
                                       {"perturb.warmup_steps": -1},
                                       {"perturb.warmup_batch": 0},
                                       {"perturb.warmup_steps": 5, "lifter.manipulation": "linear"}])
def test_recipe_refuses_bad_perturbation_settings(overrides):
    key = next(iter(overrides))
    with pytest.raises(ValueError, match=key.split(".")[1]):
        load_recipe("synthetic", overrides)


def test_the_warm_up_runs_at_the_first_perturbation_step(teacher):
    assert _lifter(teacher, **FULL).manipulation_warmup_step() is None  # warmup_steps = 0
    lifter = _lifter(teacher, **FULL, **{"perturb.warmup_steps": 4})
    assert lifter.manipulation_warmup_step() == 3  # perturbation_a starts first
    assert _lifter(teacher, **{"perturb.warmup_steps": 4}).manipulation_warmup_step() is None  # no such term
    calls = []
    lifter.warm_up_manipulation = lambda *args, **kwargs: calls.append(args)
    assert [lifter.prepare_step(s, seed=0) for s in range(6)] == [False, False, False, True, False, False]
    assert len(calls) == 1 and calls[0][:3] == (4, 32, 1e-3)


class _LinearView(torch.nn.Module):
    """A view decoder reading each unit view component along a fixed direction of w."""

    def __init__(self, w_dim: int) -> None:
        super().__init__()
        self.read = torch.nn.Linear(w_dim, 6, bias=False)
        with torch.no_grad():
            self.read.weight.copy_(0.02 * torch.randn(6, w_dim, generator=torch.Generator().manual_seed(2)))

    def forward(self, w_norm: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.read(w_norm))


def test_the_warm_up_teaches_m_the_requested_view_and_changes_nothing_else(teacher):
    lifter = _lifter(teacher)
    lifter.view_decoder = _LinearView(lifter.w_dim)  # reads a view from w, like a trained D_V
    names = {n for n, p in lifter.named_parameters() if any(p is q for q in lifter.manipulation.edit_parameters())}
    before = {n: p.detach().clone() for n, p in lifter.named_parameters()}

    def error() -> float:
        w = lifter.sample_w(64, seed=9)
        with torch.no_grad():
            view, light = lifter.decode_view_light(w)
            view_p, _ = lifter.perturbation(view, light, torch.Generator().manual_seed(4))
            read, _ = lifter.decode_view_light(lifter.manipulate(w, light, view_p, own=(view, light)))
        return float((read - view_p)[:, :2].abs().mean())

    start = error()
    last = lifter.warm_up_manipulation(300, 16, 1e-2, torch.Generator().manual_seed(0))
    assert error() < 0.7 * start and last > 0  # measured: 0.51
    moved = {n for n, p in lifter.named_parameters() if not torch.equal(p, before[n])}
    assert moved <= names and "manipulation.basis" in moved and len(moved) > len(names) // 2
    assert all(p.grad is None for p in lifter.parameters())


def test_an_interrupted_warm_up_leaves_m_as_it_was(teacher):
    lifter = _lifter(teacher)
    before = copy.deepcopy(lifter.state_dict())
    decode, calls = lifter.decode_view_light, []

    def decode_then_stop(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return decode(*args, **kwargs)

    lifter.decode_view_light = decode_then_stop
    with pytest.raises(KeyboardInterrupt):
        lifter.warm_up_manipulation(10, 8, 1e-2, torch.Generator().manual_seed(0))
    after = lifter.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_a_lift_with_the_warm_up_resumes_exactly(teacher, tmp_path):
    from ganlift.train import TrainSettings, train

    overrides = {**FULL, "perturb.warmup_steps": 6, "perturb.warmup_batch": 4, "train.batch_size": 2}

    def run(steps: int, out, init_seed: int = 0):
        lifter = _lifter(teacher, init_seed, **overrides)
        settings = TrainSettings(steps=steps, batch_size=2, lr=1e-3, seed=3, log_every=1, sample_every=0,
                                 checkpoint_every=1)
        train(lifter, teacher, settings, out=out, device="cpu", progress=False)
        return lifter

    whole = run(6, tmp_path / "whole")
    run(3, tmp_path / "split")  # stops before step 3, the warm-up's step
    resumed = run(6, tmp_path / "split", init_seed=5)  # other initial weights: all come from the checkpoint
    a, b = whole.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
