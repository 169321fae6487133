"""Data-parallel training over several processes (``torchrun``): process group, DDP, rank-0 writes.

Launch any training of :mod:`manifold_nets.tasks` under ``torchrun``::

    torchrun --nproc_per_node 2 -m manifold_nets_apps.cli segment train --data DIR ... --out RUN

Every process reads ``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` / ``MASTER_ADDR`` / ``MASTER_PORT``
from the environment (:func:`init_from_env`), joins a process group (``gloo`` on CPU, ``nccl`` on
CUDA, one GPU per process: ``cuda:LOCAL_RANK``), wraps the model in
:class:`torch.nn.parallel.DistributedDataParallel` (gradients averaged over the processes) and
takes its share of every global batch (:func:`shard`); only rank 0 writes files and reports
progress.  A single process needs none of this: :func:`init_from_env` returns ``None`` when
``WORLD_SIZE`` is unset or 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import MeshError

__all__ = ["DistContext", "init_from_env", "init_process_group", "wrap_model", "unwrap_model", "shard",
           "all_reduce_sum", "broadcast_object", "barrier", "cleanup"]


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the process group.

    Attributes
    ----------
    rank, world_size, local_rank : int
    backend : str
        ``"gloo"`` or ``"nccl"``.
    device : str
        The device this process trains on (``"cpu"`` or ``"cuda:<local_rank>"``).
    """

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: str

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _backend_for(device: str) -> str:
    return "nccl" if str(device).startswith("cuda") else "gloo"


def init_process_group(rank: int, world_size: int, *, device: str = "cpu", init_method: str | None = None,
                       local_rank: int | None = None) -> DistContext:
    """Join (or create) the default process group; ``init_method`` default ``env://``.

    ``device="cuda"`` becomes ``cuda:<local_rank>`` (one GPU per process).
    """
    local_rank = rank if local_rank is None else local_rank
    device = str(device)
    if device == "cuda":
        device = f"cuda:{local_rank}"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise MeshError(f"device: expected a CUDA device for distributed training (got {device!r} "
                            f"but torch.cuda.is_available() is False)")
        torch.cuda.set_device(torch.device(device))
    backend = _backend_for(device)
    if not dist.is_initialized():
        dist.init_process_group(backend, init_method=init_method or "env://", rank=rank, world_size=world_size)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, backend=backend, device=device)


def init_from_env(device: str = "cpu") -> DistContext | None:
    """The process group of a ``torchrun`` launch, or ``None`` for a single process.

    Reads ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; ``None`` when ``WORLD_SIZE`` is unset or 1.
    """
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return None
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return init_process_group(rank, world, device=device, local_rank=local)


def wrap_model(model: torch.nn.Module, ctx: DistContext | None, *, find_unused_parameters: bool = False):
    """``model`` itself for one process, else a :class:`DistributedDataParallel` around it."""
    if ctx is None:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [torch.device(ctx.device).index] if ctx.device.startswith("cuda") else None
    return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=find_unused_parameters)


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return getattr(model, "module", model)


def shard(items: list, ctx: DistContext | None) -> list:
    """This process's share of a global batch: ``items[rank::world_size]``."""
    if ctx is None:
        return list(items)
    return list(items)[ctx.rank::ctx.world_size]


def all_reduce_sum(values: list[float], ctx: DistContext | None) -> list[float]:
    """Sum a list of floats over the processes (identity for one process)."""
    if ctx is None:
        return [float(v) for v in values]
    t = torch.tensor([float(v) for v in values], dtype=torch.float64,
                     device=ctx.device if ctx.backend == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.cpu()]


def broadcast_object(obj, ctx: DistContext | None):
    """Rank 0's ``obj`` on every process (identity for one process)."""
    if ctx is None:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=torch.device(ctx.device) if ctx.backend == "nccl" else None)
    return box[0]


def barrier(ctx: DistContext | None) -> None:
    if ctx is not None:
        dist.barrier()


def cleanup(ctx: DistContext | None) -> None:
    """Leave the process group (no-op for one process)."""
    if ctx is not None and dist.is_initialized():
        dist.destroy_process_group()
