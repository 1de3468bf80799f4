"""Recipes as TOML text: tomli_w out, tomllib (tomli on Python 3.10) in, None left out."""

from __future__ import annotations

import sys

import pytest

from ganlift.losses import LOSSES
from ganlift.losses.base import LossTerm
from ganlift.recipe import RECIPES, Recipe, load_recipe

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


@pytest.fixture
def optional_term(monkeypatch):
    """A loss term with an option whose default is None (registered for this test only)."""
    monkeypatch.setattr(LOSSES, "_items", dict(LOSSES._items))

    @LOSSES.register("_optional")
    class Optional(LossTerm):
        def __init__(self, *, weights: str | None = None, scale: float = 1.0) -> None:
            super().__init__()

    return "_optional"


def test_none_is_left_out_and_reads_back_as_the_default(optional_term):
    recipe = load_recipe("synthetic", {f"losses.{optional_term}.weight": 1.0})
    assert recipe.losses[optional_term]["weights"] is None
    data = tomllib.loads(recipe.to_toml())
    assert "weights" not in data["losses"][optional_term]  # the old writer wrote weights = ""
    assert data["losses"][optional_term]["scale"] == 1.0
    assert Recipe.from_dict(data) == recipe
    # a set value is written and read back
    named = recipe.with_overrides({f"losses.{optional_term}.weights": "/w/x.safetensors"})
    assert Recipe.from_dict(tomllib.loads(named.to_toml())) == named


@pytest.mark.parametrize("name", ["faces", "cats", "synthetic", "synthetic-cats"])
def test_every_shipped_recipe_round_trips(name):
    assert name in RECIPES
    recipe = load_recipe(name)
    assert Recipe.from_dict(tomllib.loads(recipe.to_toml())) == recipe
