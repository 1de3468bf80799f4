"""The training loop: exact resume, Ctrl-C, files, NaN guard, two-process gloo, lift() + CLI."""

from __future__ import annotations

import json
import math
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image
from torch import nn

from ganlift.teachers.base import Teacher
from ganlift.train import (
    CHECKPOINT,
    TrainSettings,
    can_fuse_adam,
    learning_rate,
    parse_overrides,
    recommended_recipe,
    settings_from_recipe,
    train,
)
from ganlift.training.checkpoint import capture_rng, load_checkpoint, restore_rng, seed_everything
from ganlift.utils.outputs import OutputFields


class TinyTeacher(Teacher):
    """A 4x4-pixel linear 'GAN': enough to drive the loop."""

    def __init__(self) -> None:
        super().__init__()
        self.z_dim = self.w_dim = 6
        self.num_ws, self.resolution, self.name = 1, 4, "tiny"
        g = torch.Generator().manual_seed(1)
        self.map = nn.Linear(6, 6)
        self.syn = nn.Linear(6, 3 * 4 * 4)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        self.register_buffer("w_mean", torch.zeros(1, 6))
        self.freeze()

    def mapping(self, z):
        return self.map(z)

    def synthesis(self, w, return_features=False):
        img = torch.tanh(self.syn(w)).view(-1, 3, 4, 4)
        return (img, img) if return_features else img


@dataclass
class FakeOutput(OutputFields):
    """The three LifterOutput fields the stand-in predicts (sample grids leave out the rest)."""

    image_pm1: torch.Tensor
    depth: torch.Tensor
    albedo: torch.Tensor


class FakeLifter(nn.Module):
    """Implements what the loop needs; draws from the explicit generator, torch's global RNG
    and numpy's, so any RNG state missing from a checkpoint breaks the resume test."""

    def __init__(self, teacher: Teacher, interrupt_at: int | None = None) -> None:
        super().__init__()
        self.teacher = teacher
        self.net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3 * 4 * 4 + 16))
        self.config = {"kind": "fake", "w_dim": 6}
        self.calls, self.interrupt_at, self.seen_w = 0, interrupt_at, []

    def forward(self, w):
        out = self.net(w)
        image = torch.tanh(out[:, :48]).view(-1, 3, 4, 4)
        depth = 1 + 0.1 * torch.tanh(out[:, 48:]).view(-1, 1, 4, 4)
        return FakeOutput(image_pm1=image, depth=depth, albedo=(image + 1) / 2)

    def compute_losses(self, w, generator, step=None):
        self.calls += 1
        self.seen_w.append(w.detach().clone())
        jitter = torch.rand(w.shape[0], 1, generator=generator, device=generator.device)
        noise = torch.randn(w.shape) * 0.1 + float(np.random.rand()) * 0.01
        out = self(w + noise)
        target = self.teacher.synthesis(w)
        rec = ((out.image_pm1 - target).abs() * (1 + jitter.view(-1, 1, 1, 1))).mean()
        reg = (out.depth - 1).pow(2).mean()
        if self.interrupt_at is not None and self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        return rec + 0.5 * reg, {"rec": rec, "reg": reg}

    def state_dict(self, *args, **kwargs):  # the teacher is referenced, not stored
        return self.net.state_dict(*args, **kwargs)

    def load_state_dict(self, state, strict=True):
        return self.net.load_state_dict(state, strict=strict)


def _settings(steps, **kw):
    base = dict(steps=steps, batch_size=4, lr=1e-2, truncation=0.7, log_every=2,
                sample_every=0, checkpoint_every=0, num_samples=3, seed=3)
    base.update(kw)
    return TrainSettings(**base)


def _make(init_seed=0, **kw):
    seed_everything(init_seed)
    teacher = TinyTeacher()
    return FakeLifter(teacher, **kw), teacher


