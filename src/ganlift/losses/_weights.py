"""Reading frozen backbone weights (perceptual and identity networks) safely."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ganlift.utils.state import state_problems


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Load a state dict from ``.safetensors`` or a torch file (``weights_only=True``).

    Nested checkpoints (``{"state_dict": ...}``, ``{"model": ...}``) are unwrapped and a
    ``module.`` prefix (DataParallel) is removed.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file holds no tensor dict.
    """
    path = Path(os.path.expanduser(str(path)))
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{str(path)!r} does not hold a state dict of tensors")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def hub_file(repo: str, filename: str = "model.safetensors") -> str:
    """Path of ``filename`` from the Hugging Face Hub repo ``repo`` (cache first).

    Raises:
        RuntimeError: the file is neither cached nor downloadable (offline, no network).
    """
    try:
        from huggingface_hub import hf_hub_download

        return hf_hub_download(repo_id=repo, filename=filename)
    except Exception as err:  # offline, missing repo, no network: all mean "no weights"
        raise RuntimeError(f"could not get {filename} from the Hub repo {repo!r} ({type(err).__name__}: {err})") from None


def load_strict(module: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    """``load_state_dict(strict=True)`` with an error that names the mismatching keys."""
    problems = state_problems(module.state_dict(), state)
    if problems:
        raise ValueError(f"{what}: the weights do not fit the network; " + "; ".join(problems))
    module.load_state_dict(state, strict=True)
