"""Where the jobs run: local worker processes (default) or a Dask distributed cluster.

Both executors have one method, ``run(fn, jobs) -> iterator of (job, outcome)``, yielding in
completion order; ``outcome`` is ``("ok", fn(job))`` or ``("died", message)`` when the process
running the job died (killed by the kernel's OOM killer, a segfault in a native library,
``os._exit``), ran past the timeout, or hit the memory limit hard enough to be killed.

Local pool, and why not :class:`concurrent.futures.ProcessPoolExecutor`
-----------------------------------------------------------------------------
When one worker of a ``ProcessPoolExecutor`` dies, the whole pool is broken
(``BrokenProcessPool``) and every running and queued future fails with it; which job killed
it cannot be told apart from the jobs that merely ran beside it, so each would have to be
re-run alone to find the culprit.  :class:`LocalExecutor` instead keeps its own worker
processes, each with its own pipe, and sends a job to one worker at a time: it always knows
which job each worker runs, so a death is charged to exactly that job, the worker is replaced
and the others go on undisturbed (no re-run, no lost work).  Workers are started with the
``spawn`` method (no fork of a threaded parent) and ignore Ctrl-C, which the parent handles.

BLAS threads: each worker gets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS``,
``MKL_NUM_THREADS`` (and friends) set to ``threads_per_worker`` in its environment before it
imports numpy, so that ``workers × threads ≤ cores``.

Dask
----
:class:`DaskExecutor` submits the same job function to a ``distributed`` cluster: an embedded
``LocalCluster`` (``address="local"``, no server needed) or an existing scheduler
(``address="tcp://host:8786"``).  What travels per job is the :class:`~.tasks.Job` (paths and
parameters, a few hundred bytes) and its result record; inputs and outputs are read and
written by the workers on the file system, so on several machines the input and output
folders must be on a shared file system at the same paths, and each worker needs
``manifold-nets`` (same version) installed.  A worker that dies running a job makes the
scheduler retry it elsewhere; after ``allowed_failures`` deaths it gives up
(``KilledWorker``).  Such a death also counts against the jobs that happened to run on the same
worker, so every job given up is run once more on its own after the others; only a job that
kills its worker alone is recorded as failed.

Two settings of the embedded cluster differ from Dask's defaults, both measured with
``benchmarks/bench_batch.py`` (50 meshes, ``operators``, 2 workers on 2 cores):

* Dask's nannies start workers with ``MALLOC_TRIM_THRESHOLD_=65536``.  Setting any of glibc's
  malloc tunables turns off its dynamic mmap threshold, so every numpy array over 128 KiB is
  a fresh ``mmap`` whose pages are zero-filled again on first touch: the same tasks took 36-38
  CPU-seconds in Dask workers against 25 in the local pool, and Dask ran at 0.65 of the pool's
  throughput.  Left unset (as in the local pool), the tasks take 27 CPU-seconds and Dask runs
  at 0.87 of the pool.
* The workers' statistical profiler (a stack sample every 10 ms) is off: nobody looks at it
  in a batch run, and without it the tasks take 26 CPU-seconds and Dask runs at 0.88.

A cluster you start yourself (``--scheduler``) keeps its own settings; start its workers with
``MALLOC_TRIM_THRESHOLD_`` unset (``distributed.nanny.pre-spawn-environ``) for the same gain.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from multiprocessing.connection import wait

from ..errors import ManifoldNetsError

__all__ = ["LocalExecutor", "DaskExecutor", "SchedulerError", "available_cores", "blas_env", "BLAS_VARS"]

log = logging.getLogger(__name__)

BLAS_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
             "NUMEXPR_NUM_THREADS")

_ENV_LOCK = threading.Lock()


def available_cores() -> int:
    """CPU cores this process may use (the affinity mask where there is one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def blas_env(threads: int) -> dict:
    """The environment variables that cap the BLAS/OpenMP threads of a process at ``threads``."""
    return {v: str(int(threads)) for v in BLAS_VARS}


def _signal_name(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _worker_main(conn, memory_limit: int | None) -> None:
    """Worker loop: receive ``(fn, job)``, send back ``fn(job)``; exit on ``None`` or EOF."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    if memory_limit:
        import resource

        resource.setrlimit(resource.RLIMIT_DATA, (int(memory_limit), int(memory_limit)))
        # the readers reserve a buffer of the read cap (8 GiB) before reading: cap it at a share
        # of the limit so that reading a small file does not hit the limit
        from .. import io as _mio

        _mio.MAX_READ_BYTES = min(_mio.MAX_READ_BYTES, int(memory_limit) // 4)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, job = msg
        try:
            out = fn(job)
        except BaseException as exc:  # noqa: BLE001 - fn should not raise; report it as a death
            out = _Crash(f"{type(exc).__name__}: {exc}")
        try:
            conn.send(out)
        except (OSError, EOFError):  # the parent is gone
            return


class _Crash:
    def __init__(self, message: str):
        self.message = message


class _Worker:
    def __init__(self, ctx, threads: int, memory_limit: int | None):
        parent, child = ctx.Pipe()
        self.conn = parent
        self.job = None
        self.started = 0.0
        self.proc = ctx.Process(target=_worker_main, args=(child, memory_limit), daemon=True)
        with _ENV_LOCK:  # children inherit the environment at start: set the BLAS caps around it
            saved = {v: os.environ.get(v) for v in BLAS_VARS}
            os.environ.update(blas_env(threads))
            # an ignored SIGINT is inherited, so a Ctrl-C while the worker imports does not kill it
            main = threading.current_thread() is threading.main_thread()
            old_int = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
            try:
                self.proc.start()
            finally:
                if main:
                    signal.signal(signal.SIGINT, old_int)
                for v, old in saved.items():
                    if old is None:
                        os.environ.pop(v, None)
                    else:
                        os.environ[v] = old
        child.close()

    def stop(self, *, kill: bool = False) -> None:
        if kill:
            self.proc.kill()
        else:
            try:
                self.conn.send(None)
            except (OSError, EOFError):
                pass
        self.proc.join(timeout=None if kill else 5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        self.conn.close()


class LocalExecutor:
    """Worker processes on this machine.

    Parameters
    ----------
    workers : int, optional
        Number of processes (default: all available cores).
    threads_per_worker : int, optional
        BLAS/OpenMP threads of each (default ``max(1, cores // workers)``).
    timeout : float, optional
        Seconds one job may run; a job past it has its worker killed and is recorded as failed.
    memory_limit : int, optional
        Data-segment limit of each worker in bytes (``RLIMIT_DATA``: heap and private memory
        maps; a worker needs about 200 MB for its imports): a job that needs more gets a
        ``MemoryError`` (recorded as that file's failure) instead of exhausting the machine.
    """

    name = "local"

    def __init__(self, workers: int | None = None, threads_per_worker: int | None = None, *,
                 timeout: float | None = None, memory_limit: int | None = None):
        cores = available_cores()
        self.workers = int(workers) if workers else cores
        if self.workers < 1:
            raise ValueError(f"workers: expected a positive integer (got {workers})")
        self.threads_per_worker = int(threads_per_worker) if threads_per_worker else max(1, cores // self.workers)
        self.timeout = timeout
        self.memory_limit = memory_limit
        self._ctx = mp.get_context("spawn")
        self._pool: list[_Worker] = []

    def describe(self) -> str:
        return f"{self.workers} local worker process(es) × {self.threads_per_worker} BLAS thread(s)"

    def _spawn(self) -> _Worker:
        return _Worker(self._ctx, self.threads_per_worker, self.memory_limit)

    def run(self, fn, jobs):
        """Yield ``(job, ("ok", result) | ("died", message))`` as jobs finish."""
        queue = deque(jobs)
        if not queue:
            return
        n = min(self.workers, len(queue))
        self._pool = [self._spawn() for _ in range(n)]
        try:
            idle = list(self._pool)
            busy: dict = {}  # conn -> worker
            while queue or busy:
                while idle and queue:
                    w = idle.pop()
                    w.job = queue.popleft()
                    w.started = time.monotonic()
                    try:
                        w.conn.send((fn, w.job))
                    except (OSError, EOFError):  # died while idle: replace it, retry the job
                        queue.appendleft(w.job)
                        self._replace(w, idle)
                        continue
                    busy[w.conn] = w
                timeout = None
                if self.timeout is not None and busy:
                    now = time.monotonic()
                    timeout = max(0.0, min(w.started + self.timeout - now for w in busy.values()))
                ready = wait(list(busy) + [w.proc.sentinel for w in busy.values()], timeout=timeout)
                done: set = set()
                for obj in ready:
                    w = busy.get(obj) or next((x for x in busy.values() if x.proc.sentinel == obj), None)
                    if w is None or id(w) in done:
                        continue
                    done.add(id(w))
                    outcome = self._collect(w)
                    job = w.job
                    del busy[w.conn]
                    w.job = None
                    if outcome[0] == "died":
                        self._replace(w, idle, respawn=bool(queue))
                    else:
                        idle.append(w)
                    yield job, outcome
                if self.timeout is not None:
                    now = time.monotonic()
                    for w in [w for w in busy.values() if now - w.started > self.timeout]:
                        job = w.job
                        del busy[w.conn]
                        w.job = None
                        w.stop(kill=True)
                        self._replace(w, idle, stopped=True, respawn=bool(queue))
                        yield job, ("died", f"timed out after {self.timeout:g} s (worker killed)")
        finally:
            self.close()

    def _collect(self, w: _Worker):
        try:
            if w.conn.poll():
                out = w.conn.recv()
                if isinstance(out, _Crash):
                    return ("died", f"worker error: {out.message}")
                return ("ok", out)
        except (EOFError, OSError):
            pass
        w.proc.join(timeout=5)
        return ("died", f"worker process died ({_signal_name(w.proc.exitcode)})")

    def _replace(self, w: _Worker, idle: list, *, stopped: bool = False, respawn: bool = True) -> None:
        """Stop ``w`` and, while jobs are waiting, start a fresh worker in its place."""
        if not stopped:
            w.stop(kill=True)
        self._pool.remove(w)
        if respawn:
            nw = self._spawn()
            self._pool.append(nw)
            idle.append(nw)

    def close(self) -> None:
        """Stop every worker (kills those still running a job)."""
        pool, self._pool = self._pool, []
        for w in pool:
            w.stop(kill=w.job is not None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class SchedulerError(ManifoldNetsError):
    """The Dask scheduler cannot be reached (or its address is malformed)."""


_KILLED = ("died", "KilledWorker")


def _dask_outcome(fut, distributed):
    """``("ok", result)``, ``("died", message)``, or :data:`_KILLED` when Dask gave the job up after
    worker deaths; the future is released."""
    try:
        return ("ok", fut.result())
    except distributed.KilledWorker:
        return _KILLED
    except Exception as exc:  # noqa: BLE001 - fn does not raise for a file; this is the cluster
        return ("died", f"worker error: {type(exc).__name__}: {exc}")
    finally:
        fut.release()


class DaskExecutor:
    """Jobs submitted to a Dask ``distributed`` cluster.

    Parameters
    ----------
    address : str
        ``"local"``: an embedded ``LocalCluster`` of ``workers`` processes with
        ``threads_per_worker`` threads each (started here, closed at the end); otherwise a
        scheduler address (``"tcp://host:8786"``) or a scheduler file path.
    workers, threads_per_worker : int, optional
        Of the embedded cluster (default: all cores, one thread each).
    memory_limit : int or str, optional
        Per-worker memory limit of the embedded cluster (the nanny restarts a worker over it).
    allowed_failures : int
        Of the embedded cluster: deaths of a job's worker before the job is given up.
    connect_timeout : float
        Seconds to wait for an existing scheduler.
    """

    name = "dask"

    def __init__(self, address: str = "local", workers: int | None = None, threads_per_worker: int | None = None,
                 *, memory_limit=None, allowed_failures: int = 1, connect_timeout: float = 30.0):
        self.address = address
        self.workers = int(workers) if workers else available_cores()
        self.threads_per_worker = int(threads_per_worker) if threads_per_worker else 1
        self.memory_limit = memory_limit
        self.allowed_failures = allowed_failures
        self.connect_timeout = connect_timeout
        self._client = None
        self._cluster = None
        self._saved_environ = None

    def describe(self) -> str:
        if self.address == "local":
            return f"Dask LocalCluster of {self.workers} worker process(es) × {self.threads_per_worker} thread(s)"
        return f"Dask scheduler {self.address}"

    def _start(self):
        from ..errors import optional_import

        dask = optional_import("dask", purpose="--dask / --scheduler")
        distributed = optional_import("distributed", purpose="--dask / --scheduler")
        if self.address == "local":
            # a Nanny writes its pre-spawn variables (OMP_NUM_THREADS=1, ...) into *this*
            # process's environment before starting a worker: put ours back in close()
            self._saved_environ = dict(os.environ)
            with dask.config.set({"distributed.scheduler.allowed-failures": self.allowed_failures,
                                  "distributed.worker.daemon": False,
                                  # glibc's dynamic mmap threshold stays on (see the module notes)
                                  "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
                                  # no stack sampling every 10 ms in the workers' event loops
                                  "distributed.worker.profile.enabled": False}):
                self._cluster = distributed.LocalCluster(
                    n_workers=self.workers, threads_per_worker=self.threads_per_worker, processes=True,
                    dashboard_address=None, memory_limit=self.memory_limit or 0,
                    env=blas_env(self.threads_per_worker), silence_logs=logging.CRITICAL)
            self._client = distributed.Client(self._cluster, set_as_default=False)
        else:
            kw = {"scheduler_file": self.address} if str(self.address).endswith(".json") else {"address": self.address}
            try:
                self._client = distributed.Client(**kw, timeout=self.connect_timeout, set_as_default=False)
            except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, ValueError (bad address), ...
                text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise SchedulerError(f"--scheduler {self.address}: expected a reachable Dask scheduler "
                                     f"(got {type(exc).__name__}: {text})") from None
        return distributed

    def run(self, fn, jobs):
        """Yield ``(job, ("ok", result) | ("died", message))`` as jobs finish."""
        jobs = list(jobs)
        if not jobs:
            return
        distributed = self._start()
        try:
            futures = {}
            for i, job in enumerate(jobs):
                fut = self._client.submit(fn, job, pure=False, priority=len(jobs) - i,  # in the given order
                                          key=f"manifold-nets-{i}-{os.getpid()}-{time.time_ns()}")
                futures[fut] = job
            killed = []
            for fut in distributed.as_completed(list(futures), loop=self._client.loop):
                job = futures.pop(fut)
                outcome = _dask_outcome(fut, distributed)
                if outcome is _KILLED:
                    killed.append(job)
                else:
                    yield job, outcome
            # A worker's death counts against every job running on it, not only the one that killed
            # it: a job that shared a dying worker twice is given up too.  Run each such job again on
            # its own, one at a time, so that only a job that kills its worker by itself fails.
            for job in killed:
                fut = self._client.submit(fn, job, pure=False, key=f"manifold-nets-alone-{os.getpid()}-{time.time_ns()}")
                outcome = _dask_outcome(fut, distributed)
                yield job, (("died", "worker process died (Dask KilledWorker: every worker that ran it died)")
                            if outcome is _KILLED else outcome)
        finally:
            self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
