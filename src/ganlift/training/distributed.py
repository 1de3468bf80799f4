"""Data-parallel training with torch.distributed (launched by ``torchrun``).

Every rank holds a full copy of the lifter, draws its own codes, and averages gradients with
one ``all_reduce`` per step before the (identical) Adam update, so parameters stay equal on
every rank. Gloo on CPU, NCCL on GPU. Rank 0 alone writes files.

We reduce gradients by hand rather than wrap the lifter in ``DistributedDataParallel``: the loop
calls ``lifter.compute_losses``, not ``forward``, and DDP's hooks are tied to ``forward``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """Where this process stands.

    Attributes:
        rank: global rank (0 in a single process).
        world_size: number of processes (1 in a single process).
        local_rank: rank on this machine (selects the GPU).
        device: the device this rank trains on.
        owns_group: this call created the process group (and must destroy it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def resolve_device(device: str | torch.device | None, local_rank: int = 0) -> torch.device:
    """Parse ``device`` ("cpu", "cuda", "cuda:1", None = cuda when available).

    Raises:
        ValueError: not a device name.
        RuntimeError: CUDA asked for but unavailable.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(
                f"device {device!r} asked for, but CUDA is not available here; use device='cpu'"
            )
        if dev.index is None:
            dev = torch.device("cuda", local_rank)
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    return dev


def setup(device: str | torch.device | None = None) -> DistInfo:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    Without ``WORLD_SIZE`` > 1 (and no group already initialised) this is a single process.
    """
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        return DistInfo(rank, world, local, resolve_device(device, local), owns_group=False)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(device=resolve_device(device))
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    backend = "nccl" if dev.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {"device_id": dev} if dev.type == "cuda" else {}
    dist.init_process_group(backend=backend, rank=rank, world_size=world, **kwargs)
    return DistInfo(rank, world, local, dev, owns_group=True)


def cleanup(info: DistInfo) -> None:
    """Destroy the process group if :func:`setup` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank (no-op in a single process)."""
    if info.enabled:
        dist.barrier()


def broadcast_parameters(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every rank (same start everywhere)."""
    if not info.enabled:
        return
    with torch.no_grad():
        for t in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(t.data, src=0)


def all_reduce_gradients(
    params: Iterable[torch.nn.Parameter], info: DistInfo, extra: torch.Tensor | None = None
) -> torch.Tensor | None:
    """Average gradients across ranks with a single flat ``all_reduce``.

    A parameter without a gradient on this rank counts as zero (its grad becomes a zero
    tensor), so every rank contributes the same layout and Adam sees the same values.

    Args:
        params: the trained parameters.
        info: from :func:`setup`.
        extra: a scalar reduced in the same call (the loss), so every rank learns whether any
            rank saw a NaN without a second collective.

    Returns:
        The rank mean of ``extra`` (``extra`` itself in a single process).
    """
    if not info.enabled:
        return extra
    grads = []
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        grads.append(p.grad)
    pieces = [g.reshape(-1) for g in grads]
    if extra is not None:
        pieces.append(extra.reshape(1).to(pieces[0] if pieces else extra))
    flat = torch.cat(pieces)
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world_size
    offset = 0
    for g in grads:
        n = g.numel()
        g.copy_(flat[offset : offset + n].view_as(g))
        offset += n
    return flat[-1] if extra is not None else None


def mean_across_ranks(values: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Average a tensor over ranks (for logging)."""
    if not info.enabled:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / info.world_size


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Gather one picklable object per rank onto every rank (ordered by rank)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
