"""MeshCNN's edge order and the rules that move labels between edges and faces.

Edge order (MeshCNN's ``build_gemm``): iterate the faces in file order and, in each face, the
corner pairs ``(0, 1), (1, 2), (2, 0)``; every undirected edge gets the next number the first
time it appears.  MeshCNN builds its edges *after* dropping zero-area faces and faces that repeat
a directed edge of an earlier face (duplicates, flipped neighbours: its ``remove_non_manifolds``); we
assume a clean mesh and the readers refuse an edge label file whose row count differs from the
number of edges this order gives (:mod:`manifold_nets.data.readers_meshcnn`).

Rules (tested in ``tests/data/test_edges.py``), all independent of the corner order of a face:

* **Edges to faces** (:func:`edge_to_face_labels`, :func:`edge_scores_to_face_labels`): a face
  takes the label carried by most of its three edges; when all three differ, the smallest label.
  From soft (multi-hot or fractional) edge labels ``(nE, K)``: the class with the largest sum over
  the face's three edges, ties to the smallest class index.  For one-hot rows both rules agree.
* **Faces to edges** (:func:`face_to_edge_labels`): an edge takes the label of its incident
  labelled face of largest area; ties (equal areas, e.g. a symmetric pair) go to the smaller label.
  Areas within a relative ``1e-9`` count as equal, so rounding cannot break an exact tie
  differently for another corner order.  A boundary edge takes the label of its only face; an
  edge whose faces are all unlabelled ``-1``.
"""

from __future__ import annotations

import numpy as np

from ..errors import MeshError
from .labels import face_areas

__all__ = ["mesh_edges", "meshcnn_dropped_face", "edge_to_face_labels", "edge_scores_to_face_labels", "face_to_edge_labels"]


def mesh_edges(F) -> tuple[np.ndarray, np.ndarray]:
    """Undirected edges in MeshCNN's order and the edges of every face.

    Shapes: F ``(nF, 3)`` int -> ``E (nE, 2)`` int64 (each row sorted, ``E[e, 0] < E[e, 1]``),
    ``face_edges (nF, 3)`` int64 where ``face_edges[f, i]`` is the edge of corners ``(i, i+1 mod 3)``.

    >>> E, FE = mesh_edges([[0, 1, 2], [2, 1, 3]])
    >>> E.tolist(), FE.tolist()
    ([[0, 1], [1, 2], [0, 2], [1, 3], [2, 3]], [[0, 1, 2], [1, 3, 4]])
    """
    F = np.asarray(F, dtype=np.int64).reshape(-1, 3)
    pairs = np.stack([F, np.roll(F, -1, axis=1)], axis=2).reshape(-1, 2)  # (3 nF, 2) in corner order
    pairs = np.sort(pairs, axis=1)
    if len(pairs) == 0:
        return np.zeros((0, 2), np.int64), np.zeros((0, 3), np.int64)
    uniq, first, inv = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # unique edges by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniq[order].astype(np.int64), rank[inv.reshape(-1)].reshape(-1, 3).astype(np.int64)


