"""Explicit, opt-in mesh repairs.  Nothing here runs unless you call it.

Every repair returns a :class:`RepairResult`: the new :class:`~manifold_nets.Mesh` *and* the index
maps, so per-vertex labels, per-face labels and correspondences can follow the change::

    res = merge_duplicate_vertices(mesh)
    new_labels = labels[res.vertex_source]          # per-vertex data: new -> old
    new_face_labels = face_labels[res.face_source]  # per-face data:  new -> old

``vertex_map`` / ``face_map`` go the other way (old → new, ``-1`` for dropped elements; when an
old vertex is split into several, it maps to its first copy).  The mesh's own ``vertex_data``
and ``face_data`` are carried over through the maps.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import MeshError, NonTriangleError
from .mesh import Mesh
from .topology import (
    degenerate_faces,
    duplicate_faces,
    edge_face_incidence,
    face_areas,
    face_components,
    halfedges,
    orientation_report,
)

__all__ = [
    "RepairResult",
    "triangulate",
    "triangulate_polygons",
    "merge_duplicate_vertices",
    "remove_unreferenced_vertices",
    "remove_degenerate_faces",
    "remove_duplicate_faces",
    "split_nonmanifold",
    "keep_largest_component",
    "orient_faces",
]


class RepairResult(NamedTuple):
    """Result of a repair.

    Attributes
    ----------
    mesh : Mesh
        The repaired mesh.
    vertex_map : (nV_old,) int64
        New index of each old vertex, ``-1`` if dropped.
    face_map : (nF_old,) int64
        New index of each old face, ``-1`` if dropped.
    vertex_source : (nV_new,) int64
        Old index of each new vertex.
    face_source : (nF_new,) int64
        Old index of each new face.
    """

    mesh: Mesh
    vertex_map: np.ndarray
    face_map: np.ndarray
    vertex_source: np.ndarray
    face_source: np.ndarray


def _inverse(source: np.ndarray, n_old: int) -> np.ndarray:
    m = np.full(n_old, -1, np.int64)
    # first copy wins: assign in reverse so the lowest new index stays
    m[source[::-1]] = np.arange(len(source) - 1, -1, -1, dtype=np.int64)
    return m


def _build(mesh: Mesh, V, F, vsrc, fsrc) -> RepairResult:
    vd = {k: v[vsrc] for k, v in mesh.vertex_data.items()}
    fd = {k: v[fsrc] for k, v in mesh.face_data.items()}
    new = Mesh(V, F, name=mesh.name, vertex_data=vd, face_data=fd)
    vsrc = np.asarray(vsrc, np.int64)
    fsrc = np.asarray(fsrc, np.int64)
    return RepairResult(new, _inverse(vsrc, mesh.n_vertices), _inverse(fsrc, mesh.n_faces), vsrc, fsrc)


# ---------------------------------------------------------------------------------------------
# triangulation


def triangulate(V, faces, offsets, *, method: str = "ear") -> tuple[np.ndarray, np.ndarray]:
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
        F = np.stack([faces[base], faces[base + 1 + k], faces[base + 2 + k]], 1)
        return F.astype(np.int64), poly.astype(np.int64)
    out_tris: list[np.ndarray] = []
    out_poly: list[np.ndarray] = []
    # triangles
    tri = np.flatnonzero(sizes == 3)
    if tri.size:
        idx = offsets[tri][:, None] + np.arange(3)
        out_tris.append(faces[idx])
        out_poly.append(tri)
    quad = np.flatnonzero(sizes == 4)
    if quad.size:
        q = faces[offsets[quad][:, None] + np.arange(4)]
        P = V[q]
        nrm = np.cross(P[:, 2] - P[:, 0], P[:, 3] - P[:, 1])  # Newell normal of a quad
        def facing(a, b, c):
            return np.einsum("ij,ij->i", np.cross(P[:, b] - P[:, a], P[:, c] - P[:, a]), nrm) > 0
        ok02 = facing(0, 1, 2) & facing(0, 2, 3)
        ok13 = facing(0, 1, 3) & facing(1, 2, 3)
        d02 = np.linalg.norm(P[:, 2] - P[:, 0], axis=1)
        d13 = np.linalg.norm(P[:, 3] - P[:, 1], axis=1)
        use13 = (~ok02 & ok13) | ((ok02 == ok13) & (d13 < d02 * (1 - 1e-12)))
        t1 = np.where(use13[:, None], q[:, [0, 1, 3]], q[:, [0, 1, 2]])
        t2 = np.where(use13[:, None], q[:, [1, 2, 3]], q[:, [0, 2, 3]])
        out_tris.append(np.stack([t1, t2], 1).reshape(-1, 3))
        out_poly.append(np.repeat(quad, 2))
    for p in np.flatnonzero(sizes > 4):
        poly = faces[offsets[p] : offsets[p + 1]]
        tris = _ear_clip(V[poly])
        out_tris.append(poly[tris])
        out_poly.append(np.full(len(tris), p, np.int64))
    if not out_tris:
        return np.zeros((0, 3), np.int64), np.zeros(0, np.int64)
    F = np.concatenate(out_tris).astype(np.int64)
    poly = np.concatenate(out_poly).astype(np.int64)
    order = np.argsort(poly, kind="stable")
    if nP == 0:
        return F, poly
    return F[order], poly[order]


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


def triangulate_polygons(polygons, V) -> RepairResult:
    """Triangulate a :class:`~manifold_nets.io.PolygonMesh` (or ``(faces, offsets)``) into a
    :class:`RepairResult` whose ``face_source`` maps each triangle to its polygon."""
    faces, offsets = (polygons.faces, polygons.offsets) if hasattr(polygons, "faces") else polygons
    F, poly = triangulate(V, faces, offsets)
    fd = {k: v[poly] for k, v in getattr(polygons, "face_data", {}).items()}
    vd = getattr(polygons, "vertex_data", {})
    mesh = Mesh(V, F, vertex_data=vd, face_data=fd)
    nV = len(np.asarray(V))
    ar = np.arange(nV, dtype=np.int64)
    return RepairResult(mesh, ar, _inverse(poly, len(offsets) - 1), ar, poly)


# ---------------------------------------------------------------------------------------------
# vertex repairs


def merge_duplicate_vertices(mesh: Mesh, *, tol: float = 0.0) -> RepairResult:
    """Merge vertices at the same position (within ``tol`` in every coordinate, on a grid of
    cell ``tol``; ``tol = 0`` merges exact duplicates only).  The kept copy is the first; the
    order of kept vertices is preserved.  Faces are re-indexed, none is dropped (use
    :func:`remove_degenerate_faces` afterwards for faces that collapsed).
    """
    V = mesh.V
    key = V if tol <= 0 else np.round(V / tol)
    _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    keep = np.sort(first)
    new_of_first = np.full(len(V), -1, np.int64)
    new_of_first[keep] = np.arange(len(keep))
    rep_old = first[inv]  # representative (first) old vertex of each old vertex
    vmap = new_of_first[rep_old]
    F = vmap[mesh.F]
    res = _build(mesh, V[keep], F, keep, np.arange(mesh.n_faces))
    return res._replace(vertex_map=vmap)


def remove_unreferenced_vertices(mesh: Mesh) -> RepairResult:
    """Drop vertices used by no face, keeping the order of the others."""
    used = np.zeros(mesh.n_vertices, bool)
    used[mesh.F.reshape(-1)] = True
    keep = np.flatnonzero(used)
    vmap = np.full(mesh.n_vertices, -1, np.int64)
    vmap[keep] = np.arange(len(keep))
    return _build(mesh, mesh.V[keep], vmap[mesh.F], keep, np.arange(mesh.n_faces))


# ---------------------------------------------------------------------------------------------
# face repairs


def _drop_faces(mesh: Mesh, drop: np.ndarray) -> RepairResult:
    keep = np.setdiff1d(np.arange(mesh.n_faces), drop)
    if keep.size == 0:
        raise MeshError(f"faces: expected at least one face to remain (got all {mesh.n_faces} removed)")
    return _build(mesh, mesh.V, mesh.F[keep], np.arange(mesh.n_vertices), keep)


def remove_degenerate_faces(mesh: Mesh, *, rel_tol: float = 1e-12) -> RepairResult:
    """Drop faces that repeat a vertex or have (near) zero area (see
    :func:`manifold_nets.topology.degenerate_faces`).  Vertices are kept."""
    return _drop_faces(mesh, degenerate_faces(mesh.V, mesh.F, rel_tol=rel_tol))


def remove_duplicate_faces(mesh: Mesh) -> RepairResult:
    """Drop every face whose vertex set repeats an earlier face (the first copy stays)."""
    return _drop_faces(mesh, duplicate_faces(mesh.F))


def keep_largest_component(mesh: Mesh, *, by: str = "faces") -> RepairResult:
    """Keep the edge-connected face component with the most faces (``by="faces"``) or the
    largest area (``by="area"``), and drop the vertices it does not use."""
    n, lab = face_components(mesh.F)
    if by == "area":
        w = np.bincount(lab, weights=face_areas(mesh.V, mesh.F), minlength=n)
    elif by == "faces":
        w = np.bincount(lab, minlength=n).astype(float)
    else:
        raise MeshError(f"by: expected 'faces' or 'area' (got {by!r})")
    best = int(np.argmax(w))
    keepf = np.flatnonzero(lab == best)
    used = np.unique(mesh.F[keepf])
    vmap = np.full(mesh.n_vertices, -1, np.int64)
    vmap[used] = np.arange(len(used))
    return _build(mesh, mesh.V[used], vmap[mesh.F[keepf]], used, keepf)


def orient_faces(mesh: Mesh) -> RepairResult:
    """Flip faces so that every orientable component is consistently oriented (the lowest face of
    each component keeps its orientation).  Raises :class:`NonOrientableError` otherwise."""
    from .errors import NonOrientableError

    rep = orientation_report(mesh.F)
    if not rep["orientable"]:
        raise NonOrientableError("faces: expected an orientable surface (got a non-orientable one)")
    F = mesh.F.copy()
    F[rep["flip"]] = F[rep["flip"]][:, ::-1]
    return _build(mesh, mesh.V, F, np.arange(mesh.n_vertices), np.arange(mesh.n_faces))


def split_nonmanifold(mesh: Mesh) -> RepairResult:
    """Make the mesh edge- and vertex-manifold by cutting it, never by dropping faces.

    Faces are grouped into fans around each vertex: two faces stay in one fan at a vertex when
    they share an edge at that vertex that has exactly two faces.  Each fan after the first gets
    its own copy of the vertex (vertex ``vertex_source`` maps copies back).  Non-manifold edges
    (three or more faces) are thereby cut apart, and bow-tie vertices separated.
    """
    F = mesh.F
    nF = len(F)
    E, he_edge = edge_face_incidence(F)
    H = halfedges(F)
    cnt = np.bincount(he_edge[he_edge >= 0], minlength=len(E))
    manifold_he = (he_edge >= 0) & (cnt[np.maximum(he_edge, 0)] == 2)
    # corner (f, c) <-> corner of the same vertex in the neighbouring face across a manifold edge
    face = np.repeat(np.arange(nF), 3)
    c_tail = np.arange(3 * nF)
    c_head = 3 * face + (np.arange(3 * nF) % 3 + 1) % 3
    idx = np.flatnonzero(manifold_he)
    order = idx[np.argsort(he_edge[idx], kind="stable")]
    a, b = order[0::2], order[1::2]
    # the tail of half-edge a is either the tail or the head of b
    same = H[a, 0] == H[b, 0]
    r1 = c_tail[a]
    s1 = np.where(same, c_tail[b], c_head[b])
    r2 = c_head[a]
    s2 = np.where(same, c_head[b], c_tail[b])
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    A = sp.coo_matrix((np.ones(2 * len(a)), (np.r_[r1, r2], np.r_[s1, s2])), shape=(3 * nF, 3 * nF))
    _, lab = connected_components(A, directed=False)
    corner_v = F.reshape(-1)
    # one new vertex per (vertex, corner-group); the group containing the vertex's first corner
    # keeps the original index position order
    pairs = np.stack([corner_v, lab], 1)
    uniq, first, inv = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    # order new vertices: originals first (by old index, using the group of the first corner),
    # then the extra copies in order of first appearance
    is_primary = np.zeros(len(uniq), bool)
    order_first = np.argsort(first, kind="stable")
    _, firstpos = np.unique(uniq[order_first, 0], return_index=True)
    is_primary[order_first[firstpos]] = True
    seen = np.zeros(mesh.n_vertices, bool)
    seen[uniq[:, 0]] = True
    prim = np.flatnonzero(is_primary)
    extra = order_first[~is_primary[order_first]]
    new_index = np.empty(len(uniq), np.int64)
    # primaries keep the relative order of their old vertices; unreferenced old vertices are kept
    unref = np.flatnonzero(~seen)
    base_src = np.sort(np.r_[uniq[prim, 0], unref])
    pos = np.searchsorted(base_src, uniq[prim, 0])
    new_index[prim] = pos
    new_index[extra] = len(base_src) + np.arange(len(extra))
    vsrc = np.r_[base_src, uniq[extra, 0]].astype(np.int64)
    Fn = new_index[inv].reshape(-1, 3)
    return _build(mesh, mesh.V[vsrc], Fn, vsrc, np.arange(nF))
