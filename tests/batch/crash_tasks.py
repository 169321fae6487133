"""Test-only batch tasks (importable by the spawned worker processes as ``tests.batch.crash_tasks``).

``crash`` kills its own worker process for files whose name starts with ``crash`` (``SIGKILL``)
or ``exit`` (``os._exit(1)``), ``hang`` sleeps for files named ``hang*``, ``hog`` allocates
``gigabytes`` GB, ``env`` records the worker's BLAS variables; every other file gets an ``info``.
``slow`` (registered by :func:`register_slow`, also in a command line run through ``SLOW_CLI``)
pauses, then computes ``operators``, so that a run can be interrupted half way.
"""

from __future__ import annotations

import json
import os
import signal
import time

from manifold_nets.batch import Task
from manifold_nets.batch.tasks import task_info
from manifold_nets.files import atomic_write


def crash(ctx, outputs, *, gigabytes: float = 0.0, pause: float = 0.0):
    name = ctx.path.name
    if name.startswith("crash"):
        time.sleep(pause / 4)  # while the others, pausing longer, still run beside it
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(pause)
    if name.startswith("exit"):
        os._exit(1)
    if name.startswith("hang"):
        time.sleep(60)
    if name.startswith("hog") and gigabytes:
        import numpy as np

        a = np.ones(int(gigabytes * 1e9 / 8))  # MemoryError under the data-segment limit
        return {"sum": float(a.sum())}
    return task_info(ctx, outputs)


def env(ctx, outputs):
    from manifold_nets.batch.executors import BLAS_VARS

    vals = {v: os.environ.get(v) for v in BLAS_VARS}
    atomic_write(outputs[0], json.dumps(vals).encode())
    return vals


def crash_task(gigabytes: float = 0.0, pause: float = 0.0) -> Task:
    """The ``crash`` task (built directly, so the global registry is left alone)."""
    return Task("crash", crash, {"gigabytes": gigabytes, "pause": pause}, (".info.json",))


def env_task() -> Task:
    return Task("env", env, {}, (".env.json",))


def slow_operators(ctx, outputs, *, delay: float = 0.2, k: int = 8):
    """``operators`` after a pause: a run of these lasts long enough to be interrupted half way."""
    from manifold_nets.batch.tasks import task_operators

    time.sleep(delay)
    return task_operators(ctx, outputs, k=k)


def register_slow() -> None:
    """Register ``slow`` (for a command line run in a subprocess; see ``SLOW_CLI``)."""
    from manifold_nets.batch import register_task

    register_task("slow", slow_operators, (".operators.npz",), {"delay": 0.2, "k": 8})


#: ``python -c SLOW_CLI batch ...``: the command line with the ``slow`` task registered (run it
#: with the repository as the working folder).
SLOW_CLI = ("import sys; from tests.batch.crash_tasks import register_slow; register_slow(); "
            "from manifold_nets_apps.cli import main; sys.exit(main(sys.argv[1:]))")


def worker_settings(_job):
    """What a Dask worker runs under: the malloc tunable, BLAS threads, the profiler setting."""
    import dask

    return {"MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
            "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
            "profile": dask.config.get("distributed.worker.profile.enabled")}
