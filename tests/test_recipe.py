"""Recipes: shipped values, extends, validation errors, overrides, the CLI listing."""

from __future__ import annotations

import json
import tomllib

import pytest

from ganlift.recipe import (
    RECIPES,
    Recipe,
    load_recipe,
    parse_overrides,
    recommended_recipe,
)


def test_shipped_recipes_are_registered_and_valid():
    assert {"faces", "cats", "synthetic", "synthetic-cats"} <= set(RECIPES.names())
    for name in RECIPES.names():
        recipe = load_recipe(name)
        assert recipe.name == name and recipe.description


def test_faces_follows_the_paper():
    r = load_recipe("faces")
    assert (r.train.lr, r.train.batch_size, r.train.steps) == (1e-4, 8, 50_000)
    assert r.teacher.truncation == 0.7 and r.render.fov == 10.0
    assert r.lifter.resolution == 256 and r.lifter.depth_range == [0.9, 1.1]
    assert (r.lifter.max_rotation, r.lifter.max_translation) == (60.0, 0.1)
    assert (r.perturb.yaw, r.perturb.roll) == (45.0, 0.0)
    assert r.distance.perceptual == "vgg16" and r.distance.scales == 3
    weights = {k: v["weight"] for k, v in r.enabled_losses().items()}
    assert weights == {
        "reconstruction": 5.0, "flip": 4.0, "perturbation_b": 2.0, "perturbation_a": 2.0,
        "cycle": 4.0, "prior": 0.5, "identity": 1.0, "albedo_rank": 0.01,
    }
    assert r.losses["identity"]["yaw_range"] == 25.0


def test_cats_extends_faces_with_the_cat_weights():
    faces, cats = load_recipe("faces"), load_recipe("cats")
    enabled = cats.enabled_losses()
    assert "identity" not in enabled
    assert enabled["prior"]["weight"] == 0.1 and enabled["albedo_rank"]["weight"] == 0.005
    # the identity options survive, only its weight is 0; everything else is inherited
    assert cats.losses["identity"]["model"] == faces.losses["identity"]["model"]
    assert cats.train == faces.train and cats.lifter == faces.lifter


def test_synthetic_recipes_are_cpu_sized():
    syn, cats = load_recipe("synthetic"), load_recipe("synthetic-cats")
    for r in (syn, cats):
        assert r.lifter.resolution == 64 and r.distance.perceptual == "ssim"
        assert r.lifter.mlp_width < 512 and r.lifter.decoder_width < 512
        assert {"reconstruction", "flip", "albedo_rank"} <= set(r.enabled_losses())
        assert "identity" not in r.enabled_losses()
    assert cats.enabled_losses()["albedo_rank"]["weight"] == 0.005
    assert syn.enabled_losses()["albedo_rank"]["weight"] == 0.01
    assert cats.lifter == syn.lifter and cats.train == syn.train


def test_unknown_keys_name_the_key_and_the_allowed_ones(tmp_path):
    bad = {
        'extends = "faces"\ncolour = 1\n': ("colour", "allowed keys: name"),
        'extends = "faces"\n[train]\nstepz = 3\n': ("stepz", "did you mean 'steps'"),
        'extends = "faces"\n[lifter]\nwidth = 3\n': ("width", "mlp_width"),
        'extends = "faces"\n[trian]\nsteps = 3\n': ("trian", "train"),
        'extends = "faces"\n[losses]\nflip = { wieght = 1 }\n': ("wieght", "weight"),
        'extends = "faces"\n[losses.identity]\nmodle = "x"\n': ("modle", "yaw_range"),
        'extends = "faces"\n[losses]\nflop = 1\n': ("flop", "flip"),
    }
    for i, (text, (key, allowed)) in enumerate(bad.items()):
        path = tmp_path / f"bad{i}.toml"
        path.write_text(text)
        with pytest.raises(ValueError) as err:
            load_recipe(path)
        assert key in str(err.value) and allowed in str(err.value), str(err.value)


def test_wrong_types_and_ranges_are_errors():
    with pytest.raises(ValueError, match="train.*steps.*int"):
        load_recipe("faces", {"train.steps": "many"})
    with pytest.raises(ValueError, match="resolution must be a power of two"):
        load_recipe("faces", {"lifter.resolution": 100})
    with pytest.raises(ValueError, match="perceptual must be one of"):
        load_recipe("faces", {"distance.perceptual": "lpips"})
    with pytest.raises(ValueError, match="true or false"):
        load_recipe("faces", {"perturb.shuffle_light": 1})
    with pytest.raises(ValueError, match="weight must be >= 0"):
        load_recipe("faces", {"losses.flip": -1.0})


