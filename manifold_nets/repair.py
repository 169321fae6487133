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

from .errors import MeshError, MeshShapeError
from .geometry._common import check_nonnegative
from .mesh import Mesh
from .polygons import triangulate
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
    "STEPS",
    "DEFAULT_STEPS",
    "apply_repairs",
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


def _as_mesh(mesh) -> Mesh:
    """A :class:`Mesh`, or a ``(V, F)`` pair made into one (validated); anything else is a
    :class:`MeshShapeError` that says what was expected."""
    if isinstance(mesh, Mesh):
        return mesh
    if isinstance(mesh, (tuple, list)) and len(mesh) == 2:
        return Mesh(mesh[0], mesh[1])
    got = f"{type(mesh).__name__} of length {len(mesh)}" if isinstance(mesh, (tuple, list)) else type(mesh).__name__
    raise MeshShapeError(f"mesh: expected a manifold_nets.Mesh or a (V, F) pair (got {got})")


def _inverse(source: np.ndarray, n_old: int) -> np.ndarray:
    m = np.full(n_old, -1, np.int64)
    # first copy wins: assign in reverse so the lowest new index stays
    m[source[::-1]] = np.arange(len(source) - 1, -1, -1, dtype=np.int64)
    return m


_CORNER_DATA = ("uv", "uv_index", "normal", "normal_index")  # see Mesh.corner_data


def _build(mesh: Mesh, V, F, vsrc, fsrc, flip=None) -> RepairResult:
    vd = {k: v[vsrc] for k, v in mesh.vertex_data.items()}
    fd = {k: v[fsrc] for k, v in mesh.face_data.items()}
    if flip is not None and flip.any():  # per-corner data follows the reversed corners
        for k in mesh.corner_data:
            a = fd[k].copy()
            a[flip] = a[flip][:, ::-1]
            fd[k] = a
    new = Mesh(V, F, name=mesh.name, vertex_data=vd, face_data=fd)
    vsrc = np.asarray(vsrc, np.int64)
    fsrc = np.asarray(fsrc, np.int64)
    return RepairResult(new, _inverse(vsrc, mesh.n_vertices), _inverse(fsrc, mesh.n_faces), vsrc, fsrc)


# ---------------------------------------------------------------------------------------------
# triangulation


def triangulate_polygons(polygons, V) -> RepairResult:
    """Triangulate a :class:`~manifold_nets.io.PolygonMesh` (or ``(faces, offsets)``) into a
    :class:`RepairResult` whose ``face_source`` maps each triangle to its polygon."""
    if hasattr(polygons, "faces"):
        faces, offsets = polygons.faces, polygons.offsets
    elif isinstance(polygons, (tuple, list)) and len(polygons) == 2 and np.ndim(polygons[1]) == 1:
        faces, offsets = polygons
    else:
        raise MeshShapeError(
            "polygons: expected a PolygonMesh (manifold_nets.io.read_polygons) or a (faces, offsets) pair of "
            f"flat index arrays (got {type(polygons).__name__}"
            + (f" of length {len(polygons)}" if isinstance(polygons, (tuple, list)) else "") + ")")
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
    mesh = _as_mesh(mesh)
    tol = check_nonnegative(tol, "tol")
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
    mesh = _as_mesh(mesh)
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
    mesh = _as_mesh(mesh)
    rel_tol = check_nonnegative(rel_tol, "rel_tol")
    return _drop_faces(mesh, degenerate_faces(mesh.V, mesh.F, rel_tol=rel_tol))


def remove_duplicate_faces(mesh: Mesh) -> RepairResult:
    """Drop every face whose vertex set repeats an earlier face (the first copy stays)."""
    mesh = _as_mesh(mesh)
    return _drop_faces(mesh, duplicate_faces(mesh.F))


