"""Training checkpoints and random-number-generator state.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts written with
``torch.save`` (atomically) and read back with ``torch.load(weights_only=True)``, so loading
one never executes code. It holds everything needed for an exact resume: the lifter and
optimiser states, the step, and every RNG state (python, numpy, torch CPU/CUDA, and the
explicit sampling generator of each rank).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ganlift.utils.io import atomic_path
from ganlift.utils.tensors import check_tensors, describe_load_error

FORMAT = "ganlift-checkpoint"
VERSION = 1


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy's global RNG and torch (CPU and every CUDA device)."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def derive_seed(seed: int, *streams: int) -> int:
    """A well-mixed 63-bit seed for an independent stream (e.g. ``(seed, rank)``).

    Plain offsets (``seed + rank``) would make run 0's rank 1 replay run 1's rank 0.
    """
    state = np.random.SeedSequence([int(seed) % 2**63, *[int(s) for s in streams]])
    lo, hi = state.generate_state(2, dtype=np.uint32)
    return (int(hi) << 31 | int(lo) >> 1) & (2**63 - 1)


def capture_rng(sampler: torch.Generator | None = None) -> dict[str, Any]:
    """Snapshot every RNG state as tensors and plain numbers (safe for ``weights_only``).

    Args:
        sampler: the explicit generator that draws the training codes (optional).
    """
    py_version, py_state, py_gauss = random.getstate()
    np_name, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": py_version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
        "numpy": {
            "name": np_name,
            "keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
    }
    if sampler is not None:
        state["sampler"] = sampler.get_state()
    return state


def restore_rng(state: dict[str, Any], sampler: torch.Generator | None = None) -> None:
    """Restore what :func:`capture_rng` captured (the sampler too, when both are given)."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    npst = state["numpy"]
    np.random.set_state(
        (
            npst["name"],
            npst["keys"].numpy().astype(np.uint32),
            npst["pos"],
            npst["has_gauss"],
            npst["gauss"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        states = state["cuda"][: torch.cuda.device_count()]
        for i, s in enumerate(states):
            torch.cuda.set_rng_state(s.cpu(), i)
    if sampler is not None and "sampler" in state:
        sampler.set_state(state["sampler"].cpu())


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically (a crash never leaves a half-written ``last.pt``).

    Args:
        path: destination file.
        state: plain data and tensors only; ``format`` and ``version`` keys are added.
    """
    data = {"format": FORMAT, "version": VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(data, tmp)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint safely (``weights_only=True``) onto the CPU.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a ganlift training checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training checkpoint at {path}")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise ValueError(
            f"{path} is not a readable ganlift training checkpoint: {describe_load_error(err)}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path} is not a ganlift training checkpoint (format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise ValueError(
            f"{path} has checkpoint version {data.get('version')}; this ganlift reads "
            f"version {VERSION}"
        )
    check_tensors(data, str(path))
    _check_contents(path, data)
    return data


def _check_contents(path: Path, data: dict[str, Any]) -> None:
    """Refuse a checkpoint whose step or weights cannot be resumed from.

    Raises:
        ValueError: a step that is not an integer >= 0, a lifter state that is not a dict of
            tensors, or NaN/Inf in the lifter's weights and buffers or the optimiser state.
    """
    step = data.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"{path}: 'step' must be an integer >= 0, got {step!r}; the checkpoint "
                         "is corrupt (start afresh with --overwrite / overwrite=True)")
    lifter = data.get("lifter")
    if not isinstance(lifter, dict) or not all(torch.is_tensor(v) for v in lifter.values()):
        raise ValueError(f"{path}: 'lifter' must be a dict of tensors (the lifter's state)")
    bad = [f"lifter.{k}" for k, v in lifter.items() if _non_finite(v)]
    optimizer = data.get("optimizer")
    states = optimizer.get("state", {}) if isinstance(optimizer, dict) else {}
    for index, state in (states.items() if isinstance(states, dict) else ()):
        for name, value in (state.items() if isinstance(state, dict) else ()):
            if torch.is_tensor(value) and _non_finite(value):
                bad.append(f"optimizer.state.{index}.{name}")
    if bad:
        shown = ", ".join(bad[:6]) + (", ..." if len(bad) > 6 else "")
        raise ValueError(f"{path} holds NaN or Inf values in {shown} ({len(bad)} tensors); "
                         "resuming from it would train nothing. Start afresh with --overwrite "
                         "(overwrite=True) or resume from an older copy")


def _non_finite(tensor: torch.Tensor) -> bool:
    return tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
