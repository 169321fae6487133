r"""Mesh hierarchies for multiscale networks: decimated levels and the maps between them.

:func:`mesh_hierarchy` coarsens a triangle mesh with the quadric-error decimator of
`fast-simplification <https://github.com/pyvista/fast-simplification>`_ (a maintained library;
nothing here collapses edges by hand) and returns, per coarse level, its own ``(V, F)`` and two
sparse maps to the level above it:

* ``pool``  ``(n_coarse, n_fine)``: the mass-weighted mean of the fine vertices assigned to each
  coarse vertex (a fine vertex is assigned to its nearest coarse vertex; every coarse vertex also
  takes its nearest fine vertex, so no row is empty).  Rows sum to 1.
* ``unpool`` ``(n_fine, n_coarse)``: inverse-distance interpolation from the ``k`` nearest coarse
  vertices of every fine vertex (``k = 3``; weight ``1 / max(d, ε)``).  Rows sum to 1.

:func:`level_transport` gives, for every entry of such a map, the angle that carries tangent
vectors from the source vertex's gauge to the target vertex's gauge (the source plane turned onto
the target's by the smallest rotation between their normals), so that gauge
(irreps) features can be pooled and unpooled equivariantly.

What is guaranteed
------------------
The decimator's result depends on the order in which it visits faces and vertices.  The input is
therefore put in a canonical order first: vertices sorted lexicographically by their positions
snapped to a grid of ``2⁻³⁶`` × the (power-of-two rounded) bounding box size, faces relabelled,
each face rotated so its smallest canonical index comes first (orientation kept), and faces
sorted; the decimator receives the snapped positions.  So the coarse levels — positions, faces,
their order and numbering — are **identical** for any renumbering of the vertices, any face order
and any cyclic rotation of the corners of the input (and equal up to floating-point rounding for
inputs that differ by rounding, unless a coordinate falls on a grid boundary).  Vertices at the
*same* position are ordered by their index (the one case that is not renumbering-invariant).  The
maps are computed per fine vertex (nearest-neighbour queries into the canonical coarse level), so
they permute with the fine vertices; exact ties in distance (measure zero on generic meshes) are
resolved by the k-d tree.  Not guaranteed: invariance to rotations of the input in space (the
canonical order is by position, so a rotated mesh gets another, equally valid hierarchy) — in
:mod:`manifold_nets.nn` the mesh is normalised first, so translation and uniform scale do not
change the hierarchy.

Rules for meshes the decimator cannot coarsen: a level is coarsened only while it has at least
``min_vertices / ratio`` vertices, and only if the decimator returns a non-empty mesh with fewer
vertices.  Otherwise the level **repeats** the previous one with identity maps, so every mesh
has exactly ``levels`` coarse levels (a batch of meshes of any size then has the same depth).
Several components are decimated together (a small component may vanish; its fine vertices are
then pooled to the nearest remaining coarse vertex).

>>> from manifold_nets.shapes import icosphere
>>> V, F = icosphere(3)
>>> h = mesh_hierarchy(V, F, levels=2, ratio=0.25)
>>> [lev.V.shape[0] for lev in h]
[162, 42]
>>> bool(np.allclose(h[0].pool.sum(axis=1), 1) and np.allclose(h[0].unpool.sum(axis=1), 1))
True
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from ..errors import MeshShapeError
from ._checked import accepts_mesh, check_mesh

__all__ = ["MeshLevel", "mesh_hierarchy", "canonical_mesh_order", "pool_unpool_maps", "level_transport"]

#: Coarse levels keep at least this many vertices (see :func:`mesh_hierarchy`).
MIN_VERTICES = 12
#: Coarse vertices interpolated by the unpooling map.
UNPOOL_NEIGHBOURS = 3


class MeshLevel(NamedTuple):
    """One coarse level of a :func:`mesh_hierarchy`.

    Attributes
    ----------
    V, F : (n, 3) float64, (m, 3) int64
        The coarse mesh.
    pool : scipy csr (n, n_fine)
        Mass-weighted mean of the fine vertices assigned to each coarse vertex; rows sum to 1.
    unpool : scipy csr (n_fine, n)
        Interpolation of the coarse values at the fine vertices; rows sum to 1.
    assign : (n_fine,) int64
        The nearest coarse vertex of every fine vertex.
    decimated : bool
        ``False`` when the level repeats the previous one (identity maps), see the module rules.
    """

    V: np.ndarray
    F: np.ndarray
    pool: sp.csr_matrix
    unpool: sp.csr_matrix
    assign: np.ndarray
    decimated: bool


@accepts_mesh
def canonical_mesh_order(V, F) -> tuple[np.ndarray, np.ndarray]:
    """Vertex order and face array that depend only on the geometry, not on the file's order.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64

    Returns
    -------
    order : (nV,) int64
        ``V[order]`` is the canonical vertex order (lexicographic in snapped positions).
    F_canon : (nF, 3) int64
        Faces in canonical vertex indices, each rotated so its smallest index comes first
        (orientation kept), sorted lexicographically.
    """
    V, F = check_mesh(V, F, allow_empty_faces=True)
    return _canonical_mesh_order(V, F)


def _canonical_mesh_order(V: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`canonical_mesh_order` of arrays that are already checked."""
    if V.shape[0] == 0:
        return np.zeros(0, np.int64), F.reshape(0, 3)
    Q = np.round(V / _grid(V))
    order = np.lexsort((np.arange(V.shape[0]), Q[:, 2], Q[:, 1], Q[:, 0]))
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    Fc = rank[F]
    s = np.argmin(Fc, axis=1)
    Fc = np.take_along_axis(Fc, (np.arange(3)[None, :] + s[:, None]) % 3, axis=1)
    Fc = Fc[np.lexsort((Fc[:, 2], Fc[:, 1], Fc[:, 0]))]
    return order.astype(np.int64), Fc


