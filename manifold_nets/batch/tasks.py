"""The batch tasks: what one mesh file turns into, and the registry that names them.

A task is a :class:`Task`: a name, a module-level function (so that it pickles by reference and
runs in any worker process or Dask worker that has ``manifold_nets`` installed), its parameters
and the names of the files it writes.  Every task function has the signature::

    fn(ctx: MeshContext, outputs: list[Path], **params) -> dict

It reads the mesh through ``ctx`` (read once per file and shared by all tasks of a job, as is
the operator bundle), writes each of ``outputs`` atomically and returns a small JSON-able dict
of facts about the file (counts, choices made) that goes into the manifest.

Built-in tasks (:data:`TASKS`), for an input ``sub/name.ext`` (``.gz`` dropped by ``convert``):

===========  =======================================  ==============================================
task         output(s) under the output folder        content
===========  =======================================  ==============================================
info         ``sub/name.ext.info.json``               :func:`manifold_nets.topology.mesh_report`
operators    ``sub/name.ext.operators.npz``           :func:`~manifold_nets.geometry.save_operators`
                                                      (read back with ``load_operators``)
descriptors  ``sub/name.ext.descriptors.npz``         ``hks (nV, T)``, ``hks_times (T,)``,
                                                      ``wks (nV, E)``, ``wks_energies (E,)``
geodesics    ``sub/name.ext.geodesics.npz``           ``sources (S,)``, ``distance (S, nV)``
repair       ``sub/name.ext.repaired.ply`` and        the repaired mesh and the index maps (as
             ``sub/name.ext.repaired.ply.maps.npz``   ``manifold-nets repair`` writes them)
convert      ``sub/name.<to>``                        the mesh in another format
segment      ``sub/name.ext.segment.ply`` and         the mesh with integer ``label`` vertex and
             ``sub/name.ext.segment.json``            face arrays; part names, faces, area per part
correspond   ``sub/name.ext.map.txt``                 one line per input vertex: the 0-based index
                                                      of its vertex on ``--target`` (functional maps)
===========  =======================================  ==============================================

:func:`register_task` adds a task (a test's, a plug-in's) to the registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import repair as _repair
from ..errors import MeshError

__all__ = ["Task", "MeshContext", "Job", "TASKS", "make_task", "register_task", "run_job", "file_sha256",
           "REPAIR_STEPS", "DEFAULT_REPAIR_STEPS"]


@dataclass(frozen=True)
class Task:
    """A named unit of work on one mesh file.

    Attributes
    ----------
    name : str
        The task's name (``"operators"``); also the manifest key prefix.
    fn : callable
        A module-level function ``fn(ctx, outputs, **params) -> dict``.
    params : dict
        Keyword arguments of ``fn`` (JSON-able: they are hashed into the fingerprint).
    suffixes : tuple of str
        Appended to the input's relative path to name the outputs, unless ``output_names`` is set.
    output_names : callable, optional
        ``output_names(rel: Path, params) -> list[Path]`` (relative to the output folder).
    """

    name: str
    fn: Callable
    params: dict = field(default_factory=dict)
    suffixes: tuple = ()
    output_names: Callable | None = None

    def outputs(self, rel: Path) -> list[Path]:
        """Output paths (relative to the output folder) for the input at ``rel``."""
        rel = Path(rel)
        if self.output_names is not None:
            return [Path(p) for p in self.output_names(rel, self.params)]
        return [rel.with_name(rel.name + s) for s in self.suffixes]

    @property
    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the name, the function, the parameters (but the cache
        folder), the library version and the algorithm version: a change of any of them makes
        old outputs stale."""
        from .. import __version__
        from ..geometry.cache import algorithm_version

        params = {k: v for k, v in self.params.items() if k != "cache_dir"}  # a cache never changes a result
        head = {"task": self.name, "fn": f"{self.fn.__module__}.{self.fn.__qualname__}", "params": params,
                "library": __version__, "algorithm": algorithm_version()}
        return hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode()).hexdigest()[:16]


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


