"""Combinatorial topology of triangle meshes: edges, half-edges, boundary loops, components,
manifoldness, orientability, Euler characteristic and genus, and the per-mesh report.

All functions take plain arrays (``F (nF, 3) int64``, ``V (nV, 3) float64``) and never
modify or reorder them.  Counting conventions (chosen to agree with trimesh ``process=False``):

* an **edge** is an unordered vertex pair used by at least one face; duplicate faces do not add
  edges; a face that repeats a vertex contributes its distinct pairs only;
* a **boundary edge** is used by exactly one face, a **non-manifold edge** by three or more
  (a duplicated face counts again, so duplicating a face makes its edges non-manifold);
* **components** are the classes of vertices connected through edges (faces touching at a single
  vertex are one component); :func:`face_components` gives the edge-connected classes of faces;
* the **Euler characteristic** is ``χ = V_ref − E + F`` with ``V_ref`` the referenced vertices
  (unreferenced vertices are reported separately, not counted);
* a face that repeats a vertex index (``f 1 2 2``, a **collapsed** face) is not a 2-cell: χ,
  genus and the surface part of :func:`mesh_report` (edges, boundary, closed, manifoldness,
  orientability, components) are those of the faces with three distinct vertices, and a mesh
  with collapsed faces is never reported ``closed`` (``closed_reason`` says why);
* the **genus** of a connected orientable (edge- and vertex-) manifold surface with ``b``
  boundary loops is ``g = (2 − χ − b) / 2``; it is ``None`` for anything else (several
  components: see ``genus_per_component``; non-manifold; non-orientable).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

__all__ = [
    "MAX_FACE_INDEX",
    "soup_message",
    "halfedges",
    "edges",
    "edge_face_incidence",
    "edge_face_counts",
    "boundary_edges",
    "boundary_loops",
    "nonmanifold_edges",
    "nonmanifold_vertices",
    "face_components",
    "vertex_components",
    "euler_characteristic",
    "genus",
    "orientation_report",
    "degenerate_faces",
    "collapsed_faces",
    "duplicate_faces",
    "unreferenced_vertices",
    "face_areas",
    "mesh_report",
]


#: Largest vertex index the functions that take ``F`` alone accept: the edge keys
#: ``i * n + j`` must fit in int64, and no mesh that fits in memory has more vertices.
MAX_FACE_INDEX = 2**31 - 1


def _faces(F, n_vertices: int | None = None) -> np.ndarray:
    """``F`` checked (shape ``(nF, 3)``, integer values, indices in ``[0, n_vertices)`` or up to
    :data:`MAX_FACE_INDEX`) as a C-contiguous int64 array; a :class:`MeshError` otherwise."""
    from ._arrays import as_faces
    from .errors import FaceIndexError

    if (isinstance(F, np.ndarray) and F.dtype == np.int64 and F.ndim == 2 and F.shape[1] == 3
            and F.flags.c_contiguous):
        arr = F  # the common case: the checks below are all that is needed
        if arr.size and int(arr.min()) < 0:
            as_faces(arr)  # raises, naming the face
    else:
        arr = as_faces(F, allow_empty=True)
    if arr.size:
        hi = int(arr.max())
        bound = MAX_FACE_INDEX if n_vertices is None else int(n_vertices) - 1
        if hi > bound:
            f = int(np.flatnonzero((arr > bound).any(axis=1))[0])
            what = f"[0, {int(n_vertices)})" if n_vertices is not None else f"[0, {MAX_FACE_INDEX}]"
            raise FaceIndexError(f"F: expected vertex indices in {what} (got {arr[f].tolist()} in face {f})")
    return arr


def _vertices(V) -> np.ndarray:
    from ._arrays import as_vertices

    return as_vertices(V, allow_empty=True)


def halfedges(F) -> np.ndarray:
    """Directed half-edges of every face corner.

    Returns
    -------
    H : (3 nF, 2) int64
        Row ``3 f + c`` is the half-edge ``F[f, c] → F[f, (c + 1) % 3]``.

    >>> halfedges(np.array([[0, 1, 2]])).tolist()
    [[0, 1], [1, 2], [2, 0]]
    """
    F = _faces(F)
    return np.stack([F, np.roll(F, -1, axis=1)], axis=-1).reshape(-1, 2)


def _edge_keys(F):
    H = halfedges(F)
    lo = np.minimum(H[:, 0], H[:, 1])
    hi = np.maximum(H[:, 0], H[:, 1])
    valid = lo != hi
    return lo, hi, valid


def edge_face_incidence(F):
    """Unique undirected edges and, for every half-edge, the index of its edge.

    Returns
    -------
    E : (nE, 2) int64
        Unique edges ``(i, j)`` with ``i < j``, sorted lexicographically.
    he_edge : (3 nF,) int64
        Edge index of each half-edge (``-1`` for a half-edge joining a vertex to itself).
    """
    F = _faces(F)
    lo, hi, valid = _edge_keys(F)
    n = int(F.max()) + 1 if F.size else 0
    key = lo * max(n, 1) + hi
    uniq, inv = np.unique(key[valid], return_inverse=True)
    E = np.stack([uniq // max(n, 1), uniq % max(n, 1)], axis=1).astype(np.int64)
    he_edge = np.full(lo.shape[0], -1, dtype=np.int64)
    he_edge[valid] = inv.reshape(-1)
    return E, he_edge


def edges(F) -> np.ndarray:
    """Unique undirected edges ``(nE, 2) int64`` with ``i < j``, sorted.

    >>> edges(np.array([[0, 1, 2], [0, 2, 3]])).tolist()
    [[0, 1], [0, 2], [0, 3], [1, 2], [2, 3]]
    """
    return edge_face_incidence(F)[0]


def edge_face_counts(F):
    """Edges and the number of face sides on each one (a duplicated face counts again).

    Returns
    -------
    E : (nE, 2) int64
    counts : (nE,) int64
        1 on a boundary edge, 2 on an interior manifold edge, 3 or more on a non-manifold edge
        (including an edge whose face is duplicated).
    """
    F = _faces(F)
    E, he_edge = edge_face_incidence(F)
    counts = np.bincount(he_edge[he_edge >= 0], minlength=len(E)).astype(np.int64)
    return E, counts


def _canonical_faces(F):
    return np.sort(np.asarray(F, dtype=np.int64), axis=1)


def boundary_edges(F) -> np.ndarray:
    """Boundary half-edges ``(nb, 2) int64`` in the direction of their only face."""
    F = _faces(F)
    E, counts = edge_face_counts(F)
    _, he_edge = edge_face_incidence(F)
    H = halfedges(F)
    is_b = np.zeros(len(E), bool)
    is_b[counts == 1] = True
    mask = (he_edge >= 0) & is_b[np.maximum(he_edge, 0)]
    Hb = H[mask]
    # drop repeats from duplicated faces (they were counted once)
    _, first = np.unique(he_edge[mask], return_index=True)
    return Hb[np.sort(first)]


def boundary_loops(F) -> list[np.ndarray]:
    """Boundary loops as vertex cycles, each an ``(n,) int64`` array.

    A loop starts at its smallest vertex and follows the orientation of the face of its first
    edge; edges are chained as undirected edges, so the boundary of a non-orientable surface
    (the single boundary curve of a Möbius band) is one loop.  Where a boundary vertex has
    several boundary edges (a pinch), loops are split there deterministically (lowest edge
    first).  Loops are ordered by their smallest vertex.
    """
    B = boundary_edges(F)
    if len(B) == 0:
        return []
    # on the boundary vertices only (renumbered in order), so memory follows the boundary's size,
    # not the largest vertex index
    verts, B = np.unique(B, return_inverse=True)
    B = B.reshape(-1, 2)
    nb = len(B)
    ends = np.concatenate([B[:, 0], B[:, 1]])
    eid = np.concatenate([np.arange(nb), np.arange(nb)])
    order = np.lexsort((eid, ends))
    ends, eid = ends[order], eid[order]
    starts = np.searchsorted(ends, np.arange(int(ends.max()) + 2))
    used = np.zeros(nb, bool)
    loops = []
    # start each loop at the boundary edge whose tail is smallest
    start_order = np.lexsort((B[:, 1], B[:, 0]))
    for k0 in start_order:
        if used[k0]:
            continue
        loop = [int(B[k0, 0])]
        used[k0] = True
        cur = int(B[k0, 1])
        while cur != loop[0]:
            cand = eid[starts[cur] : starts[cur + 1]]
            cand = cand[~used[cand]]
            if cand.size == 0:
                break
            k = int(cand[0])
            used[k] = True
            loop.append(cur)
            cur = int(B[k, 1]) if int(B[k, 0]) == cur else int(B[k, 0])
        loops.append(verts[np.asarray(loop, dtype=np.int64)])
    loops.sort(key=lambda lp: int(lp.min()))
    return loops


def nonmanifold_edges(F) -> np.ndarray:
    """Edges used by three or more distinct faces: ``(k, 3) int64`` rows ``(i, j, n_faces)``."""
    E, counts = edge_face_counts(F)
    bad = counts > 2
    return np.concatenate([E[bad], counts[bad, None]], axis=1)


def nonmanifold_vertices(F, n_vertices: int | None = None) -> np.ndarray:
    """Vertices whose incident faces form more than one edge-connected fan (bow-ties and the
    like), sorted.  Vertices on non-manifold edges are not reported here unless their fans are
    also disconnected."""
    F = _faces(F, n_vertices)
    if len(F) == 0:
        return np.zeros(0, np.int64)
    nV = int(F.max()) + 1 if n_vertices is None else int(n_vertices)
    E, he_edge = edge_face_incidence(F)
    return _nonmanifold_vertices(F, nV, E, he_edge)


def _nonmanifold_vertices(F: np.ndarray, nV: int, E: np.ndarray, he_edge: np.ndarray) -> np.ndarray:
    """:func:`nonmanifold_vertices` of ``F`` (int64, non-empty) given its edges ``E`` and the
    edge of every half-edge (:func:`edge_face_incidence`)."""
    # corners: (vertex, face), corner 3 f + c at F[f, c]; connect two corners of the same vertex
    # when their faces share an edge containing that vertex.  Half-edge h = 3 f + c runs from
    # F[f, c] to F[f, c + 1]: it touches the corners h (its tail) and head[h].
    corner_v = F.reshape(-1)
    ncorner = corner_v.size
    h = np.arange(ncorner)
    head = h - h % 3 + (h + 1) % 3
    hv = h[he_edge >= 0]
    # the first half-edge of every edge, by a scatter in reverse order (the last write wins)
    first = np.empty(len(E), dtype=np.int64)
    first[he_edge[hv[::-1]]] = hv[::-1]
    other = hv[first[he_edge[hv]] != hv]  # every further half-edge links to the first
    g = first[he_edge[other]]
    same = corner_v[other] == corner_v[g]  # the same direction (e.g. a duplicated face)
    rows = np.concatenate([other, head[other]])
    cols = np.concatenate([np.where(same, g, head[g]), np.where(same, head[g], g)])
    n_groups, lab = _edge_components(np.stack([rows, cols], axis=1), ncorner)
    # every link joins two corners of the same vertex, so each corner group (fan) belongs to one
    # vertex: the fans of a vertex are the groups that its corners label
    group_vertex = np.empty(n_groups, dtype=np.int64)
    group_vertex[lab] = corner_v
    n_fans = np.bincount(group_vertex, minlength=nV)
    return np.flatnonzero(n_fans > 1).astype(np.int64)


try:  # scipy's undirected components kernel (present since scipy 0.11); the public path otherwise
    from scipy.sparse.csgraph._traversal import _connected_components_undirected as _cc_undirected
except ImportError:  # pragma: no cover - a scipy that moved it
    _cc_undirected = None
#: Edge count up to which :func:`_edge_components` calls scipy's kernel on its own arrays.
_SMALL_COMPONENTS = 8192


def _edge_components(E, nV: int):
    """``(n_components, labels)`` of the vertices joined by the edges ``E (nE, 2)`` (isolated vertices alone)."""
    E = np.asarray(E)
    if E.shape[0] > 1 and not (E[1:, 0] >= E[:-1, 0]).all():
        E = E[np.argsort(E[:, 0], kind="stable")]
    if E.shape[0] <= _SMALL_COMPONENTS and _cc_undirected is not None:
        # scipy's own kernel on arrays made here: its public wrapper transposes through scipy
        # matrices, 2/3 of the time on a 162-vertex mesh (156 → 28 µs); from ~10k edges on,
        # the argsort below costs more than scipy's transpose, so the public path runs there
        e0, e1 = E[:, 0].astype(np.int32), E[:, 1].astype(np.int32)
        ip = np.zeros(nV + 1, dtype=np.int32)
        np.cumsum(np.bincount(e0, minlength=nV), out=ip[1:])
        ipt = np.zeros(nV + 1, dtype=np.int32)
        np.cumsum(np.bincount(e1, minlength=nV), out=ipt[1:])
        labels = np.empty(nV, dtype=np.int32)
        n = _cc_undirected(e1, ip, e0[np.argsort(e1, kind="stable")], ipt, labels)
        return int(n), labels
    # rows sorted by the first vertex (unique_edges' order): the CSR arrays directly, no COO pass
    indptr = np.zeros(nV + 1, dtype=np.int64)
    np.cumsum(np.bincount(E[:, 0], minlength=nV), out=indptr[1:])
    G = sp.csr_matrix((np.ones(E.shape[0]), E[:, 1], indptr), shape=(nV, nV))
    return connected_components(G, directed=False)


def face_components(F) -> tuple[int, np.ndarray]:
    """Connected components of faces through shared edges.

    Returns
    -------
    n : int
    labels : (nF,) int64
    """
    F = _faces(F)
    nF = len(F)
    if nF == 0:
        return 0, np.zeros(0, np.int64)
    _, he_edge = edge_face_incidence(F)
    face = np.repeat(np.arange(nF), 3)
    valid = he_edge >= 0
    nE = int(he_edge.max()) + 1 if valid.any() else 0
    A = sp.coo_matrix((np.ones(valid.sum()), (face[valid], he_edge[valid])), shape=(nF, nE)).tocsr()
    B = sp.bmat([[None, A], [A.T, None]])
    n, lab = connected_components(B, directed=False)
    lab_f = lab[:nF]
    _, lab_f = np.unique(lab_f, return_inverse=True)
    return int(lab_f.max()) + 1, lab_f.astype(np.int64)


def vertex_components(F, n_vertices: int) -> tuple[int, np.ndarray]:
    """Connected components of the vertex graph (unreferenced vertices are their own)."""
    F = _faces(F, n_vertices)
    H = halfedges(F)
    A = sp.coo_matrix((np.ones(len(H)), (H[:, 0], H[:, 1])), shape=(n_vertices, n_vertices))
    n, lab = connected_components(A, directed=False)
    return int(n), lab.astype(np.int64)


def _proper(F) -> np.ndarray:
    """The faces with three distinct vertex indices (collapsed faces left out)."""
    F = _faces(F)
    ok = (F[:, 0] != F[:, 1]) & (F[:, 1] != F[:, 2]) & (F[:, 2] != F[:, 0])
    return F[ok]


def euler_characteristic(F) -> int:
    """χ = V_ref − E + F of the faces with three distinct vertices (referenced vertices, unique
    edges, faces; a collapsed face such as ``(1, 2, 2)`` is not a 2-cell and is not counted).

    >>> from manifold_nets.shapes import tetrahedron
    >>> euler_characteristic(tetrahedron()[1])
    2
    >>> euler_characteristic([[0, 1, 1]])
    0
    """
    F = _proper(F)
    if len(F) == 0:
        return 0
    nv = np.unique(F).size
    return int(nv - len(edges(F)) + len(F))


def _surface_genus(F) -> int | None:
    """``(2 − χ − b) / 2`` for a connected, edge- and vertex-manifold, orientable ``F`` (no
    collapsed faces), else ``None``."""
    if len(F) == 0:
        return None
    _, counts = edge_face_counts(F)
    if (counts > 2).any() or face_components(F)[0] != 1 or nonmanifold_vertices(F).size:
        return None
    if not orientation_report(F)["orientable"]:
        return None
    g2 = 2 - euler_characteristic(F) - len(boundary_loops(F))
    return g2 // 2 if g2 >= 0 and g2 % 2 == 0 else None


def genus(F) -> int | None:
    """Genus of a connected orientable manifold surface, with or without boundary.

    ``g = (2 − χ − b) / 2`` with ``b`` boundary loops, computed on the faces with three distinct
    vertices; ``None`` when the mesh has several edge-connected components, a non-manifold edge
    or vertex, or is not orientable.

    >>> from manifold_nets import shapes
    >>> genus(shapes.torus(8, 6)[1]), genus(shapes.grid(4)[1])
    (1, 0)
    """
    return _surface_genus(_proper(F))


def orientation_report(F) -> dict:
    """Orientability of an edge-manifold mesh.

    Returns
    -------
    dict with
        ``orientable`` (bool): every component can be oriented consistently (non-manifold edges
        are ignored);
        ``consistent`` (bool): it already is;
        ``inconsistent_edges`` ((k, 2) int64): interior edges whose two faces traverse it in the
        same direction;
        ``flip`` ((nF,) bool): faces to flip for a consistent orientation (lowest face of each
        component kept), all ``False`` when not orientable;
        ``nonorientable_faces`` ((nF,) bool): faces of the components that cannot be oriented.
    """
    F = _faces(F)
    nF = len(F)
    E, he_edge = edge_face_incidence(F)
    H = halfedges(F)
    face = np.repeat(np.arange(nF), 3)
    valid = he_edge >= 0
    # manifold interior edges: exactly two half-edges
    cnt = np.bincount(he_edge[valid], minlength=len(E))
    sel = valid & (cnt[np.maximum(he_edge, 0)] == 2)
    idx = np.flatnonzero(sel)
    order = idx[np.argsort(he_edge[idx], kind="stable")]
    a, b = order[0::2], order[1::2]
    same_dir = H[a, 0] == H[b, 0]  # both traverse i -> j: inconsistent
    fa, fb = face[a], face[b]
    # signed graph: relation r = 1 if faces must have opposite "flip" state (same_dir) else 0
    n, lab = face_components(F)
    flip = np.zeros(nF, bool)
    orientable = True
    if nF:
        # doubled graph: node f (kept) and f + nF (flipped); an inconsistent pair links f to the
        # flipped copy of its neighbour.  Orientable iff no face is linked to its own flip.
        r = np.where(same_dir, fb + nF, fb)
        r2 = np.where(same_dir, fa + nF, fa)
        rows = np.r_[fa, fa + nF, fb, fb + nF]
        cols = np.r_[r, np.where(same_dir, fb, fb + nF), r2, np.where(same_dir, fa, fa + nF)]
        A = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(2 * nF, 2 * nF))
        _, dl = connected_components(A, directed=False)
        bad_face = dl[:nF] == dl[nF:]
        if bad_face.any():
            orientable = False
        else:
            root = np.zeros(n, np.int64)
            root[lab[::-1]] = np.arange(nF)[::-1]  # lowest face of each component
            flip = dl[np.arange(nF) + nF] == dl[root[lab]]
    inc = np.sort(H[a[same_dir]], axis=1)
    return {
        "nonorientable_faces": bad_face if nF else np.zeros(0, bool),
        "orientable": bool(orientable),
        "consistent": bool(orientable and not same_dir.any()),
        "inconsistent_edges": inc.astype(np.int64).reshape(-1, 2),
        "flip": flip,
    }


def face_areas(V, F) -> np.ndarray:
    """Triangle areas ``(nF,) float64``.

    >>> from manifold_nets.shapes import triangle
    >>> face_areas(*triangle()).tolist()
    [0.5]
    """
    V = _vertices(V)
    F = _faces(F, len(V))
    e1 = V[F[:, 1]] - V[F[:, 0]]
    e2 = V[F[:, 2]] - V[F[:, 0]]
    return 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)


def degenerate_faces(V, F, *, rel_tol: float = 1e-12) -> np.ndarray:
    """Indices of faces that repeat a vertex or whose area is at most
    ``rel_tol · diag²`` (``diag`` the bounding-box diagonal of the referenced vertices)."""
    V = _vertices(V)
    return _degenerate_faces(V, _faces(F, len(V)), rel_tol)


def _degenerate_faces(V: np.ndarray, F: np.ndarray, rel_tol: float = 1e-12) -> np.ndarray:
    """Kernel of :func:`degenerate_faces` on checked arrays (no validation)."""
    if len(F) == 0:
        return np.zeros(0, np.int64)
    rep = (F[:, 0] == F[:, 1]) | (F[:, 1] == F[:, 2]) | (F[:, 2] == F[:, 0])
    referenced = np.zeros(len(V), dtype=bool)
    referenced[F.ravel()] = True
    used = V[referenced]
    diag = float(np.linalg.norm(used.max(0) - used.min(0))) if len(used) else 0.0
    e1 = V[F[:, 1]] - V[F[:, 0]]
    e2 = V[F[:, 2]] - V[F[:, 0]]
    tiny = 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1) <= rel_tol * diag**2
    return np.flatnonzero(rep | tiny).astype(np.int64)


def collapsed_faces(F) -> np.ndarray:
    """Indices of faces that repeat a vertex index (``(1, 2, 2)``): not 2-cells of a surface."""
    F = _faces(F)
    rep = (F[:, 0] == F[:, 1]) | (F[:, 1] == F[:, 2]) | (F[:, 2] == F[:, 0])
    return np.flatnonzero(rep).astype(np.int64)


def duplicate_faces(F) -> np.ndarray:
    """Indices of faces whose vertex set repeats an earlier face (the first copy is not listed)."""
    F = _faces(F)
    if len(F) == 0:
        return np.zeros(0, np.int64)
    canon = _canonical_faces(F)
    _, first = np.unique(canon, axis=0, return_index=True)
    mask = np.ones(len(F), bool)
    mask[first] = False
    return np.flatnonzero(mask).astype(np.int64)


def unreferenced_vertices(F, n_vertices: int) -> np.ndarray:
    """Vertices used by no face, sorted."""
    used = np.zeros(n_vertices, bool)
    used[_faces(F, n_vertices).reshape(-1)] = True
    return np.flatnonzero(~used).astype(np.int64)


def _genera(F, lab, ncomp, counts, E, he_edge, nmv, loops, nonorientable) -> list:
    """``(2 − χ_c − b_c) / 2`` for every edge-connected component ``c`` of ``F`` (no collapsed
    faces), ``None`` where the component is non-manifold or non-orientable (vectorised: a soup
    of many components stays fast)."""
    if ncomp == 0:
        return []
    nF = len(F)
    f_c = np.bincount(lab, minlength=ncomp)
    face = np.repeat(np.arange(nF), 3)
    edge_comp = np.zeros(len(E), np.int64)
    edge_comp[he_edge] = lab[face]
    e_c = np.bincount(edge_comp, minlength=ncomp)
    key = np.unique(F.reshape(-1) * ncomp + np.repeat(lab, 3))  # distinct (vertex, component)
    vc = np.stack([key // ncomp, key % ncomp], 1)
    v_c = np.bincount(vc[:, 1], minlength=ncomp)
    chi = v_c - e_c + f_c
    ok = np.ones(ncomp, bool)
    ok[edge_comp[counts > 2]] = False
    ok[lab[nonorientable]] = False
    if len(nmv):
        bad_v = np.zeros(int(F.max()) + 1, bool)
        bad_v[nmv] = True
        ok[lab[bad_v[F].any(1)]] = False
    b_c = np.zeros(ncomp, np.int64)
    if loops:
        comp_of_v = np.full(int(F.max()) + 1, -1, np.int64)
        comp_of_v[vc[:, 0]] = vc[:, 1]
        for lp in loops:
            b_c[comp_of_v[lp[0]]] += 1
    g2 = 2 - chi - b_c
    ok &= (g2 >= 0) & (g2 % 2 == 0)
    return [int(g) // 2 if k else None for g, k in zip(g2, ok)]


def mesh_report(V, F) -> dict:
    """Everything :command:`manifold-nets info` prints, as plain Python values (JSON-ready).

    Keys: ``n_vertices, n_faces, n_edges, n_halfedges, boundary_edges, boundary_loops,
    components, edge_components, euler_characteristic, genus, genus_per_component, closed,
    closed_reason, edge_manifold, vertex_manifold, nonmanifold_edges, nonmanifold_vertices,
    orientable, consistently_oriented, degenerate_faces, collapsed_faces, duplicate_faces,
    unreferenced_vertices, bbox_min, bbox_max, bbox_diagonal, total_area``.

    The surface quantities (edges, boundary, χ, genus, closed, manifoldness, orientation,
    components) are those of the faces with three distinct vertices; ``collapsed_faces`` counts
    the others (they are also in ``degenerate_faces``, with the zero-area faces).
    ``closed`` is ``True`` only for a mesh with faces, no boundary edge and no collapsed face;
    ``closed_reason`` is ``None`` then and says why not otherwise (``"3 boundary edges"``,
    ``"1 face repeats a vertex"``, ``"no faces"``).  ``genus`` is ``(2 − χ − b) / 2`` for a
    single connected orientable manifold surface with ``b`` boundary loops (``None`` otherwise);
    ``genus_per_component`` gives it for every edge-connected component (``None`` where it is
    not defined).
    """
    V = _vertices(V)
    F_all = _faces(F, len(V))
    n_collapsed = int(collapsed_faces(F_all).size)
    F = _proper(F_all)
    nV, nF = len(V), len(F_all)
    E, he_edge = edge_face_incidence(F)
    counts = np.bincount(he_edge[he_edge >= 0], minlength=len(E)).astype(np.int64)
    nb = int((counts == 1).sum())
    nme = int((counts > 2).sum())
    nmv = nonmanifold_vertices(F, nV)
    ncomp_e, lab = face_components(F)
    _, vlab = vertex_components(F_all, nV)
    used = np.unique(F_all) if nF else np.zeros(0, np.int64)
    ncomp = int(np.unique(vlab[used]).size)
    orient = orientation_report(F)
    loops = boundary_loops(F)
    P = V[used] if len(used) else V
    bmin = P.min(0) if len(P) else np.zeros(3)
    bmax = P.max(0) if len(P) else np.zeros(3)
    chi = int(np.unique(F).size - len(E) + len(F)) if len(F) else 0
    genera = _genera(F, lab, ncomp_e, counts, E, he_edge, nmv, loops, orient["nonorientable_faces"])
    reasons = []
    if nF == 0:
        reasons.append("no faces")
    if nb:
        reasons.append(f"{nb} boundary edge{'s' if nb != 1 else ''}")
    if n_collapsed:
        reasons.append(f"{n_collapsed} face{'s repeat' if n_collapsed != 1 else ' repeats'} a vertex")
    closed = not reasons
    return {
        "n_vertices": nV,
        "n_faces": nF,
        "n_edges": int(len(E)),
        "n_halfedges": int(3 * len(F)),
        "boundary_edges": nb,
        "boundary_loops": len(loops),
        "components": int(ncomp),
        "edge_components": int(ncomp_e),
        "euler_characteristic": int(chi),
        "genus": genera[0] if ncomp_e == 1 else None,
        "genus_per_component": genera,
        "closed": bool(closed),
        "closed_reason": None if closed else "; ".join(reasons),
        "edge_manifold": nme == 0,
        "vertex_manifold": int(nmv.size) == 0,
        "nonmanifold_edges": nme,
        "nonmanifold_vertices": int(nmv.size),
        "orientable": orient["orientable"],
        "consistently_oriented": orient["consistent"],
        "degenerate_faces": int(degenerate_faces(V, F_all).size),
        "collapsed_faces": n_collapsed,
        "duplicate_faces": int(duplicate_faces(F_all).size),
        "unreferenced_vertices": int(nV - len(used)),
        "bbox_min": [float(x) for x in bmin],
        "bbox_max": [float(x) for x in bmax],
        "bbox_diagonal": float(np.linalg.norm(bmax - bmin)),
        "total_area": float(face_areas(V, F_all).sum()),
    }


#: :func:`soup_message` calls a mesh a soup when more than this fraction of its faces share no
#: vertex with any other face (on a connected mesh of two or more faces none does).
SOUP_FRACTION = 0.5


def soup_message(F, n_vertices: int | None = None, *, name: str = "mesh") -> str | None:
    """A one-line warning when ``F (nF, 3)`` is a triangle soup, else None.

    A soup (what STL files store: three vertices of its own for every facet) has no shared
    vertices, so every face is a component of its own and nothing propagates between faces:
    eigenbases, geodesics, descriptors and convolutions see isolated triangles.  Called a soup:
    more than :data:`SOUP_FRACTION` of the faces share no vertex with any other face.  (Counting
    faces, not vertices, keeps small connected meshes out: two triangles meeting at one vertex
    or three faces on one edge have most vertices in one face only, yet no isolated face.)  The
    message says how to merge coincident vertices.

    >>> soup_message([[0, 1, 2], [3, 4, 5]]) is not None, soup_message([[0, 1, 2], [0, 3, 4]])
    (True, None)
    """
    F = _faces(F, n_vertices)
    if F.shape[0] < 2:
        return None
    if n_vertices is None:  # counts of the used indices only (memory follows nF, not F.max())
        _, inv, cnt = np.unique(F.ravel(), return_inverse=True, return_counts=True)
        per_corner = cnt[inv].reshape(-1, 3)
    else:
        per_corner = np.bincount(F.ravel(), minlength=int(n_vertices))[F]
    isolated = int(np.count_nonzero((per_corner == 1).all(axis=1)))
    nF = int(F.shape[0])
    if isolated <= SOUP_FRACTION * nF:
        return None
    return (f"{name}: {isolated} of {nF} faces share no vertex with another face: a triangle soup (as STL "
            f"stores meshes), whose faces are not connected; merge coincident vertices first "
            f"(manifold-nets repair IN OUT --steps merge-vertices, or manifold_nets.repair.merge_duplicate_vertices)")
