"""Mesh transforms for labelled meshes: closest points, label transfer, simplification,
remeshing and random augmentation.

Plain functions work on arrays (``V (nV, 3) float64``, ``F (nF, 3) int64``); the mesh-level ones
take and return a :class:`~manifold_nets.data.dataset.LabeledMesh`.  Labels are never silently
lost: whenever the triangulation changes, every new face gets the label of the closest labelled
source face (:func:`transfer_face_labels`).

Random transforms (:class:`RandomRotation`, :class:`RandomScale`, :class:`RandomRemesh`) each keep
a :class:`numpy.random.Generator` built from their ``seed``, so a run with the same seeds sees the
same sequence of meshes.  They are meant for :class:`~manifold_nets.data.dataset.MeshDataset`'s
``transform`` (several in a :class:`Compose`).

>>> from manifold_nets import shapes
>>> V, F = shapes.triangle()
>>> face, bary, d2 = closest_points(V, F, [[0.25, 0.25, 1.0]])
>>> face.tolist(), bary.round(3).tolist(), d2.tolist()
([0], [[0.5, 0.25, 0.25]], [1.0])
"""

from __future__ import annotations

import numpy as np

from ..errors import MeshError
from ..validation import check_mesh_arrays
from .dataset import LabeledMesh
from .labels import face_areas as _areas

__all__ = [
    "closest_points",
    "transfer_face_labels",
    "transfer_vertex_values",
    "simplify",
    "remesh",
    "RandomRotation",
    "RandomScale",
    "RandomRemesh",
    "Compose",
]


# ----------------------------------------------------------------------------- closest points
def _points(points) -> np.ndarray:
    P = np.asarray(points, dtype=np.float64)
    if P.ndim == 1 and P.shape == (3,):
        P = P[None]
    if P.ndim != 2 or P.shape[1] != 3:
        raise MeshError(f"points: expected an array of shape (n, 3) (got {P.shape})")
    if not np.isfinite(P).all():
        i = int(np.flatnonzero(~np.isfinite(P).all(axis=1))[0])
        raise MeshError(f"points: expected finite coordinates (got {P[i].tolist()} at point {i})")
    return P


def _barycentric(C, A, B, D) -> np.ndarray:
    """Barycentric coordinates ``(n, 3)`` of points ``C`` in triangles ``(A, B, D)`` (all ``(n, 3)``).

    The points lie on their triangles (closest points), so coordinates are clipped to ``>= 0`` and
    renormalised.  A degenerate (zero-area) triangle is treated as its longest edge.
    """
    e0, e1, ep = B - A, D - A, C - A
    d00 = np.einsum("ij,ij->i", e0, e0)
    d01 = np.einsum("ij,ij->i", e0, e1)
    d11 = np.einsum("ij,ij->i", e1, e1)
    d20 = np.einsum("ij,ij->i", ep, e0)
    d21 = np.einsum("ij,ij->i", ep, e1)
    den = d00 * d11 - d01 * d01
    scale = np.maximum(d00 * d11, 1e-300)
    ok = den > 1e-12 * scale
    out = np.zeros((len(C), 3))
    with np.errstate(divide="ignore", invalid="ignore"):
        v = (d11 * d20 - d01 * d21) / den
        w = (d00 * d21 - d01 * d20) / den
    out[ok, 1], out[ok, 2] = v[ok], w[ok]
    out[ok, 0] = 1.0 - v[ok] - w[ok]
    bad = np.flatnonzero(~ok)
    if len(bad):  # degenerate triangle: project on its longest edge
        T = np.stack([A[bad], B[bad], D[bad]], 1)  # (m, 3, 3)
        pairs = np.array([[0, 1], [1, 2], [2, 0]])
        lens = np.linalg.norm(T[:, pairs[:, 1]] - T[:, pairs[:, 0]], axis=2)  # (m, 3)
        k = lens.argmax(1)
        i0, i1 = pairs[k, 0], pairs[k, 1]
        r = np.arange(len(bad))
        P0, P1 = T[r, i0], T[r, i1]
        d = P1 - P0
        dd = np.einsum("ij,ij->i", d, d)
        t = np.where(dd > 0, np.einsum("ij,ij->i", C[bad] - P0, d) / np.maximum(dd, 1e-300), 0.0)
        t = np.clip(t, 0.0, 1.0)
        sub = np.zeros((len(bad), 3))
        sub[r, i0] = 1.0 - t
        sub[r, i1] += t
        out[bad] = sub
    out = np.clip(out, 0.0, None)
    s = out.sum(1, keepdims=True)
    out = np.where(s > 0, out / np.where(s > 0, s, 1.0), 1.0 / 3.0)
    return out


