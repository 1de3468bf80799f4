"""The teacher zoo (ganlift.zoo) and the ``ganlift teachers`` command.

Local tests run offline in this process; ``@remote`` tests run in a child process against the
Hub-compatible server of tests/hub_server.py (zoo entries pointing at files the tests upload).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

import ganlift
from ganlift import zoo
from ganlift.cli import main
from ganlift.teachers import TEACHERS
from ganlift.teachers.stylegan2 import random_state_dict
from hub_server import hub, hub_session, remote, tiny_teacher  # noqa: F401  (fixtures)

W_DIM = 16


def _rosinality_file(path: Path, seed: int) -> Path:
    """A tiny rosinality-format checkpoint ({'g_ema': state, 'latent_avg': ...})."""
    state = random_state_dict(resolution=8, w_dim=W_DIM, n_mlp=1, seed=seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"g_ema": state, "latent_avg": torch.full((W_DIM,), 0.1 * seed)}, path)
    return path


def _images(teacher, seed=3):
    w = torch.randn(2, W_DIM, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return teacher.synthesis(w)


def _prepare_cache(cache: Path, repo_id: str, files: dict[str, Path], commit: str = "c" * 40) -> None:
    """A Hugging Face cache entry laid out by hand, as a past download leaves it."""
    from huggingface_hub.file_download import repo_folder_name

    repo = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    for name, src in files.items():
        blob = repo / "blobs" / zoo.sha256_file(src)
        shutil.copyfile(src, blob)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, link.parent), link)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)


@pytest.fixture(autouse=True)
def ganlift_home(tmp_path, monkeypatch) -> Path:
    """An empty GANLIFT_HOME per test, so files in the user's real one never leak in."""
    home = tmp_path / "ganlift-home"
    monkeypatch.setenv("GANLIFT_HOME", str(home))
    return home