def keep_largest_component(mesh: Mesh, *, by: str = "faces") -> RepairResult:
    """Keep the edge-connected face component with the most faces (``by="faces"``) or the
    largest area (``by="area"``), and drop the vertices it does not use."""
    mesh = _as_mesh(mesh)
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
    mesh = _as_mesh(mesh)
    from .errors import NonOrientableError

    rep = orientation_report(mesh.F)
    if not rep["orientable"]:
        raise NonOrientableError("faces: expected an orientable surface (got a non-orientable one)")
    F = mesh.F.copy()
    F[rep["flip"]] = F[rep["flip"]][:, ::-1]
    return _build(mesh, mesh.V, F, np.arange(mesh.n_vertices), np.arange(mesh.n_faces), rep["flip"])


def split_nonmanifold(mesh: Mesh) -> RepairResult:
    """Make the mesh edge- and vertex-manifold by cutting it, never by dropping faces.

    Faces are grouped into fans around each vertex: two faces stay in one fan at a vertex when
    they share an edge at that vertex that has exactly two faces.  Each fan after the first gets
    its own copy of the vertex (vertex ``vertex_source`` maps copies back).  Non-manifold edges
    (three or more faces) are thereby cut apart, and bow-tie vertices separated.
    """
    mesh = _as_mesh(mesh)
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


#: The repair steps by the name the command line uses (``manifold-nets repair --steps``,
#: ``manifold-nets batch --do repair --steps``), in the order they are listed in help texts.
STEPS = {
    "merge-vertices": merge_duplicate_vertices,
    "drop-unreferenced": remove_unreferenced_vertices,
    "drop-degenerate": remove_degenerate_faces,
    "drop-duplicate-faces": remove_duplicate_faces,
    "split-nonmanifold": split_nonmanifold,
    "largest-component": keep_largest_component,
    "orient": orient_faces,
}
#: The steps ``repair`` applies when none are named.
DEFAULT_STEPS = ("merge-vertices", "drop-degenerate", "drop-duplicate-faces", "drop-unreferenced")


def apply_repairs(mesh: Mesh, steps) -> tuple[Mesh, dict, list]:
    """Apply named repair steps (keys of :data:`STEPS`) in order and compose their index maps.

    Returns
    -------
    mesh : Mesh
        The repaired mesh.
    maps : dict of str to int64 array
        ``vertex_map`` ``(nV_old,)`` and ``face_map`` ``(nF_old,)`` (old -> new, ``-1`` dropped;
        an old vertex copied by ``split-nonmanifold`` maps to its first copy), ``vertex_source``
        ``(nV_new,)`` and ``face_source`` ``(nF_new,)`` (new -> old).
    counts : list of (str, int, int)
        ``(step, n_vertices, n_faces)`` after each step.

    Raises
    ------
    MeshError
        No step, or a name that is not in :data:`STEPS`.
    """
    mesh = _as_mesh(mesh)
    if isinstance(steps, str):  # "merge-vertices,drop-degenerate", as the command line takes them
        steps = [t.strip() for t in steps.split(",") if t.strip()]
    try:
        steps = list(steps)
    except TypeError:
        raise MeshError(f"steps: expected a list of names from {', '.join(STEPS)} (got {steps!r})") from None
    unknown = [str(s) for s in steps if not (isinstance(s, str) and s in STEPS)]
    if unknown or not steps:
        raise MeshError(f"steps: expected names from {', '.join(STEPS)} (got {', '.join(unknown) or 'none'})")
    vsrc = np.arange(mesh.n_vertices, dtype=np.int64)
    fsrc = np.arange(mesh.n_faces, dtype=np.int64)
    n0v, n0f = mesh.n_vertices, mesh.n_faces
    counts = []
    for s in steps:
        res = STEPS[s](mesh)
        vsrc, fsrc = vsrc[res.vertex_source], fsrc[res.face_source]
        mesh = res.mesh
        counts.append((s, int(mesh.n_vertices), int(mesh.n_faces)))
    vmap = np.full(n0v, -1, np.int64)
    vmap[vsrc[::-1]] = np.arange(len(vsrc))[::-1]
    fmap = np.full(n0f, -1, np.int64)
    fmap[fsrc[::-1]] = np.arange(len(fsrc))[::-1]
    return mesh, {"vertex_map": vmap, "face_map": fmap, "vertex_source": vsrc, "face_source": fsrc}, counts
