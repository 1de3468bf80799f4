"""Gaussian prior on w: statistics, the paper's penalty, nll, state round trip."""

from __future__ import annotations

import math

import pytest
import torch

from ganlift import priors
from ganlift.priors.gaussian import GaussianPrior
from ganlift.teachers.base import Teacher
from ganlift.teachers.stylegan2 import random_stylegan2


@pytest.fixture(scope="module")
def teacher():
    return random_stylegan2(resolution=16, w_dim=24, n_mlp=2, w_mean_samples=2000)


class _NoStdTeacher(Teacher):
    """A teacher with a w_mean but no w_std: w = 2 + 3 * z."""

    z_dim = w_dim = 8
    num_ws, resolution, name = 1, 8, "affine"

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("w_mean", torch.full((1, 8), 2.0))

    def mapping(self, z):
        return 2.0 + 3.0 * z


def test_registered_and_uses_teacher_statistics(teacher):
    assert "gaussian" in priors.names()
    prior = priors.create("gaussian", teacher=teacher)
    assert isinstance(prior, GaussianPrior)
    assert torch.equal(prior.mean, teacher.w_mean) and torch.equal(prior.std, teacher.w_std)
    assert prior.variance.item() == pytest.approx(teacher.w_std.pow(2).mean().item())
    assert prior.config["w_dim"] == 24


def test_penalty_is_the_papers_term(teacher):
    prior = GaussianPrior(teacher)
    w = torch.randn(5, 24, generator=torch.Generator().manual_seed(0))
    var = teacher.w_std.pow(2).mean()
    per_code = (w - teacher.w_mean).pow(2).sum(-1) / (2 * var)  # ||w - mu||^2 / (2 sigma^2)
    assert prior.penalty(w, reduction="sum").item() == pytest.approx(per_code.mean().item(), rel=1e-5)
    assert prior.penalty(w).item() == pytest.approx(per_code.mean().item() / 24, rel=1e-5)
    assert prior(w).item() == pytest.approx(prior.penalty(w).item())
    assert prior.penalty(teacher.w_mean.expand(3, -1)).item() == 0.0
    # per-layer codes (B, L, w_dim) are accepted
    wp = w[:, None].expand(-1, 4, -1)
    assert prior.penalty(wp).item() == pytest.approx(prior.penalty(w).item(), rel=1e-6)
    # a typical prior sample scores about 1/2 per dimension
    samples = teacher.sample_w(2000, seed=5)
    assert prior.penalty(samples).item() == pytest.approx(0.5, abs=0.1)


def test_nll_matches_isotropic_normal(teacher):
    prior = GaussianPrior(teacher)
    w = teacher.sample_w(4, seed=1)
    sigma = prior.variance.sqrt()
    expected = -torch.distributions.Normal(prior.mean, sigma).log_prob(w).sum(-1)
    assert torch.allclose(prior.nll(w), expected, rtol=1e-5, atol=1e-4)
    assert prior.nll(w[:, None].expand(-1, 3, -1)).shape == (4, 3)
    assert not torch.isnan(prior.nll(w)).any()


def test_gradients_reach_w_not_the_statistics(teacher):
    prior = GaussianPrior(teacher)
    w = teacher.sample_w(3, seed=2).requires_grad_(True)
    prior.penalty(w).backward()
    expected = (w - prior.mean) / prior.variance / w.numel()
    assert torch.allclose(w.grad, expected.detach(), atol=1e-7)
    assert not prior.mean.requires_grad and list(prior.parameters()) == []


def test_state_round_trip(teacher):
    prior = GaussianPrior(teacher)
    blank = GaussianPrior(w_dim=24)
    w = teacher.sample_w(3, seed=3)
    assert blank.penalty(w).item() != pytest.approx(prior.penalty(w).item())
    blank.load_state_dict(prior.state_dict())
    assert set(prior.state_dict()) == {"mean", "std"}
    assert blank.penalty(w).item() == prior.penalty(w).item()


def test_estimated_std_is_seeded():
    t = _NoStdTeacher()
    a = GaussianPrior(t, samples=5000, seed=1)
    b = GaussianPrior(t, samples=5000, seed=1)
    c = GaussianPrior(t, samples=5000, seed=2)
    assert torch.equal(a.std, b.std) and not torch.equal(a.std, c.std)
    assert torch.equal(a.mean, t.w_mean)
    assert a.std.mean().item() == pytest.approx(3.0, rel=0.05)


def test_explicit_statistics_and_errors():
    p = GaussianPrior(mean=torch.zeros(4), std=torch.full((4,), 2.0))
    assert p.variance.item() == 4.0
    assert p.penalty(torch.full((2, 4), 2.0)).item() == pytest.approx(0.5)
    x = p.sample(10000, seed=0)
    assert x.std().item() == pytest.approx(2.0, rel=0.05)
    assert torch.equal(p.sample(3, seed=1), p.sample(3, seed=1))
    with pytest.raises(ValueError, match=r"\(B, 4\)"):
        p.penalty(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="teacher, a mean, or w_dim"):
        GaussianPrior()
    with pytest.raises(ValueError, match="positive"):
        GaussianPrior(mean=torch.zeros(2), std=torch.tensor([1.0, 0.0]))
    with pytest.raises(ValueError, match="NaN"):
        GaussianPrior(mean=torch.tensor([0.0, math.nan]))
    with pytest.raises(ValueError, match="reduction"):
        p.penalty(torch.zeros(1, 4), reduction="max")