def meshcnn_dropped_face(V, F) -> tuple[int, str] | None:
    """The first face MeshCNN's reader would drop before numbering edges, and why; None if none.

    MeshCNN drops zero-area faces and faces that repeat a directed edge of an earlier face
    (a duplicate face, an inconsistently oriented neighbour, a non-manifold fan), which changes
    its edge numbering.  Shapes: V ``(nV, 3)``, F ``(nF, 3)`` int.

    >>> meshcnn_dropped_face([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2], [1, 2, 0]])
    (1, 'repeats the directed edge (1, 2) of face 0')
    """
    F = np.asarray(F, dtype=np.int64).reshape(-1, 3)
    found = []
    zero = np.flatnonzero(face_areas(V, F) == 0)
    if len(zero):
        found.append((int(zero[0]), "has zero area"))
    d = np.stack([F, np.roll(F, -1, axis=1)], axis=2).reshape(-1, 2)
    if len(d):
        _, first, inv = np.unique(d, axis=0, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        later = np.flatnonzero(first[inv] != np.arange(len(d)))
        if len(later):
            k = int(later[0])
            e = d[k]
            found.append((k // 3, f"repeats the directed edge ({e[0]}, {e[1]}) of face {int(first[inv[k]]) // 3}"))
    return min(found) if found else None


def _face_edges(F, n_edges: int | None, face_edges) -> np.ndarray:
    if face_edges is None:
        E, face_edges = mesh_edges(F)
        if n_edges is not None and n_edges != len(E):
            raise MeshError(f"edge labels: expected one per edge, {len(E)} (got {n_edges})")
    return np.asarray(face_edges, dtype=np.int64)


def edge_to_face_labels(F, edge_labels, *, face_edges=None) -> np.ndarray:
    """Per-face labels from per-edge labels: the majority of a face's edges, else the smallest.

    Shapes: F ``(nF, 3)`` int, edge_labels ``(nE,)`` int in MeshCNN's edge order (``-1`` =
    unlabelled), face_edges ``(nF, 3)`` (default :func:`mesh_edges`) -> ``(nF,)`` int64.  A face
    whose majority is unlabelled but which has a labelled edge takes that edge's label.

    >>> edge_to_face_labels([[0, 1, 2], [2, 1, 3]], [0, 1, 1, 2, 2]).tolist()
    [1, 2]
    """
    lab = np.asarray(edge_labels, dtype=np.int64).reshape(-1)
    FE = _face_edges(F, len(lab), face_edges)
    c = lab[FE]
    a, b, d = c[:, 0], c[:, 1], c[:, 2]
    out = c.min(axis=1)
    out = np.where(b == d, b, out)
    out = np.where(a == d, a, out)
    out = np.where(a == b, a, out)
    unl = out < 0
    if unl.any():
        out[unl] = c[unl].max(axis=1)
    return out.astype(np.int64)


def edge_scores_to_face_labels(F, edge_scores, *, face_edges=None) -> np.ndarray:
    """Per-face labels from soft per-edge labels: arg-max of the sum over the face's 3 edges.

    Shapes: F ``(nF, 3)`` int, edge_scores ``(nE, K)`` float (MeshCNN ``.seseg`` rows) -> ``(nF,)``
    int64; ties go to the smallest class index; a face whose edges all score 0 gets ``-1``.

    >>> edge_scores_to_face_labels([[0, 1, 2]], [[1, 1], [0, 1], [1, 0]]).tolist()
    [0]
    """
    S = np.asarray(edge_scores, dtype=np.float64)
    if S.ndim != 2:
        raise MeshError(f"edge scores: expected shape (nE, K) (got {S.shape})")
    FE = _face_edges(F, len(S), face_edges)
    tot = S[FE].sum(axis=1)  # (nF, K)
    out = tot.argmax(axis=1).astype(np.int64)  # first (smallest) class on ties
    out[~(tot.max(axis=1) > 0)] = -1
    return out


def face_to_edge_labels(V, F, face_labels, *, areas=None) -> np.ndarray:
    """Per-edge labels (MeshCNN order) from per-face labels: the larger incident labelled face wins.

    Shapes: V ``(nV, 3)``, F ``(nF, 3)`` int, face_labels ``(nF,)`` int (``-1`` unlabelled),
    areas ``(nF,)`` (default: the faces' areas) -> ``(nE,)`` int64.  Ties in area (within a
    relative ``1e-9``) go to the smaller label; edges with no labelled face get ``-1``.

    >>> V = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 2, 0]]
    >>> face_to_edge_labels(V, [[0, 1, 2], [2, 1, 3]], [3, 5]).tolist()
    [3, 5, 3, 5, 5]
    """
    F = np.asarray(F, dtype=np.int64)
    lab = np.asarray(face_labels, dtype=np.int64).reshape(-1)
    if len(lab) != len(F):
        raise MeshError(f"face labels: expected one per face, {len(F)} (got {len(lab)})")
    w = face_areas(V, F) if areas is None else np.asarray(areas, dtype=np.float64)
    E, FE = mesh_edges(F)
    out = np.full(len(E), -1, dtype=np.int64)
    keep = np.repeat(lab >= 0, 3)
    e = FE.reshape(-1)[keep]
    fl = np.repeat(lab, 3)[keep]
    fw = np.repeat(w, 3)[keep]
    if len(e) == 0:
        return out
    # group the (edge, face) incidences by edge; the winner is the smallest label among the faces
    # whose area is within a relative 1e-9 of the largest (rounding in areas computed from another
    # corner order must not break an exact tie differently)
    order = np.lexsort((fl, e))
    e, fl, fw = e[order], fl[order], fw[order]
    start = np.flatnonzero(np.r_[True, e[1:] != e[:-1]])
    best = np.maximum.reduceat(fw, start)
    size = np.diff(np.r_[start, len(e)])
    cand = fw >= np.repeat(best, size) * (1 - 1e-9)
    out[e[start]] = np.minimum.reduceat(np.where(cand, fl, np.iinfo(np.int64).max), start)
    return out
