"""Checks on tensors read from untrusted files, done before anything is built or copied.

A pickled tensor is a view of a storage: ``size`` and ``stride`` come from the file. With a
zero stride, a few bytes of storage declare gigabytes, which the first ``.float()``,
``.clone()`` or ``load_state_dict`` copy then allocates. These checks only read shapes,
strides and storage sizes, so they cost nothing whatever the tensors declare.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

import torch

__all__ = [
    "storage_elements", "check_fits_storage", "check_tensors", "iter_tensors", "describe_load_error",
]


def storage_elements(tensor: torch.Tensor) -> int:
    """How many elements of ``tensor``'s dtype its storage holds after its offset."""
    nbytes = tensor.untyped_storage().nbytes()
    return max(nbytes // max(tensor.element_size(), 1) - tensor.storage_offset(), 0)


def check_fits_storage(name: str, tensor: torch.Tensor, source: str) -> None:
    """Refuse a tensor that declares more elements than its storage holds.

    Raises:
        ValueError: naming the tensor, its shape and its storage (zero-stride views of a
            small storage, the shape of a memory bomb).
    """
    if tensor.is_meta or tensor.layout != torch.strided:
        raise ValueError(f"{source}: tensor {name!r} is not a plain (dense) tensor")
    available = storage_elements(tensor)
    if tensor.numel() > available:
        raise ValueError(
            f"{source}: tensor {name!r} declares shape {list(tensor.shape)} "
            f"({tensor.numel()} elements) over a storage of {available} elements "
            f"(stride {list(tensor.stride())}); the file is corrupt or crafted, refusing it"
        )


def iter_tensors(obj: Any, prefix: str = "", depth: int = 0) -> Iterator[tuple[str, torch.Tensor]]:
    """``(dotted name, tensor)`` for every tensor in nested dicts, lists and tuples."""
    if torch.is_tensor(obj):
        yield prefix or "<tensor>", obj
    elif depth > 64:
        return
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from iter_tensors(value, f"{prefix}.{key}" if prefix else str(key), depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from iter_tensors(value, f"{prefix}.{i}" if prefix else str(i), depth + 1)


def check_tensors(obj: Any, source: str) -> None:
    """Check every tensor in ``obj`` (see :func:`check_fits_storage`) and that, together,
    they declare no more bytes than the distinct storages they view.

    Tensors sharing a storage are legitimate (a file may hold views), but many full views of
    one storage multiply it on the first copy of each: their total is bounded too.

    Raises:
        ValueError: a tensor or the set of tensors declares more than the file stores.
    """
    declared, storages = 0, {}
    for name, tensor in iter_tensors(obj):
        check_fits_storage(name, tensor, source)
        declared += tensor.numel() * tensor.element_size()
        storage = tensor.untyped_storage()
        storages[(storage.data_ptr(), storage.nbytes())] = storage.nbytes()
    stored = sum(storages.values())
    if declared > 2 * stored + (1 << 20):
        raise ValueError(
            f"{source}: its tensors declare {declared} bytes but store only {stored} "
            "(many overlapping views of the same data); the file is corrupt or crafted, refusing it"
        )


def describe_load_error(err: BaseException) -> str:
    """A short reason for a failed ``torch.load(weights_only=True)``, without torch's advice.

    torch's weights-only message suggests ``weights_only=False``, which would run code from
    the file; ganlift never passes that advice on. A refused global is named instead.
    """
    text = str(err)
    found = re.search(r"GLOBAL ([\w.]+)", text)
    if found:
        return (f"it needs the Python object {found.group(1)}, which ganlift refuses to unpickle "
                "(only tensors and plain containers are allowed; nothing from the file was run)")
    inner = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
    if inner:
        text = inner.group(1)
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return first[:200]