def closest_points(V, F, points) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The closest point on the surface ``(V, F)`` to each query point (libigl's AABB tree).

    Shapes: V ``(nV, 3)``, F ``(nF, 3)``, points ``(n, 3)`` -> face index ``(n,)`` int64,
    barycentric coordinates ``(n, 3)`` float64 (non-negative, rows sum to 1) of the closest point
    in that face, squared distance ``(n,)`` float64.  Memory is ``O(n + nF)`` (no ``n x nF``
    matrix).

    >>> from manifold_nets import shapes
    >>> V, F = shapes.triangle()
    >>> closest_points(V, F, [[2.0, 0.0, 0.0]])[1].tolist()  # beyond the corner (1, 0, 0)
    [[0.0, 1.0, 0.0]]
    """
    import igl

    V, F = check_mesh_arrays(V, F)
    P = _points(points)
    if len(P) == 0:
        return np.zeros(0, np.int64), np.zeros((0, 3)), np.zeros(0)
    d2, face, C = igl.point_mesh_squared_distance(np.ascontiguousarray(P), np.ascontiguousarray(V),
                                                  np.ascontiguousarray(F))
    face = np.asarray(face, dtype=np.int64).reshape(-1)
    C = np.asarray(C, dtype=np.float64).reshape(-1, 3)
    T = F[face]
    bary = _barycentric(C, V[T[:, 0]], V[T[:, 1]], V[T[:, 2]])
    return face, bary, np.asarray(d2, dtype=np.float64).reshape(-1)


def transfer_face_labels(V_src, F_src, labels_src, V_dst, F_dst) -> np.ndarray:
    """Per-face labels moved to another triangulation of (about) the same surface.

    Each destination face takes the label of the labelled source face closest to its centroid.
    Unlabelled source faces (``-1``) are ignored, so every destination face gets a label as long
    as one source face has one (all ``-1`` otherwise).

    Shapes: V_src ``(nV_s, 3)``, F_src ``(nF_s, 3)``, labels_src ``(nF_s,)`` int, V_dst
    ``(nV_d, 3)``, F_dst ``(nF_d, 3)`` -> ``(nF_d,)`` int64.

    >>> from manifold_nets import shapes
    >>> V, F = shapes.icosphere(1)
    >>> lab = np.arange(len(F)) % 3
    >>> bool((transfer_face_labels(V, F, lab, V, F) == lab).all())
    True
    """
    V_src, F_src = check_mesh_arrays(V_src, F_src)
    V_dst, F_dst = check_mesh_arrays(V_dst, F_dst, allow_empty_faces=True)
    lab = np.asarray(labels_src)
    if lab.shape != (len(F_src),):
        raise MeshError(f"labels_src: expected one label per source face, shape ({len(F_src)},) "
                        f"(got {lab.shape})")
    lab = lab.astype(np.int64)
    keep = np.flatnonzero(lab >= 0)
    if len(keep) == 0 or len(F_dst) == 0:
        return np.full(len(F_dst), -1, dtype=np.int64)
    centroids = V_dst[F_dst].mean(axis=1)
    face, _, _ = closest_points(V_src, F_src[keep], centroids)
    return lab[keep[face]]


def transfer_vertex_values(V_src, F_src, values_src, points) -> np.ndarray:
    """Per-vertex values interpolated at the closest surface point of each query point.

    Shapes: V_src ``(nV, 3)``, F_src ``(nF, 3)``, values_src ``(nV, C)`` (or ``(nV,)``), points
    ``(n, 3)`` -> ``(n, C)`` float64 (``(n,)`` for 1-D values): the barycentric combination of
    the values at the corners of the closest face.

    >>> from manifold_nets import shapes
    >>> V, F = shapes.triangle()
    >>> transfer_vertex_values(V, F, V[:, :2], [[0.2, 0.3, 5.0]]).round(12).tolist()
    [[0.2, 0.3]]
    """
    V_src, F_src = check_mesh_arrays(V_src, F_src)
    vals = np.asarray(values_src, dtype=np.float64)
    flat = vals.ndim == 1
    if flat:
        vals = vals[:, None]
    if vals.ndim != 2 or len(vals) != len(V_src):
        raise MeshError(f"values_src: expected shape ({len(V_src)}, C) or ({len(V_src)},) "
                        f"(got {np.shape(values_src)})")
    face, bary, _ = closest_points(V_src, F_src, points)
    out = np.einsum("nk,nkc->nc", bary, vals[F_src[face]])
    return out[:, 0] if flat else out


# ----------------------------------------------------------------------------- simplify / remesh
def _defects(V, F, *, area: bool = True) -> int:
    """Number of collapsed and duplicate faces, non-manifold edges and vertices, and (``area``)
    zero-area faces."""
    from ..topology import (
        collapsed_faces,
        degenerate_faces,
        duplicate_faces,
        nonmanifold_edges,
        nonmanifold_vertices,
    )

    n = (len(collapsed_faces(F)) + len(duplicate_faces(F)) + len(nonmanifold_edges(F))
         + len(nonmanifold_vertices(F, len(V))))
    return n + (len(degenerate_faces(V, F)) if area else 0)


def _simplify_once(V, F, target: int):
    import fast_simplification

    # copies: the binding refuses read-only arrays (LabeledMesh freezes its arrays)
    target = int(min(max(4, target), len(F)))
    Vo, Fo = fast_simplification.simplify(np.array(V, dtype=np.float64, order="C"),
                                          np.array(F, dtype=np.int64, order="C"),
                                          target_count=target)
    return _drop_unreferenced(np.asarray(Vo, dtype=np.float64), np.asarray(Fo, dtype=np.int64))


def _decimate(V, F, max_vertices: int):
    """Quadric decimation (fast-simplification) to at most ``max_vertices`` vertices (deterministic).

    When the input is a manifold (no collapsed or duplicate face, no non-manifold edge or vertex)
    and the decimation has such a defect or a zero-area face (quadric decimation does not check
    the link condition), a few nearby face counts are tried and the result with the fewest
    defects kept (the first clean one), then libigl's quadric collapse if none was clean.

    Scale: the decimation runs on a copy centred at its bounding-box centre and scaled to unit
    total area, and the result is mapped back, so that it is equivariant to translation and
    uniform scale.  fast-simplification compares the quadric errors (squared lengths) with an
    absolute threshold schedule, so the same mesh in other units was decimated differently: a
    remeshed PSB Mech shape at ×1000 came out with other collapses than at ×1, and a model's
    accuracy on it fell from 98.6 % to 75.4 % (``benchmarks/bench_segmentation.py``).
    """
    nV = len(V)
    if nV <= max_vertices:
        return V, F
    V = np.asarray(V, dtype=np.float64)
    lo, hi = V.min(axis=0), V.max(axis=0)
    centre = 0.5 * (lo + hi)
    area = float(_areas(V, F).sum())
    scale = np.sqrt(area) if area > 0 and np.isfinite(area) else float(np.max(hi - lo)) or 1.0
    Vo, Fo = _decimate_unit((V - centre) / scale, F, max_vertices)
    return Vo * scale + centre, Fo


def _decimate_unit(V, F, max_vertices: int):
    """:func:`_decimate` on a mesh already centred and scaled."""
    # closed surfaces have about two faces per vertex; aim a little low and tighten if needed
    target = max(4, 2 * max_vertices - 4)
    for _ in range(8):
        Vo, Fo = _simplify_once(V, F, target)
        if len(Vo) <= max_vertices or target <= 4:
            break
        target = max(4, int(target * max_vertices / len(Vo)) - 2)
    n_bad = _defects(Vo, Fo)
    if n_bad and not _defects(V, F, area=False):
        for step in (-2, -4, -6, -8, -10, -12, -16, -20):
            Vt, Ft = _simplify_once(V, F, max(4, target + step))
            n_t = _defects(Vt, Ft)
            if n_t < n_bad:
                Vo, Fo, n_bad = Vt, Ft, n_t
            if n_bad == 0:
                break
        if n_bad:  # libigl's quadric collapse checks the link condition (slower)
            Vt, Ft = _igl_collapse(V, F, len(F) - 2 * (len(V) - max_vertices), "qslim")
            if len(Vt) <= max_vertices and _defects(Vt, Ft) < n_bad:
                Vo, Fo = Vt, Ft
    return Vo, Fo


def _igl_collapse(V, F, max_faces: int, how: str = "decimate"):
    """libigl edge collapses (``"decimate"``: shortest edge to its midpoint; ``"qslim"``: quadric
    error) down to ``max_faces`` faces; needs an edge-manifold input, keeps it manifold."""
    import igl

    out = getattr(igl, how)(np.asfortranarray(V, dtype=np.float64),
                            np.asfortranarray(F, dtype=np.int32), int(min(max(4, max_faces), len(F))))
    U, G = out[0], out[1]
    return _drop_unreferenced(np.ascontiguousarray(U, dtype=np.float64),
                              np.ascontiguousarray(G, dtype=np.int64))


def _drop_unreferenced(V, F):
    used = np.zeros(len(V), bool)
    used[F.reshape(-1)] = True
    if used.all():
        return V, F
    new = np.cumsum(used) - 1
    return V[used], new[F]


def _check_int(value, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise MeshError(f"{name}: expected an integer >= {low} (got {value!r})")
    return int(value)


def simplify(mesh: LabeledMesh, max_vertices: int) -> LabeledMesh:
    """The mesh decimated to at most ``max_vertices`` vertices, labels carried over.

    Quadric decimation by ``fast-simplification`` (deterministic: the same mesh gives the same
    result); for a manifold input, a decimation that leaves a non-manifold edge or vertex, a
    duplicate or a zero-area face is redone at nearby face counts, then with libigl's quadric
    collapse.  A mesh with at most ``max_vertices`` vertices comes back unchanged (a copy).  A
    mesh that edge collapses cannot reduce (a soup of separate triangles) may keep more.  Face
    labels move by :func:`transfer_face_labels`; ``meta`` gets ``{"simplified_from": (nV, nF)}``.
    """
    max_vertices = _check_int(max_vertices, "max_vertices", 4)
    if mesh.n_vertices <= max_vertices:
        return mesh.replace(meta=dict(mesh.meta))
    V, F = _decimate(mesh.V, mesh.F, max_vertices)
    labels = transfer_face_labels(mesh.V, mesh.F, mesh.face_labels, V, F)
    meta = dict(mesh.meta)
    meta["simplified_from"] = (mesh.n_vertices, mesh.n_faces)
    return mesh.replace(V=V, F=F, face_labels=labels, meta=meta)


def _edge_lengths_per_vertex(V, F) -> np.ndarray:
    """``(nV,)`` shortest incident edge length (``inf`` for isolated vertices)."""
    E = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    L = np.linalg.norm(V[E[:, 0]] - V[E[:, 1]], axis=1)
    out = np.full(len(V), np.inf)
    np.minimum.at(out, E[:, 0], L)
    np.minimum.at(out, E[:, 1], L)
    return out


def remesh(mesh: LabeledMesh, *, target_vertices: int, seed, jitter: float = 0.2) -> LabeledMesh:
    """Another triangulation of the same surface with about ``target_vertices`` vertices.

    The surface is refined by midpoint subdivision until it has at least four times
    ``target_vertices`` vertices, every vertex is moved by a random offset (``jitter`` times its
    shortest incident edge) and snapped back onto the original surface, and the result is
    decimated by edge collapses to ``target_vertices``: libigl's quadric-error collapse (which
    keeps a manifold mesh manifold; its shortest-edge collapse if that leaves a defect), with the
    vertices snapped back onto the original surface; fast-simplification's quadric decimation for
    a non-manifold input.  The new vertices and
    faces are therefore not a subset of the input's, and two seeds give two different
    triangulations.  Face labels move by :func:`transfer_face_labels`; ``meta`` gets
    ``{"remeshed_from": (nV, nF)}``.

    Parameters
    ----------
    mesh : LabeledMesh
    target_vertices : int
        At least 4; the result has about this many vertices (exactly, for a closed manifold).
    seed : int, numpy.random.Generator or None
    jitter : float
        Size of the random offsets relative to the local edge length, in ``[0, 0.45]``
        (0 disables them, and the result no longer depends on ``seed``).
    """
    import igl

    target_vertices = _check_int(target_vertices, "target_vertices", 4)
    if not (0.0 <= float(jitter) <= 0.45):
        raise MeshError(f"jitter: expected a number in [0, 0.45] (got {jitter!r})")
    rng = np.random.default_rng(seed)
    V0, F0 = mesh.V, mesh.F
    manifold = _defects(V0, F0, area=False) == 0
    V, F = np.array(V0), np.array(F0)
    # subdivide (midpoints: the surface does not move) until dense enough
    while len(V) < 4 * target_vertices:
        V, F = igl.upsample(np.ascontiguousarray(V), np.ascontiguousarray(F), 1)
        V = np.asarray(V, dtype=np.float64)
        F = np.asarray(F, dtype=np.int64)
    if jitter > 0:
        h = _edge_lengths_per_vertex(V, F)
        h = np.where(np.isfinite(h), h, 0.0)
        offset = rng.normal(size=V.shape)
        offset /= np.maximum(np.linalg.norm(offset, axis=1, keepdims=True), 1e-300)
        offset *= (jitter * h * rng.uniform(0.0, 1.0, size=len(V)))[:, None]
        V = _snap(V0, F0, V + offset)
    area0 = float(_areas(V0, F0).sum())

    def area_ok(Vc, Fc) -> bool:  # nothing lost: small components or thin parts collapsed away
        return abs(float(_areas(Vc, Fc).sum()) - area0) <= 0.1 * area0

    if manifold and len(V) > 3 * target_vertices:
        # most of the way with the fast quadric decimation when it stays clean (it is ~10x
        # faster than libigl's), the last collapses with libigl's (which keep the mesh manifold)
        Vf, Ff = _simplify_once(V, F, len(F) - 2 * (len(V) - 2 * target_vertices))
        if not _defects(Vf, Ff) and area_ok(Vf, Ff):
            V, F = Vf, Ff
    chosen, candidates = None, []
    for how in ("qslim", "decimate") if manifold else ():
        Vd, Fd = _igl_collapse(V, F, len(F) - 2 * (len(V) - target_vertices), how)
        Vd = _snap(V0, F0, Vd)
        if _defects(Vd, Fd) == 0 and area_ok(Vd, Fd):
            chosen = (Vd, Fd)
            break
        candidates.append((Vd, Fd))
    if chosen is None:
        # (not yet scale-normalised like simplify(): the remeshed benchmark sets are built by
        # this code and would change; see _decimate)
        candidates.append(_decimate_unit(V, F, target_vertices))
        # none clean and complete: prefer the complete, then the cleanest, then the closest area
        chosen = min(candidates, key=lambda c: (not area_ok(*c), _defects(*c),
                                                abs(float(_areas(*c).sum()) - area0)))
    V, F = chosen
    labels = transfer_face_labels(V0, F0, mesh.face_labels, V, F)
    meta = dict(mesh.meta)
    meta["remeshed_from"] = (mesh.n_vertices, mesh.n_faces)
    return mesh.replace(V=V, F=F, face_labels=labels, meta=meta)


def _snap(V0, F0, P) -> np.ndarray:
    """``(n, 3)``: the closest points of ``P`` on the surface ``(V0, F0)``."""
    face, bary, _ = closest_points(V0, F0, P)
    return np.einsum("nk,nkc->nc", bary, V0[F0[face]])


# ----------------------------------------------------------------------------- random transforms
_AXES = {"x": (1.0, 0.0, 0.0), "y": (0.0, 1.0, 0.0), "z": (0.0, 0.0, 1.0)}


def _rotation_about(axis: np.ndarray, angle: float) -> np.ndarray:
    """``(3, 3)`` rotation by ``angle`` about the unit vector ``axis`` (Rodrigues)."""
    x, y, z = axis
    K = np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])
    return np.eye(3) + np.sin(angle) * K + (1.0 - np.cos(angle)) * (K @ K)


def _random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly distributed ``(3, 3)`` rotation (a normalised random quaternion)."""
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


