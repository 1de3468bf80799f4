"""Pseudo ground truth: the analysis-by-synthesis fitter and the PseudoTruth teacher wrapper."""

from __future__ import annotations

import pytest
import torch

import ganlift
from ganlift.eval import FitMismatchError, PseudoTruth, TruthPredictor, evaluate, fit_synthetic, format_metrics
from ganlift.eval.metrics import angle_errors, depth_error
from ganlift.teachers.stylegan2 import random_stylegan2

RES = 32
FAST = {"steps": 30, "refine": 0, "candidates": 64}  # one stage at 32 px


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return ganlift.load_teacher("synthetic-faces", resolution=RES, seed=0, w_mean_samples=2048)


@pytest.fixture(scope="module")
def gan():
    return random_stylegan2(resolution=RES, w_dim=32, seed=0, w_mean_samples=256)


def errors(model, w, codes):
    true, est = model.ground_truth(w), model.ground_truth(codes)
    depth = depth_error(est["posed_depth"], true["posed_depth"], true["posed_mask"]).mean()
    yaw = (est["view"][:, 1] - true["view"][:, 1]).abs().mean()
    return float(depth), float(yaw)


def test_fit_recovers_depth_and_pose(model):
    w = model.sample_w(4, seed=1)
    images = model.synthesis(w)
    fit = fit_synthetic(model, images, seed=0, progress=False, **FAST)
    assert fit.codes.shape == (4, model.w_dim) and fit.residual.shape == (4,)
    start = fit_synthetic(model, images, seed=0, progress=False, **{**FAST, "steps": 0})
    depth, yaw = errors(model, w, fit.codes)
    depth0, yaw0 = errors(model, w, start.codes)
    assert depth < 0.3 and yaw < 4.0
    assert depth < depth0 and yaw < yaw0  # the optimisation, not the start, does the work
    assert float(fit.residual.mean()) < float(start.residual.mean())
    assert fit.settings["steps"] == 30 and fit.settings["seed"] == 0


def test_fit_is_seeded(model):
    images = model.synthesis(model.sample_w(2, seed=3))
    a = fit_synthetic(model, images, seed=0, progress=False, steps=3, refine=0, candidates=16)
    b = fit_synthetic(model, images, seed=0, progress=False, steps=3, refine=0, candidates=16)
    assert torch.equal(a.codes, b.codes)


def test_fit_checks_arguments(model):
    good = torch.zeros(1, 3, RES, RES)
    with pytest.raises(ValueError, match="images"):
        fit_synthetic(model, torch.zeros(1, 3, 16, 16), progress=False)
    with pytest.raises(TypeError, match="model"):
        fit_synthetic("synthetic-faces", good, progress=False)
    with pytest.raises(ValueError, match="space"):
        fit_synthetic(model, good, space="z", progress=False)
    with pytest.raises(TypeError, match="unknown fitter option"):
        fit_synthetic(model, good, step=3, progress=False)


def test_pseudo_truth_in_evaluate(model, gan):
    truth = PseudoTruth(gan, model, progress=False, **{**FAST, "steps": 4})
    predictor = _GanCodes(truth, TruthPredictor(model))
    metrics = evaluate(predictor, truth, n=4, seed=0, batch_size=4, yaws=(0.0,), light_directions={"front": (0, 0)})
    assert metrics["pseudo"] is True
    assert set(metrics["pseudo_truth"]) >= {"residual_median", "residual_mean"}
    assert metrics["teacher"]["pseudo_truth"]["steps"] == 4
    assert metrics["depth"] < 1e-3 and metrics["yaw"] < 1e-3  # it predicts the pseudo truth itself
    assert metrics["recon_l1"] > 0.01  # ... but is compared with the GAN's image
    assert truth.fit_calls == 1  # ground_truth and every render_truth reuse the one fit
    assert "PSEUDO ground truth" in format_metrics(metrics)
    # With no view or light, the truth image is the GAN's own image, the mask the fitted one.
    w = truth.sample_w(4, seed=0)
    out = truth.render_truth(w)
    assert torch.allclose(out["image"], gan.synthesis(w))
    assert torch.equal(out["mask"], model.render_truth(truth.fitted_codes(w))["mask"])


class _GanCodes:
    """Predicts from GAN codes by reading the fitted synthetic code's truth (a perfect lifter
    of the pseudo truth: its depth and angle errors must be 0)."""

    def __init__(self, truth, inner):
        self.truth, self.inner, self.renderer = truth, inner, inner.renderer

    def predict(self, w):
        return self.inner.predict(self.truth.fitted_codes(w))


def test_cache_per_code(model, gan):
    truth = PseudoTruth(gan, model, progress=False, steps=2, refine=0, candidates=8)
    w = truth.sample_w(4, seed=0)
    truth.ground_truth(w[:2])
    assert truth.fit_calls == 1
    truth.ground_truth(w[:2])
    truth.render_truth(w[:2], view=torch.zeros(6))
    assert truth.fit_calls == 1
    truth.ground_truth(w)  # only the two new codes are fitted
    assert truth.fit_calls == 2 and len(truth._codes) == 4


def test_save_load_round_trip_and_mismatch(model, gan, tmp_path):
    truth = PseudoTruth(gan, model, progress=False, steps=2, refine=0, candidates=8)
    path = truth.save_fits(tmp_path / "fits.safetensors", n=3, seed=0)
    again = PseudoTruth(gan, model, progress=False, steps=2, refine=0, candidates=8)
    assert again.load_fits(path) == 3
    w = again.sample_w(3, seed=0)
    assert torch.equal(again.fitted_codes(w), truth.fitted_codes(w)) and again.fit_calls == 0
    assert torch.allclose(again.residuals(w), truth.residuals(w))

    other_model = ganlift.load_teacher("synthetic-cats", resolution=RES, seed=0, w_mean_samples=2048)
    with pytest.raises(FitMismatchError, match="model"):
        PseudoTruth(gan, other_model, progress=False).load_fits(path)
    other_gan = random_stylegan2(resolution=RES, w_dim=32, seed=1, w_mean_samples=256)
    with pytest.raises(FitMismatchError, match="GAN codes"):
        PseudoTruth(other_gan, model, progress=False).load_fits(path)
    wide = ganlift.load_teacher("synthetic-faces", resolution=RES, seed=0, w_mean_samples=2048, w_dim=80)
    with pytest.raises(FitMismatchError, match="shape"):
        PseudoTruth(gan, wide, progress=False).load_fits(path)


def test_load_checks_gan_sha(model, gan, tmp_path, monkeypatch):
    truth = PseudoTruth(gan, model, progress=False, steps=2, refine=0, candidates=8)
    monkeypatch.setattr(truth, "_gan_sha", lambda: "a" * 64)
    path = truth.save_fits(tmp_path / "fits.safetensors", n=2, seed=0)
    again = PseudoTruth(gan, model, progress=False)
    monkeypatch.setattr(again, "_gan_sha", lambda: "b" * 64)
    with pytest.raises(FitMismatchError, match="sha256"):
        again.load_fits(path)
