"""``load_teacher``: one entry point for registered names and checkpoint files."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any, Mapping

from ganlift.teachers import TEACHERS
from ganlift.teachers.base import Teacher


def load_teacher(source: str | os.PathLike | Teacher, **options: Any) -> Teacher:
    """Load a frozen teacher.

    Args:
        source: a registered name (``ganlift.teachers.names()``: the synthetic teachers and
            the zoo entries such as ``"ffhq-256"``), a path to a checkpoint (rosinality
            ``.pt``, NVIDIA ``.pkl``, ganlift ``.safetensors`` or a folder saved with
            ``save_teacher``), or a ``Teacher`` instance (returned unchanged).
        **options: passed to the registered factory or the file loader (for example
            ``resolution=64, seed=0`` for the synthetic teachers, or ``w_mean_samples`` for
            checkpoints without a stored w mean).

    Returns:
        A frozen :class:`~ganlift.teachers.Teacher` in eval mode.

    Raises:
        KeyError: ``source`` is neither a registered name nor an existing path.
    """
    if isinstance(source, Teacher):
        return source
    import ganlift  # noqa: F401  (registers the built-in teachers)

    key = str(source)
    if key in TEACHERS:
        factory = TEACHERS.get(key)
        check_options(factory, options, f"teacher {key!r}")
        try:
            teacher = factory(**options)
        except TypeError as err:  # a factory that forwards **options: the option it refused
            found = re.search(r"unexpected keyword argument '(\w+)'", str(err))
            if found is None or found.group(1) not in options:
                raise
            raise ValueError(f"unknown option {found.group(1)!r} for teacher {key!r} "
                             f"(--teacher-option / teacher_options): {err}") from None
        return teacher.freeze()
    path = Path(os.path.expanduser(key))
    if path.exists():
        from ganlift.teachers.files import load_teacher_file

        return load_teacher_file(path, **options).freeze()
    try:
        TEACHERS.get(key)
    except KeyError as err:
        raise KeyError(
            f"teacher {key!r} is neither a registered name nor an existing file. "
            f"{err.args[0]} Pass a path to a rosinality .pt, an NVIDIA .pkl or a "
            "ganlift teacher folder to load a local checkpoint."
        ) from None
    raise AssertionError("unreachable")


def check_options(factory: Any, options: Mapping[str, Any], what: str) -> None:
    """Check that ``factory(**options)`` binds, before calling it.

    Raises:
        ValueError: an unknown option, named with the allowed ones (what
            ``--teacher-option bogus=1`` reports instead of a TypeError traceback).
    """
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # builtins and C callables: let the call decide
        return
    params = signature.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    allowed = [p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)} for {what} (--teacher-option / "
            f"teacher_options); allowed: {', '.join(allowed) or '(none)'}"
        )


def check_teacher_output(teacher: Teacher, *, n: int = 4, seed: int = 0, psi: float = 1.0,
                         name: str | None = None) -> None:
    """Run the teacher on a small probe batch and refuse NaN/Inf codes or images.

    Finite weights can still overflow (e.g. an over-scaled ToRGB): the images are then Inf,
    and a lift would train a blank lifter without a word.

    Args:
        teacher: the teacher to probe.
        n: probe batch size.
        seed: seed of the probe codes.
        psi: their truncation.
        name: how to call the teacher in the message (default: its name).

    Raises:
        ValueError: the mapped codes or the images hold NaN or Inf.
    """
    import torch

    label = name or getattr(teacher, "name", "the teacher")
    with torch.no_grad():
        w = teacher.sample_w(n, seed=seed, psi=psi)
        if not bool(torch.isfinite(w).all()):
            raise ValueError(f"teacher {label!r} maps random latents to NaN/Inf codes although "
                             "its weights are finite: its mapping network overflows; check the file")
        images = teacher.synthesis(w)
    if not bool(torch.isfinite(images).all()):
        bad = int((~torch.isfinite(images)).flatten(1).any(1).sum())
        raise ValueError(
            f"teacher {label!r} produces NaN/Inf images ({bad} of {n} probe samples, seed "
            f"{seed}, psi {psi:g}) although its weights are finite: its activations overflow. "
            "Check the checkpoint (a bad conversion or scale?) or its conv_clamp"
        )
