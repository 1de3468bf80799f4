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
    kinds = [
        f"{k}: file {state[k].dtype} vs model {expected[k].dtype}"
        for k in sorted(set(state) & set(expected))
        if dtype_kind(state[k].dtype) != dtype_kind(expected[k].dtype)
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {few(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {few(unexpected)}")
    if wrong:
        problems.append(f"shape mismatches {few(wrong)}")
    if kinds:
        problems.append(f"dtype mismatches (would be cast silently) {few(kinds)}")
    return problems


def dtype_kind(dtype: torch.dtype) -> str:
    """``"float"``, ``"complex"``, ``"bool"`` or ``"int"``: what a cast between kinds changes.

    Float precisions (float16/bfloat16/float32/float64) are one kind: loading converts them
    exactly enough. An int32 tensor where the model holds floats is not a weight.
    """
    if dtype.is_floating_point:
        return "float"
    if dtype.is_complex:
        return "complex"
    return "bool" if dtype == torch.bool else "int"
