"""Segmentation metrics: label accuracy (Kalogerakis et al. 2010) and the Princeton benchmark's
boundary and region metrics (Chen, Golovinskiy & Funkhouser 2009).

Pure numpy / scipy (no torch).  Every function takes per-face arrays of one mesh.

Label metrics (a *labelling* names parts; ``-1`` in ``true`` marks an unlabelled face, left out)

* :func:`face_accuracy` ``= #{f : pred_f = true_f} / #{f : true_f >= 0}``.
* :func:`area_weighted_accuracy` ``= Σ_f a_f [pred_f = true_f] / Σ_f a_f`` over labelled faces:
  the face areas are normalised per mesh (they sum to 1), so a mesh's triangulation does not
  matter, as in Kalogerakis et al. 2010 ("the fraction of the surface area correctly labelled").
  The data-set figure is the **mean over meshes** (:mod:`manifold_nets.tasks.evaluate`).
* :func:`confusion_matrix` ``C[i, j] = Σ_{f : true_f = i, pred_f = j} w_f`` (``w = 1`` or areas).
* :func:`per_part_iou` ``IoU_i = C[i, i] / (Σ_j C[i, j] + Σ_j C[j, i] − C[i, i])`` (NaN when
  part ``i`` is neither true nor predicted anywhere).

Segmentation metrics (a *segmentation* is a partition: segment ids are arbitrary names, only
which faces go together counts).  Faces are weighted by their area as in the benchmark; with
``areas=None`` every face counts 1.  Write ``a_f`` for the weight of face ``f``, ``T = Σ a_f``,
``n_kl`` for the weight of the faces in segment ``k`` of ``S1`` and segment ``l`` of ``S2``,
``r_k = Σ_l n_kl``, ``c_l = Σ_k n_kl``.

* :func:`rand_index` (Rand 1971): the weight of the pairs of distinct faces on which the two
  segmentations agree (both together or both apart), over the weight of all pairs::

      RI = 1 − (Σ_k r_k² + Σ_l c_l² − 2 Σ_kl n_kl²) / (T² − Σ_f a_f²)

  (with unit weights this is the classical count over ``N (N − 1) / 2`` pairs).  Identical
  segmentations give ``RI = 1``.  **Chen et al. plot ``1 − RI``** (lower is better): the
  summaries of :func:`segmentation_scores` report it as ``"rand_index_error"``.
* :func:`consistency_errors` (Martin et al. 2001): with the local refinement error of face
  ``f`` in segment ``k`` of ``S1`` and ``l`` of ``S2``, ``E12(f) = (r_k − n_kl) / r_k`` and
  ``E21(f) = (c_l − n_kl) / c_l``::

      GCE = min(Σ_f a_f E12(f), Σ_f a_f E21(f)) / T
      LCE = Σ_f a_f min(E12(f), E21(f)) / T

  Both are 0 when one segmentation refines the other.
* :func:`cut_discrepancy`: the cut of a segmentation is the set of mesh edges whose two (or
  more) faces lie in different segments.  ``DCD(C1 ⇒ C2)`` is the mean, over the points of
  ``C1`` (each cut edge weighted by its length), of the distance to ``C2``; the distance of an
  edge is the mean of its two endpoints' distances, which are **shortest-path (Dijkstra)
  distances along mesh edges** (scipy.sparse.csgraph) from the vertices of ``C2``, an upper
  bound of the geodesic distance that converges to it as the mesh is refined::

      CD = (DCD(C1 ⇒ C2) + DCD(C2 ⇒ C1)) / avgRadius

  with ``avgRadius`` the area-weighted mean distance of the surface to its area-weighted
  centroid (evaluated at the face centroids, :func:`average_radius`).  ``CD = 0`` when both
  have no cut; NaN (undefined) when exactly one of them has none.

Labels to segments: a part label may cover several separate regions; with ``connected=True``
(the default of :func:`segmentation_scores`) every edge-connected region of one label becomes
its own segment (:func:`label_segments`), as the benchmark's segmentations are.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import MeshError, MeshShapeError

__all__ = [
    "face_accuracy",
    "area_weighted_accuracy",
    "confusion_matrix",
    "per_part_iou",
    "iou_from_confusion",
    "label_segments",
    "rand_index",
    "consistency_errors",
    "cut_edges",
    "directional_cut_discrepancy",
    "cut_discrepancy",
    "average_radius",
    "segmentation_scores",
    "compare_to_humans",
]


# ------------------------------------------------------------------------------- helpers
def _labels(a, name: str, n: int | None = None) -> np.ndarray:
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise MeshShapeError(f"{name}: expected a 1-D array of per-face labels (got shape {arr.shape})")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise MeshShapeError(f"{name}: expected integer labels (got dtype {arr.dtype})")
    arr = arr.astype(np.int64)
    if n is not None and len(arr) != n:
        raise MeshShapeError(f"{name}: expected {n} per-face labels (got {len(arr)})")
    return arr


def _weights(w, n: int, name: str = "areas") -> np.ndarray:
    if w is None:
        return np.ones(n)
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (n,):
        raise MeshShapeError(f"{name}: expected shape ({n},) (got {w.shape})")
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if len(bad):
        raise MeshError(f"{name}: expected finite non-negative weights (got {w[bad[0]]} at face {bad[0]})")
    return w


def _pair(pred, true, areas=None):
    true = _labels(true, "true")
    pred = _labels(pred, "pred", len(true))
    return pred, true, _weights(areas, len(true))


# ------------------------------------------------------------------------------- label metrics
def face_accuracy(pred, true) -> float:
    """Fraction of the labelled faces (``true >= 0``) with ``pred == true``.

    Shapes: pred, true ``(nF,)`` int -> float (NaN when no face is labelled).
    """
    pred, true, _ = _pair(pred, true)
    keep = true >= 0
    if not keep.any():
        return float("nan")
    return float(np.mean(pred[keep] == true[keep]))


def area_weighted_accuracy(pred, true, areas) -> float:
    """Fraction of the labelled surface area that is labelled correctly (Kalogerakis et al. 2010).

    ``Σ_f a_f [pred_f = true_f] / Σ_f a_f`` over the faces with ``true_f >= 0``: the areas are
    normalised per mesh, so the value does not depend on the mesh's unit or triangulation.

    Shapes: pred, true ``(nF,)`` int, areas ``(nF,)`` float -> float (NaN when no labelled area).
    """
    pred, true, a = _pair(pred, true, areas)
    keep = true >= 0
    tot = a[keep].sum()
    if not keep.any() or tot <= 0:
        return float("nan")
    return float(a[keep & (pred == true)].sum() / tot)


def confusion_matrix(pred, true, n_classes: int, weights=None) -> np.ndarray:
    """``C[i, j]``: total weight of the faces of true class ``i`` predicted as ``j``.

    Faces with ``true = -1`` are left out.  Shapes: pred, true ``(nF,)`` int, weights ``(nF,)``
    (default 1 per face) -> ``(n_classes, n_classes)`` float64 (integer-valued without weights).

    Raises
    ------
    MeshError
        A label outside ``[0, n_classes)`` (``true`` may also be ``-1``).
    """
    pred, true, w = _pair(pred, true, weights)
    K = int(n_classes)
    keep = true >= 0
    for name, arr in (("true", true[keep]), ("pred", pred[keep])):
        bad = np.flatnonzero((arr < 0) | (arr >= K))
        if len(bad):
            raise MeshError(f"{name}: expected labels in [0, {K}) (got {arr[bad[0]]})")
    C = np.zeros((K, K))
    np.add.at(C, (true[keep], pred[keep]), w[keep])
    return C


def iou_from_confusion(C) -> np.ndarray:
    """``(K,)`` intersection over union per class from a confusion matrix (NaN: class absent)."""
    C = np.asarray(C, dtype=np.float64)
    inter = np.diag(C)
    union = C.sum(0) + C.sum(1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), np.nan)


def per_part_iou(pred, true, n_classes: int, weights=None) -> np.ndarray:
    """``(n_classes,)`` IoU of every part (faces, or area with ``weights``); NaN for a part neither
    true nor predicted on any labelled face."""
    return iou_from_confusion(confusion_matrix(pred, true, n_classes, weights))


# ------------------------------------------------------------------------------- segments
def _face_adjacency(F) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of faces sharing an edge: ``(f, g, edge)`` with the edge's vertex pair ``(m, 2)``.

    A non-manifold edge with ``k`` faces gives all ``k (k − 1) / 2`` pairs."""
    F = np.asarray(F, dtype=np.int64)
    nF = len(F)
    E = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    face = np.tile(np.arange(nF), 3)
    keep = E[:, 0] != E[:, 1]
    E, face = E[keep], face[keep]
    uniq, inv = np.unique(E, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    order = np.argsort(inv, kind="stable")
    inv_s, face_s = inv[order], face[order]
    starts = np.flatnonzero(np.r_[True, inv_s[1:] != inv_s[:-1]])
    counts = np.diff(np.r_[starts, len(inv_s)])
    fs, gs, es = [], [], []
    for c in np.unique(counts):
        if c < 2:
            continue
        st = starts[counts == c]
        for i in range(c):
            for j in range(i + 1, c):
                fs.append(face_s[st + i])
                gs.append(face_s[st + j])
                es.append(inv_s[st])
    if not fs:
        z = np.zeros(0, np.int64)
        return z, z, np.zeros((0, 2), np.int64)
    f, g, e = np.concatenate(fs), np.concatenate(gs), np.concatenate(es)
    return f, g, uniq[e]


def label_segments(F, labels) -> np.ndarray:
    """Split every label into its edge-connected regions: ``(nF,)`` int64 segment ids.

    Two faces are in one segment when they carry the same label and are joined by a chain of
    faces of that label sharing edges.  Segment ids are numbered in order of the first face.
    """
    F = np.asarray(F, dtype=np.int64)
    lab = _labels(labels, "labels", len(F))
    f, g, _ = _face_adjacency(F)
    same = lab[f] == lab[g]
    A = sp.coo_matrix((np.ones(same.sum()), (f[same], g[same])), shape=(len(F), len(F)))
    from scipy.sparse.csgraph import connected_components

    _, comp = connected_components(A, directed=False)
    _, first, inv = np.unique(comp, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inv.reshape(-1)]


def _contingency(s1, s2, w) -> np.ndarray:
    _, a = np.unique(s1, return_inverse=True)
    _, b = np.unique(s2, return_inverse=True)
    a, b = a.reshape(-1), b.reshape(-1)
    N = np.zeros((a.max() + 1 if len(a) else 0, b.max() + 1 if len(b) else 0))
    np.add.at(N, (a, b), w)
    return N


def rand_index(seg1, seg2, areas=None) -> float:
    """Rand index of two segmentations of the same faces (1 = identical partitions).

    ``1 − (Σ r_k² + Σ c_l² − 2 Σ n_kl²) / (T² − Σ a_f²)`` (see the module docstring); Chen et al.
    report ``1 − RI``.  Shapes: seg1, seg2 ``(nF,)`` int, areas ``(nF,)`` (default 1) -> float.
    """
    s1, s2, w = _pair(seg1, seg2, areas)
    N = _contingency(s1, s2, w)
    T = w.sum()
    den = T * T - np.sum(w * w)
    if den <= 0:
        return 1.0
    dis = (np.sum(N.sum(1) ** 2) + np.sum(N.sum(0) ** 2) - 2 * np.sum(N * N)) / den
    return float(1.0 - max(dis, 0.0))


def consistency_errors(seg1, seg2, areas=None) -> tuple[float, float]:
    """``(GCE, LCE)``: global and local consistency errors (Martin et al. 2001), in ``[0, 1]``.

    Shapes: seg1, seg2 ``(nF,)`` int, areas ``(nF,)`` (default 1) -> (float, float).
    """
    s1, s2, w = _pair(seg1, seg2, areas)
    N = _contingency(s1, s2, w)
    T = N.sum()
    if T <= 0:
        return 0.0, 0.0
    r = N.sum(1, keepdims=True)
    c = N.sum(0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        e12 = np.where(r > 0, (r - N) / np.where(r > 0, r, 1), 0.0)
        e21 = np.where(c > 0, (c - N) / np.where(c > 0, c, 1), 0.0)
    gce = min(np.sum(N * e12), np.sum(N * e21)) / T
    lce = np.sum(N * np.minimum(e12, e21)) / T
    return float(gce), float(lce)


def cut_edges(F, segments) -> np.ndarray:
    """``(m, 2)`` int64 vertex pairs (sorted) of the edges between faces of different segments."""
    F = np.asarray(F, dtype=np.int64)
    s = _labels(segments, "segments", len(F))
    f, g, e = _face_adjacency(F)
    cut = e[s[f] != s[g]]
    return np.unique(cut, axis=0) if len(cut) else np.zeros((0, 2), np.int64)


def _edge_graph(V, F) -> sp.csr_matrix:
    E = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    E = np.unique(E[E[:, 0] != E[:, 1]], axis=0)
    L = np.linalg.norm(V[E[:, 0]] - V[E[:, 1]], axis=1)
    # csgraph treats explicit zeros as missing edges: a zero-length edge gets a tiny length
    L = np.maximum(L, np.finfo(float).tiny)
    n = len(V)
    return sp.coo_matrix((np.r_[L, L], (np.r_[E[:, 0], E[:, 1]], np.r_[E[:, 1], E[:, 0]])), shape=(n, n)).tocsr()


def directional_cut_discrepancy(V, F, cut_from, cut_to, *, graph=None) -> float:
    """Mean distance from the cut ``cut_from`` to the cut ``cut_to`` (not normalised).

    ``Σ_e ℓ_e (d(u_e) + d(v_e)) / 2 / Σ_e ℓ_e`` over the edges ``e = (u_e, v_e)`` of
    ``cut_from``, where ``d`` is the shortest-path distance along mesh edges to the nearest vertex
    of ``cut_to`` (Dijkstra).  Shapes: V ``(nV, 3)``, F ``(nF, 3)``, cuts ``(m, 2)`` vertex pairs
    -> float (NaN when ``cut_to`` is empty, 0 when ``cut_from`` is; ``inf`` if unreachable).
    """
    from scipy.sparse.csgraph import dijkstra

    V = np.asarray(V, dtype=np.float64)
    F = np.asarray(F, dtype=np.int64)
    A = np.asarray(cut_from, dtype=np.int64).reshape(-1, 2)
    B = np.asarray(cut_to, dtype=np.int64).reshape(-1, 2)
    if len(A) == 0:
        return 0.0
    if len(B) == 0:
        return float("nan")
    G = _edge_graph(V, F) if graph is None else graph
    d = dijkstra(G, directed=False, indices=np.unique(B), min_only=True)
    ell = np.linalg.norm(V[A[:, 0]] - V[A[:, 1]], axis=1)
    de = 0.5 * (d[A[:, 0]] + d[A[:, 1]])
    if ell.sum() <= 0:
        return float(de.mean())
    return float(np.sum(ell * de) / ell.sum())


def average_radius(V, F) -> float:
    """Area-weighted mean distance from the surface to its area-weighted centroid (evaluated at
    the face centroids).  Shapes: V ``(nV, 3)``, F ``(nF, 3)`` -> float."""
    V = np.asarray(V, dtype=np.float64)
    F = np.asarray(F, dtype=np.int64)
    a = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)
    C = V[F].mean(axis=1)
    if a.sum() <= 0:
        return float(np.linalg.norm(C - C.mean(0), axis=1).mean())
    c = (a[:, None] * C).sum(0) / a.sum()
    return float(np.sum(a * np.linalg.norm(C - c, axis=1)) / a.sum())


def cut_discrepancy(V, F, seg1, seg2, *, radius=None, graph=None) -> float:
    """Symmetric cut discrepancy ``(DCD(C1 ⇒ C2) + DCD(C2 ⇒ C1)) / avgRadius`` (Chen et al. 2009).

    0 for identical cuts (and when neither segmentation has a cut), NaN when only one has a cut.
    Shapes: V ``(nV, 3)``, F ``(nF, 3)``, seg1, seg2 ``(nF,)`` -> float.
    """
    V = np.asarray(V, dtype=np.float64)
    F = np.asarray(F, dtype=np.int64)
    c1, c2 = cut_edges(F, seg1), cut_edges(F, seg2)
    if len(c1) == 0 and len(c2) == 0:
        return 0.0
    if len(c1) == 0 or len(c2) == 0:
        return float("nan")
    G = _edge_graph(V, F) if graph is None else graph
    R = average_radius(V, F) if radius is None else float(radius)
    d = directional_cut_discrepancy(V, F, c1, c2, graph=G) + directional_cut_discrepancy(V, F, c2, c1, graph=G)
    return float(d / R) if R > 0 else float("nan")


def segmentation_scores(V, F, pred, reference, *, areas=None, connected: bool = True, radius=None,
                        graph=None) -> dict:
    """The benchmark's four scores of ``pred`` against one reference segmentation.

    Returns ``{"rand_index": RI, "rand_index_error": 1 − RI, "cut_discrepancy": CD,
    "gce": GCE, "lce": LCE}``.  ``areas`` default: the face areas.  ``connected``: split each
    label into edge-connected segments first (:func:`label_segments`).
    """
    V = np.asarray(V, dtype=np.float64)
    F = np.asarray(F, dtype=np.int64)
    pred = _labels(pred, "pred", len(F))
    ref = _labels(reference, "reference", len(F))
    if areas is None:
        areas = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)
    if connected:
        pred, ref = label_segments(F, pred), label_segments(F, ref)
    ri = rand_index(pred, ref, areas)
    gce, lce = consistency_errors(pred, ref, areas)
    cd = cut_discrepancy(V, F, pred, ref, radius=radius, graph=graph)
    return {"rand_index": ri, "rand_index_error": 1.0 - ri, "cut_discrepancy": cd, "gce": gce, "lce": lce}


def compare_to_humans(V, F, pred, humans, *, connected: bool = True) -> dict:
    """Mean of :func:`segmentation_scores` of ``pred`` over several human segmentations of the mesh.

    As in Chen et al. 2009, each score is averaged over the reference segmentations (the cut
    discrepancy over those where it is defined).  Returns the mean scores plus ``"n_references"``.
    """
    humans = list(humans)
    if not humans:
        raise MeshError("humans: expected at least one reference segmentation (got none)")
    V = np.asarray(V, dtype=np.float64)
    F = np.asarray(F, dtype=np.int64)
    G = _edge_graph(V, F)
    R = average_radius(V, F)
    rows = [segmentation_scores(V, F, pred, h, connected=connected, radius=R, graph=G) for h in humans]
    out = {}
    for k in rows[0]:
        vals = np.array([r[k] for r in rows], dtype=np.float64)
        out[k] = float(np.nanmean(vals)) if np.isfinite(vals).any() else float("nan")
    out["n_references"] = len(rows)
    return out
