"""Evaluate a segmentation: accuracy, per-part IoU, confusion, per-mesh table; boundary metrics.

No torch at import (:func:`evaluate_model` imports :mod:`.predict` when called).

Figures of :func:`evaluate_segmentation` (formulas in :mod:`manifold_nets.tasks.metrics`):

``area_weighted_accuracy``
    Per mesh the fraction of the labelled surface area labelled correctly (face areas normalised
    per mesh), then the **mean over meshes** — the evaluation of Kalogerakis et al. 2010.
``face_accuracy``
    Per mesh the fraction of labelled faces labelled correctly, then the mean over meshes;
    ``face_accuracy_pooled`` is correct faces over all labelled faces of all meshes (as MeshCNN
    and its followers count on the human-body set).
``per_part_iou``
    ``{part: IoU}`` from the confusion of *normalised areas* (each mesh's labelled surface
    counts 1, so every mesh weighs the same); ``mean_iou`` is the mean over the parts that occur
    (NaN parts, neither true nor predicted, are left out and shown as ``null`` in JSON).
``confusion``
    Face counts summed over meshes, ``confusion[i][j]`` = faces of true part ``i`` predicted
    ``j`` (rows: truth); ``confusion_area`` the same with normalised areas.
``per_mesh``
    ``[{name, n_faces, area_weighted_accuracy, face_accuracy}]``.

Faces whose true label is ``-1`` (unlabelled) are left out everywhere.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import MeshError, MeshShapeError
from . import metrics as M

__all__ = ["evaluate_segmentation", "evaluate_model", "evaluate_boundaries", "format_text", "format_boundaries",
           "to_json"]


def _name(m, i: int) -> str:
    return getattr(m, "name", "") or f"mesh {i}"


def evaluate_segmentation(true_meshes: Sequence, pred_face_labels: Sequence, *, part_names=None) -> dict:
    """Compare predicted face labels with the true ones, mesh by mesh and over the set.

    Parameters
    ----------
    true_meshes : sequence of LabeledMesh
        ``V``, ``F``, ``face_labels`` (``-1`` unlabelled), ``part_names``, ``name``.
    pred_face_labels : sequence of (nF_i,) int arrays
        One per mesh, indices into the same part names.
    part_names : sequence of str, optional
        Default: the first mesh's.

    Returns
    -------
    dict
        ``area_weighted_accuracy``, ``face_accuracy``, ``face_accuracy_pooled``, ``per_part_iou``
        ``{name: iou}``, ``mean_iou``, ``confusion`` (list of lists of ints), ``confusion_area``,
        ``part_names``, ``n_meshes``, ``per_mesh`` (see the module docstring).
    """
    meshes = list(true_meshes)
    preds = list(pred_face_labels)
    if len(meshes) != len(preds):
        raise MeshShapeError(f"pred_face_labels: expected one array per mesh, {len(meshes)} (got {len(preds)})")
    if not meshes:
        raise MeshError("true_meshes: expected at least one mesh (got none)")
    names = tuple(part_names) if part_names is not None else tuple(meshes[0].part_names)
    K = len(names)
    conf = np.zeros((K, K))
    conf_area = np.zeros((K, K))
    rows = []
    for i, (m, p) in enumerate(zip(meshes, preds)):
        where = _name(m, i)
        true = np.asarray(m.face_labels, dtype=np.int64)
        p = np.asarray(p)
        if p.shape != true.shape:
            raise MeshShapeError(f"{where}: expected {len(true)} predicted face labels (got shape {p.shape})")
        areas = np.asarray(m.face_areas, dtype=np.float64)
        try:
            C = M.confusion_matrix(p, true, K)
        except MeshError as exc:
            raise MeshError(f"{where}: {exc}") from None
        conf += C
        lab = true >= 0
        tot = areas[lab].sum()
        if tot > 0:
            conf_area += M.confusion_matrix(p, true, K, weights=areas / tot)
        rows.append({"name": where, "n_faces": int(len(true)),
                     "area_weighted_accuracy": M.area_weighted_accuracy(p, true, areas),
                     "face_accuracy": M.face_accuracy(p, true)})
    aw = np.array([r["area_weighted_accuracy"] for r in rows])
    fa = np.array([r["face_accuracy"] for r in rows])
    iou = M.iou_from_confusion(conf_area)
    total = conf.sum()
    return {
        "n_meshes": len(rows),
        "part_names": list(names),
        "area_weighted_accuracy": float(np.nanmean(aw)) if np.isfinite(aw).any() else float("nan"),
        "face_accuracy": float(np.nanmean(fa)) if np.isfinite(fa).any() else float("nan"),
        "face_accuracy_pooled": float(np.trace(conf) / total) if total > 0 else float("nan"),
        "per_part_iou": {n: float(v) for n, v in zip(names, iou)},
        "mean_iou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "confusion": [[int(round(v)) for v in row] for row in conf],
        "confusion_area": [[float(v) for v in row] for row in conf_area],
        "per_mesh": rows,
    }


def evaluate_model(model_or_run_dir, meshes: Sequence, *, device="cpu", max_vertices=None, smooth=None,
                   smoothness: float = 1.0, cache_dir=None, progress: Callable | None = None):
    """Predict every mesh with :func:`manifold_nets.tasks.predict.predict` and evaluate.

    ``meshes``: a :class:`~manifold_nets.data.MeshDataset` (its raw meshes are used: the
    prediction repeats the model's own preprocessing) or a list of LabeledMesh.  The model's
    part names must be the data set's (load the data with ``labels=model part names``).
    ``progress(i, n, name)`` is called before each mesh.

    Returns ``(result, predictions)``: the dict of :func:`evaluate_segmentation` and the list of
    :class:`~manifold_nets.tasks.predict.Prediction`.
    """
    from .predict import load_segmentation_model, predict

    sm = load_segmentation_model(model_or_run_dir, device=device)
    items = [meshes.raw(i) for i in range(len(meshes))] if hasattr(meshes, "raw") else list(meshes)
    if not items:
        raise MeshError("meshes: expected at least one labelled mesh (got none)")
    data_names = tuple(items[0].part_names)
    if data_names != tuple(sm.part_names):
        raise MeshError(f"data: expected the model's part names {list(sm.part_names)} (got {list(data_names)}); "
                        f"load the data with labels=<the model's part names>")
    preds = []
    for i, m in enumerate(items):
        if progress is not None:
            progress(i, len(items), _name(m, i))
        try:
            preds.append(predict(sm, m.V, m.F, device=device, max_vertices=max_vertices, smooth=smooth,
                                 smoothness=smoothness, cache_dir=cache_dir))
        except MeshError as exc:
            raise type(exc)(f"{_name(m, i)}: {exc}") from exc
    result = evaluate_segmentation(items, [p.face_labels for p in preds], part_names=sm.part_names)
    result["model"] = None if sm.path is None else str(sm.path)
    return result, preds


def evaluate_boundaries(meshes: Sequence, pred_face_labels: Sequence, seg_dir, *, connected: bool = True) -> dict:
    """Princeton benchmark scores against every human segmentation of each mesh.

    The human segmentations of a mesh whose file is ``<id>.off`` are the ``<id>_<k>.seg`` files of
    ``seg_dir`` (or ``seg_dir/<id>/``, ``seg_dir/Benchmark/<id>/``), read by
    :func:`manifold_nets.data.readers_psb.read_psb_segmentations`; scores are averaged over them
    (:func:`manifold_nets.tasks.metrics.compare_to_humans`), then over meshes.  A mesh without
    ``.seg`` files is listed in ``missing`` (not scored, not hidden).

    Returns
    -------
    dict
        ``per_mesh`` ``[{name, n_references, rand_index, rand_index_error, cut_discrepancy, gce,
        lce}]``, the means of those scores, ``n_meshes`` (scored) and ``missing`` (names).
    """
    from pathlib import Path

    from ..data.readers_common import file_stem
    from ..data.readers_psb import find_psb_segmentations, read_psb_segmentations

    meshes = list(meshes)
    preds = list(pred_face_labels)
    if len(meshes) != len(preds):
        raise MeshShapeError(f"pred_face_labels: expected one array per mesh, {len(meshes)} (got {len(preds)})")
    rows, missing = [], []
    for i, (m, p) in enumerate(zip(meshes, preds)):
        name = _name(m, i)
        mesh_id = file_stem(Path(m.path)) if getattr(m, "path", None) else name.rsplit("/", 1)[-1]
        if not find_psb_segmentations(seg_dir, mesh_id):
            missing.append(name)
            continue
        humans = read_psb_segmentations(seg_dir, mesh_id, n_faces=len(m.F))
        sc = M.compare_to_humans(m.V, m.F, p, humans, connected=connected)
        rows.append({"name": name, **sc})
    out: dict = {"per_mesh": rows, "n_meshes": len(rows), "missing": missing}
    for k in ("rand_index", "rand_index_error", "cut_discrepancy", "gce", "lce"):
        vals = np.array([r[k] for r in rows], dtype=np.float64)
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    return out


# ----------------------------------------------------------------------------------- formatting
def _pct(v) -> str:
    return "   n/a" if v is None or not math.isfinite(v) else f"{100 * v:6.2f}"


def format_text(result: dict) -> str:
    """A plain-text report of :func:`evaluate_segmentation`'s result: per-mesh table, summary,
    per-part IoU and the confusion matrix (face counts; rows are the true parts)."""
    names = result["part_names"]
    lines = []
    w = max([4] + [len(r["name"]) for r in result["per_mesh"]])
    lines.append(f"{'mesh':<{w}}  {'faces':>7}  {'area acc %':>10}  {'face acc %':>10}")
    for r in result["per_mesh"]:
        lines.append(f"{r['name']:<{w}}  {r['n_faces']:>7}  {_pct(r['area_weighted_accuracy']):>10}  "
                     f"{_pct(r['face_accuracy']):>10}")
    lines.append("")
    lines.append(f"area-weighted accuracy (mean over {result['n_meshes']} meshes): "
                 f"{_pct(result['area_weighted_accuracy']).strip()} %")
    lines.append(f"face accuracy (mean over meshes): {_pct(result['face_accuracy']).strip()} %   "
                 f"(pooled over faces: {_pct(result['face_accuracy_pooled']).strip()} %)")
    lines.append(f"mean IoU: {_pct(result['mean_iou']).strip()} %")
    lines.append("")
    pw = max([4] + [len(n) for n in names])
    lines.append(f"{'part':<{pw}}  {'IoU %':>6}")
    for n in names:
        lines.append(f"{n:<{pw}}  {_pct(result['per_part_iou'][n])}")
    lines.append("")
    lines.append("confusion (faces; rows: true part, columns: predicted)")
    conf = result["confusion"]
    cw = max([pw] + [len(str(v)) for row in conf for v in row])
    lines.append(" " * (pw + 2) + "  ".join(f"{n[:cw]:>{cw}}" for n in names))
    for n, row in zip(names, conf):
        lines.append(f"{n:<{pw}}  " + "  ".join(f"{v:>{cw}}" for v in row))
    return "\n".join(lines)


def format_boundaries(result: dict) -> str:
    """A plain-text table of :func:`evaluate_boundaries`'s result."""
    lines = []
    w = max([4] + [len(r["name"]) for r in result["per_mesh"]])
    head = f"{'mesh':<{w}}  {'humans':>6}  {'1-RI':>7}  {'CD':>7}  {'GCE':>7}  {'LCE':>7}"
    lines.append(head)

    def f(v):
        return "    n/a" if not math.isfinite(v) else f"{v:7.4f}"

    for r in result["per_mesh"]:
        lines.append(f"{r['name']:<{w}}  {r['n_references']:>6}  {f(r['rand_index_error'])}  "
                     f"{f(r['cut_discrepancy'])}  {f(r['gce'])}  {f(r['lce'])}")
    lines.append(f"{'mean':<{w}}  {'':>6}  {f(result['rand_index_error'])}  {f(result['cut_discrepancy'])}  "
                 f"{f(result['gce'])}  {f(result['lce'])}")
    if result.get("missing"):
        lines.append(f"no .seg files for {len(result['missing'])} meshes: " + ", ".join(result["missing"][:10])
                     + (", ..." if len(result["missing"]) > 10 else ""))
    return "\n".join(lines)


def _clean(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.generic):
        return _clean(obj.item())
    return obj


def to_json(result: dict, *, indent: int | None = 2) -> str:
    """JSON text of a result dict (NaN and infinities written as ``null``, strict JSON)."""
    return json.dumps(_clean(result), indent=indent, allow_nan=False)
