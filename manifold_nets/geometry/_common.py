"""Private per-face and per-edge helpers shared by the operator modules (numpy only).

Edge-length convention: ``l[f, k]`` is the length of the edge of face ``f`` *opposite* corner
``k``, i.e. the edge from ``F[f, (k + 1) % 3]`` to ``F[f, (k + 2) % 3]``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DegenerateFaceError, MeshShapeError, NonFiniteError
from ..validation import as_faces

__all__ = [
    "edge_lengths",
    "check_lengths",
    "areas_from_lengths",
    "cotangents_from_lengths",
    "angles_from_lengths",
    "unique_edges",
    "boundary_vertex_mask",
    "vertex_normals",
    "degenerate_mask",
]

#: Relative area below which a face counts as degenerate (``area <= tol * longest_edge²``).
DEGENERATE_TOL = 1e-12


def edge_lengths(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Lengths ``(nF, 3)``; column ``k`` is the edge opposite corner ``k``."""
    e0 = V[F[:, 2]] - V[F[:, 1]]
    e1 = V[F[:, 0]] - V[F[:, 2]]
    e2 = V[F[:, 1]] - V[F[:, 0]]
    return np.sqrt(np.stack([(e0 * e0).sum(1), (e1 * e1).sum(1), (e2 * e2).sum(1)], axis=1))


def check_lengths(l, F, n_vertices: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate ``(l, F)`` for the intrinsic constructors; returns ``(l, F, n_vertices)``."""
    F = as_faces(F, n_vertices)
    try:
        l = np.asarray(l, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MeshShapeError(f"l: expected an (nF, 3) array of edge lengths (got {type(l).__name__})") from exc
    if l.shape != F.shape:
        raise MeshShapeError(f"l: expected shape {F.shape} matching F (got {l.shape})")
    bad = ~np.isfinite(l).all(axis=1)
    if bad.any():
        f = int(np.flatnonzero(bad)[0])
        raise NonFiniteError(f"l: expected finite edge lengths (got {l[f].tolist()} in face {f})")
    neg = (l < 0).any(axis=1)
    if neg.any():
        f = int(np.flatnonzero(neg)[0])
        raise MeshShapeError(f"l: expected non-negative edge lengths (got {l[f].tolist()} in face {f})")
    s = np.sort(l, axis=1)
    viol = s[:, 2] > (s[:, 0] + s[:, 1]) * (1 + 1e-12) + 1e-300
    if viol.any():
        f = int(np.flatnonzero(viol)[0])
        raise DegenerateFaceError(
            f"face {f}: expected edge lengths satisfying the triangle inequality (got {l[f].tolist()})"
        )
    n = int(F.max()) + 1 if n_vertices is None else int(n_vertices)
    return np.ascontiguousarray(l), F, n


def areas_from_lengths(l: np.ndarray) -> np.ndarray:
    """Face areas from edge lengths with Kahan's numerically stable Heron formula."""
    s = np.sort(l, axis=1)
    c, b, a = s[:, 0], s[:, 1], s[:, 2]
    q = (a + (b + c)) * (c - (a - b)) * (c + (a - b)) * (a + (b - c))
    return 0.25 * np.sqrt(np.maximum(q, 0.0))


def degenerate_mask(l: np.ndarray, areas: np.ndarray, tol: float = DEGENERATE_TOL) -> np.ndarray:
    """Faces whose area is at most ``tol * (longest edge)²`` (includes repeated vertices)."""
    return areas <= tol * np.max(l, axis=1) ** 2


def cotangents_from_lengths(l: np.ndarray, areas: np.ndarray | None = None) -> np.ndarray:
    """Cotangent of each corner angle ``(nF, 3)``; ``inf``/``nan`` on zero-area faces."""
    if areas is None:
        areas = areas_from_lengths(l)
    l2 = l * l
    num = l2[:, [1, 2, 0]] + l2[:, [2, 0, 1]] - l2
    with np.errstate(divide="ignore", invalid="ignore"):
        return num / (4.0 * areas[:, None])


def angles_from_lengths(l: np.ndarray, areas: np.ndarray | None = None) -> np.ndarray:
    """Corner angles ``(nF, 3)`` in radians (``atan2``, accurate for thin triangles)."""
    if areas is None:
        areas = areas_from_lengths(l)
    l2 = l * l
    num = l2[:, [1, 2, 0]] + l2[:, [2, 0, 1]] - l2
    return np.arctan2(4.0 * areas[:, None], num)


def unique_edges(F: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected edges of ``F``.

    Returns
    -------
    E : (nE, 2) int64
        Sorted vertex pairs ``E[e, 0] < E[e, 1]`` (lexicographic order; self-loops of faces
        with a repeated vertex are omitted).
    face_edge : (nF, 3) int64
        Edge index of the edge opposite each corner, ``-1`` for a self-loop.
    counts : (nE,) int64
        Number of faces on each edge.
    """
    a = F[:, [1, 2, 0]].ravel()
    b = F[:, [2, 0, 1]].ravel()
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    key = lo * np.int64(n_vertices) + hi
    loop = lo == hi
    uniq, inv, counts = np.unique(key[~loop], return_inverse=True, return_counts=True)
    face_edge = np.full(key.shape[0], -1, dtype=np.int64)
    face_edge[~loop] = inv.reshape(-1)
    E = np.stack([uniq // n_vertices, uniq % n_vertices], axis=1)
    return E, face_edge.reshape(-1, 3), counts


def boundary_vertex_mask(F: np.ndarray, n_vertices: int) -> np.ndarray:
    """``True`` for vertices on an edge that has exactly one face."""
    E, _, counts = unique_edges(F, n_vertices)
    mask = np.zeros(n_vertices, dtype=bool)
    mask[E[counts == 1].ravel()] = True
    return mask


def vertex_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Angle-weighted unit vertex normals ``(nV, 3)``; isolated vertices get ``(0, 0, 1)``."""
    l = edge_lengths(V, F)
    ang = angles_from_lengths(l)
    fn = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    nrm = np.linalg.norm(fn, axis=1, keepdims=True)
    fn = np.divide(fn, nrm, out=np.zeros_like(fn), where=nrm > 0)
    N = np.zeros_like(V)
    nv = V.shape[0]
    for d in range(3):
        N[:, d] = sum(np.bincount(F[:, k], fn[:, d] * ang[:, k], minlength=nv) for k in range(3))
    n = np.linalg.norm(N, axis=1, keepdims=True)
    out = np.zeros_like(N)
    out[:, 2] = 1.0
    ok = n[:, 0] > 0
    out[ok] = N[ok] / n[ok]
    return out