def _grid(V) -> float:
    """The snapping grid: ``2⁻³⁶`` × the bounding box size rounded up to a power of two."""
    size = float(np.max(V.max(0) - V.min(0))) if V.shape[0] else 1.0
    size = size if size > 0 else 1.0
    return float(2.0 ** (np.ceil(np.log2(size)) - 36))


def _decimate(V, F, ratio: float):
    """One decimation step of the canonicalised mesh; ``None`` when it does not coarsen."""
    import fast_simplification

    order, Fc = _canonical_mesh_order(V, F)
    grid = _grid(V)
    Vc = np.ascontiguousarray(np.round(V[order] / grid) * grid)  # the snapped positions: bit-identical input
    try:
        Vd, Fd = fast_simplification.simplify(Vc, Fc.astype(np.int32), target_reduction=1.0 - ratio)
    except Exception as exc:  # the decimator rejects the mesh: no coarser level, and say so
        warnings.warn(f"mesh_hierarchy: fast_simplification refused a level of {V.shape[0]} vertices "
                      f"({type(exc).__name__}: {exc}); the level repeats the previous one (identity maps)",
                      RuntimeWarning, stacklevel=3)
        return None
    Vd = np.asarray(Vd, dtype=np.float64)
    Fd = np.asarray(Fd, dtype=np.int64).reshape(-1, 3)
    if Fd.shape[0] == 0 or Vd.shape[0] >= V.shape[0] or not np.isfinite(Vd).all():
        return None
    # drop degenerate faces (repeated index) and vertices no face uses
    Fd = Fd[(Fd[:, 0] != Fd[:, 1]) & (Fd[:, 1] != Fd[:, 2]) & (Fd[:, 2] != Fd[:, 0])]
    used = np.zeros(Vd.shape[0], bool)
    used[Fd.ravel()] = True
    if not used.all():
        remap = np.cumsum(used) - 1
        Vd, Fd = Vd[used], remap[Fd]
    if Fd.shape[0] == 0 or Vd.shape[0] < 4:
        return None
    return Vd, Fd