class MeshContext:
    """The mesh of one input file, read on first use, and its operator bundles (memoised),
    shared by the tasks of one job."""

    def __init__(self, path, *, triangulate: bool = True):
        self.path = Path(path)
        self.triangulate = triangulate
        self._mesh = None
        self._ops: dict = {}

    @property
    def mesh(self):
        if self._mesh is None:
            from .. import read_mesh

            self._mesh = read_mesh(self.path, triangulate=self.triangulate)
        return self._mesh

    def operators(self, k: int = 128, laplacian: str = "auto", cache_dir=None):
        """:func:`manifold_nets.geometry.operators` of the mesh, computed once per parameters."""
        key = (int(k), laplacian, None if cache_dir is None else str(cache_dir))
        if key not in self._ops:
            from ..geometry import operators

            m = self.mesh
            self._ops[key] = operators(m.V, m.F, k=int(k), laplacian=laplacian, cache_dir=cache_dir)
        return self._ops[key]


def _json_bytes(obj) -> bytes:
    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        return str(o)

    return (json.dumps(obj, indent=1, sort_keys=True, default=default) + "\n").encode()


def _save_npz(path: Path, **arrays) -> None:
    from ..files import atomic_write

    atomic_write(path, lambda fh: np.savez(fh, **arrays))


# --- the built-in tasks -------------------------------------------------------------------


def task_info(ctx: MeshContext, outputs: list[Path]) -> dict:
    """Topology report (:func:`manifold_nets.topology.mesh_report`) as JSON."""
    from ..files import atomic_write
    from ..topology import mesh_report

    m = ctx.mesh
    rep = mesh_report(m.V, m.F)
    poly = m.face_data.get("polygon")
    rep["n_polygons"] = int(poly.max()) + 1 if poly is not None and len(poly) else None
    atomic_write(outputs[0], _json_bytes({"path": str(ctx.path), "report": rep}))
    return {"n_vertices": int(m.n_vertices), "n_faces": int(m.n_faces), "closed": bool(rep["closed"])}


def task_operators(ctx: MeshContext, outputs: list[Path], *, k: int = 128, laplacian: str = "auto",
                   cache_dir=None) -> dict:
    """Operator bundle (:func:`manifold_nets.geometry.operators`) written with ``save_operators``."""
    from ..geometry import save_operators

    ops = ctx.operators(k, laplacian, cache_dir)
    save_operators(ops, outputs[0])
    return {"n_vertices": int(ops.V.shape[0]), "k": ops.k, "laplacian": ops.params["laplacian"],
            "from_cache": bool(ops.from_cache)}


def task_descriptors(ctx: MeshContext, outputs: list[Path], *, k: int = 128, laplacian: str = "auto",
                     n_times: int = 16, n_energies: int = 16, cache_dir=None) -> dict:
    """HKS and WKS from the operator bundle's eigenpairs (normalised HKS, mass-weighted WKS)."""
    from ..geometry import hks, hks_times, wks, wks_energies

    ops = ctx.operators(k, laplacian, cache_dir)
    area = float(ops.mass.sum())
    t = hks_times(ops.evals, n_times, area=area)
    H = hks(ops.evals, ops.evecs, times=t, mass=ops.mass)
    e, sigma = wks_energies(ops.evals, n_energies, area=area)
    W = wks(ops.evals, ops.evecs, energies=e, sigma=sigma, mass=ops.mass)
    _save_npz(outputs[0], hks=H, hks_times=t, wks=W, wks_energies=e, wks_sigma=np.float64(sigma))
    return {"n_vertices": int(H.shape[0]), "k": ops.k, "n_times": int(t.size), "n_energies": int(e.size)}


def task_geodesics(ctx: MeshContext, outputs: list[Path], *, sources=(0,), method: str = "heat") -> dict:
    """Geodesic distance from each source vertex: ``distance (S, nV)`` (row ``i`` from ``sources[i]``)."""
    from ..geometry import distance_matrix

    m = ctx.mesh
    s = np.asarray(list(sources), dtype=np.int64).reshape(-1)
    if s.size == 0:
        raise MeshError("sources: expected at least one vertex index (got none)")
    if (s < 0).any() or (s >= m.n_vertices).any():
        bad = int(s[(s < 0) | (s >= m.n_vertices)][0])
        raise MeshError(f"{ctx.path}: expected source vertices in [0, {m.n_vertices}) (got {bad})")
    D = np.asarray(distance_matrix(m.V, m.F, s, method=method))
    _save_npz(outputs[0], sources=s, distance=D)
    return {"n_vertices": int(m.n_vertices), "sources": s.tolist(), "method": method,
            "finite": bool(np.isfinite(D).all())}


