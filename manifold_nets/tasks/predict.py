"""Label any mesh with a trained segmentation model; labels come back on the user's own mesh.

What :func:`predict` does with ``(V, F)`` (the caller's arrays are never changed):

1. **Checks** the arrays (:func:`manifold_nets.validation.check_mesh_arrays`: shapes, finite
   coordinates, indices in range, at least one face); anything else is a typed
   :class:`~manifold_nets.errors.MeshError` naming the problem.
2. **A working copy** for the model: unreferenced vertices are left out (an explicit repair:
   they have no surface, so no operator row); everything else a user's mesh may have —
   boundaries, several components, non-manifold edges or vertices, inconsistent orientation,
   degenerate or repeated faces, any unit of length — goes to the model as it is: the learning
   pipeline (:meth:`manifold_nets.nn.MeshBatch.from_meshes`) normalises the scale (centred, unit
   area) and its operators are defined on such meshes.  Components stay together, as in training
   (a mesh of several pieces is one shape, normalised as a whole; many Labeled PSB meshes have
   detached pieces).  Two whole shapes in one file therefore share one truncated eigenbasis.
3. **Simplification** as in training: when the run was trained on meshes simplified to at most
   ``N`` vertices (``config.json``: ``{"preprocess": {"max_vertices": N}}``) and the working copy
   has more, it is simplified the same way (:func:`manifold_nets.data.transforms.simplify`).
4. **The model** gives per-vertex class probabilities (softmax of the logits; a model with
   ``outputs="faces"`` gives per-face ones, moved to the vertices as the area-weighted mean of
   the incident faces').
5. **Back to the user's mesh**: without simplification every referenced vertex keeps its own
   probabilities; with it (and for unreferenced vertices) the probabilities are interpolated
   barycentrically at the closest point of the model's surface
   (:func:`manifold_nets.data.transforms.transfer_vertex_values`).
6. **Labels**: ``vertex_labels`` = arg-max of the vertex probabilities; ``face_scores`` = the mean
   of the three corners' probabilities and ``face_labels`` its arg-max (the rule of
   :func:`manifold_nets.data.labels.vertex_scores_to_faces`).  A face-output model (what
   ``segment train`` trains) keeps its own face probabilities: each face its own without
   simplification; with it, those of the model's face closest to the face's centroid.  With ``smooth="graphcut"`` the face labels
   are smoothed along the surface (:mod:`manifold_nets.tasks.smoothing`) and the vertex labels
   follow the smoothed faces by the area-weighted face-to-vertex rule
   (:func:`manifold_nets.data.labels.face_to_vertex_labels`).

The run folder written by ``manifold-nets segment train`` holds ``model.pt`` (the checkpoint of
:func:`manifold_nets.nn.save`: weights, feature and operator pipeline, part names) and
``config.json``; a ``.pt`` file can be given directly (a ``config.json`` beside it is read).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EmptyMeshError, MeshError, MeshFileNotFoundError, MeshParseError, SolverError
from ..geometry._checked import warn_if_soup
from ..validation import check_mesh_arrays

__all__ = ["SegmentationModel", "Prediction", "load_segmentation_model", "predict", "predict_labels",
           "check_device", "SMOOTHERS"]

#: Accepted values of ``smooth``.
SMOOTHERS = (None, "graphcut")


@dataclass
class SegmentationModel:
    """A loaded segmentation model and what prediction needs to know about its training.

    Attributes
    ----------
    model : torch.nn.Module
        In eval mode, with ``model.pipeline`` (:class:`manifold_nets.nn.Pipeline`).
    part_names : tuple of str
        ``part_names[i]`` names output ``i``.
    max_vertices : int or None
        Training meshes were simplified to at most this many vertices (``None``: not simplified).
    path : Path or None
        The checkpoint file.
    config : dict
        The run's ``config.json`` (empty when there is none).
    device : str
    """

    model: object
    part_names: tuple
    max_vertices: int | None = None
    path: Path | None = None
    config: dict = field(default_factory=dict)
    device: str = "cpu"

    @property
    def num_classes(self) -> int:
        return len(self.part_names)


@dataclass
class Prediction:
    """Labels of one mesh, on its original vertices and faces.

    Attributes
    ----------
    face_labels : (nF,) int64
    vertex_labels : (nV,) int64
    face_scores : (nF, K) float64
        Class probabilities per face (rows sum to 1).
    vertex_scores : (nV, K) float64
    part_names : tuple of str
    info : dict
        ``n_vertices_model`` (vertices the model saw), ``simplified`` (bool),
        ``unreferenced_vertices`` (count), ``smooth``, ``seconds`` (timings by step).
    """

    face_labels: np.ndarray
    vertex_labels: np.ndarray
    face_scores: np.ndarray
    vertex_scores: np.ndarray
    part_names: tuple
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------------- loading
def _read_config(p: Path) -> dict:
    if not p.is_file():
        return {}
    try:
        cfg = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MeshParseError(f"{p}: expected a JSON run configuration (got {type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(cfg, dict):
        raise MeshParseError(f"{p}: expected a JSON object (got {type(cfg).__name__})")
    return cfg


def _max_vertices_of(cfg: dict, where: Path) -> int | None:
    pre = cfg.get("preprocess") or {}
    if not isinstance(pre, dict):
        raise MeshParseError(f"{where}: expected 'preprocess' to be an object (got {type(pre).__name__})")
    n = pre.get("max_vertices")
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int) or n < 4:
        raise MeshParseError(f"{where}: expected preprocess.max_vertices to be an integer >= 4 (got {n!r})")
    return int(n)


def check_device(device, *, here: bool = True) -> str:
    """``str`` of a usable torch device, or a :class:`MeshError` saying why it is not.

    ``here=False``: only the name is checked (a device of another machine, e.g. a Dask worker's).
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise MeshError(f"device: expected a torch device such as 'cpu' or 'cuda:0' (got {device!r})") from None
    if dev.type not in ("cpu", "cuda", "mps"):
        raise MeshError(f"device: expected 'cpu' or 'cuda[:N]' (got {str(dev)!r})")
    if not here:
        return str(dev)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise MeshError(f"device: expected an available device (got {str(dev)!r}: CUDA is not available)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise MeshError(f"device: expected one of the {torch.cuda.device_count()} CUDA devices (got {str(dev)!r})")
    return str(dev)


def load_segmentation_model(model_or_run_dir, *, device="cpu") -> SegmentationModel:
    """Load a segmentation model from a run folder (``model.pt`` + ``config.json``) or a ``.pt`` file.

    Also accepts an already loaded model (a :mod:`manifold_nets.nn` module with ``.pipeline``) or
    a :class:`SegmentationModel` (returned as is, moved to ``device``).

    Raises
    ------
    MeshFileNotFoundError
        No such folder or file, or a folder without ``model.pt``.
    manifold_nets.nn.CheckpointError
        A corrupt or incompatible checkpoint, or one without part names or input features.
    MeshParseError
        A malformed ``config.json``.
    """
    import torch

    from ..nn import CheckpointError, load

    device = check_device(device)
    if isinstance(model_or_run_dir, SegmentationModel):
        sm = model_or_run_dir
        if str(device) != sm.device:
            sm.model.to(device)
            sm.device = str(device)
        return sm
    if isinstance(model_or_run_dir, torch.nn.Module):
        model, path, cfg, max_v = model_or_run_dir, None, {}, None
        where = type(model).__name__
        model.to(device).eval()
    else:
        p = Path(model_or_run_dir)
        if p.is_dir():
            ckpt = p / "model.pt"
            if not ckpt.is_file():
                raise MeshFileNotFoundError(f"{p}: expected a run folder holding model.pt (got no model.pt)")
            cfg_path = p / "config.json"
        elif p.exists():
            ckpt, cfg_path = p, p.parent / "config.json"
        else:
            raise MeshFileNotFoundError(f"{p}: expected a run folder or a .pt checkpoint (got no such file or folder)")
        model = load(ckpt, map_location=device)
        cfg = _read_config(cfg_path)
        max_v = _max_vertices_of(cfg, cfg_path)
        path, where = ckpt, str(ckpt)
    pipe = getattr(model, "pipeline", None)
    if pipe is None or pipe.labels is None:
        raise CheckpointError(f"{where}: expected a segmentation model, which holds its part names (got a model "
                              f"without part names, e.g. a correspondence model)")
    if pipe.features is None:
        raise CheckpointError(f"{where}: expected a segmentation model, which holds its input features (got a "
                              f"model without them)")
    outputs = getattr(model, "outputs", "vertices")
    if outputs not in ("vertices", "faces"):
        raise CheckpointError(f"{where}: expected a per-vertex or per-face segmentation model "
                              f"(got outputs={outputs!r})")
    n_out = getattr(model, "out_channels", len(pipe.labels))
    if n_out != len(pipe.labels):
        raise CheckpointError(f"{where}: expected one part name per output ({n_out}) (got {len(pipe.labels)})")
    return SegmentationModel(model=model, part_names=tuple(pipe.labels), max_vertices=max_v, path=path,
                             config=cfg, device=str(device))


# ----------------------------------------------------------------------------------- helpers
def _areas(V, F) -> np.ndarray:
    return 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)


def _face_to_vertex_mean(V, F, P) -> np.ndarray:
    """``(nV, K)``: area-weighted mean of the incident faces' values (0 for unreferenced vertices)."""
    a = _areas(V, F)
    a = np.where(a > 0, a, 0.0) + 1e-300
    out = np.zeros((len(V), P.shape[1]))
    w = np.zeros(len(V))
    for c in range(3):
        np.add.at(out, F[:, c], a[:, None] * P)
        np.add.at(w, F[:, c], a)
    has = w > 0
    out[has] /= w[has, None]
    return out


def _softmax(logits):
    import torch

    return torch.softmax(logits.detach().to(torch.float64), dim=-1).cpu().numpy()


def _model_probabilities(sm: SegmentationModel, V, F, cache_dir=None):
    """Per-vertex (and per-face, for face models) class probabilities of the working mesh."""
    import torch

    model = sm.model
    pipe = model.pipeline
    params = next(iter(model.parameters()), None)
    dtype = params.dtype if params is not None else torch.float32
    try:
        batch = pipe.batch([(V, F)], device=sm.device, dtype=dtype, cache_dir=cache_dir)
    except (MeshError, SolverError) as exc:
        # the batch names the element ("meshes[0] ((V, F) #0): ..."): one mesh here, say "mesh"
        msg = re.sub(r"^meshes\[\d+\] \(.*?\): (V, F: )?", "", str(exc))
        raise type(exc)(f"mesh: {msg}") from exc
    with torch.inference_mode():
        x = pipe.features_of(batch)
        logits = model(batch, x)
    P = _softmax(logits)
    if getattr(model, "outputs", "vertices") == "faces":
        return _face_to_vertex_mean(V, F, P), P
    return P, None


def _check_smooth(smooth):
    if smooth not in SMOOTHERS:
        raise MeshError(f"smooth: expected one of {list(SMOOTHERS)} (got {smooth!r})")


# ----------------------------------------------------------------------------------- predict
def predict(model_or_run_dir, V, F, *, device="cpu", max_vertices=None, smooth=None, smoothness: float = 1.0,
            cache_dir=None, name: str = "mesh") -> Prediction:
    """Label a mesh; the labels are on the given vertices and faces, in their order.

    Parameters
    ----------
    model_or_run_dir : path, torch module or SegmentationModel
        A run folder, a ``.pt`` checkpoint, or a loaded model (see :func:`load_segmentation_model`).
    V, F : (nV, 3) float, (nF, 3) int
        The mesh as the user has it (never modified).
    device : str or torch.device
    max_vertices : int, optional
        Simplify meshes with more (referenced) vertices to at most this many before the model;
        ``None``: the run's ``preprocess.max_vertices`` (no simplification if it has none);
        ``0``: never simplify.
    smooth : None or "graphcut"
        Smooth the face labels by a graph cut (needs PyMaxflow).
    smoothness : float
        Weight of the graph cut's Potts term.
    cache_dir : path, optional
        Learning cache for the operators.
    name : str
        What to call the mesh in a warning (a :class:`~manifold_nets.errors.MeshWarning` when it is
        a triangle soup, :func:`manifold_nets.topology.soup_message`).

    Returns
    -------
    Prediction

    Raises
    ------
    MeshError
        Bad arrays (the message names the problem), a mesh the operators cannot handle, a bad
        ``smooth`` / ``max_vertices``.
    MissingDependencyError
        ``smooth="graphcut"`` without PyMaxflow.
    """
    t0 = time.perf_counter()
    _check_smooth(smooth)
    if smooth == "graphcut":
        from .smoothing import require_pymaxflow

        require_pymaxflow()  # before any work
    V, F = check_mesh_arrays(V, F)
    if len(F) == 0:
        raise EmptyMeshError(f"mesh: expected at least one face (got {len(V)} vertices and no faces)")
    warn_if_soup(F, len(V), name)
    sm = load_segmentation_model(model_or_run_dir, device=device)
    if max_vertices is None:
        max_vertices = sm.max_vertices
    elif isinstance(max_vertices, bool) or not isinstance(max_vertices, (int, np.integer)) or (
            max_vertices != 0 and max_vertices < 4):
        raise MeshError(f"max_vertices: expected 0 (never simplify) or an integer >= 4 (got {max_vertices!r})")
    nV = len(V)
    seconds = {"load": time.perf_counter() - t0}

    # working copy: referenced vertices only (the caller's arrays are not touched)
    used = np.zeros(nV, dtype=bool)
    used[F.reshape(-1)] = True
    old_of_new = np.flatnonzero(used)
    new_of_old = np.full(nV, -1, dtype=np.int64)
    new_of_old[old_of_new] = np.arange(len(old_of_new))
    Vw, Fw = V[old_of_new], new_of_old[F]

    t = time.perf_counter()
    simplified = bool(max_vertices) and len(Vw) > int(max_vertices)
    if simplified:
        from ..data.dataset import LabeledMesh
        from ..data.transforms import simplify

        small = simplify(LabeledMesh(Vw, Fw, np.zeros(len(Fw), np.int64), ("mesh",), name="prediction"),
                         int(max_vertices))
        Vm, Fm = small.V, small.F
    else:
        Vm, Fm = Vw, Fw
    seconds["simplify"] = time.perf_counter() - t

    t = time.perf_counter()
    Pv_model, Pf_model = _model_probabilities(sm, Vm, Fm, cache_dir=cache_dir)
    seconds["model"] = time.perf_counter() - t

    t = time.perf_counter()
    K = Pv_model.shape[1]
    Pv = np.zeros((nV, K))
    if simplified:
        from ..data.transforms import transfer_vertex_values

        Pv = transfer_vertex_values(Vm, Fm, Pv_model, V)
    else:
        Pv[old_of_new] = Pv_model
        if len(old_of_new) < nV:
            from ..data.transforms import transfer_vertex_values

            loose = np.flatnonzero(~used)
            Pv[loose] = transfer_vertex_values(Vw, Fw, Pv_model, V[loose])
    Pv = np.clip(Pv, 0.0, None)
    Pv /= np.maximum(Pv.sum(axis=1, keepdims=True), 1e-300)
    if Pf_model is not None and not simplified:
        Pf = Pf_model
    elif Pf_model is not None:
        from ..data.transforms import closest_points

        near, _, _ = closest_points(Vm, Fm, V[F].mean(axis=1))
        Pf = Pf_model[near]
    else:
        Pf = (Pv[F[:, 0]] + Pv[F[:, 1]] + Pv[F[:, 2]]) / 3.0
    face_labels = Pf.argmax(axis=1).astype(np.int64)
    vertex_labels = Pv.argmax(axis=1).astype(np.int64)
    seconds["transfer"] = time.perf_counter() - t

    if smooth == "graphcut":
        from ..data.labels import face_to_vertex_labels
        from .smoothing import graphcut_smooth

        t = time.perf_counter()
        face_labels = graphcut_smooth(V, F, Pf, smoothness=smoothness, init=face_labels)
        from_faces = face_to_vertex_labels(F, face_labels, nV, areas=_areas(V, F))
        vertex_labels = np.where(from_faces >= 0, from_faces, vertex_labels)
        seconds["smooth"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    info = {"n_vertices_model": int(len(Vm)), "n_faces_model": int(len(Fm)), "simplified": simplified,
            "max_vertices": int(max_vertices) if max_vertices else None,
            "unreferenced_vertices": int(nV - len(old_of_new)), "smooth": smooth, "seconds": seconds}
    return Prediction(face_labels=face_labels, vertex_labels=vertex_labels, face_scores=Pf, vertex_scores=Pv,
                      part_names=sm.part_names, info=info)


def predict_labels(model_or_run_dir, V, F, *, device="cpu", max_vertices=None, smooth=None,
                   smoothness: float = 1.0, cache_dir=None):
    """:func:`predict`, as plain arrays.

    Returns
    -------
    face_labels : (nF,) int64
    vertex_labels : (nV,) int64
    face_scores : (nF, K) float64
    """
    p = predict(model_or_run_dir, V, F, device=device, max_vertices=max_vertices, smooth=smooth,
                smoothness=smoothness, cache_dir=cache_dir)
    return p.face_labels, p.vertex_labels, p.face_scores
