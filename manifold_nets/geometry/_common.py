"""Private per-face and per-edge helpers shared by the operator modules (numpy only).

Edge-length convention: ``l[f, k]`` is the length of the edge of face ``f`` *opposite* corner
``k``, i.e. the edge from ``F[f, (k + 1) % 3]`` to ``F[f, (k + 2) % 3]``.
"""

from __future__ import annotations

import numpy as np

from ..conventions import DEGENERATE_TOL as _DEGENERATE_TOL
from ..errors import DegenerateFaceError, FaceIndexError, MeshShapeError, NonFiniteError
from ..validation import as_faces

__all__ = [
    "edge_lengths",
    "check_lengths",
    "faces_and_count",
    "check_nonnegative",
    "check_positive",
    "areas_from_lengths",
    "cotangents_from_lengths",
    "angles_from_lengths",
    "unique_edges",
    "boundary_vertex_mask",
    "vertex_normals",
    "degenerate_mask",
    "FaceGeometry",
    "cotangents_from_angles",
    "fill_undefined_angles",
]

#: Relative area below which a face counts as degenerate (``area <= tol * longest_edge²``);
#: :data:`manifold_nets.conventions.DEGENERATE_TOL`.
DEGENERATE_TOL = _DEGENERATE_TOL


def edge_lengths(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Lengths ``(nF, 3)``; column ``k`` is the edge opposite corner ``k``."""
    e0 = V[F[:, 2]] - V[F[:, 1]]
    e1 = V[F[:, 0]] - V[F[:, 2]]
    e2 = V[F[:, 1]] - V[F[:, 0]]
    return np.sqrt(np.stack([(e0 * e0).sum(1), (e1 * e1).sum(1), (e2 * e2).sum(1)], axis=1))


def check_nonnegative(value, name: str) -> float:
    """``value`` as a float that is finite and ``>= 0``, else a :class:`MeshShapeError` naming
    ``name`` (tolerances and mollification factors: NaN, a negative number or inf would silently
    disable or invert the policy they control)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if isinstance(value, (bool, np.bool_)) or not (np.isfinite(x) and x >= 0):
        raise MeshShapeError(f"{name}: expected a finite number >= 0 (got {value!r})")
    return x


def check_positive(value, name: str) -> float:
    """``value`` as a finite float > 0; a :class:`MeshShapeError` naming ``name`` otherwise."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise MeshShapeError(f"{name}: expected a finite positive number (got {type(value).__name__} {value!r})")
    v = float(value)
    if not (np.isfinite(v) and v > 0):
        raise MeshShapeError(f"{name}: expected a finite positive number (got {value!r})")
    return v


def faces_and_count(F, n_vertices: int | None = None) -> tuple[np.ndarray, int]:
    """Validate ``F`` (and ``n_vertices``) for the functions that take faces without positions.

    ``n_vertices`` must be a non-negative integer above every index.  Without it the vertex
    count is inferred as ``F.max() + 1`` and must be at most ``3 nF`` (the most vertices ``nF``
    triangles can use): one stray index such as ``200_000_000`` would otherwise size every
    per-vertex array (gigabytes) instead of raising a :class:`FaceIndexError`.  A mesh with
    more unreferenced vertices than that passes ``n_vertices=len(V)``.
    """
    if n_vertices is not None:
        if isinstance(n_vertices, (bool, np.bool_)) or not isinstance(n_vertices, (int, np.integer)) \
                or int(n_vertices) < 0:
            raise MeshShapeError(f"n_vertices: expected a non-negative integer or None (got {n_vertices!r})")
        n_vertices = int(n_vertices)
    F = as_faces(F, n_vertices)
    if n_vertices is not None:
        return F, n_vertices
    n = int(F.max()) + 1
    if n > 3 * F.shape[0]:
        f = int(np.argmax(F.max(axis=1)))
        raise FaceIndexError(
            f"F: expected vertex indices below 3·nF = {3 * F.shape[0]} when n_vertices is not given "
            f"(got {F[f].tolist()} in face {f}); pass n_vertices=len(V) for a mesh with that many "
            "unreferenced vertices"
        )
    return F, n


def check_lengths(l, F, n_vertices: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Validate ``(l, F)`` for the intrinsic constructors; returns ``(l, F, n_vertices)``
    (the vertex count as :func:`faces_and_count`)."""
    F, n = faces_and_count(F, n_vertices)
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
    return np.ascontiguousarray(l), F, n


def areas_from_lengths(l: np.ndarray) -> np.ndarray:
    """Face areas from edge lengths with Kahan's numerically stable Heron formula."""
    s = np.sort(l, axis=1)
    c, b, a = s[:, 0], s[:, 1], s[:, 2]
    q = (a + (b + c)) * (c - (a - b)) * (c + (a - b)) * (a + (b - c))
    return 0.25 * np.sqrt(np.maximum(q, 0.0))


# ---------------------------------------------------------------------------------------------
# The triangle kernel: the one place where corner cotangents and angles are computed.
# ---------------------------------------------------------------------------------------------


class FaceGeometry:
    """Corner cotangents, corner angles and areas of triangles, with one degenerate-face policy.

    Every operator of :mod:`manifold_nets.geometry` that needs cotangents or corner angles (the
    scalar and connection cotan Laplacians, the FEM gradient and divergence, the Voronoi mass,
    the angle defect, the vertex normals, the half-edge angles and transport angles) gets them
    from this class, so they agree on every mesh, slivers included.

    Inputs are the **squared** edge lengths ``l2 (nF, 3)`` (column ``k`` opposite corner ``k``)
    and the face areas; :meth:`from_vertices` measures both on an embedded mesh (area from the
    cross product), :meth:`from_lengths` on an intrinsic one (area by Kahan's Heron formula).

    The policy (see :data:`manifold_nets.conventions.DEGENERATE_FACE_POLICY`)
        * a face is **degenerate** when ``area <= tol · (longest edge)²`` (``tol`` defaults
          to :data:`DEGENERATE_TOL` ``= 1e-12``); this includes faces with a repeated vertex
          or a zero-length edge and faces with collinear vertices;
        * cotangents are ``cot_k = (l²_{k+1} + l²_{k+2} − l²_k) / (4 area)`` on every other
          face and **exactly 0 on degenerate faces** (a degenerate face has no stiffness: it
          contributes nothing to any Laplacian or gradient);
        * angles are ``α_k = atan2(4 area, l²_{k+1} + l²_{k+2} − l²_k)`` (accurate for thin
          triangles, ``(0, 0, π)`` for three collinear distinct points); a corner with a
          zero-length side has no angle and the undefined corners of a face share what is
          left of ``π`` equally, so every face's angles sum to ``π``;
        * areas are never altered (a degenerate face keeps its tiny true area in mass
          matrices, so ``1ᵀ M 1`` is still the surface area).
    """

    __slots__ = ("l2", "area", "degenerate", "normal", "_cot", "_angles")

    def __init__(self, l2: np.ndarray, area: np.ndarray, tol: float = DEGENERATE_TOL):
        self.normal = None  # (nF, 3) unnormalised normals (length 2·area), embedded meshes only
        self.l2 = np.asarray(l2, dtype=np.float64)
        self.area = np.asarray(area, dtype=np.float64)
        tol = tol if tol is DEGENERATE_TOL else check_nonnegative(tol, "degenerate_tol")
        self.degenerate = self.area <= tol * self.l2.max(axis=1, initial=0.0)
        self._cot = None
        self._angles = None

    @classmethod
    def from_vertices(cls, V: np.ndarray, F: np.ndarray, tol: float = DEGENERATE_TOL) -> FaceGeometry:
        """Measure an embedded mesh: squared lengths of the edge vectors, area from ``|e1 × e2| / 2``."""
        p0, p1, p2 = V[F[:, 0]], V[F[:, 1]], V[F[:, 2]]
        e0, e1, e2 = p2 - p1, p0 - p2, p1 - p0
        l2 = np.stack([np.einsum("ij,ij->i", e0, e0), np.einsum("ij,ij->i", e1, e1),
                       np.einsum("ij,ij->i", e2, e2)], axis=1)
        c = np.cross(e1, e2)
        area = 0.5 * np.sqrt(np.einsum("ij,ij->i", c, c))
        geom = cls(l2, area, tol)
        geom.normal = c
        return geom

    @classmethod
    def from_lengths(cls, l: np.ndarray, tol: float = DEGENERATE_TOL) -> FaceGeometry:
        """Measure an intrinsic mesh given by (checked) edge lengths ``(nF, 3)``."""
        l = np.asarray(l, dtype=np.float64)
        return cls(l * l, areas_from_lengths(l), tol)

    def _num(self) -> np.ndarray:
        l2 = self.l2
        return l2[:, [1, 2, 0]] + l2[:, [2, 0, 1]] - l2  # 2 l_{k+1} l_{k+2} cos α_k

    @property
    def cot(self) -> np.ndarray:
        """Corner cotangents ``(nF, 3)``; exactly 0 on degenerate faces (read-only)."""
        if self._cot is None:
            ok = ~self.degenerate
            inv = np.divide(0.25, self.area, out=np.zeros_like(self.area), where=ok)
            cot = self._num() * inv[:, None]
            cot[~ok] = 0.0  # also clears 0 · inf / nan from non-finite lengths
            cot.flags.writeable = False
            self._cot = cot
        return self._cot

    @property
    def angles(self) -> np.ndarray:
        """Corner angles ``(nF, 3)`` in radians (read-only)."""
        if self._angles is None:
            alpha = np.arctan2(4.0 * self.area[:, None], self._num())
            l2 = self.l2
            undefined = (l2[:, [1, 2, 0]] <= 0) | (l2[:, [2, 0, 1]] <= 0)
            alpha = fill_undefined_angles(alpha, undefined)
            alpha.flags.writeable = False
            self._angles = alpha
        return self._angles


def fill_undefined_angles(alpha: np.ndarray, undefined: np.ndarray) -> np.ndarray:
    """Give undefined corner angles (a zero-length side) an equal share of what is left of π."""
    if undefined.any():
        alpha = alpha.copy()
        rows = undefined.any(axis=1)
        a = alpha[rows]
        u = undefined[rows]
        rest = np.pi - np.where(u, 0.0, a).sum(axis=1)
        share = np.maximum(rest, 0.0) / u.sum(axis=1)
        alpha[rows] = np.where(u, share[:, None], a)
    return alpha


def cotangents_from_angles(alpha: np.ndarray, tol: float = DEGENERATE_TOL) -> np.ndarray:
    """The kernel's cotangents when only corner angles are known (same degenerate policy).

    By the law of sines ``area / (longest edge)² = sin α₀ sin α₁ sin α₂ / (2 max_k sin² α_k)``,
    so a face is degenerate exactly when :class:`FaceGeometry` would call it degenerate (up to
    rounding); its cotangents are 0, the others ``cos α / sin α``.
    """
    alpha = np.asarray(alpha, dtype=np.float64)
    s = np.sin(alpha)
    s = np.where(s > 0, s, 0.0)
    prod = s.prod(axis=1)
    degenerate = prod <= 2.0 * float(tol) * (s * s).max(axis=1)
    cot = np.divide(np.cos(alpha), s, out=np.zeros_like(alpha), where=s > 0)
    cot[degenerate] = 0.0
    return cot


def degenerate_mask(l: np.ndarray, areas: np.ndarray, tol: float = DEGENERATE_TOL) -> np.ndarray:
    """Faces whose area is at most ``tol * (longest edge)²`` (includes repeated vertices)."""
    return FaceGeometry(np.asarray(l) ** 2, areas, tol).degenerate


def cotangents_from_lengths(l: np.ndarray, areas: np.ndarray | None = None,
                            tol: float = DEGENERATE_TOL) -> np.ndarray:
    """Corner cotangents ``(nF, 3)`` of the kernel (0 on degenerate faces), from edge lengths."""
    l = np.asarray(l, dtype=np.float64)
    geom = FaceGeometry(l * l, areas_from_lengths(l) if areas is None else areas, tol)
    return geom.cot.copy()


def angles_from_lengths(l: np.ndarray, areas: np.ndarray | None = None) -> np.ndarray:
    """Corner angles ``(nF, 3)`` of the kernel, from edge lengths."""
    l = np.asarray(l, dtype=np.float64)
    geom = FaceGeometry(l * l, areas_from_lengths(l) if areas is None else areas)
    return geom.angles.copy()


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
    has_loop = bool(loop.any())
    if has_loop:
        key = key[~loop]
    # np.unique(return_inverse, return_counts) spelled out: one sort, no second pass (on a
    # 162-vertex mesh the helper's own overhead was half of this function's time)
    face_edge = np.full(loop.shape[0], -1, dtype=np.int64)
    if key.size:
        order = np.argsort(key, kind="stable")
        sk = key[order]
        first = np.empty(sk.size, dtype=bool)
        first[0] = True
        np.not_equal(sk[1:], sk[:-1], out=first[1:])
        inv = np.empty(sk.size, dtype=np.int64)
        inv[order] = np.cumsum(first) - 1
        starts = np.flatnonzero(first)
        uniq = sk[starts]
        counts = np.diff(np.append(starts, sk.size))
        if has_loop:
            face_edge[~loop] = inv
        else:
            face_edge = inv
    else:
        uniq = key
        counts = np.zeros(0, dtype=np.int64)
    E = np.empty((uniq.size, 2), dtype=np.int64)
    np.floor_divide(uniq, n_vertices, out=E[:, 0])
    np.subtract(uniq, E[:, 0] * np.int64(n_vertices), out=E[:, 1])
    return E, face_edge.reshape(-1, 3), counts


def edge_length_table(lengths: np.ndarray, edges) -> np.ndarray:
    """Length of every undirected edge ``(nE,)`` from per-corner lengths ``(nF, 3)`` (column
    ``c`` opposite corner ``c``) and the :func:`unique_edges` table ``edges`` of the faces.

    Each edge's length is taken from its first corner in column order (corner 0 of every face,
    then corner 1, then 2), where two faces could disagree by a rounding or a mollification.
    """
    E, face_edge, _ = edges
    fe, ln = face_edge.T.ravel(), lengths.T.ravel()
    ok = np.flatnonzero(fe >= 0)[::-1]  # written in reverse: the first corner's length wins
    ell = np.empty(len(E))
    ell[fe[ok]] = ln[ok]
    return ell


def boundary_vertex_mask(F: np.ndarray, n_vertices: int, edges=None) -> np.ndarray:
    """``True`` for vertices on an edge that has exactly one face (``edges``: the
    :func:`unique_edges` of ``F`` when already at hand)."""
    E, _, counts = unique_edges(F, n_vertices) if edges is None else edges
    mask = np.zeros(n_vertices, dtype=bool)
    mask[E[counts == 1].ravel()] = True
    return mask


def vertex_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Angle-weighted unit vertex normals ``(nV, 3)``; isolated vertices get ``(0, 0, 1)``."""
    ang = FaceGeometry.from_vertices(V, F).angles
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
