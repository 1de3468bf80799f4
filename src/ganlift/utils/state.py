"""Strict state-dict checks shared by every loader of weights files."""

from __future__ import annotations

from typing import Mapping

import torch


def few(items: list[str], n: int = 8) -> str:
    """``[a, b, ...] (count)``: a short listing of names for error messages."""
    shown = ", ".join(items[:n])
    return f"[{shown}{', ...' if len(items) > n else ''}] ({len(items)})"


def state_problems(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor]) -> list[str]:
    """What keeps ``state`` from loading strictly where ``expected`` is the module's state.

    Returns:
        Phrases naming the missing keys, unexpected keys and shape mismatches; empty when
        ``state`` fits.
    """
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in sorted(set(state) & set(expected))
        if tuple(state[k].shape) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {few(unexpected)}")
    if wrong:
        problems.append(f"shape mismatches {few(wrong)}")
    return problems