#: Names of the repair steps (as ``manifold-nets repair --steps`` spells them).
REPAIR_STEPS = tuple(_repair.STEPS)
DEFAULT_REPAIR_STEPS = _repair.DEFAULT_STEPS
apply_repairs = _repair.apply_repairs


def task_repair(ctx: MeshContext, outputs: list[Path], *, steps=DEFAULT_REPAIR_STEPS) -> dict:
    """Repairs in order; the mesh (PLY keeps every vertex/face array) and the index maps."""
    mesh, maps, counts = apply_repairs(ctx.mesh, list(steps))
    mesh.to_file(outputs[0])
    _save_npz(outputs[1], **maps)
    return {"n_vertices_in": int(ctx.mesh.n_vertices), "n_faces_in": int(ctx.mesh.n_faces),
            "n_vertices": int(mesh.n_vertices), "n_faces": int(mesh.n_faces), "steps": [list(c) for c in counts]}


def task_convert(ctx: MeshContext, outputs: list[Path], *, to: str = "ply", drop_data: bool = False) -> dict:
    """The mesh in another format with its vertex/face arrays; arrays the format cannot hold
    fail the file (an :class:`~manifold_nets.errors.UnsupportedDataError`) unless
    ``drop_data``, which leaves them out and lists them in the result.  The ``polygon`` face
    array that triangulation adds is left out (and listed) wherever the format cannot hold it."""
    from ..errors import UnsupportedDataError
    from ..io import check_writable, write_mesh

    m = ctx.mesh
    vd, fd = dict(m.vertex_data), dict(m.face_data)
    dropped = []
    if ctx.triangulate and "polygon" in fd:
        # the polygon of each triangle is the reader's own record of its triangulation, not the
        # file's data: a format that cannot hold it gets the triangles without it (listed)
        try:
            check_writable(outputs[0], face_data={"polygon": fd["polygon"]})
        except UnsupportedDataError:
            del fd["polygon"]
            dropped.append("face_data['polygon'] (added by triangulation)")
    if drop_data:
        for kind, data in (("vertex_data", vd), ("face_data", fd)):
            for name in list(data):
                try:
                    check_writable(outputs[0], **{kind: {name: data[name]}})
                except UnsupportedDataError:
                    dropped.append(f"{kind}[{name!r}]")
                    del data[name]
    try:
        write_mesh(outputs[0], m.V, m.F, vertex_data=vd, face_data=fd)
    except UnsupportedDataError as exc:
        text = str(exc).splitlines()[0]
        raise UnsupportedDataError(f"{text}; convert --to ply, or drop_data=True (--drop-data) to leave it out") from None
    return {"n_vertices": int(m.n_vertices), "n_faces": int(m.n_faces), "dropped": dropped}


_MODELS: dict = {}


def task_segment(ctx: MeshContext, outputs: list[Path], *, model: str, model_sha256: str = "", device: str = "cpu",
                 max_vertices: int | None = None, smooth: str | None = None, smoothness: float = 1.0,
                 cache_dir=None) -> dict:
    """Labels from a trained segmentation model (:func:`manifold_nets.tasks.predict.predict`):
    the mesh with an integer ``label`` on every vertex and face (PLY), and a JSON summary
    (part names, faces and area per part).  The model is loaded once per worker process."""
    from ..files import atomic_write
    from ..io import write_mesh
    from ..tasks.predict import check_device, load_segmentation_model, predict

    key = (model, model_sha256, device)
    if key not in _MODELS:
        check_device(device)  # this worker's devices (the client may be another machine)
        _MODELS.clear()  # one model per worker at a time
        _MODELS[key] = load_segmentation_model(model, device=device)
    sm = _MODELS[key]
    m = ctx.mesh
    pred = predict(sm, m.V, m.F, device=device, max_vertices=max_vertices, smooth=smooth, smoothness=smoothness,
                   cache_dir=cache_dir, name=ctx.path.name)
    write_mesh(outputs[0], m.V, m.F, face_data={"label": pred.face_labels}, vertex_data={"label": pred.vertex_labels})
    from ..topology import face_areas

    names = [str(n) for n in pred.part_names]
    area = np.bincount(pred.face_labels, weights=face_areas(m.V, m.F), minlength=len(names))
    count = np.bincount(pred.face_labels, minlength=len(names))
    summary = {"part_names": names, "labels": {str(i): n for i, n in enumerate(names)},
               "part_faces": {n: int(c) for n, c in zip(names, count)},
               "part_area": {n: float(a) for n, a in zip(names, area)},
               "n_vertices": int(m.n_vertices), "n_faces": int(m.n_faces), "source": str(ctx.path), "model": model,
               "simplified_to": pred.info.get("n_vertices_model") if pred.info.get("simplified") else None,
               "smooth": pred.info.get("smooth")}
    atomic_write(outputs[1], _json_bytes(summary))
    return {"n_faces": int(m.n_faces), "part_faces": summary["part_faces"]}


