"""Locate the data shipped with ganlift (``recipes/``, ``model_cards/``).

In a wheel they sit inside the package (``ganlift/recipes``); in a source checkout they are
top-level folders of the repository.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]


def data_dir(name: str) -> Path:
    """Return the folder ``name`` (``"recipes"`` or ``"model_cards"``).

    Raises:
        FileNotFoundError: the folder is neither in the package nor in the checkout.
    """
    for candidate in (_PACKAGE / name, _PACKAGE.parents[1] / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"ganlift data folder {name!r} not found next to {_PACKAGE}; reinstall ganlift"
    )