def _same_params(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_resume_is_exact(tmp_path):
    straight, teacher = _make()
    train(straight, teacher, _settings(6), out=tmp_path / "a", device="cpu", progress=False)

    first, teacher = _make()
    train(first, teacher, _settings(3), out=tmp_path / "b", device="cpu", progress=False)
    # A fresh process would start from other random weights and RNG states: the checkpoint
    # must restore all of them.
    second, teacher = _make(init_seed=123)
    torch.manual_seed(99), np.random.seed(99)
    step = train(second, teacher, _settings(6), out=tmp_path / "b", device="cpu", progress=False)
    assert step == 6
    _same_params(straight, second)
    assert torch.equal(straight.seen_w[-1], second.seen_w[-1])
    # And the codes differ between steps (the generator advances).
    assert not torch.equal(straight.seen_w[0], straight.seen_w[1])


def test_resume_without_rng_restore_would_differ(tmp_path):
    """Guards the test above: the fake lifter really depends on the global RNG."""
    a, teacher = _make()
    train(a, teacher, _settings(2), device="cpu", progress=False)
    b, teacher = _make()
    torch.manual_seed(5)  # train() reseeds from settings.seed, so this must not matter ...
    train(b, teacher, _settings(2), device="cpu", progress=False)
    _same_params(a, b)
    c, teacher = _make()
    train(c, teacher, _settings(2, seed=4), device="cpu", progress=False)  # ... but the seed does
    assert not torch.equal(a.net[0].weight, c.net[0].weight)


def test_ctrl_c_saves_last_completed_step_and_resumes_exactly(tmp_path):
    straight, teacher = _make()
    train(straight, teacher, _settings(6), device="cpu", progress=False)

    broken, teacher = _make(interrupt_at=4)  # dies inside step 4, after drawing its codes
    with pytest.raises(KeyboardInterrupt):
        train(broken, teacher, _settings(6), out=tmp_path, device="cpu", progress=False)
    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["step"] == 3

    resumed, teacher = _make(init_seed=7)
    train(resumed, teacher, _settings(6), out=tmp_path, device="cpu", progress=False)
    _same_params(straight, resumed)
    assert torch.equal(straight.seen_w[3], resumed.seen_w[0])


def test_learning_rate_decay_is_a_half_cosine_the_loop_follows_across_a_resume(tmp_path):
    settings = _settings(10, lr_decay=0.5)
    rates = [learning_rate(settings, k) for k in range(10)]
    assert rates[:6] == [settings.lr] * 6  # constant for the first half of the run
    assert all(a > b for a, b in zip(rates[5:], rates[6:])) and rates[-1] > 0
    for k in (6, 9):  # 1 - k / steps of the way from the end, in units of the decay's length
        assert math.isclose(rates[k], settings.lr * 0.5 * (1 - math.cos(math.pi * (1 - k / 10) / 0.5)))
    assert all(learning_rate(_settings(10), k) == settings.lr for k in range(10))
    with pytest.raises(ValueError, match="lr_decay"):
        _settings(10, lr_decay=1.5)

    straight, teacher = _make()
    train(straight, teacher, _settings(10, lr_decay=0.5, log_every=1), out=tmp_path / "a", device="cpu",
          progress=False)
    logged = [json.loads(line)["lr"] for line in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert logged == pytest.approx(rates)
    constant, teacher = _make()
    train(constant, teacher, _settings(10), device="cpu", progress=False)
    assert not torch.equal(constant.net[0].weight, straight.net[0].weight)

    broken, teacher = _make(interrupt_at=7)  # inside the decay
    with pytest.raises(KeyboardInterrupt):
        train(broken, teacher, _settings(10, lr_decay=0.5), out=tmp_path / "b", device="cpu", progress=False)
    resumed, teacher = _make(init_seed=7)
    train(resumed, teacher, _settings(10, lr_decay=0.5), out=tmp_path / "b", device="cpu", progress=False)
    _same_params(straight, resumed)


def test_files_log_samples_checkpoint(tmp_path):
    lifter, teacher = _make()
    settings = _settings(4, log_every=2, sample_every=2, checkpoint_every=2)
    train(lifter, teacher, settings, out=tmp_path, device="cpu", progress=False)

    lines = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [2, 4]
    for r in lines:
        assert {"loss", "rec", "reg", "grad_norm", "lr", "sec_per_step"} <= set(r)
        assert r["loss"] == pytest.approx(r["rec"] + 0.5 * r["reg"], rel=1e-5)

    for step in (2, 4):
        img = Image.open(tmp_path / "samples" / f"step_{step:06d}.png")
        # 3 rows (num_samples) x 4 columns (teacher, render, albedo, depth), 4 px + 2 px padding
        assert img.size == (4 * 6 + 2, 3 * 6 + 2)

    # Safe loading only: plain data and tensors.
    raw = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    assert raw["step"] == 4 and raw["world_size"] == 1
    assert set(raw["lifter"]) == set(lifter.state_dict())
    assert torch.equal(raw["lifter"]["0.weight"], lifter.net[0].weight)
    assert {"sampler", "torch", "numpy", "python"} <= set(raw["rng"][0])
    assert raw["optimizer"]["state"]  # Adam moments are there
    assert not list(tmp_path.rglob("*.tmp"))  # atomic writes leave no temporaries


def test_resume_flags(tmp_path):
    lifter, teacher = _make()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(lifter, teacher, _settings(2), out=tmp_path, device="cpu", resume=True,
              progress=False)
    train(lifter, teacher, _settings(2), out=tmp_path, device="cpu", progress=False)
    # resume=False starts afresh: the log is rewritten from step 0.
    lifter, teacher = _make()
    assert train(lifter, teacher, _settings(4), out=tmp_path, device="cpu", resume=False,
                 progress=False) == 4
    assert lifter.calls == 4
    steps = [json.loads(l)["step"] for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4]
    # Already done: resuming at the final step trains nothing.
    lifter, teacher = _make()
    assert train(lifter, teacher, _settings(4), out=tmp_path, device="cpu", progress=False) == 4
    assert lifter.calls == 0


def test_nan_loss_raises_and_updates_nothing():
    lifter, teacher = _make()
    before = {k: v.clone() for k, v in lifter.state_dict().items()}
    lifter.compute_losses = lambda w, g, step=None: (torch.tensor(float("nan"), requires_grad=True) +
                                          0 * lifter.net[0].weight.sum(), {})
    with pytest.raises(RuntimeError, match="non-finite loss or gradient at step 1"):
        train(lifter, teacher, _settings(2), device="cpu", progress=False)
    for k, v in lifter.state_dict().items():
        assert torch.equal(v, before[k])


def test_rng_capture_roundtrip():
    g = torch.Generator().manual_seed(0)
    state = capture_rng(g)
    a = (torch.rand(3, generator=g), torch.rand(3), np.random.rand(), __import__("random").random())
    restore_rng(state, g)
    b = (torch.rand(3, generator=g), torch.rand(3), np.random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2:] == b[2:]


def test_settings_and_overrides():
    recipe = {"train": {"steps": 50, "batch_size": 2, "lr": 3e-4, "betas": [0.5, 0.9]},
              "truncation": 0.5}
    s = settings_from_recipe(recipe, steps=7, seed=2)
    assert (s.steps, s.batch_size, s.lr, s.betas, s.truncation, s.seed) == (7, 2, 3e-4, (0.5, 0.9), 0.5, 2)
    with pytest.raises(ValueError, match="batch_size"):
        settings_from_recipe({"batch_size": 0})
    from ganlift.recipe import load_recipe

    recipe = load_recipe("synthetic", {"train.lr": 5e-4, "teacher.truncation": 0.8,
                                       "train.batch_size": 3, "train.log_every": 7})
    real = settings_from_recipe(recipe)
    assert (real.steps, real.batch_size, real.lr, real.truncation, real.log_every) == (
        recipe.train.steps, 3, 5e-4, 0.8, 7)
    assert parse_overrides(["lr=1e-4", "renderer=torch", "betas=[0.5, 0.9]", "flip=true"]) == {
        "lr": 1e-4, "renderer": "torch", "betas": [0.5, 0.9], "flip": True}
    with pytest.raises(ValueError, match="key=value"):
        parse_overrides(["lr"])


def test_train_settings_defaults_are_the_recipes():
    """One set of defaults: TrainSettings extends the recipe's [train] section."""
    from dataclasses import fields

    from ganlift.recipe import Recipe, TrainSection

    recipe, settings = Recipe(), TrainSettings()
    assert isinstance(settings, TrainSection)
    for f in fields(TrainSection):
        want = getattr(recipe.train, f.name)
        assert getattr(settings, f.name) == (tuple(want) if f.name == "betas" else want), f.name
    assert settings.truncation == recipe.teacher.truncation
    assert settings_from_recipe({}) == settings == settings_from_recipe(recipe)


def test_recommended_recipe():
    t = TinyTeacher()
    # A teacher that names no recipe: chosen by resolution (CPU-sized up to 128 px) and category.
    assert recommended_recipe(t) == "synthetic"
    t.resolution, t.name = 256, "ffhq-tiny"
    assert recommended_recipe(t) == "faces"
    t.name = "synthetic-cats"
    assert recommended_recipe(t) == "synthetic-cats"
    t.recommended_recipe = "cats"
    assert recommended_recipe(t) == "cats"


# ---- two processes, gloo -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, out: str) -> None:
    # What torchrun would put in the environment.
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world),
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    seed_everything(rank)  # different starting weights per rank: the broadcast must fix them
    teacher = TinyTeacher()
    lifter = FakeLifter(teacher)
    train(lifter, teacher, _settings(3, checkpoint_every=1), out=Path(out) / "run",
          device="cpu", progress=False)
    torch.save({"params": lifter.state_dict(), "w": lifter.seen_w[0]},
               Path(out) / f"rank{rank}.pt")


def test_two_process_gloo_keeps_ranks_identical(tmp_path):
    mp.spawn(_rank_main, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert not torch.equal(r0["w"], r1["w"])  # each rank draws its own codes
    for k in r0["params"]:
        assert torch.equal(r0["params"][k], r1["params"][k]), k
    ckpt = load_checkpoint(tmp_path / "run" / CHECKPOINT)  # rank 0 wrote, with both streams
    assert ckpt["world_size"] == 2 and len(ckpt["rng"]) == 2
    assert not torch.equal(ckpt["rng"][0]["sampler"], ckpt["rng"][1]["sampler"])
    # The averaged gradient differs from either rank's own: compare with a 1-process run.
    seed_everything(0)
    teacher = TinyTeacher()
    single = FakeLifter(teacher)
    train(single, teacher, _settings(3), device="cpu", progress=False)
    assert not torch.equal(single.net[0].weight, r0["params"]["0.weight"])


# ---- the real Lifter, end to end -----------------------------------------------------------

TINY = {
    "lifter.resolution": 16,
    "lifter.mlp_width": 32,
    "lifter.decoder_width": 32,
    "lifter.decoder_min_width": 8,
    "lifter.transform_blur": 3,
    "teacher.prior_samples": 256,
    "train.batch_size": 2,
    "train.log_every": 1,
    "train.sample_every": 2,
    "train.checkpoint_every": 1,
    "train.num_samples": 2,
}


def test_lift_end_to_end_on_a_random_stylegan2(tmp_path):
    import ganlift
    from ganlift.teachers.stylegan2 import random_stylegan2

    teacher = random_stylegan2(resolution=32, w_dim=64, n_mlp=2)
    out = tmp_path / "run"
    lifter = ganlift.lift(teacher, recipe="synthetic", steps=2, out=out, device="cpu",
                          overrides=TINY, progress=False)
    assert isinstance(lifter, ganlift.Lifter) and not lifter.training
    for name in ("model.safetensors", "config.json", "README.md", "log.jsonl",
                 "samples/step_000002.png", "checkpoints/last.pt"):
        assert (out / name).is_file(), name
    assert not (out / "metrics.json").exists()  # no ground truth for a StyleGAN2
    log = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    assert {"loss", "reconstruction", "flip", "grad_norm"} <= set(log[0]) or len(log[0]) > 6
    assert all(np.isfinite(v) for r in log for v in r.values() if isinstance(v, float))
    # 2 rows x 7 columns (teacher, G(w0), render, albedo, depth, normals, shape) of 16 px
    assert Image.open(out / "samples" / "step_000002.png").size == (7 * 18 + 2, 2 * 18 + 2)

    # The folder is a saved lifter.
    loaded = ganlift.Lifter.from_pretrained(out, teacher=teacher)
    for k, v in lifter.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k

    # Running again (here from the shell) resumes: recipe and overrides come from the
    # checkpoint and only the missing step is trained.
    from ganlift.cli import main

    assert main(["lift", "--teacher", "stylegan2-random", "--out", str(out), "--steps", "3",
                 "--device", "cpu", "--quiet"]) == 0
    assert [json.loads(l)["step"] for l in (out / "log.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert load_checkpoint(out / CHECKPOINT)["step"] == 3
    resumed = ganlift.Lifter.from_pretrained(out, teacher=teacher).state_dict()
    assert any(not torch.equal(v, resumed[k]) for k, v in lifter.state_dict().items())
    # ... and 2 steps + resume + 1 step is exactly 3 steps straight.
    straight = ganlift.lift(teacher, recipe="synthetic", steps=3, device="cpu", overrides=TINY,
                            progress=False).state_dict()
    for k, v in straight.items():
        assert torch.equal(v, resumed[k]), k
    # Another teacher is refused with a clear message.
    other = random_stylegan2(resolution=32, w_dim=64, n_mlp=2, seed=1)
    with pytest.raises(ValueError, match="trained from teacher"):
        ganlift.lift(other, steps=4, out=out, device="cpu", progress=False)


@pytest.mark.parametrize("argv, message", [
    (["--teacher", "no-such-teacher"], "no-such-teacher"),
    (["--teacher", "stylegan2-random", "--recipe", "no-such-recipe"], "unknown recipe"),
    (["--teacher", "stylegan2-random", "--recipe", "synthetic", "--set", "train.stepz=3"],
     "unknown key 'stepz'"),
    (["--teacher", "stylegan2-random", "--set", "lr"], "key=value"),
    (["--teacher", "stylegan2-random", "--teacher-option", "resolution"], "key=value"),
    (["--teacher", "stylegan2-random", "--device", "tpu"], "device"),
    (["--teacher", "stylegan2-random", "--resume"], "no checkpoint"),
])
def test_cli_errors(tmp_path, capsys, argv, message):
    from ganlift.cli import main

    assert main(["lift", "--out", str(tmp_path / "x"), "--quiet", *argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ganlift lift: error:") and message in err, err
    assert not (tmp_path / "x" / "checkpoints").exists()


def test_ctrl_c_during_the_update_is_held_until_it_is_complete():
    import signal

    from ganlift.train import _defer_sigint

    # A process started in the background by a non-interactive shell ignores SIGINT; the
    # deferred signal goes to whatever handler was in place, so install Python's own first.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with _defer_sigint():
                os.kill(os.getpid(), signal.SIGINT)
                done.append("update finished")
        assert done == ["update finished"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)


def test_resume_check_fills_keys_a_newer_version_added():
    from ganlift.recipe import load_recipe
    from ganlift.train import _check_same_run

    now = load_recipe("synthetic").to_dict()
    older = json.loads(json.dumps(now))
    del older["lifter"]["manipulation_rank"]  # a key the checkpoint's version did not have
    run = {"recipe_dict": older}
    _check_same_run(run, {}, now, Path("out"))  # its default keeps the maths: resumable
    changed = json.loads(json.dumps(now))
    changed["lifter"]["manipulation_rank"] = 4  # a real change is still refused
    with pytest.raises(ValueError, match="lifter.manipulation_rank"):
        _check_same_run(run, {}, changed, Path("out"))
    older["lifter"]["manipulation_rank"] = 4
    with pytest.raises(ValueError, match="lifter.manipulation_rank"):
        _check_same_run({"recipe_dict": older}, {}, now, Path("out"))


def test_adam_fuses_only_floating_parameters_on_cpu_or_cuda():
    """The fused Adam kernel exists for floating-point tensors on CPU and CUDA; anything else
    (a meta-device parameter here) takes the per-tensor update."""
    on_cpu = [nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(2, 2, dtype=torch.float64))]
    assert can_fuse_adam(on_cpu)
    assert not can_fuse_adam(on_cpu + [nn.Parameter(torch.zeros(3, device="meta"))])
    # The fused update is the same Adam: equal to the per-tensor one up to rounding.
    a, b = nn.Parameter(torch.linspace(-1, 1, 7)), nn.Parameter(torch.linspace(-1, 1, 7))
    fused = torch.optim.Adam([a], lr=0.1, fused=can_fuse_adam([a]))
    plain = torch.optim.Adam([b], lr=0.1)
    for _ in range(5):
        for p, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            (p ** 3).sum().backward()
            opt.step()
    torch.testing.assert_close(a, b)
    assert not torch.equal(a.detach(), torch.linspace(-1, 1, 7))
