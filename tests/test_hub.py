"""Saving, loading, pushing and pulling lifters (ganlift.hub).

Local tests run in this process (offline). Tests marked ``@remote`` run in one child process
whose huggingface_hub talks to a Hub-compatible server on 127.0.0.1 (tests/hub_server.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn

import ganlift
from ganlift import hub as ghub
from ganlift.hub import HubMixin
from ganlift.utils.outputs import OutputFields
from hub_server import hub, hub_session, needs_remote, remote, small_lifter, tiny_teacher  # noqa: F401


@dataclass
class TinyOutput(OutputFields):
    """What the tiny model draws: an image in [-1, 1], as LifterOutput.image_pm1."""

    image_pm1: torch.Tensor


class TinyLifter(HubMixin, nn.Module):
    """The smallest model the mixin supports: config + from_config + a registered teacher."""

    def __init__(self, teacher, hidden: int = 8):
        super().__init__()
        self.teacher = teacher  # a submodule: its weights must stay out of model.safetensors
        self.hidden = hidden
        r = teacher.resolution
        self.net = nn.Sequential(nn.Linear(teacher.w_dim, hidden), nn.Tanh(), nn.Linear(hidden, 3 * r * r))

    @property
    def config(self):
        return {"architecture": "tiny", "hidden": self.hidden, "resolution": self.teacher.resolution,
                "recipe": {"name": "tiny", "train": {"steps": 3, "lr": 0.1}},
                "teacher": self.teacher.reference()}

    @classmethod
    def from_config(cls, config, teacher):
        assert "weights_sha256" not in config, "the mixin's own keys must not reach from_config"
        return cls(teacher, hidden=config["hidden"])

    def forward(self, w):
        r = self.teacher.resolution
        return TinyOutput(image_pm1=torch.tanh(self.net(w)).view(-1, 3, r, r))


def _codes(n=3, seed=7, w_dim=16):
    return torch.randn(n, w_dim, generator=torch.Generator().manual_seed(seed))


def _same(a: nn.Module, b: nn.Module, w) -> bool:
    with torch.no_grad():
        return torch.equal(a(w).image_pm1, b(w).image_pm1)


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(1)
    model = TinyLifter(tiny_teacher(seed=0)).eval()
    folder = model.save_pretrained(tmp_path / "tiny")
    return model, folder


def _card_meta(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---", 4)])


# ------------------------------------------------------------------------------ local folders


def test_save_writes_lifter_files_only(tiny):
    model, folder = tiny
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "config.json", "model.safetensors", "sample.png"]
    from safetensors import safe_open

    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
    assert keys == {"net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"}  # no teacher.*
    config = json.loads((folder / "config.json").read_text())
    assert config["ganlift_version"] == ganlift.__version__
    assert config["weights_sha256"] == ghub_sha(folder / "model.safetensors")
    assert config["teacher"]["name"] == "stylegan2-random" and config["teacher"]["seed"] == 0


def test_round_trip_identical_outputs(tiny):
    model, folder = tiny
    torch.manual_seed(123)  # a different initialisation: only loading can make outputs equal
    fresh = TinyLifter(tiny_teacher(seed=0))
    w = _codes()
    assert not _same(model, fresh, w)
    loaded = TinyLifter.from_pretrained(folder)
    assert not loaded.training
    assert _same(model, loaded, w)


def test_real_lifter_round_trip(tmp_path):
    teacher = tiny_teacher(seed=3, resolution=16)
    lifter = small_lifter(teacher, seed=0).eval()
    folder = lifter.save_pretrained(tmp_path / "lifter")
    torch.manual_seed(99)
    loaded = ganlift.Lifter.from_pretrained(folder)
    w = teacher.sample_w(4, seed=5)
    with torch.no_grad():
        a, b = lifter(w), loaded(w)
    for key in ("image_pm1", "depth", "albedo", "view", "light", "transform"):
        assert torch.equal(a[key], b[key]), key
    card = (folder / "README.md").read_text()
    meta = _card_meta(card)
    assert meta["library_name"] == "ganlift" and "liftedgan" in meta["tags"]
    assert "`synthetic`" in card and "losses.flip.weight" in card


def test_card_shows_metrics_steps_and_sample(tmp_path):
    torch.manual_seed(0)
    model = TinyLifter(tiny_teacher())
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "log.jsonl").write_text('{"step": 25, "loss": 1.0}\n{"step": 50, "loss": 0.5}\n')
    model.save_pretrained(folder, metrics={"depth_error": 0.4351, "angles": {"yaw": 1.86}, "n": 256})
    card = (folder / "README.md").read_text()
    assert "| steps | 50 |" in card  # the log's last step wins over the recipe's plan
    assert "| depth_error | 0.4351 |" in card and "| angles.yaw | 1.86 |" in card
    assert "Measured on 256 held-out samples." in card
    assert "![samples](sample.png)" in card
    from PIL import Image

    with Image.open(folder / "sample.png") as im:  # 2 rows of 8 images of 8x8 with padding 2
        assert im.size == (8 * 10 + 2, 2 * 10 + 2)
    assert "@inproceedings{shi2021lifting" in card and "Lifting 2D StyleGAN for 3D-Aware Face Generation" in card
    # write_card re-renders after metrics change
    (folder / "metrics.json").write_text('{"depth_error": 0.3}')
    ghub.write_card(folder)
    assert "| depth_error | 0.3 |" in (folder / "README.md").read_text()


def test_card_for_zoo_teacher_reference():
    config = {"recipe_name": "cats", "recipe": {"train": {"steps": 100}},
              "teacher": {"name": "afhq-cat", "repo_id": "ZeqiangLai/StyleGAN2", "filename": "ada/afhqcat.pt",
                          "revision": "abc123", "sha256": "f" * 64}}
    card = ghub.render_card(config, repo_id="me/lifted-cats")
    meta = _card_meta(card)
    assert meta["license"] == "other" and meta["license_name"] == "nvidia-source-code-license-nc"
    assert meta["base_model"] == "ZeqiangLai/StyleGAN2"
    assert "`" + "f" * 64 + "`" in card and "ada/afhqcat.pt" in card and "`abc123`" in card
    assert 'from_pretrained("me/lifted-cats")' in card and "ganlift pull me/lifted-cats" in card
    assert "non-commercial use only" in card  # the teacher licence carries over


def test_truncated_and_corrupted_weights_give_clear_errors(tiny):
    _, folder = tiny
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="does not match the sha256 recorded in config.json"):
        TinyLifter.from_pretrained(folder)
    # without a recorded hash, the safetensors reader reports the truncation itself
    config = json.loads((folder / "config.json").read_text())
    del config["weights_sha256"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="truncated or corrupt"):
        TinyLifter.from_pretrained(folder)
    weights.write_bytes(b"")
    with pytest.raises(ValueError, match="truncated or corrupt"):
        TinyLifter.from_pretrained(folder)
    # a flipped byte in the tensor data: only the hash can see it
    broken = bytearray(data)
    broken[-5] ^= 0xFF
    weights.write_bytes(bytes(broken))
    config["weights_sha256"] = hashlib.sha256(data).hexdigest()
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="corrupt, truncated or was replaced"):
        TinyLifter.from_pretrained(folder)


def test_corrupt_config_and_missing_files(tiny):
    _, folder = tiny
    (folder / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        TinyLifter.from_pretrained(folder)
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="config.json"):
        TinyLifter.from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="no lifter folder"):
        TinyLifter.from_pretrained(folder / "nope" / "deeper")
    with pytest.raises(ValueError, match="only applies to Hub repos"):
        TinyLifter.from_pretrained(folder.parent, revision="main")


def test_weights_that_do_not_fit_are_named(tiny):
    _, folder = tiny
    config = json.loads((folder / "config.json").read_text())
    config["hidden"] = 4  # the architecture no longer matches the stored tensors
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"shape mismatches \[net.0.bias: file \(8,\) vs model \(4,\)"):
        TinyLifter.from_pretrained(folder)


def test_nan_weights_are_refused(tmp_path):
    model = TinyLifter(tiny_teacher())
    with torch.no_grad():
        model.net[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite weights: 'net.0.weight'"):
        model.save_pretrained(tmp_path / "x")


def test_registered_teacher_with_other_options_is_refused(tiny):
    model, folder = tiny
    other = tiny_teacher(seed=1)
    with pytest.raises(ValueError, match=r"other options.*seed: 0 vs 1.*force_teacher=True"):
        TinyLifter.from_pretrained(folder, teacher=other)
    with pytest.warns(UserWarning, match="force_teacher=True"):
        loaded = TinyLifter.from_pretrained(folder, teacher=other, force_teacher=True)
    assert loaded.teacher is other
    # the right teacher passed explicitly (instance or registered name) is accepted
    same = TinyLifter.from_pretrained(folder, teacher=tiny_teacher(seed=0))
    assert _same(model, same, _codes())


def test_file_teacher_hash_is_recorded_and_checked(tmp_path):
    from ganlift.teachers.files import save_teacher

    save_teacher(tiny_teacher(seed=0), tmp_path / "teacher_a")
    save_teacher(tiny_teacher(seed=1), tmp_path / "teacher_b")
    teacher = ganlift.load_teacher(tmp_path / "teacher_a")
    torch.manual_seed(0)
    model = TinyLifter(teacher)
    folder = model.save_pretrained(tmp_path / "lifter")
    ref = json.loads((folder / "config.json").read_text())["teacher"]
    from ganlift.zoo import sha256_file

    assert ref["sha256"] == sha256_file(tmp_path / "teacher_a" / "teacher.safetensors")
    # resolved by the recorded path
    assert _same(model, TinyLifter.from_pretrained(folder), _codes())
    # another file is refused with instructions
    with pytest.raises(ValueError, match=r"teacher sha256 mismatch.*force_teacher=True"):
        TinyLifter.from_pretrained(folder, teacher=str(tmp_path / "teacher_b"))
    # the same weights under another path are fine
    shutil.copytree(tmp_path / "teacher_a", tmp_path / "moved")
    shutil.rmtree(tmp_path / "teacher_a")
    with pytest.raises(FileNotFoundError, match=rf"sha256 must be {ref['sha256']}"):
        TinyLifter.from_pretrained(folder)
    assert _same(model, TinyLifter.from_pretrained(folder, teacher=str(tmp_path / "moved")), _codes())


def _prepare_cache(cache: Path, repo_id: str, folder: Path, commit: str = "a" * 40) -> None:
    """Lay out a Hugging Face cache entry by hand (blobs, snapshots, refs), like a past download."""
    from huggingface_hub.file_download import repo_folder_name

    repo = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    snap = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    for f in folder.iterdir():
        blob = repo / "blobs" / ghub_sha(f)
        shutil.copyfile(f, blob)
        os.symlink(os.path.relpath(blob, snap), snap / f.name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def ghub_sha(path: Path) -> str:
    from ganlift.zoo import sha256_file

    return sha256_file(path)


def test_load_from_prepared_cache_offline(tiny, tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    model, folder = tiny
    cache = tmp_path / "cache"
    _prepare_cache(cache, "me/tiny", folder)
    loaded = TinyLifter.from_pretrained("me/tiny", cache_dir=cache)
    assert _same(model, loaded, _codes())
    loaded = TinyLifter.from_pretrained("me/tiny", cache_dir=cache, revision="a" * 40)
    assert _same(model, loaded, _codes())
    with pytest.raises(FileNotFoundError, match=r"not in the local Hugging Face cache.*HF_HUB_OFFLINE=1"):
        TinyLifter.from_pretrained("me/tiny", cache_dir=cache, revision="v2")
    with pytest.raises(FileNotFoundError, match="ganlift pull me/other --out DIR"):
        TinyLifter.from_pretrained("me/other", cache_dir=cache)


def test_huggingface_argument_names_and_the_deprecated_ones(tiny):
    model, folder = tiny
    loaded = TinyLifter.from_pretrained(pretrained_model_name_or_path=folder, force_download=False, token=None)
    assert _same(model, loaded, _codes())
    with pytest.warns(DeprecationWarning, match=r"from_pretrained\(source=...\) is deprecated"):
        assert _same(model, TinyLifter.from_pretrained(source=folder), _codes())
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        TinyLifter.from_pretrained(folder, sorce=folder)


def test_card_metadata_is_model_card_data_with_eval_results(tmp_path):
    from huggingface_hub import ModelCard

    torch.manual_seed(0)
    folder = TinyLifter(tiny_teacher()).save_pretrained(
        tmp_path / "m", metrics={"depth": 0.25, "angles": {"yaw": 1.5}, "n": 64, "invalid": {}})
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "ganlift" and "liftedgan" in card.data.tags
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == {"depth": 0.25, "angles.yaw": 1.5}  # "n" describes the evaluation
    assert all(r.dataset_type == "stylegan2-random" for r in card.data.eval_results)
    assert "| depth | 0.25 |" in card.text


# ------------------------------------------------------------------------------ against the test Hub


@remote
def test_push_then_pull_into_empty_cache(hub):
    teacher = tiny_teacher(seed=2, resolution=16)
    lifter = small_lifter(teacher).eval()
    url = lifter.push_to_hub("me/lifted", commit_message="first")
    assert url.startswith(hub.endpoint + "/me/lifted/commit/")
    cache = hub.workdir / "cache-pull"
    assert not cache.exists()
    torch.manual_seed(42)
    loaded = ganlift.Lifter.from_pretrained("me/lifted", cache_dir=cache)
    w = teacher.sample_w(3, seed=11)
    with torch.no_grad():
        expected = lifter(w).image_pm1
        assert torch.equal(loaded(w).image_pm1, expected)
    # for the offline test in the parent process: the original, to compare in one process
    lifter.save_pretrained(hub.workdir / "original")
    # only the lifter's files went up, with a card that validates and names the repo
    from huggingface_hub import HfApi, hf_hub_download

    files = sorted(s.rfilename for s in HfApi().model_info("me/lifted").siblings)
    assert files == [".gitattributes", "README.md", "config.json", "model.safetensors", "sample.png"]
    card = Path(hf_hub_download("me/lifted", "README.md", cache_dir=cache)).read_text()
    assert 'from_pretrained("me/lifted")' in card
    assert ("POST", "/api/validate-yaml") in hub.requests()
    assert ("PUT", "/_lfs/" + ghub_sha(Path(hf_hub_download("me/lifted", "model.safetensors", cache_dir=cache)))) \
        in hub.requests()
    # pushing the same lifter again changes nothing (saves are byte-stable): same commit
    assert lifter.push_to_hub("me/lifted") == url


@remote
def test_wrong_revision_and_missing_repo(hub):
    torch.manual_seed(0)
    model = TinyLifter(tiny_teacher())
    model.push_to_hub("me/revs")
    from huggingface_hub import HfApi

    sha = HfApi().model_info("me/revs").sha
    cache = hub.workdir / "cache-revs"
    with pytest.raises(ValueError, match=r"revision 'nope' does not exist in the Hub repo 'me/revs'"):
        TinyLifter.from_pretrained("me/revs", revision="nope", cache_dir=cache)
    with pytest.raises(ValueError, match="does not exist"):
        TinyLifter.from_pretrained("me/revs", revision="0" * 40, cache_dir=cache)
    assert _same(model, TinyLifter.from_pretrained("me/revs", revision=sha, cache_dir=cache), _codes())
    with pytest.raises(FileNotFoundError, match="no Hub repo 'me/missing'"):
        TinyLifter.from_pretrained("me/missing", cache_dir=cache)


@remote
def test_never_loads_a_pickle_from_the_hub(hub):
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo("me/pickled")
    config = {"architecture": "tiny", "hidden": 8, "teacher": {"name": "stylegan2-random"}}
    api.upload_file(path_or_fileobj=json.dumps(config).encode(), path_in_repo="config.json", repo_id="me/pickled")
    api.upload_file(path_or_fileobj=b"\x80\x04pickle", path_in_repo="pytorch_model.bin", repo_id="me/pickled")
    before = len(hub.requests())  # the server is shared with other remote tests
    with pytest.raises(FileNotFoundError, match="never loads pickled pytorch_model.bin"):
        TinyLifter.from_pretrained("me/pickled", cache_dir=hub.workdir / "cache-pkl")
    asked = [p for _, p in hub.requests()[before:]]
    assert "/me/pickled/resolve/main/config.json" in asked
    assert not any(p.endswith((".bin", ".pkl", ".pt")) for p in asked), asked


@remote
def test_cli_push_and_pull(hub, tmp_path):
    from ganlift.cli import main

    torch.manual_seed(0)
    model = TinyLifter(tiny_teacher())
    folder = model.save_pretrained(tmp_path / "run")
    (folder / "log.jsonl").write_text('{"step": 3}\n')  # logs and checkpoints stay local
    (folder / "checkpoints").mkdir()
    (folder / "checkpoints" / "last.pt").write_bytes(b"not for the hub")
    assert main(["push", str(folder), "me/cli"]) == 0
    out = tmp_path / "pulled"
    assert main(["pull", "me/cli", "--out", str(out), "--cache-dir", str(tmp_path / "c")]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors", "sample.png"]
    assert _same(model, TinyLifter.from_pretrained(out), _codes())
    assert "ganlift pull me/cli" in (out / "README.md").read_text()
    assert main(["pull", "me/cli", "--out", str(out), "--revision", "nope"]) == 1
    assert main(["push", str(tmp_path / "missing"), "me/cli"]) == 1


@needs_remote(test_push_then_pull_into_empty_cache)
def test_offline_load_after_pull(hub_session, monkeypatch):
    """HF_HUB_OFFLINE=1 in this process: the cache the child filled is enough."""
    hub_session.check(test_push_then_pull_into_empty_cache.ganlift_remote)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    original = ganlift.Lifter.from_pretrained(hub_session.workdir / "original")
    loaded = ganlift.Lifter.from_pretrained("me/lifted", cache_dir=hub_session.workdir / "cache-pull")
    w = loaded.teacher.sample_w(3, seed=11)
    with torch.no_grad():
        assert torch.equal(loaded(w).image_pm1, original(w).image_pm1)


@remote
def test_pull_refuses_another_lifter_and_leaves_nothing_stale(hub, tmp_path):
    from ganlift.cli import main
    from ganlift.hub import LifterExistsError, pull

    torch.manual_seed(0)
    first = TinyLifter(tiny_teacher())
    first.push_to_hub("me/first", metrics={"depth": 0.5})
    torch.manual_seed(1)
    second = TinyLifter(tiny_teacher())
    second.push_to_hub("me/second", sample=False)
    out = tmp_path / "lifter"
    pull("me/first", out, cache_dir=tmp_path / "c")
    (out / "log.jsonl").write_text('{"step": 3}\n')  # as if the folder were a lift's output
    with pytest.raises(LifterExistsError, match=r"already holds a lifter of teacher 'stylegan2-random'.*overwrite"):
        pull("me/second", out, cache_dir=tmp_path / "c")
    assert _same(first, TinyLifter.from_pretrained(out), _codes())  # untouched
    assert main(["pull", "me/second", "--out", str(out)]) == 1
    assert main(["pull", "me/second", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert _same(second, TinyLifter.from_pretrained(out), _codes())
    assert "me/second" in (out / "README.md").read_text()
    # the same lifter again is no conflict
    assert main(["pull", "me/second", "--out", str(out)]) == 0


@remote
def test_push_removes_files_the_new_lifter_does_not_have(hub, tmp_path):
    from huggingface_hub import HfApi

    from ganlift.hub import push_folder

    torch.manual_seed(0)
    model = TinyLifter(tiny_teacher())
    model.push_to_hub("me/stale", metrics={"depth": 0.5})
    assert "metrics.json" in HfApi().list_repo_files("me/stale")
    folder = model.save_pretrained(tmp_path / "again", sample=False)
    push_folder(folder, "me/stale")
    assert sorted(HfApi().list_repo_files("me/stale")) == [".gitattributes", "README.md", "config.json",
                                                          "model.safetensors"]
