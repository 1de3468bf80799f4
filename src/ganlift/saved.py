"""The saved-lifter folder: file names, strict safetensors weights, ``config.json`` checks.

A saved lifter is a folder (or a Hub model repo, see :mod:`ganlift.hub`) holding:

``model.safetensors``
    The lifter's own weights, never the teacher's (the teacher is referenced, not stored).
``config.json``
    ``lifter.config`` (architecture, resolution, recipe, w mean/std, teacher reference) plus
    ``ganlift_version`` and ``weights_sha256`` (the hash of ``model.safetensors``, checked at
    load time so a corrupted file is reported as such).
``README.md``
    The model card (:mod:`ganlift.card`).
``metrics.json``, ``sample.png``
    Optional: the evaluation (shown in the card) and a sample grid.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from ganlift.utils.io import atomic_path, sha256_file
from ganlift.utils.state import few, state_problems

__all__ = [
    "lifter_state",
    "save_weights",
    "read_weights",
    "load_weights",
    "read_config",
    "check_folder",
    "model_config",
    "WEIGHTS_NAME",
    "CONFIG_NAME",
    "CARD_NAME",
    "METRICS_NAME",
    "SAMPLE_NAME",
    "REPO_FILES",
    "OPTIONAL_FILES",
    "LIFTER_FILES",
]

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
METRICS_NAME = "metrics.json"
SAMPLE_NAME = "sample.png"
# Everything a lifter repo may hold; nothing else is pushed or pulled (no pickles, no logs).
REPO_FILES = (WEIGHTS_NAME, CONFIG_NAME, CARD_NAME, METRICS_NAME, SAMPLE_NAME)
OPTIONAL_FILES = (CARD_NAME, METRICS_NAME, SAMPLE_NAME)
# Files of a lifter's folder that describe that lifter: replaced or removed with its weights.
LIFTER_FILES = (*REPO_FILES, "log.jsonl")
# Keys the mixin adds to config.json on top of ``self.config``.
HUB_KEYS = ("weights_sha256",)
_TEACHER_PREFIX = "teacher."
AGAIN = "Save the lifter again, or download it again (from_pretrained(..., force_download=True) / ganlift pull)."



# --------------------------------------------------------------------------------------- weights


def lifter_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The tensors to save: ``module.state_dict()`` without the teacher's (``teacher.*``)."""
    return {k: v for k, v in module.state_dict().items() if not k.startswith(_TEACHER_PREFIX)}


def save_weights(module: torch.nn.Module, path: str | os.PathLike) -> str:
    """Write the lifter's weights (not the teacher's) to a safetensors file, atomically.

    Returns:
        The sha256 of the written file.

    Raises:
        ValueError: a weight holds NaN or Inf (a diverged model is not saved silently).
    """
    from safetensors.torch import save_file

    tensors = {}
    for key, value in lifter_state(module).items():
        tensor = value.detach().to("cpu").contiguous().clone()  # clone: no shared storage
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"refusing to save non-finite weights: {key!r} holds NaN or Inf")
        tensors[key] = tensor
    with atomic_path(path) as tmp:
        # One metadata key only: byte-identical files for identical weights keep hashes stable
        # and re-pushes no-ops.
        save_file(tensors, str(tmp), metadata={"format": "pt"})
    return sha256_file(path)


def read_weights(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a ``model.safetensors`` file on the CPU.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is truncated or corrupt (not valid safetensors).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lifter weights {str(path)!r} do not exist")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as err:
        raise ValueError(f"{path} is not a readable safetensors file: it is truncated or corrupt "
                         f"({path.stat().st_size} bytes; {err}). {AGAIN}") from None


def load_weights(module: torch.nn.Module, state: Mapping[str, torch.Tensor], source: str = "the file") -> None:
    """Load ``state`` into ``module`` strictly (the teacher's weights are not expected).

    Raises:
        ValueError: missing or unexpected keys, shape mismatches or non-finite values; the
            message names them.
    """
    problems = state_problems(lifter_state(module), state)
    if problems:
        raise ValueError(f"the weights in {source} do not fit this lifter's architecture: {'; '.join(problems)}. "
                         "Was config.json edited, or the weights saved by another model?")
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise ValueError(f"the weights in {source} hold NaN or Inf in {few(bad)}")
    result = module.load_state_dict(dict(state), strict=False)
    leftover = [k for k in result.missing_keys if not k.startswith(_TEACHER_PREFIX)]
    if leftover or result.unexpected_keys:  # cannot happen after the checks above
        raise ValueError(f"loading {source} left keys unset: {few(leftover + result.unexpected_keys)}")


# -------------------------------------------------------------------------------------- folders


def read_config(path: str | os.PathLike) -> dict:
    """Read a lifter's ``config.json``.

    Raises:
        FileNotFoundError: missing file.
        ValueError: not JSON, not an object, or no teacher reference.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"lifter config {str(path)!r} does not exist")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); the file is corrupt") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path} must hold a JSON object, got {type(config).__name__}")
    if not isinstance(config.get("teacher"), dict) or "name" not in config["teacher"]:
        raise ValueError(f"{path} has no teacher reference ('teacher': {{'name': ...}}); not a ganlift lifter config")
    return config


def check_folder(folder: str | os.PathLike) -> dict:
    """Check that ``folder`` is a complete saved lifter and return its config.

    Verifies that ``model.safetensors`` matches the sha256 recorded in ``config.json``.

    Raises:
        FileNotFoundError: the folder, its config or its weights are missing.
        ValueError: corrupt config, or weights that do not match the recorded hash.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"lifter folder {str(folder)!r} does not exist")
    config = read_config(folder / CONFIG_NAME)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        pickled = any(any(folder.glob(f"*{s}")) for s in (".bin", ".pt", ".pkl"))
        extra = " (ganlift never loads pickled weights such as .bin/.pt/.pkl)" if pickled else ""
        raise FileNotFoundError(f"{folder} has no {WEIGHTS_NAME}{extra}")
    expected = config.get("weights_sha256")
    if expected and sha256_file(weights) != expected:
        raise ValueError(f"{weights} does not match the sha256 recorded in {CONFIG_NAME} (expected {expected}, "
                         f"got {sha256_file(weights)}): the file is corrupt, truncated or was replaced. {AGAIN}")
    return config


def model_config(config: Mapping[str, Any]) -> dict:
    """``config.json`` without the keys the mixin adds (what ``from_config`` receives)."""
    return {k: v for k, v in config.items() if k not in HUB_KEYS}
