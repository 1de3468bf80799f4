"""ganlift.gan: the small StyleGAN2 trainer (a few steps of a tiny GAN; never a real training run)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import ganlift
from ganlift.gan import Discriminator, GanSettings, GanTrainer, ImageFolder, train_gan
from ganlift.gan.trainer import r1_penalty

TINY = dict(data="synthetic-faces", resolution=16, batch_size=4, z_dim=16, w_dim=16, n_mlp=2,
            g_channels={4: 16, 8: 16, 16: 8}, d_channels={4: 16, 8: 16, 16: 8}, r1_every=2,
            sample_every=0, checkpoint_every=2, seed=3)


def _tiny(**changes) -> GanSettings:
    return GanSettings(**{**TINY, **changes})


def test_discriminator_shapes_and_errors():
    d = Discriminator(16, {4: 8, 8: 8, 16: 4})
    assert d(torch.randn(5, 3, 16, 16)).shape == (5,)  # 5 does not divide the mbstd group
    with pytest.raises(ValueError, match=r"\(B, 3, 16, 16\)"):
        d(torch.randn(2, 3, 32, 32))
    with pytest.raises(ValueError, match="no width for resolution"):
        Discriminator(16, {4: 8, 16: 4})
    with pytest.raises(ValueError, match="power of two"):
        Discriminator(24)


def test_r1_penalty_matches_the_gradient_norm():
    d = Discriminator(8, {4: 4, 8: 4})
    x = torch.randn(3, 3, 8, 8)
    xr = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(xr).sum(), xr)
    assert torch.allclose(r1_penalty(d, x), grad.pow(2).flatten(1).sum(1).mean(), rtol=1e-5)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="batch_size"):
        _tiny(batch_size=0)
    with pytest.raises(ValueError, match="mixing"):
        _tiny(mixing=1.5)
    with pytest.raises(ValueError, match="unknown GAN setting"):
        GanSettings.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="registered teacher"):
        GanTrainer(_tiny(data="no-such-thing"))


def test_steps_update_both_networks_and_the_ema():
    t = GanTrainer(_tiny())
    g0 = {k: v.clone() for k, v in t.g.state_dict().items()}
    d0 = {k: v.clone() for k, v in t.d.state_dict().items()}
    e0 = {k: v.clone() for k, v in t.g_ema.state_dict().items()}
    losses = [t.step() for _ in range(2)]
    assert all(np.isfinite(list(l.values())).all() for l in losses)
    assert losses[0]["r1"] > 0 and losses[1]["r1"] == 0  # lazy R1 on even steps only
    changed = lambda before, net: any(not torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert changed(g0, t.g) and changed(d0, t.d) and changed(e0, t.g_ema)
    # The EMA lags the generator: it moved, but is not the generator.
    key = "conv1.conv.weight"
    assert not torch.equal(t.g_ema.state_dict()[key], t.g.state_dict()[key])
    assert not any(p.requires_grad for p in t.g_ema.parameters())


def test_exact_resume_and_export(tmp_path):
    straight = train_gan(_tiny(steps=4), tmp_path / "a", progress=False)
    train_gan(_tiny(steps=2), tmp_path / "b", progress=False)
    resumed = train_gan(_tiny(steps=4), tmp_path / "b", progress=False)
    for name in ("g", "d", "g_ema"):
        a, b = getattr(straight, name).state_dict(), getattr(resumed, name).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), name
    # The exported G_ema loads as a teacher like any user checkpoint.
    teacher = ganlift.load_teacher(str(tmp_path / "a" / "teacher"))
    assert teacher.resolution == 16 and teacher.num_ws == 6
    w = teacher.sample_w(2, seed=0)
    assert torch.allclose(teacher.synthesis(w), straight.g_ema.synthesis(w), atol=1e-6)
    assert teacher.reference()["source"]["images_seen"] == 16
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["steps"] == 4 and summary["images_seen"] == 16
    assert len((tmp_path / "a" / "log.jsonl").read_text().splitlines()) == 4


def test_resume_refuses_other_settings(tmp_path):
    train_gan(_tiny(steps=2), tmp_path, progress=False)
    with pytest.raises(ValueError, match="lr: 0.002 there, 0.001 here"):
        train_gan(_tiny(steps=3, lr=0.001), tmp_path, progress=False)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        train_gan(_tiny(steps=3), tmp_path, resume=False, progress=False)
    fresh = train_gan(_tiny(steps=1, lr=0.001), tmp_path, overwrite=True, progress=False)
    assert fresh.step_count == 1
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 1  # the old run's log is gone


def test_interrupt_saves_the_last_completed_step(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = GanTrainer.step

    def step(self):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(GanTrainer, "step", step)
    with pytest.raises(KeyboardInterrupt):
        train_gan(_tiny(steps=5, checkpoint_every=100), tmp_path, progress=False)
    monkeypatch.setattr(GanTrainer, "step", original)
    assert GanTrainer(_tiny()).load(tmp_path / "checkpoint.pt") is None
    t = GanTrainer(_tiny())
    t.load(tmp_path / "checkpoint.pt")
    assert t.step_count == 2


def test_image_folder(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((20, 30, 3), 40 * i, np.uint8)).save(tmp_path / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    source = ImageFolder(tmp_path, 16)
    batch = source.batch(5, torch.Generator().manual_seed(0))
    assert batch.shape == (5, 3, 16, 16) and batch.min() >= -1 and batch.max() <= 1
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="bad.png"):
        ImageFolder(tmp_path, 16)
    with pytest.raises(ValueError, match="no image files"):
        ImageFolder(_empty(tmp_path), 16)


def _empty(root):
    folder = root / "empty"
    folder.mkdir()
    return folder


def test_packaged_zoo_teacher_with_pseudo_truth(tmp_path, monkeypatch):
    """A GAN shipped in the package: hash-checked loading, and evaluation on stored fits."""
    from ganlift import zoo
    from ganlift.eval import evaluate
    from ganlift.eval.pseudo import PseudoTruth, pseudo_truth_for
    from ganlift.teachers import TEACHERS
    from ganlift.teachers.reference import TeacherMismatchError
    from ganlift.utils.io import sha256_file

    trainer = train_gan(_tiny(steps=1), tmp_path / "run", progress=False)
    weights = tmp_path / "weights"
    weights.mkdir()
    (weights / "tiny-gan.safetensors").write_bytes((tmp_path / "run" / "teacher" / "teacher.safetensors").read_bytes())
    monkeypatch.setattr(zoo, "PACKAGED_DIR", weights)
    gan = ganlift.load_teacher(str(weights / "tiny-gan.safetensors"))
    fast = {"steps": 2, "refine": 2, "coarse": 8, "restarts": 1, "candidates": 8}
    PseudoTruth(gan, "synthetic-faces", progress=False, **fast).save_fits(
        weights / "tiny-gan.fits.safetensors", n=4, seed=0)
    entry = zoo.ZooEntry(name="tiny-gan-test", description="test", resolution=16, recipe="synthetic",
                         license="MIT", format="packaged", filename="tiny-gan.safetensors",
                         sha256=sha256_file(weights / "tiny-gan.safetensors"),
                         pseudo_truth={"model": "synthetic-faces", "fits": "tiny-gan.fits.safetensors"})
    try:
        zoo.register_entry(entry)
        teacher = ganlift.load_teacher("tiny-gan-test")
        assert teacher.reference()["sha256"] == entry.sha256 and teacher.reference()["name"] == "tiny-gan-test"
        w = teacher.sample_w(2, seed=0)
        assert torch.allclose(teacher.synthesis(w), trainer.g_ema.synthesis(w), atol=1e-6)
        truth = pseudo_truth_for(teacher, progress=False)
        assert truth is not None and truth.fit_calls == 0
        metrics = evaluate(_FlatOf(teacher), teacher, n=4, batch_size=4, yaws=(0.0,), light_directions={})
        assert metrics["pseudo"] is True and "residual_median" in metrics["pseudo_truth"]
        # A changed file is refused, naming both hashes.
        with open(weights / "tiny-gan.safetensors", "r+b") as fh:
            fh.seek(-4, 2)
            fh.write(b"\x00\x00\x00\x00")
        with pytest.raises(TeacherMismatchError, match="sha256 mismatch"):
            ganlift.load_teacher("tiny-gan-test")
    finally:
        zoo.ZOO.pop("tiny-gan-test", None)
        TEACHERS._items.pop("tiny-gan-test", None)  # the registry has no public removal


class _FlatOf:
    """The flat-card baseline of a teacher (what evaluate needs: predict and renderer)."""

    def __init__(self, teacher):
        from ganlift.eval.baselines import FlatPredictor

        self._flat = FlatPredictor(teacher)
        self.renderer = self._flat.renderer

    def predict(self, w):
        return self._flat.predict(w)