_TARGETS: dict = {}


def task_correspond(ctx: MeshContext, outputs: list[Path], *, target: str, target_sha256: str = "",
                    refine: str = "zoomout", k: int | None = None) -> dict:
    """A vertex map from each input to one target mesh
    (:func:`manifold_nets.tasks.correspondence.correspond`): a text file with one line per input
    vertex, the 0-based index of its target vertex.  The target is read once per worker process."""
    from .. import read_mesh
    from ..data.maps import write_map
    from ..tasks.correspondence import K_DEFAULT, correspond

    key = (target, target_sha256)
    if key not in _TARGETS:
        _TARGETS.clear()
        _TARGETS[key] = read_mesh(target)
    tgt = _TARGETS[key]
    m = ctx.mesh
    p2p = correspond(m.V, m.F, tgt.V, tgt.F, refine=refine, k=K_DEFAULT if k is None else int(k))
    write_map(outputs[0], p2p)
    return {"n_vertices": int(m.n_vertices), "n_target_vertices": int(tgt.n_vertices)}


def _model_sha256(model: Path) -> str:
    """SHA-256 of a checkpoint and the ``config.json`` beside it (or of a run folder's pair)."""
    files = [model / "model.pt", model / "config.json"] if model.is_dir() else [model, model.parent / "config.json"]
    h = hashlib.sha256()
    for f in files:
        if f.is_file():
            h.update(file_sha256(f).encode())
    return h.hexdigest()


def _convert_names(rel: Path, params: dict) -> list[Path]:
    name = rel.name[:-3] if rel.name.lower().endswith(".gz") else rel.name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return [rel.with_name(f"{stem}.{params.get('to', 'ply')}")]


def _check_params(name: str, params: dict, remote: bool = False) -> None:
    """Parameter checks done once, before any work (a bad value is a :class:`MeshError`)."""
    if name == "convert":
        to = params.get("to", "ply")
        if to not in ("ply", "obj", "off"):
            raise MeshError(f"convert: expected --to ply, obj or off (got {to!r})")
    if name in ("operators", "descriptors"):
        k = params.get("k", 128)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise MeshError(f"{name}: expected k a non-negative integer (got {k!r})")
        if params.get("laplacian", "auto") not in ("auto", "cotan", "robust"):
            raise MeshError(f"{name}: expected laplacian 'auto', 'cotan' or 'robust' (got {params['laplacian']!r})")
    if name == "descriptors" and params.get("k", 128) < 2:
        raise MeshError(f"descriptors: expected k >= 2 eigenpairs (got {params.get('k')})")
    if name == "geodesics":
        if params.get("method", "heat") not in ("heat", "exact", "graph"):
            raise MeshError(f"geodesics: expected method 'heat', 'exact' or 'graph' (got {params['method']!r})")
        src = list(params.get("sources", (0,)))
        if not src or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0 for s in src):
            raise MeshError(f"geodesics: expected --sources non-negative vertex indices (got {src})")
    if name == "segment":
        from ..errors import MeshFileNotFoundError, optional_import

        optional_import("torch", purpose="the segment task")
        if not params.get("model"):
            raise MeshError("segment: expected a model (--model RUN_DIR_OR_CKPT) (got none)")
        mp = Path(params["model"])
        if not (mp / "model.pt").is_file() and not mp.is_file():
            raise MeshFileNotFoundError(f"{mp}: expected a run folder holding model.pt or a .pt checkpoint "
                                        "(got no such file)")
        from ..tasks.predict import check_device

        # on a remote cluster the workers' devices count, not this machine's: the name is checked
        # here, its availability by each worker (a failure per file in the manifest)
        check_device(params.get("device", "cpu"), here=not remote)
        if params.get("smooth") not in (None, "graphcut"):
            raise MeshError(f"segment: expected smooth None or 'graphcut' (got {params['smooth']!r})")
        sm = params.get("smoothness", 1.0)
        if isinstance(sm, bool) or not isinstance(sm, (int, float, np.integer, np.floating)) or not (
                np.isfinite(sm) and sm >= 0):
            raise MeshError(f"segment: expected a smoothness >= 0 (got {sm!r})")
        if params.get("smooth") == "graphcut":
            from ..tasks.smoothing import require_pymaxflow

            require_pymaxflow()  # reported once, before any work
    if name == "correspond":
        from ..errors import MeshFileNotFoundError

        if not params.get("target"):
            raise MeshError("correspond: expected a target mesh (--target MESH) (got none)")
        if not Path(params["target"]).is_file():
            t = Path(params["target"])
            why = "a folder" if t.is_dir() else ("not a regular file" if t.exists() else "no such file")
            raise MeshFileNotFoundError(f"{t}: expected a target mesh file (got {why})")
        if params.get("refine", "zoomout") not in ("zoomout", "icp", "none"):
            raise MeshError(f"correspond: expected refine 'zoomout', 'icp' or 'none' (got {params['refine']!r})")
    if name == "repair":
        steps = list(params.get("steps", DEFAULT_REPAIR_STEPS))
        unknown = [s for s in steps if s not in REPAIR_STEPS]
        if unknown or not steps:
            raise MeshError(f"repair: expected steps from {', '.join(REPAIR_STEPS)} (got {', '.join(unknown) or 'none'})")