def pool_unpool_maps(V_fine, F_fine, V_coarse, *, k: int = UNPOOL_NEIGHBOURS, mass=None):
    """The pooling and unpooling maps between a fine mesh and a coarse point set.

    Parameters
    ----------
    V_fine : (n_f, 3) float64
    F_fine : (m, 3) int64
        For the lumped mass weights (checked, but otherwise unused when ``mass`` is given).
    V_coarse : (n_c, 3) float64
    k : int
        Coarse neighbours interpolated by ``unpool``.
    mass : (n_f,) float64, optional
        Weights of the fine vertices (default: lumped barycentric mass).

    Returns
    -------
    pool : scipy csr (n_c, n_f), rows sum to 1
    unpool : scipy csr (n_f, n_c), rows sum to 1
    assign : (n_f,) int64
        Nearest coarse vertex of each fine vertex.
    """
    from scipy.spatial import cKDTree

    from ..validation import as_vertices
    from .mass import mass_matrix

    Vf, F_fine = check_mesh(V_fine, F_fine)
    Vc = as_vertices(V_coarse, name="V_coarse")
    nf, nc = Vf.shape[0], Vc.shape[0]
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MeshShapeError(f"k: expected a positive integer number of coarse neighbours (got {k!r})")
    if mass is None:
        w = np.asarray(mass_matrix(Vf, F_fine).diagonal(), dtype=np.float64)
    else:
        try:
            w = np.asarray(mass, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise MeshShapeError(f"mass: expected ({nf},) vertex weights (got {type(mass).__name__}: {exc})") from None
        if w.shape != (nf,) or not (np.isfinite(w).all() and (w >= 0).all()):
            raise MeshShapeError(
                f"mass: expected ({nf},) finite non-negative vertex weights (got shape {np.shape(mass)})")
    # vertices without mass (unreferenced) still pool with a small weight, so rows stay non-empty
    w = np.where(w > 0, w, (w[w > 0].min() if (w > 0).any() else 1.0) * 1e-6)
    tree_c = cKDTree(Vc)
    kk = int(min(k, nc))
    d, idx = tree_c.query(Vf, k=kk)
    d, idx = d.reshape(nf, kk), idx.reshape(nf, kk)
    assign = idx[:, 0].astype(np.int64)
    # pooling: assigned fine vertices + the nearest fine vertex of every coarse vertex
    _, near_f = cKDTree(Vf).query(Vc, k=1)
    rows = np.concatenate([assign, np.arange(nc)])
    cols = np.concatenate([np.arange(nf), near_f.astype(np.int64)])
    P = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(nc, nf)).tocsr()
    P.data[:] = 1.0  # a pair listed twice counts once
    P = sp.csr_matrix(P @ sp.diags(w))
    P = sp.csr_matrix(sp.diags(1.0 / np.asarray(P.sum(axis=1)).ravel()) @ P)
    # unpooling: inverse distance to the k nearest coarse vertices
    scale = float(np.median(d[:, -1])) if nf else 1.0
    eps = 1e-9 * (scale if scale > 0 else 1.0)
    wu = 1.0 / np.maximum(d, eps)
    wu /= wu.sum(axis=1, keepdims=True)
    U = sp.csr_matrix((wu.ravel(), (np.repeat(np.arange(nf), kk), idx.ravel())), shape=(nf, nc))
    P.sort_indices()
    U.sort_indices()
    return P, U, assign


