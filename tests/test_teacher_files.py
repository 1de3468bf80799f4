"""Teacher files: rosinality .pt variants, ganlift format round trip, clear errors."""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

import ganlift
from ganlift.teachers.files import load_teacher_file, save_teacher
from ganlift.teachers.stylegan2 import StyleGAN2Teacher, random_state_dict, random_stylegan2

RES, WDIM, NMLP = 16, 32, 2
OPTS = {"w_mean_samples": 512}


@pytest.fixture(scope="module")
def state():
    return random_state_dict(RES, WDIM, NMLP, seed=5)


def _discriminator_state() -> dict:
    # rosinality Discriminator key families
    return {
        "convs.0.0.weight": torch.zeros(8, 3, 1, 1),
        "convs.0.1.bias": torch.zeros(8),
        "convs.1.conv1.0.weight": torch.zeros(8, 8, 3, 3),
        "final_conv.0.weight": torch.zeros(8, 9, 3, 3),
        "final_linear.0.weight": torch.zeros(8, 128),
        "final_linear.1.weight": torch.zeros(1, 8),
    }


def _outputs(teacher, n=3):
    w = teacher.sample_w(n, seed=11)
    with torch.no_grad():
        return teacher.synthesis(w, return_features=True)


# ----------------------------------------------------------------------------------------
# rosinality .pt


