"""File helpers: atomic writes (a crash or Ctrl-C never leaves a half-written file behind)
and a remembered sha256 of big files."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import tempfile

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator


def ganlift_home() -> Path:
    """ganlift's own folder: ``$GANLIFT_HOME``, default ``~/.cache/ganlift`` (downloaded
    teachers, built renderer kernels)."""
    return Path(os.environ.get("GANLIFT_HOME") or "~/.cache/ganlift").expanduser()


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    Example:
        >>> with atomic_path("out/model.safetensors") as tmp:
        ...     save_file(tensors, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        try:
            yield tmp_path
        except Exception as err:
            translated = write_error(path, err)
            if translated is None:
                raise
            raise translated from err
        # mkstemp creates 0600 files, and writers such as safetensors replace the file they
        # are given: set the usual permissions (0666 minus the umask) on what is there now.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


# How torch.save and safetensors report a write that the file system refused.
_WRITE_FAILURES = ("inline_container", "PytorchStreamWriter", "file write failed",
                   "No space left", "Disk quota")


def write_error(path: str | os.PathLike, err: BaseException) -> OSError | None:
    """A one-line ``OSError`` for a write of ``path`` that failed for lack of space.

    ``torch.save`` reports a full disk as ``[enforce fail at inline_container.cc:...]``;
    this names the file and the free space instead.

    Returns:
        The error to raise, or None when ``err`` is not a refused write.
    """
    disk_errno = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
    refused = isinstance(err, OSError) and err.errno in disk_errno
    refused = refused or (not isinstance(err, OSError) and any(s in str(err) for s in _WRITE_FAILURES))
    if not refused:
        return None
    folder = Path(path).parent
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.0f} MiB free"
    except OSError:
        free = "free space unknown"
    return OSError(errno.ENOSPC, f"could not write {path}: the disk is full or over quota "
                                 f"({free} in {folder}); free some space or write elsewhere")


_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{6,}\.tmp$")


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that an interrupted :func:`atomic_path` left in ``folder``.

    A SIGKILL between creating ``.NAME.XXXXXXXX.tmp`` and renaming it leaves it behind.

    Returns:
        The removed files (none when the folder does not exist).
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        if _TEMPORARY.match(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def is_temporary(name: str) -> bool:
    """Whether ``name`` is a temporary file name of :func:`atomic_path`."""
    return bool(_TEMPORARY.match(name))


def check_writable(path: str | os.PathLike, what: str) -> Path:
    """Check, before any work, that a file can be written at ``path`` (nothing is created).

    Args:
        path: the file to write later.
        what: how the user gave it, for the message (e.g. ``"--out"``).

    Returns:
        ``path`` as a Path.

    Raises:
        OSError: ``path`` is a folder, a parent is a file, or the nearest existing folder is
            not writable; the message names ``what`` and the path.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"{what} {str(path)!r} is a folder; give a file name")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{what} {str(path)!r} cannot be written: "
                                                f"{str(ancestor)!r} is a file, not a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"{what} {str(path)!r} cannot be written: no write "
                                            f"permission in {str(ancestor)!r}")
    return path


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write JSON (indented, sorted keys) atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


_HASHES: dict[tuple, str] = {}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks.

    Remembered per resolved path, size and modification time: teacher checkpoints are big
    and are hashed on every load and save.
    """
    resolved = Path(path).resolve()
    stat = resolved.stat()
    key = (str(resolved), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(resolved, "rb") as fh:
            while block := fh.read(chunk):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]