class RandomRotation:
    """Rotate a mesh about the origin by a random rotation (uniform over SO(3), or about ``axis``).

    Parameters
    ----------
    seed : int, numpy.random.Generator or None
    axis : {"x", "y", "z"} or (3,) array, optional
        Rotate about this axis by a uniform angle in ``[0, 2 pi)`` instead.

    ``meta["rotation"]`` gets the ``(3, 3)`` matrix ``R`` (as nested lists); new ``V = V @ R.T``.

    >>> from manifold_nets import shapes
    >>> V, F = shapes.tetrahedron()
    >>> m = LabeledMesh(V, F, np.zeros(len(F), int), ["all"])
    >>> r = RandomRotation(seed=0)(m)
    >>> bool(np.allclose(np.linalg.norm(r.V, axis=1), np.linalg.norm(V, axis=1)))
    True
    """

    def __init__(self, seed=None, *, axis=None):
        self.rng = np.random.default_rng(seed)
        if axis is None:
            self.axis = None
        else:
            a = _AXES.get(axis, axis) if isinstance(axis, str) else axis
            if isinstance(a, str):
                raise MeshError(f"axis: expected 'x', 'y', 'z' or a 3-vector (got {axis!r})")
            a = np.asarray(a, dtype=np.float64)
            if a.shape != (3,) or not np.isfinite(a).all() or np.linalg.norm(a) == 0:
                raise MeshError(f"axis: expected 'x', 'y', 'z' or a non-zero 3-vector (got {axis!r})")
            self.axis = a / np.linalg.norm(a)

    def matrix(self) -> np.ndarray:
        """Draw the next ``(3, 3)`` rotation."""
        if self.axis is None:
            return _random_rotation(self.rng)
        return _rotation_about(self.axis, self.rng.uniform(0.0, 2.0 * np.pi))

    def __call__(self, mesh: LabeledMesh) -> LabeledMesh:
        R = self.matrix()
        meta = dict(mesh.meta)
        meta["rotation"] = R.tolist()
        return mesh.replace(V=mesh.V @ R.T, meta=meta)

    def __repr__(self) -> str:
        return f"RandomRotation(axis={None if self.axis is None else self.axis.tolist()})"