def test_a_path_with_extends_by_name_and_by_relative_path(tmp_path):
    (tmp_path / "base.toml").write_text('extends = "synthetic"\n[train]\nsteps = 7\n')
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "mine.toml").write_text('extends = "../base.toml"\n[losses]\nflip = 0\n[train]\nlr = 0.001\n')
    r = load_recipe(sub / "mine.toml")
    assert r.name == "mine"  # the file name when the file does not set one
    assert (r.train.steps, r.train.lr, r.lifter.resolution) == (7, 0.001, 64)
    assert "flip" not in r.enabled_losses() and r.losses["flip"]["weight"] == 0.0
    assert load_recipe(str(sub / "mine.toml")) == r


def test_extends_cycles_and_unknown_names(tmp_path):
    (tmp_path / "a.toml").write_text('extends = "b.toml"\n')
    (tmp_path / "b.toml").write_text('extends = "a.toml"\n')
    with pytest.raises(ValueError, match="cycle"):
        load_recipe(tmp_path / "a.toml")
    with pytest.raises(KeyError, match="Did you mean 'faces'"):
        load_recipe("facse")
    with pytest.raises(KeyError, match="Known recipes: cats"):
        load_recipe("nothing-like-it")


def test_overrides_dotted_nested_and_short():
    r = load_recipe("faces", {"train.steps": 3, "losses": {"flip": {"weight": 1.5}}, "lr": 5e-5, "identity": 0})
    assert r.train.steps == 3 and r.train.lr == 5e-5
    assert r.losses["flip"]["weight"] == 1.5 and "identity" not in r.enabled_losses()
    assert r.with_overrides({"steps": 9}).train.steps == 9
    assert load_recipe(r).train.steps == 3
    with pytest.raises(ValueError, match="unknown key"):
        load_recipe("faces", {"nonsense": 1})
    with pytest.raises(ValueError, match="ambiguous; write one of teacher.prior, losses.prior"):
        load_recipe("faces", {"prior": 0})


def test_parse_overrides_reads_toml_values():
    assert parse_overrides(["train.steps=10", "distance.perceptual=ssim", "train.betas=[0.5, 0.9]",
                            "perturb.shuffle_light=false", "losses.identity.weights=/a b/c.pt"]) == {
        "train.steps": 10, "distance.perceptual": "ssim", "train.betas": [0.5, 0.9],
        "perturb.shuffle_light": False, "losses.identity.weights": "/a b/c.pt",
    }
    with pytest.raises(ValueError, match="section.key=value"):
        parse_overrides(["steps"])


def test_round_trips_through_dict_json_and_toml():
    r = load_recipe("synthetic-cats")
    assert Recipe.from_dict(json.loads(json.dumps(r.to_dict()))) == r
    assert Recipe.from_dict(tomllib.loads(r.to_toml())) == r
    assert load_recipe(r.to_dict()) == r


def test_registered_recipe_objects_and_dicts():
    RECIPES.register("_test-dict", {"extends": "synthetic", "name": "_test-dict", "train": {"steps": 2}},
                     overwrite=True)
    assert load_recipe("_test-dict").train.steps == 2


def test_recommended_recipe():
    class Fake:
        def __init__(self, name, **extra):
            self.name = name
            self.__dict__.update(extra)

        def reference(self):
            return {"name": self.name}

    assert recommended_recipe(Fake("synthetic-faces")) == "synthetic"
    assert recommended_recipe(Fake("synthetic-cats")) == "synthetic-cats"
    assert recommended_recipe(Fake("afhq-cat-256")) == "cats"
    assert recommended_recipe(Fake("ffhq-256")) == "faces"
    assert recommended_recipe(Fake("x", recommended_recipe="cats")) == "cats"


def test_cli_lists_and_prints_recipes(capsys):
    from ganlift.cli import main

    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    for name in ("faces", "cats", "synthetic", "synthetic-cats"):
        assert name in out
    assert main(["recipes", "cats", "--set", "train.steps=5"]) == 0
    printed = tomllib.loads(capsys.readouterr().out)
    assert printed["train"]["steps"] == 5 and printed["losses"]["prior"]["weight"] == 0.1
    assert main(["recipes", "nope"]) == 1
    assert "unknown recipe 'nope'" in capsys.readouterr().err