@accepts_mesh
def mesh_hierarchy(V, F, *, levels: int = 3, ratio: float = 0.25, min_vertices: int = MIN_VERTICES) -> list:
    """Coarse levels of a mesh by repeated quadric decimation, with pooling / unpooling maps.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    levels : int
        Number of coarse levels (``0``: an empty list).
    ratio : float in (0, 1)
        Fraction of the vertices kept per level (the decimator's ``target_reduction`` is
        ``1 − ratio`` of the faces).
    min_vertices : int
        A level is coarsened only while it has at least ``min_vertices / ratio`` vertices.

    Returns
    -------
    list of :class:`MeshLevel`
        ``levels`` entries, level ``l + 1`` mapping to level ``l`` (level 0 is the input).  A
        level that cannot be coarsened repeats the previous one with identity maps
        (``decimated=False``).  The result does not depend on the input's vertex numbering, face
        order or corner rotation (see the module notes).

    Raises
    ------
    MeshShapeError
        ``levels`` negative or ``ratio`` outside ``(0, 1)``.
    """
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 0:
        raise MeshShapeError(f"levels: expected a non-negative integer (got {levels!r})")
    ratio = float(ratio)
    if not (0.0 < ratio < 1.0):
        raise MeshShapeError(f"ratio: expected a fraction in (0, 1) (got {ratio})")
    V, F = check_mesh(V, F)
    out = []
    Vf, Ff = V, F
    for _ in range(int(levels)):
        step = _decimate(Vf, Ff, ratio) if Vf.shape[0] >= min_vertices / ratio else None
        if step is None:
            n = Vf.shape[0]
            eye = sp.identity(n, format="csr", dtype=np.float64)
            out.append(MeshLevel(Vf, Ff, eye, eye.copy(), np.arange(n, dtype=np.int64), False))
            continue
        Vc, Fc = step
        P, U, assign = pool_unpool_maps(Vf, Ff, Vc)
        out.append(MeshLevel(Vc, Fc, P, U, assign, True))
        Vf, Ff = Vc, Fc
    return out


def level_transport(rows, cols, normals_to, x_to, y_to, normals_from, x_from) -> np.ndarray:
    """Angles carrying tangent vectors from a source vertex's gauge to a target vertex's gauge.

    For every map entry ``(rows[e], cols[e])`` (target, source), the source tangent plane is
    turned onto the target's by the smallest rotation taking the source normal to the target
    normal (the discrete Levi-Civita transport between the two planes), and the angle of the
    turned source x axis is measured in the target frame: a tangent vector with complex
    coordinate ``z`` at the source has coordinate ``e^{i α} z`` at the target.  The rotation
    commutes with rotations about the normals, so under gauge changes ``g`` (targets) and ``h``
    (sources) ``α ← α − g_row + h_col`` exactly (up to rounding).  Opposite normals (a fold of
    180°) have no smallest rotation; there the angle is that of the source axis projected.

    Parameters
    ----------
    rows, cols : (m,) int64
    normals_to, x_to, y_to : (n_to, 3) float64
        Target frames.
    normals_from, x_from : (n_from, 3) float64
        Source normals and x axes.

    Returns
    -------
    alpha : (m,) float64
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    xs = np.asarray(x_from, dtype=np.float64)[cols]
    ns = np.asarray(normals_from, dtype=np.float64)[cols]
    nt = np.asarray(normals_to, dtype=np.float64)[rows]
    c = np.einsum("ij,ij->i", ns, nt)
    a = np.cross(ns, nt)
    ok = c > -1 + 1e-12
    den = np.where(ok, 1.0 + c, 1.0)
    # Rodrigues without normalising the axis: R v = c v + a × v + (a·v) a / (1 + c)
    Rx = c[:, None] * xs + np.cross(a, xs) + (np.einsum("ij,ij->i", a, xs) / den)[:, None] * a
    Rx = np.where(ok[:, None], Rx, xs - np.einsum("ij,ij->i", xs, nt)[:, None] * nt)
    return np.arctan2(np.einsum("ij,ij->i", Rx, np.asarray(y_to, np.float64)[rows]),
                      np.einsum("ij,ij->i", Rx, np.asarray(x_to, np.float64)[rows]))