#: The registry: name -> (function, output suffixes or naming function, default parameters).
TASKS: dict[str, tuple] = {
    "info": (task_info, (".info.json",), {}),
    "operators": (task_operators, (".operators.npz",), {"k": 128, "laplacian": "auto", "cache_dir": None}),
    "descriptors": (task_descriptors, (".descriptors.npz",),
                    {"k": 128, "laplacian": "auto", "n_times": 16, "n_energies": 16, "cache_dir": None}),
    "geodesics": (task_geodesics, (".geodesics.npz",), {"sources": [0], "method": "heat"}),
    "repair": (task_repair, (".repaired.ply", ".repaired.ply.maps.npz"), {"steps": list(DEFAULT_REPAIR_STEPS)}),
    "convert": (task_convert, _convert_names, {"to": "ply", "drop_data": False}),
    "segment": (task_segment, (".segment.ply", ".segment.json"),
                {"model": None, "model_sha256": "", "device": "cpu", "max_vertices": None, "smooth": None,
                 "smoothness": 1.0, "cache_dir": None}),
    "correspond": (task_correspond, (".map.txt",), {"target": None, "target_sha256": "", "refine": "zoomout",
                                                    "k": None}),
}


def register_task(name: str, fn: Callable, outputs, defaults: dict | None = None) -> None:
    """Add a task to :data:`TASKS`.

    Parameters
    ----------
    name : str
    fn : callable
        A module-level function ``fn(ctx, outputs, **params) -> dict`` (it must be importable
        by the worker processes).
    outputs : tuple of str or callable
        Suffixes appended to the input's relative path, or ``outputs(rel, params) -> list[Path]``.
    defaults : dict, optional
        Default parameters.
    """
    TASKS[name] = (fn, outputs, dict(defaults or {}))


def make_task(name: str, *, remote: bool = False, **params) -> Task:
    """The registered task ``name`` with ``params`` over its defaults.

    ``remote=True``: the task will run on another machine (a Dask cluster's workers), so what
    only the workers can tell (whether ``segment``'s ``device`` exists there) is checked by each
    worker, not here.

    Raises
    ------
    MeshError
        An unknown task name, parameter or parameter value.
    """
    if name not in TASKS:
        raise MeshError(f"task: expected one of {', '.join(TASKS)} (got {name!r})")
    fn, outs, defaults = TASKS[name]
    unknown = sorted(set(params) - set(defaults)) if defaults or params else []
    if unknown:
        raise MeshError(f"{name}: expected parameters from {', '.join(defaults) or 'none'} (got {', '.join(unknown)})")
    p = {**defaults, **params}
    if p.get("cache_dir") is not None:
        p["cache_dir"] = str(Path(p["cache_dir"]).resolve())
    _check_params(name, p, remote)
    if name == "correspond":  # another target (or a changed file) makes old maps stale
        p["target"] = str(Path(p["target"]).resolve())
        p["target_sha256"] = file_sha256(Path(p["target"]))
    if name == "segment":  # a new model makes old labels stale
        p["model"] = str(Path(p["model"]).resolve())
        p["model_sha256"] = _model_sha256(Path(p["model"]))
    if callable(outs):
        return Task(name, fn, p, (), outs)
    return Task(name, fn, p, tuple(outs))


