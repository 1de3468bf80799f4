"""Reliability (issue 16): nothing a user has is overwritten, no small file exhausts memory,
every user error is one clear line. One regression test (or a few) per item of the issue."""

from __future__ import annotations

import json
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import ganlift
from ganlift.cli import main
from ganlift.train import CHECKPOINT, TrainSettings, train
from ganlift.training.checkpoint import load_checkpoint, save_checkpoint
from ganlift.training.signals import Terminated
from test_train import FakeLifter, TinyTeacher, _settings  # noqa: I001  (tests/ is on sys.path)

TINY = {
    "lifter.resolution": 16,
    "lifter.mlp_width": 16,
    "lifter.mlp_layers": 2,
    "lifter.decoder_width": 16,
    "lifter.decoder_min_width": 8,
    "lifter.transform_blur": 3,
    "teacher.prior_samples": 64,
    "train.batch_size": 2,
    "train.log_every": 1,
    "train.sample_every": 0,
    "train.checkpoint_every": 1,
    "train.num_samples": 2,
}
TEACHER = "stylegan2-random"
TEACHER_OPTIONS = {"resolution": 16, "w_dim": 16, "n_mlp": 1, "w_mean_samples": 64}


def _lift(out, steps=2, **kw):
    options = dict(recipe="synthetic", steps=steps, out=out, device="cpu", overrides=TINY,
                   progress=False, teacher_options=TEACHER_OPTIONS)
    options.update(kw)
    return ganlift.lift(TEACHER, **options)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A finished 2-step lift (a saved lifter plus its checkpoint); copy it before changing it."""
    out = tmp_path_factory.mktemp("run") / "run"
    _lift(out)
    return out


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _one_error_line(capsys, command: str) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if "warning:" not in line]
    assert len(lines) == 1 and lines[0].startswith(f"ganlift {command}: error: "), err
    assert "Traceback" not in err
    return lines[0]


# -------------------------------------------------------------------------------- data loss


def test_lift_refuses_a_saved_lifter_without_checkpoint_and_user_files(tmp_path, run_dir, capsys):
    pulled = tmp_path / "pulled"
    shutil.copytree(run_dir, pulled)
    shutil.rmtree(pulled / "checkpoints")  # a pulled lifter, or a finished run cleaned up
    before = _snapshot(pulled)
    with pytest.raises(FileExistsError, match="a saved lifter") as info:
        _lift(pulled)
    assert all(name in str(info.value) for name in ("config.json", "model.safetensors", "--overwrite"))
    assert _snapshot(pulled) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes")
    assert main(["lift", "--teacher", "synthetic-faces", "--out", str(mine), "--quiet"]) == 1
    line = _one_error_line(capsys, "lift")
    assert "notes.txt" in line and "--overwrite" in line
    assert _snapshot(mine) == {"notes.txt": b"my notes"}
    # --no-resume on a run folder would discard the run: refused as well.
    other = tmp_path / "other"
    shutil.copytree(run_dir, other)
    before = _snapshot(other)
    with pytest.raises(FileExistsError, match="--no-resume would discard"):
        _lift(other, resume=False)
    assert _snapshot(other) == before


def test_lift_overwrite_replaces_and_resume_of_the_same_setup_still_works(tmp_path, run_dir):
    pulled = tmp_path / "pulled"
    shutil.copytree(run_dir, pulled)
    (pulled / "metrics.json").write_text('{"depth_mae": 0.1}')  # stale: another lifter's
    with pytest.raises(ValueError, match="contradict"):
        _lift(pulled, overwrite=True, resume=True)
    _lift(pulled, steps=1, overwrite=True)
    assert load_checkpoint(pulled / CHECKPOINT)["step"] == 1
    assert not (pulled / "metrics.json").exists()
    steps = [json.loads(line)["step"] for line in (pulled / "log.jsonl").read_text().splitlines()]
    assert steps == [1]
    # The same set-up resumes without --overwrite (CLI), and the CLI accepts --overwrite.
    assert main(["lift", "--teacher", TEACHER, "--out", str(pulled), "--steps", "2", "--device",
                 "cpu", "--quiet", *[f"--teacher-option={k}={v}" for k, v in TEACHER_OPTIONS.items()]]) == 0
    assert load_checkpoint(pulled / CHECKPOINT)["step"] == 2


def test_export_obj_never_replaces_a_users_png_or_mtl(tmp_path, capsys):
    from ganlift.export import depth_to_mesh, save_mesh

    mesh = depth_to_mesh(torch.ones(1, 1, 4, 4))
    (tmp_path / "face.png").write_bytes(b"my photo")
    with pytest.raises(FileExistsError, match="face.png"):
        save_mesh(mesh, tmp_path / "face.obj")
    assert (tmp_path / "face.png").read_bytes() == b"my photo"
    assert not (tmp_path / "face.obj").exists() and not (tmp_path / "face.mtl").exists()
    # The CLI refuses before loading anything (the lifter does not even exist here).
    assert main(["export", "--lifter", str(tmp_path / "none"), "--out", str(tmp_path / "face.obj")]) == 1
    assert "face.png" in _one_error_line(capsys, "export")
    # A previous ganlift export of the same name is replaced; overwrite=True replaces anything.
    save_mesh(mesh, tmp_path / "head.obj")
    save_mesh(mesh, tmp_path / "head.obj")
    save_mesh(mesh, tmp_path / "face.obj", overwrite=True)
    assert (tmp_path / "face.png").read_bytes()[:4] == b"\x89PNG"


def test_sigterm_checkpoints_like_ctrl_c(tmp_path):
    seed_lifter = FakeLifter(TinyTeacher())
    original = seed_lifter.compute_losses

    def compute_losses(w, generator, step=None):
        if seed_lifter.calls == 3:  # the 4th step: steps 1..3 are done
            os.kill(os.getpid(), signal.SIGTERM)
        return original(w, generator)

    seed_lifter.compute_losses = compute_losses
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated):
        train(seed_lifter, seed_lifter.teacher, _settings(6), out=tmp_path, device="cpu", progress=False)
    assert load_checkpoint(tmp_path / CHECKPOINT)["step"] == 3
    assert signal.getsignal(signal.SIGTERM) == handler


def test_cli_exits_143_on_sigterm(monkeypatch, capsys):
    import ganlift.train as train_module

    def terminated(*args, **kwargs):
        raise Terminated()

    monkeypatch.setattr(train_module, "lift", terminated)
    assert main(["lift", "--teacher", "synthetic-faces", "--quiet"]) == 143
    assert capsys.readouterr().err.strip() == "terminated"


def test_resume_cleans_temporaries_and_truncates_the_log(tmp_path):
    lifter = FakeLifter(TinyTeacher())
    train(lifter, lifter.teacher, _settings(3, log_every=1), out=tmp_path, device="cpu", progress=False)
    # What a SIGKILL leaves: a temporary of the next checkpoint, records past the checkpoint
    # and a half-written line.
    stale = [tmp_path / "checkpoints" / ".last.pt.k2x9ab_1.tmp", tmp_path / ".log.jsonl.abc12345.tmp"]
    for path in stale:
        path.write_bytes(b"partial")
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write('{"step": 4, "loss": 1.0}\n{"step": 5, "loss": 1.0}\n{"step": 6, "lo')
    lifter = FakeLifter(TinyTeacher())
    train(lifter, lifter.teacher, _settings(5, log_every=1), out=tmp_path, device="cpu", progress=False)
    steps = [json.loads(line)["step"] for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4, 5]
    assert not any(path.exists() for path in stale)


def test_eval_checks_its_destination_first(tmp_path, monkeypatch, capsys):
    import ganlift.eval as eval_module

    monkeypatch.setattr(eval_module, "evaluate", lambda *a, **k: pytest.fail("evaluated first"))
    (tmp_path / "file").write_text("")
    assert main(["eval", "--baseline", "flat", "--n", "2", "--out", str(tmp_path / "file" / "m.json")]) == 1
    assert "--out" in _one_error_line(capsys, "eval")
    assert main(["eval", "--baseline", "flat", "--out", str(tmp_path)]) == 1
    assert "is a folder" in _one_error_line(capsys, "eval")


# -------------------------------------------------------------------------------- memory bombs

_PEAK_SCRIPT = textwrap.dedent("""
    import json, resource, sys
    import torch, ganlift
    from ganlift.lifter import Lifter
    from ganlift.recipe import load_recipe

    def peak():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)

    cases = json.loads(sys.argv[1])
    teacher = ganlift.load_teacher("stylegan2-random", resolution=8, w_dim=8, n_mlp=1,
                                   w_mean_samples=16)
    out = {}
    for name, kind, arg in cases:
        before = peak()
        try:
            if kind == "teacher":
                ganlift.load_teacher(arg)
            elif kind == "recipe":
                Lifter(teacher, load_recipe("synthetic", arg))
            message = "loaded"
        except ValueError as err:
            message = str(err)
        out[name] = {"grew_mib": peak() - before, "message": message}
    print(json.dumps(out))
