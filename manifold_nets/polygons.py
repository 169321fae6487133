"""Polygon faces: triangulation of polygons given as flat index arrays.

The lowest layer that knows about polygons: :mod:`manifold_nets.io` uses it to triangulate on
read (``read_mesh(..., triangulate=True)``) and :mod:`manifold_nets.repair` re-exports it.  It
depends on numpy and :mod:`manifold_nets.errors` only.
"""

from __future__ import annotations

import numpy as np

from .errors import MeshError, NonTriangleError

__all__ = ["triangulate"]


def triangulate(V, faces, offsets, *, method: str = "ear", return_corners: bool = False):
    """Triangulate polygons given as flat index arrays.

    Triangles are kept as they are.  With ``method="ear"`` (default) a quad is split along the
    diagonal that keeps both triangles facing the quad's (Newell) normal, the shorter one when
    both do, and larger polygons are ear-clipped in the plane of their Newell normal (correct
    for simple concave polygons).  ``method="fan"`` splits every polygon ``(v0, v1, ..., vk)``
    into ``(v0, vi, vi+1)``, as many exporters and trimesh do (it can create degenerate or
    overlapping triangles on concave or collinear polygons).

    Parameters
    ----------
    V : (nV, 3) float64
    faces : (nC,) int64
        Concatenated polygon vertex indices.
    offsets : (nP + 1,) int64
        Polygon ``p`` is ``faces[offsets[p]:offsets[p+1]]``.

    Returns
    -------
    F : (nT, 3) int64
        Triangles, in polygon order (the triangles of polygon ``p`` are consecutive).
    polygon : (nT,) int64
        Source polygon of each triangle.
    corners : (nT, 3) int64, only with ``return_corners=True``
        Position in ``faces`` of each triangle corner (``F == faces[corners]``), to carry
        per-corner data (texture coordinates, normals) over to the triangles.

    Examples
    --------
    >>> V = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.]])
    >>> F, poly = triangulate(V, np.array([0, 1, 2, 3]), np.array([0, 4]))
    >>> F.tolist(), poly.tolist()
    ([[0, 1, 2], [0, 2, 3]], [0, 0])
    """
    V = np.asarray(V, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    sizes = np.diff(offsets)
    if (sizes < 3).any():
        p = int(np.flatnonzero(sizes < 3)[0])
        raise NonTriangleError(f"polygon {p}: expected at least 3 vertices (got {int(sizes[p])})")
    if method not in ("ear", "fan"):
        raise MeshError(f"method: expected 'ear' or 'fan' (got {method!r})")
    nP = len(sizes)
    if method == "fan":
        ntri = sizes - 2
        poly = np.repeat(np.arange(nP), ntri)
        k = np.arange(len(poly)) - np.repeat(np.cumsum(ntri) - ntri, ntri)
        base = offsets[poly]
        C = np.stack([base, base + 1 + k, base + 2 + k], 1).astype(np.int64)
        F = faces[C].astype(np.int64)
        return (F, poly.astype(np.int64), C) if return_corners else (F, poly.astype(np.int64))
    out_tris: list[np.ndarray] = []
    out_poly: list[np.ndarray] = []
    # triangles
    tri = np.flatnonzero(sizes == 3)
    if tri.size:
        idx = offsets[tri][:, None] + np.arange(3)
        out_tris.append(idx)
        out_poly.append(tri)
    quad = np.flatnonzero(sizes == 4)
    if quad.size:
        qc = offsets[quad][:, None] + np.arange(4)
        q = faces[qc]
        P = V[q]
        nrm = np.cross(P[:, 2] - P[:, 0], P[:, 3] - P[:, 1])  # Newell normal of a quad
        def facing(a, b, c):
            return np.einsum("ij,ij->i", np.cross(P[:, b] - P[:, a], P[:, c] - P[:, a]), nrm) > 0
        ok02 = facing(0, 1, 2) & facing(0, 2, 3)
        ok13 = facing(0, 1, 3) & facing(1, 2, 3)
        d02 = np.linalg.norm(P[:, 2] - P[:, 0], axis=1)
        d13 = np.linalg.norm(P[:, 3] - P[:, 1], axis=1)
        use13 = (~ok02 & ok13) | ((ok02 == ok13) & (d13 < d02 * (1 - 1e-12)))
        t1 = np.where(use13[:, None], qc[:, [0, 1, 3]], qc[:, [0, 1, 2]])
        t2 = np.where(use13[:, None], qc[:, [1, 2, 3]], qc[:, [0, 2, 3]])
        out_tris.append(np.stack([t1, t2], 1).reshape(-1, 3))
        out_poly.append(np.repeat(quad, 2))
    for p in np.flatnonzero(sizes > 4):
        pc = np.arange(offsets[p], offsets[p + 1])
        tris = _ear_clip(V[faces[pc]])
        out_tris.append(pc[tris])
        out_poly.append(np.full(len(tris), p, np.int64))
    if not out_tris:
        C = np.zeros((0, 3), np.int64)
        poly = np.zeros(0, np.int64)
    else:
        C = np.concatenate(out_tris).astype(np.int64)
        poly = np.concatenate(out_poly).astype(np.int64)
        order = np.argsort(poly, kind="stable")
        C, poly = C[order], poly[order]
    F = faces[C].astype(np.int64)
    return (F, poly, C) if return_corners else (F, poly)


def _ear_clip(P: np.ndarray) -> np.ndarray:
    """Ear clipping of one simple polygon (n, 3) in its best-fit plane; (n - 2, 3) local indices."""
    n = len(P)
    nrm = np.zeros(3)
    for i in range(n):
        a, b = P[i], P[(i + 1) % n]
        nrm += np.array([(a[1] - b[1]) * (a[2] + b[2]), (a[2] - b[2]) * (a[0] + b[0]), (a[0] - b[0]) * (a[1] + b[1])])
    if np.linalg.norm(nrm) == 0:
        return np.array([[0, i, i + 1] for i in range(1, n - 1)], np.int64)
    nrm /= np.linalg.norm(nrm)
    u = P[1] - P[0] - np.dot(P[1] - P[0], nrm) * nrm
    if np.linalg.norm(u) == 0:
        u = np.cross(nrm, [1.0, 0, 0]) if abs(nrm[0]) < 0.9 else np.cross(nrm, [0, 1.0, 0])
    u /= np.linalg.norm(u)
    w = np.cross(nrm, u)
    Q = np.stack([P @ u, P @ w], 1)
    idx = list(range(n))
    tris = []

    def cross2(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    guard = 0
    while len(idx) > 3 and guard < 4 * n * n:
        guard += 1
        m = len(idx)
        clipped = False
        for k in range(m):
            i0, i1, i2 = idx[(k - 1) % m], idx[k], idx[(k + 1) % m]
            if cross2(Q[i0], Q[i1], Q[i2]) <= 0:
                continue  # reflex or flat corner
            inside = False
            for j in idx:
                if j in (i0, i1, i2):
                    continue
                if (cross2(Q[i0], Q[i1], Q[j]) >= 0 and cross2(Q[i1], Q[i2], Q[j]) >= 0
                        and cross2(Q[i2], Q[i0], Q[j]) >= 0):
                    inside = True
                    break
            if not inside:
                tris.append((i0, i1, i2))
                idx.pop(k)
                clipped = True
                break
        if not clipped:  # degenerate / self-intersecting polygon: fan the rest
            break
    for k in range(1, len(idx) - 1):
        tris.append((idx[0], idx[k], idx[k + 1]))
    return np.asarray(tris, np.int64)
