"""benchmarks/view_shape.py: the tilt and regression figures it prints are what they say."""

import importlib.util
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "view_shape.py"


@pytest.fixture(scope="module")
def view_shape():
    spec = importlib.util.spec_from_file_location("view_shape", PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _disc(size: int = 32) -> torch.Tensor:
    lin = torch.linspace(-1, 1, size)
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    return ((xx**2 + yy**2) < 0.6).float()[None, None]


def test_tilt_of_a_ramp_is_its_normalised_slope(view_shape):
    mask = _disc()
    rows = torch.linspace(-1, 1, 32).view(1, 1, 32, 1).expand(1, 1, 32, 32)
    for k in (0.5, -2.0):
        depth = 1.0 + 0.01 * k * rows  # a plane: its normalised slope is 1 / the rows' spread
        spread = view_shape.centred_rows(mask).pow(2).sum().div(mask.sum()).sqrt()
        expected = torch.sign(torch.tensor(k)) / spread
        assert view_shape.tilt(depth, mask).item() == pytest.approx(expected.item(), rel=1e-4)
    # a left-right bump has no vertical tilt
    cols = torch.linspace(-1, 1, 32).view(1, 1, 1, 32).expand(1, 1, 32, 32)
    assert abs(view_shape.tilt(1.0 - 0.05 * cols.abs(), mask).item()) < 1e-5


def test_normalised_matches_the_depth_error(view_shape):
    from ganlift.eval.metrics import depth_error, normalised_depth

    g = torch.Generator().manual_seed(0)
    mask = _disc().expand(3, 1, 32, 32)
    a, b = torch.rand(3, 1, 32, 32, generator=g), torch.rand(3, 1, 32, 32, generator=g)
    diff = normalised_depth(a, mask) - normalised_depth(b, mask)
    assert torch.allclose(view_shape.rms(diff, mask), depth_error(a, b, mask), atol=1e-5)


def test_regression_slope_and_correlation(view_shape):
    true = torch.linspace(-3, 3, 50)
    slope, corr = view_shape.regression(0.7 * true + 2.0, true)
    assert slope == pytest.approx(0.7, rel=1e-5) and corr == pytest.approx(1.0, abs=1e-5)
    noise = torch.tensor([(-1.0) ** i for i in range(50)])
    slope, corr = view_shape.regression(noise, true)
    assert abs(slope) < 0.05 and abs(corr) < 0.1


def test_diagnose_on_a_tiny_lifter(view_shape):
    from tiny_lifter import tiny_lifter

    res = view_shape.diagnose(tiny_lifter().eval(), n=8, batch=4)
    assert set(res["view"]) == set(view_shape.VIEW_NAMES)
    assert set(res["light"]) == set(view_shape.LIGHT_NAMES)
    # the shear taken out can only lower the error (a least-squares fit per sample)
    assert res["canonical_own_tilt_out"] <= res["canonical"] + 1e-6