""")


def _nvidia_bomb(path: Path) -> None:
    from test_nvidia import build_generator, fake_nvidia_modules, nvidia_key_shapes, random_nvidia_state

    state = random_nvidia_state(nvidia_key_shapes(8, {4: 8, 8: 8}, 8, 8, 1))
    with fake_nvidia_modules() as (_, EasyDict):
        g = build_generator(state, EasyDict=EasyDict, z_dim=8, w_dim=8)
        # One stored float declaring 8192 x 8192 x 3 x 3 (2.4 GB) through zero strides.
        g.synthesis.b8.conv0._parameters["weight"] = torch.zeros(1).expand(8192, 8192, 3, 3)
        with open(path, "wb") as f:
            pickle.dump({"G_ema": g}, f)


def _rosinality_bomb(path: Path) -> None:
    from ganlift.teachers.stylegan2 import random_state_dict

    state = random_state_dict(resolution=8, w_dim=8, n_mlp=1, channels={4: 8, 8: 8})
    state["conv1.conv.weight"] = torch.zeros(1).expand(1, 8192, 8192, 3, 3)  # 2.4 GB declared
    state["input.input"] = torch.zeros(1).expand(1, 8192, 4, 4)
    torch.save({"g_ema": state}, path)


def test_small_crafted_files_are_refused_before_allocating(tmp_path):
    _nvidia_bomb(tmp_path / "bomb.pkl")
    _rosinality_bomb(tmp_path / "bomb.pt")
    assert (tmp_path / "bomb.pkl").stat().st_size < 100_000 and (tmp_path / "bomb.pt").stat().st_size < 100_000
    cases = [
        ["nvidia", "teacher", str(tmp_path / "bomb.pkl")],
        ["rosinality", "teacher", str(tmp_path / "bomb.pt")],
        ["resolution", "recipe", {"lifter.resolution": 2**30}],
        ["transform_blur", "recipe", {"lifter.transform_blur": 10001}],
        ["decoder_min_width", "recipe", {"lifter.decoder_min_width": 100_000}],
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, json.dumps(cases)], capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {"nvidia": "declares", "rosinality": "declares", "resolution": "lifter.resolution",
                "transform_blur": "lifter.transform_blur", "decoder_min_width": "lifter.decoder_min_width"}
    for name, needle in expected.items():
        assert needle in result[name]["message"], (name, result[name]["message"])
        assert result[name]["grew_mib"] < 200, (name, result[name])


def test_architecture_bounds_and_config_sizes_are_checked(tmp_path, capsys):
    from ganlift.teachers.stylegan2 import StyleGAN2Teacher, random_state_dict

    state = random_state_dict(resolution=8, w_dim=8, n_mlp=1, channels={4: 8, 8: 8})
    state["convs.40.conv.weight"] = torch.zeros(1, 8, 8, 3, 3)  # "a 2**23 px generator"
    with pytest.raises(ValueError, match="at most 4096px"):
        StyleGAN2Teacher.from_state_dict(state)
    folder = _saved_config(tmp_path, feature_channels=10**9)
    assert main(["sample", "--lifter", str(folder), "--out", str(tmp_path / "x.png")]) == 1
    assert "feature_channels" in _one_error_line(capsys, "sample")


# -------------------------------------------------------------------------------- silent results


def _overflowing_teacher():
    from ganlift.teachers.stylegan2 import StyleGAN2Teacher, random_state_dict

    state = random_state_dict(resolution=8, w_dim=8, n_mlp=1, channels={4: 8, 8: 8})
    for key in ("to_rgb1.bias", "to_rgbs.0.bias"):
        state[key] = torch.full_like(state[key], 3e38)  # finite, but their sum is inf
    return StyleGAN2Teacher.from_state_dict(state, w_mean_samples=16)


def test_lift_probes_the_teacher_output_first(tmp_path):
    teacher = _overflowing_teacher()
    assert all(torch.isfinite(p).all() for p in teacher.parameters())
    with pytest.raises(ValueError, match="NaN/Inf images"):
        ganlift.lift(teacher, recipe="synthetic", steps=1, out=tmp_path / "run", overrides=TINY,
                     device="cpu", progress=False)
    assert not (tmp_path / "run").exists()


def test_int32_weights_are_refused_not_cast():
    from ganlift.teachers.stylegan2 import StyleGAN2Teacher, random_state_dict
    from ganlift.utils.state import state_problems

    expected = {"w": torch.zeros(3), "n": torch.zeros((), dtype=torch.int64)}
    problems = state_problems(expected, {"w": torch.zeros(3, dtype=torch.int32), "n": torch.tensor(1)})
    assert problems and "dtype" in problems[0] and "torch.int32" in problems[0]
    assert state_problems(expected, {"w": torch.zeros(3, dtype=torch.float16), "n": torch.tensor(1)}) == []
    state = random_state_dict(resolution=8, w_dim=8, n_mlp=1, channels={4: 8, 8: 8})
    state["conv1.conv.weight"] = state["conv1.conv.weight"].to(torch.int32)
    with pytest.raises(ValueError, match="conv1.conv.weight: dtype torch.int32"):
        StyleGAN2Teacher.from_state_dict(state, w_mean_samples=16)


def test_int32_lifter_weights_are_refused(tmp_path, run_dir):
    from safetensors.torch import load_file, save_file

    from ganlift.utils.io import sha256_file

    folder = tmp_path / "lifter"
    shutil.copytree(run_dir, folder, ignore=shutil.ignore_patterns("checkpoints"))
    state = load_file(str(folder / "model.safetensors"))
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key] = state[key].to(torch.int32)
    save_file(state, str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    config["weights_sha256"] = sha256_file(folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=f"dtype mismatches.*{key}: file torch.int32"):
        ganlift.Lifter.from_pretrained(folder)


def test_corrupt_checkpoints_are_refused(tmp_path):
    good = {"step": 3, "lifter": {"w": torch.ones(2)}, "optimizer": {"state": {}}}
    for name, change, needle in [("negative", {"step": -5}, "'step' must be an integer >= 0"),
                                 ("nan", {"lifter": {"w": torch.tensor([1.0, math.nan])}}, "NaN or Inf")]:
        save_checkpoint(tmp_path / name, {**good, **change})
        with pytest.raises(ValueError, match=needle):
            load_checkpoint(tmp_path / name)


def test_seed_and_steps_ignored_on_resume_are_warned_about(tmp_path, run_dir):
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    with pytest.warns(UserWarning) as caught:
        _lift(out, steps=1, seed=5)
    messages = " | ".join(str(w.message) for w in caught)
    assert "seed=5 (--seed) is ignored" in messages and "steps=1 is below the step 2" in messages
    assert load_checkpoint(out / CHECKPOINT)["step"] == 2


@pytest.mark.parametrize("key, value", [
    ("train.betas", [0.9, 1.0]), ("train.betas", [-0.1, 0.9]), ("train.log_every", 0),
    ("train.checkpoint_every", -1), ("lifter.light_direction", 0.0), ("train.grad_clip", -1.0),
    ("lifter.depth_prior_width", 0.0), ("lifter.max_translation", -0.1), ("render.fov", 1e-6),
    ("teacher.prior_samples", 0), ("train.lr", 1e30),
])
def test_recipe_values_are_bounded(key, value, capsys):
    from ganlift.recipe import load_recipe

    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        load_recipe("synthetic", {key: value})
    assert main(["recipes", "synthetic", "--set", f"{key}={json.dumps(value)}"]) == 1
    assert key in _one_error_line(capsys, "recipes")


def test_train_settings_are_bounded():
    with pytest.raises(ValueError, match="betas"):
        TrainSettings(betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="grad_clip"):
        TrainSettings(grad_clip=-1)


@pytest.fixture(scope="module")
def tiny():
    from tiny_lifter import tiny_lifter

    return tiny_lifter()


@pytest.mark.parametrize("controls, needle", [
    ({"translation": (0.0, 0.0, -2.0)}, "translation"),
    ({"ambient": 1e30}, "ambient"),
    ({"diffuse": 11.0}, "diffuse"),
])
def test_controls_are_range_checked(tiny, controls, needle):
    with pytest.raises(ValueError, match=needle):
        tiny.sample(1, seed=0, **controls)


def test_turntable_elevation_is_range_checked(tmp_path, capsys):
    assert main(["turntable", "--lifter", str(tmp_path), "--out", str(tmp_path / "a.gif"), "--relight",
                 "--elevation", "200"]) == 1
    assert "--elevation" in _one_error_line(capsys, "turntable")


# -------------------------------------------------------------------------------- clear errors


def _saved_config(tmp_path: Path, drop: str | None = None, **changes) -> Path:
    folder = tmp_path / "lifter"
    folder.mkdir(exist_ok=True)
    config = {"architecture": "liftedgan", "format": 1, "resolution": 16, "w_dim": 2,
              "feature_channels": 8, "recipe": {}, "w_mean": [0.0, 0.0], "w_std": [1.0, 1.0],
              "teacher": {"name": "synthetic-faces"}, **changes}
    config.pop(drop, None)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("argv, needle", [
    (["lift", "--teacher", "synthetic-faces", "--out", "{tmp}/new", "--teacher-option", "bogus=1"], "bogus"),
    (["teachers", "--preview", "synthetic-faces", "--out", "{tmp}"], "is a folder"),
    (["sample", "--lifter", "{tmp}/lifter", "--out", "{tmp}/x.png"], "config.json"),
    (["eval", "--baseline", "flat", "--psi", "nan", "--out", ""], "--psi"),
])
def test_user_errors_are_one_line(tmp_path, capsys, argv, needle):
    _saved_config(tmp_path, w_mean="abc")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 1
    assert needle in _one_error_line(capsys, argv[0])


def test_config_errors_name_the_file_and_key(tmp_path, capsys):
    folder = _saved_config(tmp_path, drop="w_dim")
    assert main(["sample", "--lifter", str(folder), "--out", str(tmp_path / "x.png")]) == 1
    line = _one_error_line(capsys, "sample")
    assert "config.json" in line and "w_dim" in line


def test_refused_pickles_are_one_line_and_never_advise_weights_only_false(tmp_path, capsys):
    import datetime

    legacy = tmp_path / "legacy.pt"
    torch.save({"g_ema": {}, "when": datetime.date(2020, 1, 1)}, legacy, _use_new_zipfile_serialization=False)
    assert main(["convert", str(legacy), str(tmp_path / "out")]) == 1
    line = _one_error_line(capsys, "convert")
    assert "refuses to unpickle" in line and "datetime.date" in line and "truncated" not in line
    save_checkpoint(tmp_path / "last.pt", {"step": 1, "when": datetime.date(2020, 1, 1)})
    with pytest.raises(ValueError) as info:
        load_checkpoint(tmp_path / "last.pt")
    assert "datetime.date" in str(info.value) and "weights_only" not in str(info.value)
    with open(tmp_path / "evil.pkl", "wb") as f:
        pickle.dump({"G_ema": datetime.date(2020, 1, 1)}, f)
    assert main(["convert", str(tmp_path / "evil.pkl"), str(tmp_path / "out")]) == 1
    assert "refused global datetime.date" in _one_error_line(capsys, "convert")


def test_torch_refusals_from_any_loader_are_one_line_without_its_advice(monkeypatch, capsys):
    import ganlift.commands.recipes as recipes_command

    def refused(args):
        try:
            torch.load(_refusing_file(), weights_only=True)
        except pickle.UnpicklingError as err:
            assert "weights_only" in str(err)
            raise

    monkeypatch.setattr(recipes_command, "run", refused)
    assert main(["recipes"]) == 1
    line = _one_error_line(capsys, "recipes")
    assert "datetime.date" in line and "weights_only" not in line


def _refusing_file():
    import datetime
    import io

    buf = io.BytesIO()
    torch.save({"when": datetime.date(2020, 1, 1)}, buf)
    buf.seek(0)
    return buf


def test_unexpected_errors_keep_their_traceback(monkeypatch):
    import ganlift.commands.recipes as recipes_command

    def broken(args):
        raise TypeError("a bug")

    monkeypatch.setattr(recipes_command, "run", broken)
    with pytest.raises(TypeError, match="a bug"):
        main(["recipes"])


def test_misleading_messages_say_which_setting(tmp_path, monkeypatch):
    from ganlift.recipe import load_recipe

    with pytest.raises(ValueError, match=r"train\.lr must be in \(0, 1\]"):
        load_recipe("synthetic", {"train.lr": 1e30})
    with pytest.raises(ValueError, match=r"lifter\.light_direction"):
        load_recipe("synthetic", {"lifter.light_direction": 0.0})
    # A full disk: torch's "[enforce fail at inline_container.cc]" becomes a clear OSError.
    import ganlift.training.checkpoint as checkpoint_module

    def full_disk(obj, path):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598")

    monkeypatch.setattr(checkpoint_module.torch, "save", full_disk)
    with pytest.raises(OSError, match=r"could not write .*last\.pt: the disk is full"):
        save_checkpoint(tmp_path / "last.pt", {"step": 1})
    assert not list(tmp_path.iterdir())  # no temporary left behind


def test_a_diverged_update_names_the_learning_rate():
    lifter = FakeLifter(TinyTeacher())
    original = lifter.compute_losses

    def compute_losses(w, generator, step=None):
        if lifter.calls == 1:  # what lr=1e30 does to the weights, and the renderer's complaint
            with torch.no_grad():
                lifter.net[0].weight.fill_(math.inf)
            raise ValueError("depth contains NaN or inf values")
        return original(w, generator)

    lifter.compute_losses = compute_losses
    with pytest.raises(RuntimeError, match=r"after step 1 the lifter's weights hold NaN/Inf.*train\.lr=0\.01"):
        train(lifter, lifter.teacher, _settings(3), device="cpu", progress=False)


def test_weights_keep_the_umask_permissions(tmp_path):
    from safetensors.torch import save_file

    from ganlift.utils.io import atomic_path

    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "model.safetensors") as tmp:
            save_file({"x": torch.zeros(2)}, str(tmp))
    finally:
        os.umask(old)
    assert (tmp_path / "model.safetensors").stat().st_mode & 0o777 == 0o644


def test_from_config_bounds_sizes_from_python_too():
    """A config.json declaring a huge feature map is refused by Lifter.from_config itself,
    not only by the CLI, before any network is built."""
    import ganlift

    teacher = ganlift.load_teacher("synthetic-faces", resolution=16)
    lifter = ganlift.Lifter(teacher, ganlift.recipe.load_recipe("synthetic", {
        "lifter.resolution": 16, "lifter.mlp_width": 16, "lifter.decoder_width": 16,
        "lifter.decoder_min_width": 8, "teacher.prior_samples": 200}))
    config = dict(lifter.config, feature_channels=10**6)
    with pytest.raises(ValueError, match="feature_channels"):
        ganlift.Lifter.from_config(config, teacher)
