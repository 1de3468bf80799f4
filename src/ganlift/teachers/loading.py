"""``load_teacher``: one entry point for registered names and checkpoint files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

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
        teacher = TEACHERS.get(key)(**options)
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