def test_training_checkpoint_without_latent_avg(tmp_path, state):
    # What rosinality's train.py writes: g, d, g_ema, optimisers, argparse args, ada_aug_p.
    path = tmp_path / "train_000100.pt"
    torch.save(
        {
            "g": {k: v + 1.0 for k, v in state.items()},  # a different (non-averaged) net
            "d": _discriminator_state(),
            "g_ema": state,
            "g_optim": {"state": {}, "param_groups": [{"lr": 0.002, "params": [0, 1]}]},
            "d_optim": {"state": {}, "param_groups": []},
            "args": argparse.Namespace(size=RES, latent=WDIM, n_mlp=NMLP, channel_multiplier=2),
            "ada_aug_p": 0.0,
        },
        path,
    )
    t = ganlift.load_teacher(path, **OPTS, seed=3)
    direct = StyleGAN2Teacher.from_state_dict(state, w_mean_samples=512, seed=3)
    assert torch.equal(t.style[1].weight, direct.style[1].weight)  # g_ema, not g
    assert torch.equal(t.w_mean, direct.w_mean) and torch.equal(t.w_std, direct.w_std)
    ref = t.reference()
    assert ref["name"] == "train_000100" and ref["format"] == "rosinality"
    assert ref["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ref["path"] == str(path.resolve())
    assert ref["w_mean_source"] == "estimated" and ref["w_mean_samples"] == 512 and ref["seed"] == 3
    json.dumps(ref)
    # the reference re-loads the same teacher
    again = ganlift.load_teacher(ref["path"], w_mean_samples=ref["w_mean_samples"], seed=ref["seed"])
    assert torch.equal(again.w_mean, t.w_mean)


def test_converted_checkpoint_uses_latent_avg(tmp_path, state):
    avg = torch.randn(WDIM)
    path = tmp_path / "converted.pt"
    torch.save({"g_ema": state, "latent_avg": avg}, path)
    t = ganlift.load_teacher(path, **OPTS)
    assert torch.equal(t.w_mean, avg[None])
    assert t.reference()["w_mean_source"] == "latent_avg"


def test_bare_generator_state_dict_and_half_precision(tmp_path, state):
    path = tmp_path / "bare.pth"
    torch.save({k: v.half() if v.dim() > 1 else v for k, v in state.items()}, path)
    t = load_teacher_file(path, **OPTS, name="mine")
    assert t.name == "mine" and t.style[1].weight.dtype == torch.float32
    assert torch.equal(t.style[1].weight, state["style.1.weight"].half().float())


def test_dataparallel_prefix_is_stripped(tmp_path, state):
    path = tmp_path / "dp.pt"
    torch.save({"g_ema": {f"module.{k}": v for k, v in state.items()}}, path)
    assert ganlift.load_teacher(path, **OPTS).resolution == RES


# ----------------------------------------------------------------------------------------
# wrong files: clear errors, never a random network


def _raises(path, *patterns, **options):
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        ganlift.load_teacher(path, **options)
    msg = str(info.value)
    for p in patterns:
        assert p.lower() in msg.lower(), msg
    return msg


def test_truncated_checkpoint(tmp_path, state):
    good = tmp_path / "good.pt"
    torch.save({"g_ema": state}, good)
    data = good.read_bytes()
    for cut in (len(data) // 2, len(data) - 100, 100):
        bad = tmp_path / f"cut{cut}.pt"
        bad.write_bytes(data[:cut])
        _raises(bad, "truncated or corrupt", str(cut))


def test_empty_and_text_and_html_files(tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    _raises(tmp_path / "empty.pt", "empty")
    (tmp_path / "notes.pt").write_text('{"hello": 1}')
    _raises(tmp_path / "notes.pt", "JSON")
    (tmp_path / "page.pt").write_text("<!DOCTYPE html><html>Sign in</html>")
    _raises(tmp_path / "page.pt", "HTML")


def test_discriminator_is_named(tmp_path):
    only_d = tmp_path / "d_only.pt"
    torch.save({"d": _discriminator_state(), "args": argparse.Namespace(size=16)}, only_d)
    _raises(only_d, "discriminator", "g_ema")
    mislabeled = tmp_path / "mislabeled.pt"
    torch.save({"g_ema": _discriminator_state()}, mislabeled)
    _raises(mislabeled, "discriminator", "convs.0.0.weight")
    bare = tmp_path / "bare_d.pt"
    torch.save(_discriminator_state(), bare)
    _raises(bare, "discriminator")


def test_lifter_checkpoint_is_named(tmp_path):
    path = tmp_path / "lifter.pt"
    torch.save(
        {"view_decoder.net.0.weight": torch.zeros(4, 4), "shape_decoder.fc.weight": torch.zeros(4, 4)},
        path,
    )
    _raises(path, "lifter", "Lifter.from_pretrained")
    ckpt = tmp_path / "last.pt"  # ganlift's own training checkpoint layout
    torch.save({"step": 3, "lifter": {"view_decoder.net.0.weight": torch.zeros(2)}, "optimizer": {}}, ckpt)
    _raises(ckpt, "training checkpoint", "Lifter.from_pretrained")
    folder = tmp_path / "run"
    folder.mkdir()
    save_file({"view_decoder.net.0.weight": torch.zeros(4, 4)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text("{}")
    _raises(folder, "lifter", "Lifter.from_pretrained")
    _raises(folder / "model.safetensors", "lifter")


def test_nvidia_pickle_named_pt(tmp_path):
    # A pickle that names NVIDIA's persistence hook (never unpickled here).
    data = (
        b"\x80\x02ctorch_utils.persistence\n_reconstruct_persistent_obj\n"
        b"}\x85R."
    )
    path = tmp_path / "network-snapshot.pt"
    path.write_bytes(data)
    _raises(path, "NVIDIA", ".pkl")
    plain = tmp_path / "plain.pt"
    plain.write_bytes(pickle.dumps({"a": 1}, protocol=4))
    _raises(plain, "pickle")


def test_unsafe_objects_are_refused(tmp_path, state):
    from fractions import Fraction  # any class outside torch's weights_only allow-list

    path = tmp_path / "unsafe.pt"
    torch.save({"g_ema": state, "extra": Fraction(1, 3)}, path)
    msg = _raises(path, "refuses to unpickle", "fractions")
    assert "weights_only=False" not in msg


def test_not_a_dict_and_wrong_format_names(tmp_path, state):
    path = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), path)
    _raises(path, "holds a Tensor")
    st = tmp_path / "weights.pt"
    save_file({k: v.contiguous() for k, v in state.items()}, str(st))
    _raises(st, "safetensors")
    zip_pkl = tmp_path / "ros.pkl"
    torch.save({"g_ema": state}, zip_pkl)
    _raises(zip_pkl, "rename it to .pt")
    other = tmp_path / "other.pt"
    torch.save({"model": {"encoder.weight": torch.zeros(2)}, "epoch": 3}, other)
    _raises(other, "g_ema", "'model'")
    nv_keys = tmp_path / "nv_keys.pt"
    nv_state = {"mapping.fc0.weight": torch.zeros(2, 2), "synthesis.b4.const": torch.zeros(2)}
    torch.save({"g_ema": nv_state}, nv_keys)
    _raises(nv_keys, "NVIDIA", ".pkl")


def test_missing_and_unexpected_keys_are_named(tmp_path, state):
    broken = dict(state)
    del broken["to_rgbs.1.conv.modulation.bias"]
    broken["to_rgbs.1.extra"] = torch.zeros(1)
    path = tmp_path / "broken.pt"
    torch.save({"g_ema": broken}, path)
    _raises(
        path,
        "missing keys (1): 'to_rgbs.1.conv.modulation.bias'",
        "unexpected keys (1): 'to_rgbs.1.extra'",
    )


def test_missing_path_and_unknown_option(tmp_path, state):
    with pytest.raises(KeyError, match="neither a registered name nor an existing file"):
        ganlift.load_teacher(str(tmp_path / "nope.pt"))
    with pytest.raises(FileNotFoundError):
        load_teacher_file(tmp_path / "nope.pt")
    path = tmp_path / "g.pt"
    torch.save({"g_ema": state}, path)
    _raises(path, "unknown option", "w_mean_sample", w_mean_sample=3)


def test_pkl_goes_to_the_nvidia_loader(tmp_path, monkeypatch):
    nvidia = pytest.importorskip("ganlift.teachers.nvidia")
    calls = []

    def fake(path, **options):
        calls.append((path, options))
        return random_stylegan2(16, 16)

    monkeypatch.setattr(nvidia, "load_nvidia_pickle", fake)
    path = tmp_path / "net.pkl"
    path.write_bytes(b"\x80\x02}.")
    t = ganlift.load_teacher(path, w_mean_samples=7)
    assert isinstance(t, StyleGAN2Teacher) and calls == [(path, {"w_mean_samples": 7})]


# ----------------------------------------------------------------------------------------
# ganlift format


def test_ganlift_format_round_trip(tmp_path, state):
    src = tmp_path / "src.pt"
    torch.save({"g_ema": state}, src)
    teacher = ganlift.load_teacher(src, w_mean_samples=300, seed=4, conv_clamp=0.8)
    folder = save_teacher(teacher, tmp_path / "saved")
    assert sorted(p.name for p in folder.iterdir()) == ["teacher.json", "teacher.safetensors"]
    meta = json.loads((folder / "teacher.json").read_text())
    assert meta["format"] == "ganlift-teacher" and meta["config"] == teacher.config
    assert meta["source"]["sha256"] == teacher.reference()["sha256"]

    for where in (folder, folder / "teacher.safetensors"):
        # the stored statistics are used: w_mean_samples/seed are ignored
        back = ganlift.load_teacher(where, w_mean_samples=10, seed=99)
        assert back.config == teacher.config and back.conv_clamp == 0.8
        assert torch.equal(back.w_mean, teacher.w_mean) and torch.equal(back.w_std, teacher.w_std)
        for a, b in zip(_outputs(teacher), _outputs(back)):
            assert torch.equal(a, b)
        ref = back.reference()
        assert ref["format"] == "ganlift" and ref["w_mean_source"] == "stored"
        assert ref["sha256"] == hashlib.sha256((folder / "teacher.safetensors").read_bytes()).hexdigest()
        assert ref["source"]["path"] == str(src.resolve())
        assert "w_mean_samples" not in ref


def test_lone_safetensors_and_rosinality_safetensors(tmp_path, state):
    t = random_stylegan2(16, 16, w_mean_samples=128)
    save_teacher(t, tmp_path / "a")
    moved = tmp_path / "elsewhere.safetensors"
    moved.write_bytes((tmp_path / "a" / "teacher.safetensors").read_bytes())
    back = ganlift.load_teacher(moved)  # config travels in the safetensors metadata
    assert torch.equal(_outputs(back)[0], _outputs(t)[0]) and back.name == "stylegan2-random"
    plain = tmp_path / "g_ema.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(plain))
    loaded = ganlift.load_teacher(plain, **OPTS)
    assert loaded.resolution == RES and loaded.reference()["format"] == "safetensors"


def test_corrupt_ganlift_files(tmp_path):
    t = random_stylegan2(16, 16, w_mean_samples=128)
    folder = save_teacher(t, tmp_path / "t")
    data = (folder / "teacher.safetensors").read_bytes()
    (folder / "teacher.safetensors").write_bytes(data[: len(data) // 2])
    _raises(folder, "truncated or corrupt")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    _raises(empty, "teacher.safetensors is missing")
    with pytest.raises(TypeError, match="StyleGAN2Teacher"):
        save_teacher(object(), tmp_path / "x")
