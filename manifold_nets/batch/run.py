"""``map_meshes``: run tasks on many mesh files, in parallel, with a manifest and resume.

>>> import tempfile, pathlib
>>> from manifold_nets import shapes, write_mesh
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_mesh(d / "in" / "s.off", *shapes.icosphere(1))
>>> rep = map_meshes("info", [d / "in" / "s.off"], d / "out", workers=1)
>>> rep.n_ok, rep.n_failed, sorted(p.name for p in (d / "out").iterdir())
(1, 0, ['manifest.jsonl', 's.off.info.json'])
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import MeshError
from .executors import DaskExecutor, LocalExecutor
from .manifest import MANIFEST_NAME, Manifest, why_not_done
from .tasks import Job, Task, file_sha256, make_task, run_job

__all__ = ["map_meshes", "BatchReport", "OutputCollisionError", "plan_outputs"]


class OutputCollisionError(MeshError):
    """Two inputs (or tasks) would write the same output file, or an output would overwrite an input."""


@dataclass
class BatchReport:
    """What a batch run did.

    Attributes
    ----------
    records : list of dict
        One per (input file, task) of this run, in input order: the manifest record, with
        ``status`` ``"ok"``, ``"failed"`` or ``"skipped"`` (finished by an earlier run and
        intact, with ``--resume``).
    n_files : int
        Input files.
    seconds : float
        Wall time of the run.
    executor : str
        Where it ran.
    out_dir, manifest : Path
    interrupted : bool
        The run was stopped (Ctrl-C) before the end; the finished work is in the manifest.
    """

    records: list = field(default_factory=list)
    n_files: int = 0
    seconds: float = 0.0
    executor: str = ""
    out_dir: Path | None = None
    manifest: Path | None = None
    interrupted: bool = False

    def _count(self, status: str) -> int:
        return sum(r["status"] == status for r in self.records)

    @property
    def n_ok(self) -> int:
        return self._count("ok")

    @property
    def n_failed(self) -> int:
        return self._count("failed")

    @property
    def n_skipped(self) -> int:
        return self._count("skipped")

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] == "failed"]

    @property
    def ok(self) -> bool:
        """No failure and not interrupted."""
        return not self.n_failed and not self.interrupted

    @property
    def files_per_second(self) -> float:
        """Files processed (not skipped) per second of wall time."""
        done = {r["rel"] for r in self.records if r["status"] != "skipped"}
        return len(done) / self.seconds if self.seconds > 0 else 0.0

    def by_task(self) -> dict[str, dict]:
        """``{task: {"ok": n, "failed": n, "skipped": n, "seconds": s}}``."""
        out: dict[str, dict] = {}
        for r in self.records:
            c = out.setdefault(r["task"], {"ok": 0, "failed": 0, "skipped": 0, "seconds": 0.0})
            c[r["status"]] += 1
            if r["status"] != "skipped":
                c["seconds"] += float(r.get("seconds") or 0.0)
        return out

    def to_dict(self) -> dict:
        return {
            "summary": {"files": self.n_files, "ok": self.n_ok, "failed": self.n_failed, "skipped": self.n_skipped,
                        "seconds": round(self.seconds, 3), "files_per_second": round(self.files_per_second, 3),
                        "executor": self.executor, "interrupted": self.interrupted,
                        "out_dir": str(self.out_dir), "manifest": str(self.manifest)},
            "tasks": self.by_task(),
            "records": self.records,
        }


def _as_tasks(task) -> list[Task]:
    items = [task] if isinstance(task, (str, Task)) else list(task)
    if not items:
        raise MeshError("task: expected at least one task (got none)")
    out = [make_task(t) if isinstance(t, str) else t for t in items]
    names = [t.name for t in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise MeshError(f"task: expected each task once (got {', '.join(dup)} twice)")
    return out


def _as_pairs(paths) -> list[tuple[Path, str]]:
    pairs = []
    plain = []
    for p in paths:
        if isinstance(p, tuple):
            pairs.append((Path(p[0]), Path(p[1]).as_posix()))
        else:
            plain.append(Path(p))
    if plain:
        parents = [os.path.dirname(os.path.abspath(p)) for p in plain]
        root = os.path.commonpath(parents)
        pairs += [(p, Path(os.path.relpath(os.path.abspath(p), root)).as_posix()) for p in plain]
    for _, rel in pairs:
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise MeshError(f"{rel}: expected a relative input name inside the output folder (got one that leaves it)")
    return pairs


def plan_outputs(tasks: Sequence[Task], pairs, out_dir) -> dict[str, tuple[str, str]]:
    """Map every output (relative to ``out_dir``) to its ``(input rel, task)``.

    Raises
    ------
    OutputCollisionError
        Two (input, task) pairs would write the same file, an output would be an input file
        or the manifest.
    """
    out_dir = Path(out_dir)
    inputs = {os.path.realpath(p): rel for p, rel in pairs}
    plan: dict[str, tuple[str, str]] = {}
    for _, rel in pairs:
        for t in tasks:
            for o in t.outputs(Path(rel)):
                o = o.as_posix()
                if o == MANIFEST_NAME:
                    raise OutputCollisionError(f"{rel}: expected outputs other than the manifest (got {o})")
                if o in plan:
                    a_rel, a_task = plan[o]
                    raise OutputCollisionError(
                        f"{out_dir / o}: expected one input per output file (got {a_rel} ({a_task}) and "
                        f"{rel} ({t.name}); rename one, use --exclude, or run them into separate folders)")
                real = os.path.realpath(out_dir / o)
                if real in inputs:
                    raise OutputCollisionError(
                        f"{out_dir / o}: expected an output that is not an input file (got the input "
                        f"{inputs[real]}); choose another output folder")
                plan[o] = (rel, t.name)
    return plan


def _make_executor(executor, workers, threads_per_worker, timeout, memory_limit, scheduler):
    if not isinstance(executor, str):
        return executor
    if executor == "local":
        return LocalExecutor(workers, threads_per_worker, timeout=timeout, memory_limit=memory_limit)
    if executor == "dask":
        return DaskExecutor(scheduler or "local", workers, threads_per_worker, memory_limit=memory_limit)
    raise MeshError(f"executor: expected 'local', 'dask' or an executor object (got {executor!r})")


def _clean_temporaries(out_dir: Path, outputs) -> None:
    """Remove the temporary files a killed run left beside the given outputs."""
    for o in outputs:
        p = out_dir / o
        if p.parent.is_dir():
            for tmp in p.parent.glob(f".{p.name}.*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    pass


def _size(path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def map_meshes(task, paths, out_dir, *, executor="local", workers: int | None = None,
               threads_per_worker: int | None = None, resume: bool = False,
               progress: Callable | None = None, triangulate: bool = True, timeout: float | None = None,
               memory_limit: int | None = None, scheduler: str | None = None) -> BatchReport:
    """Run ``task`` on every mesh file of ``paths``, writing outputs under ``out_dir``.

    Parameters
    ----------
    task : str, Task or sequence of them
        Task names (see :data:`~manifold_nets.batch.tasks.TASKS`) or tasks made with
        :func:`~manifold_nets.batch.tasks.make_task` (to set parameters).  All tasks of a file
        run in one job, which reads the mesh once (and computes its operators once).
    paths : sequence of path-like or of (path, rel) pairs
        Input files; ``rel`` (POSIX, relative) names the outputs, mirrored under ``out_dir``.
        Plain paths are named relative to their common folder (see
        :func:`~manifold_nets.batch.inputs.collect_inputs` to expand folders and globs).
    out_dir : path-like
        Output folder (created); it also holds the manifest ``manifest.jsonl``.
    executor : {"local", "dask"} or executor object
        Local worker processes (default) or a Dask cluster (``scheduler``).
    workers : int, optional
        Worker processes (default: all available cores).
    threads_per_worker : int, optional
        BLAS threads per worker (default: ``cores // workers``, at least 1).
    resume : bool
        Keep the work an earlier run in ``out_dir`` finished and whose outputs are intact
        (same input content hash, same parameters and versions, outputs of the recorded size
        and SHA-256); redo the rest.  ``False`` starts a new manifest and overwrites outputs.
    progress : callable, optional
        ``progress(done, total, records)`` after each finished file (``records``: its records),
        and once as ``progress(0, total, [])`` at the start; ``total`` counts the files to run.
    triangulate : bool
        Triangulate polygon faces when reading (``False``: a polygon mesh fails).
    timeout : float, optional
        Local executor: seconds per file before its worker is killed and the file failed.
    memory_limit : int, optional
        Bytes per worker (local: data-segment limit, RLIMIT_DATA; Dask LocalCluster: its memory limit).
    scheduler : str, optional
        With ``executor="dask"``: a scheduler address or scheduler-file path (default: an
        embedded ``LocalCluster``).

    Returns
    -------
    BatchReport

    Notes
    -----
    Workers are started with the ``spawn`` method (as Dask's are), which imports the calling
    script again in each worker: a script that calls ``map_meshes`` at its top level must do so
    under ``if __name__ == "__main__":``, as with any ``multiprocessing`` code.

    Raises
    ------
    OutputCollisionError
        Before any work, when two inputs would write the same output.
    MeshError
        Unknown task or bad parameter.
    KeyboardInterrupt
        Propagated after the manifest has been written (resume finishes the work).
    """
    t0 = time.perf_counter()
    tasks = _as_tasks(task)
    pairs = _as_pairs(paths)
    out_dir = Path(out_dir).resolve()
    plan_outputs(tasks, pairs, out_dir)
    ex = _make_executor(executor, workers, threads_per_worker, timeout, memory_limit, scheduler)
    report = BatchReport(n_files=len(pairs), executor=ex.describe() if hasattr(ex, "describe") else str(ex),
                         out_dir=out_dir)
    manifest = Manifest(out_dir, resume=resume)
    report.manifest = manifest.path
    ordered_keys: list[str] = []
    final: dict[str, dict] = {}
    jobs: list[Job] = []
    for p, rel in pairs:
        todo = []
        sha = None
        for t in tasks:
            key = f"{t.name}:{rel}"
            ordered_keys.append(key)
            prev = manifest.previous.get(key)
            if resume and prev is not None and prev.get("status") == "ok":
                if sha is None:
                    try:
                        sha = file_sha256(p)
                    except OSError:
                        sha = ""
                if why_not_done(prev, out_dir, input_sha256=sha or None, fingerprint=t.fingerprint) is None:
                    final[key] = {**prev, "status": "skipped"}
                    continue
            todo.append(t)
        if todo:
            if resume:
                _clean_temporaries(out_dir, [o for t in todo for o in t.outputs(Path(rel))])
            jobs.append(Job(str(Path(p).absolute()), rel, str(out_dir), tuple(todo), triangulate))
    # largest files first: the long jobs start early and do not leave one worker busy at the end
    jobs.sort(key=lambda j: -_size(j.input))
    total = len(jobs)
    if progress is not None:
        progress(0, total, [])
    done = 0
    try:
        for job, (kind, value) in ex.run(run_job, jobs):
            recs = []
            if kind == "ok":
                for r in value["records"]:
                    recs.append({**r, "input_sha256": value["input_sha256"]})
            else:  # the worker died: what it may have left (a temporary, an old output) is not valid
                outs = [o for t in job.tasks for o in t.outputs(Path(job.rel))]
                _clean_temporaries(out_dir, outs)
                for o in outs:
                    try:
                        (out_dir / o).unlink()
                    except OSError:
                        pass
                for t in job.tasks:
                    recs.append({"task": t.name, "fingerprint": t.fingerprint, "status": "failed", "outputs": [],
                                 "error": "WorkerDied", "message": value, "warnings": [], "seconds": None})
            for r in recs:
                r.update(key=f"{r['task']}:{job.rel}", rel=job.rel, input=job.input)
                manifest.append(r)
                final[r["key"]] = r
            done += 1
            if progress is not None:
                progress(done, total, recs)
    except KeyboardInterrupt:
        report.interrupted = True
        raise
    finally:
        planned = set(ordered_keys)
        extra = [k for k in manifest.previous if k not in planned]
        manifest.compact(ordered_keys + extra)
        manifest.close()
        report.records = [final[k] for k in ordered_keys if k in final]
        report.seconds = time.perf_counter() - t0
    return report
