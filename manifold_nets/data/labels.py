"""Labels moved between faces and vertices by one explicit, area-weighted rule.

Conventions (tested in ``tests/data/test_labels.py``):

* Labels are ``int64`` part indices into a list of part names; ``-1`` means "unlabelled".
* **Faces to vertices**: a vertex takes the label that covers the largest area among its incident
  faces (the sum of the areas of the incident faces carrying each label); ties go to the smaller
  label index.  A vertex with no labelled incident face gets ``-1``.  Face order, corner order and
  vertex numbering do not change the result.
* **Vertices to faces**: from per-vertex class scores ``(nV, K)`` a face takes the arg-max of the
  mean of its three corners' scores; from hard vertex labels a face takes the majority label of
  its corners, and when all three differ, the smallest label index (so the rule does not depend on
  which corner a file lists first).
"""

from __future__ import annotations

import numpy as np

__all__ = ["face_areas", "face_to_vertex_labels", "vertex_to_face_labels", "vertex_scores_to_faces",
           "remap_labels"]


def face_areas(V, F) -> np.ndarray:
    """Area of every face.  Shapes: V ``(nV, 3)``, F ``(nF, 3)`` -> ``(nF,)`` float64."""
    V = np.asarray(V, dtype=np.float64)
    F = np.asarray(F, dtype=np.int64)
    return 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)


def face_to_vertex_labels(F, face_labels, n_vertices: int, *, areas=None) -> np.ndarray:
    """Per-vertex labels from per-face labels (largest incident labelled area; ties: smaller label).

    Shapes: F ``(nF, 3)`` int, face_labels ``(nF,)`` int (``-1`` unlabelled), areas ``(nF,)``
    (default: every face counts 1) -> ``(n_vertices,)`` int64 with ``-1`` where no incident face is
    labelled.
    """
    F = np.asarray(F, dtype=np.int64)
    lab = np.asarray(face_labels, dtype=np.int64)
    w = np.ones(len(F)) if areas is None else np.asarray(areas, dtype=np.float64)
    out = np.full(n_vertices, -1, dtype=np.int64)
    keep = lab >= 0
    if not keep.any():
        return out
    K = int(lab[keep].max()) + 1
    rows = F[keep].ravel()
    cols = np.repeat(lab[keep], 3)
    score = np.zeros((n_vertices, K))
    # tiny extra weight so a zero-area face still counts, below any positive area
    np.add.at(score, (rows, cols), np.repeat(w[keep], 3) + 1e-300)
    best = score.max(axis=1)
    has = best > 0
    # an exact tie must not be broken by rounding (sums in face order, areas from rotated corners)
    near = score >= best[:, None] * (1 - 1e-9)
    out[has] = near[has].argmax(axis=1)  # the smallest label among the (near-)maximal ones
    return out


def vertex_scores_to_faces(F, scores) -> np.ndarray:
    """Per-face labels from per-vertex class scores: arg-max of the corners' mean score.

    Shapes: F ``(nF, 3)`` int, scores ``(nV, K)`` float -> ``(nF,)`` int64.
    """
    F = np.asarray(F, dtype=np.int64)
    s = np.asarray(scores, dtype=np.float64)
    return (s[F[:, 0]] + s[F[:, 1]] + s[F[:, 2]]).argmax(axis=1).astype(np.int64)


def vertex_to_face_labels(F, vertex_labels) -> np.ndarray:
    """Per-face labels from hard per-vertex labels: the corners' majority, else the smallest label.

    Shapes: F ``(nF, 3)`` int, vertex_labels ``(nV,)`` int -> ``(nF,)`` int64 (``-1`` only where
    the chosen corners are unlabelled).
    """
    F = np.asarray(F, dtype=np.int64)
    lab = np.asarray(vertex_labels, dtype=np.int64)[F]
    a, b, c = lab[:, 0], lab[:, 1], lab[:, 2]
    out = lab.min(axis=1)
    out = np.where(b == c, b, out)
    out = np.where(a == c, a, out)
    out = np.where(a == b, a, out)
    # a majority of unlabelled corners is not a label when a labelled corner exists
    unl = out < 0
    if unl.any():
        out[unl] = lab[unl].max(axis=1)
    return out.astype(np.int64)


def remap_labels(labels, from_names, to_names, *, missing: str = "error") -> np.ndarray:
    """Labels that index ``from_names`` re-indexed into ``to_names``, matching by name.

    Shapes: labels ``(n,)`` int (``-1`` stays ``-1``) -> ``(n,)`` int64.  A name used by
    ``labels`` but absent from ``to_names`` raises :class:`~manifold_nets.errors.MeshError`
    (``missing="error"``) or becomes ``-1`` (``missing="unlabelled"``); a label outside
    ``[-1, len(from_names))`` raises.

    >>> remap_labels([0, 1, -1, 1], ["head", "arm"], ["arm", "leg", "head"]).tolist()
    [2, 0, -1, 0]
    """
    from ..errors import MeshError

    lab = np.asarray(labels, dtype=np.int64)
    src, dst = [str(n) for n in from_names], [str(n) for n in to_names]
    if missing not in ("error", "unlabelled"):
        raise MeshError(f"missing: expected 'error' or 'unlabelled' (got {missing!r})")
    bad = np.flatnonzero((lab < -1) | (lab >= len(src)))
    if len(bad):
        raise MeshError(f"labels: expected values in [-1, {len(src)}) for {len(src)} names (got {lab[bad[0]]} "
                        f"at {bad[0]})")
    index = {n: i for i, n in enumerate(dst)}
    if missing == "error":
        for u in np.unique(lab[lab >= 0]):
            if src[u] not in index:
                raise MeshError(f"labels: expected part names among {dst} (got {src[u]!r}, label {u})")
    lut = np.array([index.get(n, -1) for n in src] + [-1], dtype=np.int64)  # lut[-1] = -1
    return lut[lab]