@pytest.fixture
def offline(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


# ------------------------------------------------------------------------------ data


def test_zoo_entries_are_complete_and_registered():
    from ganlift.recipe import load_recipe

    names = {e.name for e in zoo.entries()}
    assert {"ffhq-256", "afhq-cat", "synthetic-faces", "synthetic-cats"} <= names
    for entry in zoo.entries():
        assert entry.format in zoo.FORMATS and entry.license and entry.description
        assert entry.resolution & (entry.resolution - 1) == 0
        load_recipe(entry.recipe)  # the recommended recipe exists
        assert entry.name in TEACHERS, f"{entry.name} is not a registered teacher"
        if entry.format == "packaged":
            assert (zoo.PACKAGED_DIR / entry.filename).is_file() and entry.sha256
            assert TEACHERS.get(entry.name).recommended_recipe == entry.recipe
        elif entry.format != "builtin":
            assert entry.repo_id.count("/") == 1 and entry.filename and entry.revision
            assert TEACHERS.get(entry.name).recommended_recipe == entry.recipe
        assert entry.sha256 is None or len(entry.sha256) == 64  # not pinned: see the module docstring
    assert zoo.get_entry("ffhq-256").format == "nvidia-pkl" and zoo.get_entry("afhq-cat").format == "rosinality"
    with pytest.raises(ValueError, match="format must be one of"):
        zoo.ZooEntry(name="x", description="x", resolution=8, recipe="faces", license="x", format="pickle")
    with pytest.raises(ValueError, match="needs repo_id and filename"):
        zoo.ZooEntry(name="x", description="x", resolution=8, recipe="faces", license="x", format="rosinality")
    with pytest.raises(ValueError, match="packaged teacher needs filename and sha256"):
        zoo.ZooEntry(name="x", description="x", resolution=8, recipe="faces", license="x", format="packaged",
                     filename="x.safetensors")


def test_shipped_gan_teachers_load_and_match_their_hash():
    """The packaged GAN teachers: hash-pinned, loadable, their stored eval fits match them."""
    from ganlift.eval.pseudo import pseudo_truth_for

    for name in ("gan-faces-64", "gan-cats-64"):
        teacher = ganlift.load_teacher(name)
        assert teacher.resolution == 64 and teacher.reference()["sha256"] == zoo.get_entry(name).sha256
        image = teacher.synthesis(teacher.sample_w(2, seed=0))
        assert image.shape == (2, 3, 64, 64) and torch.isfinite(image).all()
        truth = pseudo_truth_for(teacher, progress=False)  # loads and checks the shipped fits
        w = teacher.sample_w(256, seed=0)[:4]
        assert truth.ground_truth(w)["posed_depth"].shape == (4, 1, 64, 64) and truth.fit_calls == 0


def test_pickle_entry_is_refused_before_any_download(monkeypatch, ganlift_home):
    from huggingface_hub.errors import LocalEntryNotFoundError

    looked = []

    def no_download(*args, **kwargs):
        if not kwargs.get("local_files_only"):
            raise AssertionError("a pickle must not even be downloaded")
        looked.append(args)
        raise LocalEntryNotFoundError("not in the cache")  # what an empty cache answers

    monkeypatch.setattr("huggingface_hub.hf_hub_download", no_download)
    with pytest.raises(ValueError) as info:
        ganlift.load_teacher("ffhq-256")
    assert looked == [("ZeqiangLai/StyleGAN2-pkl", "stylegan2-ffhq-256x256.pkl")]  # a cache lookup only
    msg = str(info.value)
    assert "never loads pickles fetched from the Hub" in msg
    assert "stylegan2-ffhq-256x256.pkl" in msg and "--teacher path/to/stylegan2-ffhq-256x256.pkl" in msg
    assert "api.ngc.nvidia.com" in msg  # where to get it by hand
    # both places ganlift looks: the exact `hf download` command and the ganlift folder
    assert "`hf download ZeqiangLai/StyleGAN2-pkl stylegan2-ffhq-256x256.pkl`" in msg
    assert str(ganlift_home / "teachers" / "stylegan2-ffhq-256x256.pkl") in msg


# A tiny generator with NVIDIA's pickle structure, written by tests/test_nvidia.py's helpers.
PKL_SAMPLES = 512


def _nvidia_pickle(path: Path, seed: int = 0) -> Path:
    from test_nvidia import _tiny_state, write_nvidia_pickle

    path.parent.mkdir(parents=True, exist_ok=True)
    return write_nvidia_pickle(path, _tiny_state(seed=seed), z_dim=32, w_dim=32)


def _pkl_images(teacher, seed=3):
    w = torch.randn(2, teacher.w_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return teacher.synthesis(w)


@pytest.fixture
def cache_lookups_only(monkeypatch):
    """Let hf_hub_download run, but fail the test if it is ever asked to download."""
    import huggingface_hub

    real = huggingface_hub.hf_hub_download

    def lookup(*args, **kwargs):
        assert kwargs.get("local_files_only") is True, "a pickle must never be downloaded"
        return real(*args, **kwargs)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", lookup)


def test_user_downloaded_pickle_loads_from_the_hf_cache(tmp_path, offline, cache_lookups_only, capsys):
    src = _nvidia_pickle(tmp_path / "stylegan2-ffhq-256x256.pkl", seed=1)
    cache = tmp_path / "cache"
    _prepare_cache(cache, "ZeqiangLai/StyleGAN2-pkl", {"stylegan2-ffhq-256x256.pkl": src})  # `hf download`
    teacher = ganlift.load_teacher("ffhq-256", cache_dir=cache, w_mean_samples=PKL_SAMPLES)
    direct = ganlift.load_teacher(str(src), w_mean_samples=PKL_SAMPLES)
    assert torch.equal(_pkl_images(teacher), _pkl_images(direct))
    assert teacher.name == "ffhq-256" and teacher.recommended_recipe == "faces"
    ref = teacher.reference()
    assert ref["repo_id"] == "ZeqiangLai/StyleGAN2-pkl" and ref["filename"] == "stylegan2-ffhq-256x256.pkl"
    assert ref["revision"] == "c" * 40 and ref["sha256"] == zoo.sha256_file(src)
    assert ref["format"] == "nvidia-pkl" and ref["w_mean_samples"] == PKL_SAMPLES
    # the listing shows the user's copy
    assert main(["teachers", "--cache-dir", str(cache)]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("ffhq-256"))
    assert "cached (user download)" in line and "snapshots/" + "c" * 40 in line


def test_user_downloaded_pickle_loads_from_ganlift_home(tmp_path, offline, cache_lookups_only, ganlift_home,
                                                        capsys):
    src = _nvidia_pickle(ganlift_home / "teachers" / "stylegan2-ffhq-256x256.pkl", seed=2)
    teacher = ganlift.load_teacher("ffhq-256", cache_dir=tmp_path / "empty", w_mean_samples=PKL_SAMPLES)
    assert torch.equal(_pkl_images(teacher), _pkl_images(ganlift.load_teacher(str(src), w_mean_samples=PKL_SAMPLES)))
    ref = teacher.reference()
    assert ref["name"] == "ffhq-256" and ref["sha256"] == zoo.sha256_file(src) and ref["revision"] == "main"
    # the Hugging Face cache comes first
    other = _nvidia_pickle(tmp_path / "other.pkl", seed=3)
    cache = tmp_path / "cache"
    _prepare_cache(cache, "ZeqiangLai/StyleGAN2-pkl", {"stylegan2-ffhq-256x256.pkl": other})
    first = ganlift.load_teacher("ffhq-256", cache_dir=cache, w_mean_samples=PKL_SAMPLES)
    assert first.reference()["sha256"] == zoo.sha256_file(other)
    assert main(["teachers", "--cache-dir", str(tmp_path / "empty")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("ffhq-256"))
    assert "cached (user download)" in line and str(src) in line


def test_pinned_sha256_refuses_a_tampered_user_pickle(tmp_path, offline, cache_lookups_only, ganlift_home,
                                                      monkeypatch):
    import dataclasses

    good = _nvidia_pickle(tmp_path / "good.pkl", seed=4)
    pinned = dataclasses.replace(zoo.get_entry("ffhq-256"), sha256=zoo.sha256_file(good))
    monkeypatch.setitem(zoo.ZOO, "ffhq-256", pinned)
    target = ganlift_home / "teachers" / "stylegan2-ffhq-256x256.pkl"
    target.parent.mkdir(parents=True)
    shutil.copyfile(good, target)
    empty = tmp_path / "empty"
    assert ganlift.load_teacher("ffhq-256", cache_dir=empty, w_mean_samples=PKL_SAMPLES).reference()["sha256"] \
        == pinned.sha256
    bad = bytearray(good.read_bytes())
    bad[len(bad) // 2] ^= 0x01  # one bit flipped
    target.write_bytes(bytes(bad))
    with pytest.raises(ValueError, match=r"sha256 mismatch for teacher 'ffhq-256'.*expected " + pinned.sha256):
        ganlift.load_teacher("ffhq-256", cache_dir=empty, w_mean_samples=PKL_SAMPLES)
    # the same check for a copy in the Hugging Face cache, and for a hash passed by the caller
    cache = tmp_path / "cache"
    _prepare_cache(cache, "ZeqiangLai/StyleGAN2-pkl", {"stylegan2-ffhq-256x256.pkl": target})
    with pytest.raises(ValueError, match="sha256 mismatch for teacher 'ffhq-256'"):
        ganlift.load_teacher("ffhq-256", cache_dir=cache, w_mean_samples=PKL_SAMPLES)
    monkeypatch.setitem(zoo.ZOO, "ffhq-256", dataclasses.replace(pinned, sha256=None))
    with pytest.raises(ValueError, match="sha256 mismatch.*expected " + "0" * 64):
        ganlift.load_teacher("ffhq-256", cache_dir=cache, sha256="0" * 64, w_mean_samples=PKL_SAMPLES)


def test_offline_and_not_cached_says_what_to_get(tmp_path, offline, capsys, monkeypatch):
    with pytest.raises(FileNotFoundError) as info:
        ganlift.load_teacher("afhq-cat", cache_dir=tmp_path / "empty")
    msg = str(info.value)
    assert "teacher 'afhq-cat'" in msg and "HF_HUB_OFFLINE=1" in msg
    assert "ZeqiangLai/StyleGAN2" in msg and "ada/afhqcat.pt" in msg
    assert "--teacher path/to/afhqcat.pt" in msg
    # the same message reaches a user of `ganlift lift`
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "empty"))
    assert main(["lift", "--teacher", "afhq-cat", "--steps", "1", "--out", str(tmp_path / "run"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "ganlift lift: error:" in err and "--teacher path/to/afhqcat.pt" in err


def test_cached_zoo_teacher_loads_offline_and_is_verified(tmp_path, offline, capsys):
    src = _rosinality_file(tmp_path / "afhqcat.pt", seed=4)
    cache = tmp_path / "cache"
    _prepare_cache(cache, "ZeqiangLai/StyleGAN2", {"ada/afhqcat.pt": src})
    teacher = ganlift.load_teacher("afhq-cat", cache_dir=cache, w_mean_samples=512)
    direct = ganlift.load_teacher(src, w_mean_samples=512)
    assert torch.equal(_images(teacher), _images(direct))
    ref = teacher.reference()
    assert ref["name"] == "afhq-cat" and teacher.name == "afhq-cat"
    assert ref["repo_id"] == "ZeqiangLai/StyleGAN2" and ref["filename"] == "ada/afhqcat.pt"
    assert ref["revision"] == "c" * 40 and ref["sha256"] == zoo.sha256_file(src)
    assert ref["w_mean_samples"] == 512  # load options are recorded, so a lifter can repeat them
    assert teacher.recommended_recipe == "cats"
    with pytest.raises(ValueError, match=r"sha256 mismatch for teacher 'afhq-cat'.*expected 0{64}"):
        ganlift.load_teacher("afhq-cat", cache_dir=cache, sha256="0" * 64, w_mean_samples=512)
    # the listing shows the cached file
    assert main(["teachers", "--cache-dir", str(cache)]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("afhq-cat"))
    assert "snapshots/" + "c" * 40 + "/ada/afhqcat.pt" in line


def test_lifter_from_config_resolves_a_zoo_teacher(tmp_path, offline, monkeypatch):
    """Lifter.from_config without a teacher: the recorded zoo reference, from the cache."""
    from ganlift.teachers.reference import TeacherMismatchError
    from hub_server import small_lifter

    src = _rosinality_file(tmp_path / "g.pt", seed=6)
    cache = tmp_path / "cache"
    _prepare_cache(cache, "zoo/cfg", {"g.pt": src})
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(zoo, "ZOO", dict(zoo.ZOO))  # the zoo and the teachers are restored afterwards
    monkeypatch.setattr(TEACHERS, "_items", dict(TEACHERS._items))
    zoo.register_entry(zoo.ZooEntry(name="test-cfg", description="test", resolution=8, recipe="synthetic",
                                    license="MIT", license_id="mit", format="rosinality", repo_id="zoo/cfg",
                                    filename="g.pt", options={"w_mean_samples": 512}), overwrite=True)
    lifter = small_lifter(ganlift.load_teacher("test-cfg"))
    rebuilt = ganlift.Lifter.from_config(lifter.config)
    assert rebuilt.teacher.name == "test-cfg"
    assert rebuilt.teacher.reference()["sha256"] == zoo.sha256_file(src)
    assert torch.equal(_images(rebuilt.teacher), _images(lifter.teacher))
    with pytest.raises(TeacherMismatchError, match="sha256 mismatch for teacher 'test-cfg'"):
        ganlift.load_teacher("test-cfg", sha256="0" * 64)


def test_teachers_command_lists_and_previews(tmp_path, capsys):
    assert main(["teachers"]) == 0
    out = capsys.readouterr().out
    for name in ("ffhq-256", "afhq-cat", "synthetic-faces", "synthetic-cats", "stylegan2-random"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "manual download" in out  # the pickle entry
    grid = tmp_path / "grid.png"
    assert main(["teachers", "--preview", "stylegan2-random", "--out", str(grid), "--n", "4", "--seed", "1"]) == 0
    from PIL import Image

    with Image.open(grid) as im:  # 2x2 tiles of 32 px with 2 px padding
        assert im.size == (2 * 34 + 2, 2 * 34 + 2)
        first = im.copy()
    # the same grid from a checkpoint path, and the seed matters
    from ganlift.teachers.files import save_teacher

    save_teacher(tiny_teacher(seed=1), tmp_path / "st")
    assert main(["teachers", "--preview", str(tmp_path / "st"), "--out", str(tmp_path / "b.png"), "--n", "3"]) == 0
    assert main(["teachers", "--preview", "stylegan2-random", "--out", str(tmp_path / "c.png"), "--n", "4"]) == 0
    with Image.open(tmp_path / "c.png") as other:
        assert other.tobytes() != first.tobytes()
    assert main(["teachers", "--preview", "stylegan2-random"]) == 1  # needs --out
    capsys.readouterr()
    assert main(["teachers", "--preview", "synthetic-facez", "--out", str(grid)]) == 1
    assert "Did you mean 'synthetic-faces'" in capsys.readouterr().err


# ------------------------------------------------------------------------------ against the test Hub


def _upload(repo_id: str, files: dict[str, bytes]) -> str:
    from huggingface_hub import CommitOperationAdd, HfApi

    api = HfApi()
    api.create_repo(repo_id, exist_ok=True)
    ops = [CommitOperationAdd(path_in_repo=k, path_or_fileobj=v) for k, v in files.items()]
    return api.create_commit(repo_id, ops, commit_message="upload").oid


def _entry(name: str, repo_id: str, filename: str, sha256: str | None, fmt: str = "rosinality"):
    return zoo.register_entry(zoo.ZooEntry(
        name=name, description="test teacher", resolution=8, recipe="synthetic", license="MIT",
        license_id="mit", format=fmt, repo_id=repo_id, filename=filename, sha256=sha256,
        options={"w_mean_samples": 512} if fmt == "rosinality" else {},
    ), overwrite=True)


@remote
def test_zoo_download_verify_and_cache(hub, tmp_path):
    src = _rosinality_file(tmp_path / "tiny.pt", seed=1)
    _upload("zoo/tiny", {"weights/tiny.pt": src.read_bytes()})
    _entry("test-tiny", "zoo/tiny", "weights/tiny.pt", zoo.sha256_file(src))
    cache = tmp_path / "cache"
    teacher = ganlift.load_teacher("test-tiny", cache_dir=cache)
    assert torch.equal(_images(teacher), _images(ganlift.load_teacher(src, w_mean_samples=512)))
    assert teacher.reference()["sha256"] == zoo.sha256_file(src)
    asked = hub.requests()
    assert ("GET", "/zoo/tiny/resolve/main/weights/tiny.pt") in asked
    # cached: loading again downloads nothing (a HEAD only)
    ganlift.load_teacher("test-tiny", cache_dir=cache)
    gets = [r for r in hub.requests()[len(asked):] if r[0] == "GET"]
    assert gets == [], gets
    assert zoo.cached_path(zoo.get_entry("test-tiny"), cache_dir=cache) is not None
    # a ganlift-format teacher file works the same way
    from ganlift.teachers.files import save_teacher

    folder = save_teacher(tiny_teacher(seed=5), tmp_path / "st")
    _upload("zoo/tiny-st", {"teacher.safetensors": (folder / "teacher.safetensors").read_bytes(),
                            "teacher.json": (folder / "teacher.json").read_bytes()})
    _entry("test-tiny-st", "zoo/tiny-st", "teacher.safetensors", None, fmt="ganlift")
    loaded = ganlift.load_teacher("test-tiny-st", cache_dir=cache)
    assert torch.equal(_images(loaded), _images(tiny_teacher(seed=5)))
    assert loaded.reference()["sha256"] == zoo.sha256_file(folder / "teacher.safetensors")


@remote
def test_tampered_teacher_file_fails_the_sha256_check(hub, tmp_path):
    good = _rosinality_file(tmp_path / "good.pt", seed=2)
    first = _upload("zoo/tamper", {"g.pt": good.read_bytes()})
    _entry("test-tamper", "zoo/tamper", "g.pt", zoo.sha256_file(good))
    cache = tmp_path / "cache"
    ganlift.load_teacher("test-tamper", cache_dir=cache)  # fine, and now cached
    bad = bytearray(good.read_bytes())
    bad[len(bad) // 2] ^= 0x01  # one bit flipped in the tensor data
    _upload("zoo/tamper", {"g.pt": bytes(bad)})
    for where in (cache, tmp_path / "fresh"):
        with pytest.raises(ValueError, match=r"sha256 mismatch for teacher 'test-tamper'"):
            ganlift.load_teacher("test-tamper", cache_dir=where)
    # the commit that has the expected file still loads
    assert ganlift.load_teacher("test-tamper", cache_dir=cache, revision=first).reference()["revision"] == first


@remote
def test_lifter_on_zoo_teacher_push_pull(hub, tmp_path):
    from test_hub import TinyLifter, _same

    src = _rosinality_file(tmp_path / "z.pt", seed=3)
    commit = _upload("zoo/for-lifter", {"z.pt": src.read_bytes()})
    _entry("test-zoo-lifter", "zoo/for-lifter", "z.pt", None)  # not pinned: the lifter pins it
    teacher = ganlift.load_teacher("test-zoo-lifter", cache_dir=tmp_path / "c0")
    torch.manual_seed(0)
    model = TinyLifter(teacher)
    model.push_to_hub("me/zoo-lifter")
    w = torch.randn(3, W_DIM, generator=torch.Generator().manual_seed(1))
    # an empty cache: the lifter and its teacher both come from the Hub
    loaded = TinyLifter.from_pretrained("me/zoo-lifter", cache_dir=tmp_path / "c1")
    assert _same(model, loaded, w)
    ref = loaded.teacher.reference()
    assert ref["revision"] == commit and ref["sha256"] == zoo.sha256_file(src)
    # main moves on to another file: the lifter still loads the commit it was trained with
    other = _rosinality_file(tmp_path / "other.pt", seed=9)
    _upload("zoo/for-lifter", {"z.pt": other.read_bytes()})
    assert _same(model, TinyLifter.from_pretrained("me/zoo-lifter", cache_dir=tmp_path / "c2"), w)
    # ... and refuses that other file when it is passed explicitly
    with pytest.raises(ValueError, match=r"teacher sha256 mismatch.*force_teacher=True"):
        TinyLifter.from_pretrained("me/zoo-lifter", cache_dir=tmp_path / "c2", teacher=str(other))
    with pytest.warns(UserWarning, match="loading anyway"):
        TinyLifter.from_pretrained("me/zoo-lifter", cache_dir=tmp_path / "c2", teacher=str(other),
                                   force_teacher=True)