class RandomScale:
    """Scale a mesh about the origin by a factor drawn log-uniformly from ``[low, high]``.

    ``meta["scale"]`` is multiplied by the factor (starting from 1).

    >>> from manifold_nets import shapes
    >>> V, F = shapes.triangle()
    >>> m = LabeledMesh(V, F, [0], ["all"])
    >>> s = RandomScale(2.0, 2.0)(m)
    >>> float(s.face_areas[0])
    2.0
    """

    def __init__(self, low: float = 0.5, high: float = 2.0, seed=None):
        low, high = float(low), float(high)
        if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
            raise MeshError(f"RandomScale: expected 0 < low <= high (got low={low}, high={high})")
        self.low, self.high = low, high
        self.rng = np.random.default_rng(seed)

    def __call__(self, mesh: LabeledMesh) -> LabeledMesh:
        s = float(np.exp(self.rng.uniform(np.log(self.low), np.log(self.high))))
        meta = dict(mesh.meta)
        meta["scale"] = float(meta.get("scale", 1.0)) * s
        return mesh.replace(V=mesh.V * s, meta=meta)

    def __repr__(self) -> str:
        return f"RandomScale(low={self.low}, high={self.high})"


class RandomRemesh:
    """With probability ``p``, :func:`remesh` to a random fraction in ``[low, high]`` of the
    current vertex count (labels carried over); otherwise return the mesh unchanged.

    Parameters
    ----------
    low, high : float
        ``0 < low <= high``; fractions of the mesh's vertex count (above 1 refines).
    p : float
        Probability in ``[0, 1]`` of remeshing.
    seed : int, numpy.random.Generator or None
    """

    def __init__(self, low: float = 0.5, high: float = 1.0, p: float = 0.5, seed=None):
        low, high, p = float(low), float(high), float(p)
        if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
            raise MeshError(f"RandomRemesh: expected 0 < low <= high (got low={low}, high={high})")
        if not (0.0 <= p <= 1.0):
            raise MeshError(f"RandomRemesh: expected p in [0, 1] (got {p})")
        self.low, self.high, self.p = low, high, p
        self.rng = np.random.default_rng(seed)

    def __call__(self, mesh: LabeledMesh) -> LabeledMesh:
        # draw every number on every call, so the stream does not depend on the outcomes
        go = self.rng.uniform() < self.p
        frac = self.rng.uniform(self.low, self.high)
        seed = int(self.rng.integers(2**63 - 1))
        if not go:
            return mesh
        target = max(4, int(round(frac * mesh.n_vertices)))
        return remesh(mesh, target_vertices=target, seed=seed)

    def __repr__(self) -> str:
        return f"RandomRemesh(low={self.low}, high={self.high}, p={self.p})"


class Compose:
    """Apply transforms one after the other: ``Compose([a, b])(m) == b(a(m))``."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise MeshError(f"Compose: expected callables (got {t!r})")

    def __call__(self, mesh: LabeledMesh) -> LabeledMesh:
        for t in self.transforms:
            mesh = t(mesh)
        return mesh

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(repr(t) for t in self.transforms) + "])"
