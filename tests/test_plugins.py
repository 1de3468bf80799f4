"""Third-party plugins: the ``ganlift.plugins`` entry points of other installed packages.

Each test writes a tiny "installed" distribution (a ``*.dist-info`` folder with
``entry_points.txt`` next to its module) into a temporary folder on ``sys.path``, the way pip
lays out a package, so ``importlib.metadata`` finds it; nothing is pip-installed.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest

import ganlift
from ganlift import registry
from ganlift.losses import LOSSES
from ganlift.render import RENDERERS
from ganlift.teachers import TEACHERS

PLUGIN = '''
import ganlift
from ganlift.losses.base import LossTerm
from ganlift.render import RENDERERS
from ganlift.teachers.stylegan2 import random_stylegan2


def register():
    @ganlift.teachers.register("my-teacher")
    def my_teacher(resolution: int = 16, seed: int = 0):
        """A tiny random StyleGAN2, named after the plugin."""
        teacher = random_stylegan2(resolution=resolution, w_dim=16, n_mlp=1, seed=seed, w_mean_samples=256)
        teacher.name = "my-teacher"
        teacher.reference = lambda: {"name": "my-teacher", "resolution": resolution, "seed": seed}
        return teacher

    my_teacher.recommended_recipe = "synthetic"

    @ganlift.losses.register("my_zero")
    class MyZero(LossTerm):
        """A loss term that is always 0 (it only has to be found)."""

        def __init__(self, *, scale: float = 1.0) -> None:
            super().__init__()
            self.scale = scale

        def forward(self, ctx):
            return ctx.target.sum() * 0.0

    ganlift.render.register("my-renderer", RENDERERS.get("torch"))
'''


def install(root: Path, name: str, module: str, source: str, entry: str) -> Path:
    """Lay out ``name`` 0.1 as pip would: ``module.py`` and ``name-0.1.dist-info``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[ganlift.plugins]\n{entry}\n", encoding="utf-8")
    return root


@pytest.fixture
def fresh(monkeypatch):
    """Plugins not loaded yet, and registries restored afterwards."""
    monkeypatch.setattr(registry, "_plugins", None)
    for reg in (TEACHERS, LOSSES, RENDERERS):
        monkeypatch.setattr(reg, "_items", dict(reg._items))


@pytest.fixture
def plugin(tmp_path, monkeypatch, fresh):
    root = install(tmp_path / "site", "ganlift-test-plugin", "ganlift_test_plugin", PLUGIN,
                   "test-plugin = ganlift_test_plugin:register")
    monkeypatch.syspath_prepend(str(root))
    return root


def test_cli_lift_finds_a_teacher_registered_by_another_package(plugin, tmp_path, capsys):
    from ganlift.cli import main

    assert "my-teacher" not in TEACHERS._items  # not loaded at import: lazily, on a miss
    out = tmp_path / "run"
    argv = ["lift", "--teacher", "my-teacher", "--out", str(out), "--steps", "1", "--no-eval",
            "--quiet", "--device", "cpu", "--set", "lifter.resolution=16", "--set", "lifter.mlp_width=16",
            "--set", "lifter.decoder_width=16", "--set", "lifter.decoder_min_width=8",
            "--set", "lifter.transform_blur=3", "--set", "teacher.prior_samples=64", "--set", "train.batch_size=2"]
    assert main(argv) == 0, capsys.readouterr().err
    assert (out / "model.safetensors").is_file()
    lifter = ganlift.Lifter.from_pretrained(out)  # the teacher is found again through the plugin
    assert lifter.teacher.name == "my-teacher" and lifter.recipe.name == "synthetic"
    # the same plugin registered a loss and a renderer
    assert "my_zero" in LOSSES and "my-renderer" in RENDERERS
    assert registry.load_plugins() == {"test-plugin": None}


def test_losses_and_renderers_are_found_on_first_lookup(plugin):
    from ganlift.recipe import load_recipe

    recipe = load_recipe("synthetic", {"losses.my_zero.weight": 0.5, "render.renderer": "my-renderer"})
    assert recipe.losses["my_zero"]["weight"] == 0.5 and recipe.losses["my_zero"]["scale"] == 1.0
    assert type(ganlift.render.create("my-renderer", size=8)) is RENDERERS.get("torch")


def test_listing_loads_plugins_once(plugin, capsys):
    from ganlift.cli import main

    assert "my-teacher" in TEACHERS.names()
    assert main(["teachers"]) == 0
    assert any(line.startswith("my-teacher") for line in capsys.readouterr().out.splitlines())
    before = registry._plugins
    TEACHERS.names()
    assert registry._plugins is before  # loaded once


def test_a_broken_plugin_warns_and_is_named_in_unknown_name_errors(tmp_path, monkeypatch, fresh):
    root = install(tmp_path / "site", "ganlift-broken", "ganlift_broken", "raise ImportError('no torch here')\n",
                   "broken = ganlift_broken")
    monkeypatch.syspath_prepend(str(root))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(KeyError) as info:
            TEACHERS.get("my-teacher")
    assert any("ganlift plugin 'broken'" in str(w.message) for w in caught)
    assert "Plugins that failed to load: broken (ImportError: no torch here)" in info.value.args[0]
    assert "synthetic-faces" in TEACHERS  # ganlift itself still works
