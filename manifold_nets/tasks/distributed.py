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

import atexit
import gc
import os
import pickle
import time
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
    _leave_at_exit()
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
    _settle(t, ctx)
    return [float(v) for v in t.cpu()]


def broadcast_object(obj, ctx: DistContext | None):
    """Rank 0's ``obj`` (picklable) on every process (identity for one process)."""
    if ctx is None:
        return obj
    dev = ctx.device if ctx.backend == "nccl" else "cpu"
    data = pickle.dumps(obj) if ctx.is_main else b""
    n = torch.tensor([len(data)], dtype=torch.int64, device=dev)
    dist.broadcast(n, src=0)
    _settle(n, ctx)
    if ctx.is_main:
        buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(dev)
    else:
        buf = torch.empty(int(n.item()), dtype=torch.uint8, device=dev)
    dist.broadcast(buf, src=0)
    _settle(buf, ctx)
    return obj if ctx.is_main else pickle.loads(buf.cpu().numpy().tobytes())


def _settle(t: torch.Tensor, ctx: DistContext, timeout: float = 10.0) -> None:
    """Wait until the backend's worker threads have let go of ``t``.

    A finished gloo collective is released by its worker thread a moment after ``wait()``
    returns.  If Python dropped ``t`` first, that release is the tensor's last reference and
    needs the GIL; when it comes while the interpreter shuts down, the process aborts with
    SIGABRT ("terminate called without an active exception"; a gdb backtrace shows the
    ``pt_gloo_runloop`` thread in ``~AsyncAllreduceWork`` → ``decref_pyobject`` → ``take_gil``
    while the main thread is in ``Py_FinalizeEx``).  It hit 1 in 20 runs of the two-process
    test here and in CI.  Holding ``t`` until its use count is 1 makes Python's own release the
    last one.  NCCL's watchdog keeps references of its own and does not take the GIL to drop
    them: not waited for.
    """
    if ctx.backend != "gloo":
        return
    deadline = time.monotonic() + timeout
    while t._use_count() > 1 and time.monotonic() < deadline:
        time.sleep(1e-4)  # releases the GIL the worker thread needs


def barrier(ctx: DistContext | None) -> None:
    if ctx is not None:
        dist.barrier()


def cleanup(ctx: DistContext | None) -> None:
    """Leave the process group (no-op for one process).

    Garbage is collected first, then the group destroyed.  :func:`init_process_group` also runs
    this at exit (:mod:`atexit`, before the interpreter starts tearing down) for a process that
    never calls it, e.g. a ``torchrun`` launch of the command line.  Once a
    :class:`~torch.nn.parallel.DistributedDataParallel` wrapper has been built, gloo's worker
    threads outlive ``destroy_process_group`` (seen with torch 2.13); see :func:`_settle` for
    why nothing they hold may need the interpreter at that point.
    """
    if ctx is not None:
        _leave()


def _leave() -> None:
    # Free unreachable cycles now, while the interpreter is whole: left to the collection inside
    # Py_FinalizeEx (where the crashing main thread was), any tensor they hold that gloo's threads
    # still share would be released there (see _settle).
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


_AT_EXIT: list[bool] = []


def _leave_at_exit() -> None:
    """Register :func:`_leave` with :mod:`atexit` once per process (it runs before the interpreter
    starts tearing down, while the DDP wrappers' destructors can still run safely)."""
    if not _AT_EXIT:
        atexit.register(_leave)
        _AT_EXIT.append(True)