# --- a job: one file, the tasks still to do on it -----------------------------------------


@dataclass(frozen=True)
class Job:
    """One input file and the tasks to run on it (what is sent to a worker: paths and
    parameters, a few hundred bytes).

    Attributes
    ----------
    input : str
        Absolute path of the input file.
    rel : str
        Its path relative to the input root (POSIX), mirrored under ``out_dir``.
    out_dir : str
        Absolute path of the output folder.
    tasks : tuple of Task
    triangulate : bool
        Triangulate polygon faces when reading.
    """

    input: str
    rel: str
    out_dir: str
    tasks: tuple
    triangulate: bool = True

    def outputs(self, task: Task) -> list[Path]:
        return [Path(self.out_dir) / p for p in task.outputs(Path(self.rel))]


def _error_fields(exc: BaseException) -> dict:
    from ..errors import ManifoldNetsError

    if isinstance(exc, MemoryError):
        msg = "not enough memory (MemoryError)"
    elif isinstance(exc, OSError) and not isinstance(exc, ManifoldNetsError) and exc.strerror:
        msg = f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror}"
    else:
        text = str(exc).strip()
        msg = text.splitlines()[0] if text else type(exc).__name__
    out = {"error": type(exc).__name__, "message": msg}
    if not isinstance(exc, (ManifoldNetsError, OSError, MemoryError)):  # a bug: keep where it happened
        out["traceback"] = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)[-3:])
    return out


def run_job(job: Job) -> dict:
    """Run the tasks of ``job`` on its file (in the calling process); never raises for a
    failure of the file (a bad mesh, a failed solve, a bug in a task): each task gets a record.

    Returns
    -------
    dict
        ``{"input_sha256": str or None, "records": [dict, ...]}``, one record per task with
        ``task``, ``status`` (``"ok"``/``"failed"``), ``outputs`` (``[{"path", "sha256",
        "bytes"}]``, paths relative to ``out_dir``), ``seconds`` (wall), ``cpu_seconds`` (of
        the worker process), ``result`` or
        ``error``/``message``, ``warnings`` and ``worker``.
    """
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        sha = file_sha256(job.input)
    except OSError:
        sha = None  # reading reports it below, as a typed error
    ctx = MeshContext(job.input, triangulate=job.triangulate)
    records = []
    for task in job.tasks:
        t0, c0 = time.perf_counter(), time.process_time()
        rec = {"task": task.name, "fingerprint": task.fingerprint, "worker": worker}
        outs = job.outputs(task)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = task.fn(ctx, outs, **task.params)
                rec["outputs"] = [{"path": str(p.relative_to(job.out_dir).as_posix()), "sha256": file_sha256(p),
                                   "bytes": p.stat().st_size} for p in outs]
                rec.update(status="ok", result=result)
            except Exception as exc:  # noqa: BLE001 - one file's failure must not stop the batch
                rec.update(status="failed", outputs=[], **_error_fields(exc))
                for p in outs:  # an output of an earlier run, or a part of this one, is not valid now
                    try:
                        p.unlink()
                    except OSError:
                        pass
        msgs = []
        for w in caught:
            m = f"{w.category.__name__}: {str(w.message).splitlines()[0] if str(w.message) else ''}"
            if m not in msgs:
                msgs.append(m)
        rec["warnings"] = msgs
        rec["seconds"] = round(time.perf_counter() - t0, 4)
        rec["cpu_seconds"] = round(time.process_time() - c0, 4)  # below ``seconds``: waiting for a core
        records.append(rec)
    return {"input_sha256": sha, "records": records}
