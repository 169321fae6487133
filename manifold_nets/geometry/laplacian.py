"""Laplacians in the positive semidefinite weak form ``L ≈ M(−Δ)`` (see :mod:`manifold_nets.conventions`).

* :func:`cotan_laplacian_from_lengths` is the intrinsic cotan Laplacian (edge lengths only);
  :func:`cotan_laplacian` is a thin wrapper that measures the lengths of an embedded mesh, so
  anything built from it is invariant under isometries by construction.
* :func:`robust_laplacian` is the intrinsic-Delaunay Laplacian of the tufted cover (Sharp &
  Crane 2020), computed by the ``robust_laplacian`` package; it works on non-manifold meshes,
  soups and degenerate triangles.
* :func:`point_cloud_laplacian` and :func:`graph_laplacian` complete the family.

Cotangents come from the one triangle kernel shared by every operator
(:class:`~manifold_nets.geometry._common.FaceGeometry`): faces with
``area <= 1e-12 · longest_edge²`` contribute nothing (see :mod:`manifold_nets.conventions`).
The cotan Laplacian is PSD on every mesh, with or without the ``clamp_cot`` sliver guard.

Every matrix is ``scipy.sparse.csr_matrix`` float64, symmetric, with ``L @ 1 = 0``.
"""

from __future__ import annotations

import importlib
import re

import numpy as np
import scipy.sparse as sp

from ..errors import DegenerateFaceError, MeshShapeError, MissingDependencyError, SolverError
from ..validation import as_vertices
from ._checked import CheckedMesh, accepts_mesh, check_mesh, require_checked, warn_user
from ._common import (
    DEGENERATE_TOL,
    FaceGeometry,
    check_lengths,
    check_nonnegative,
    faces_and_count,
    unique_edges,
)
from ._common import edge_lengths as _edge_lengths

__all__ = [
    "cotan_laplacian",
    "cotan_laplacian_from_lengths",
    "robust_laplacian",
    "point_cloud_laplacian",
    "graph_laplacian",
    "edge_lengths",
]


def _assemble_from_cot(cot: np.ndarray, F: np.ndarray, n: int) -> sp.csr_matrix:
    """Assemble ``L`` from per-corner cotangents (weight of the edge opposite corner ``k``)."""
    nF = F.shape[0]
    itype = np.int32 if n < 2**31 - 1 else np.int64
    W = 0.5 * cot
    m = 3 * nF
    rows = np.empty(2 * m + n, dtype=itype)
    cols = np.empty(2 * m + n, dtype=itype)
    data = np.empty(2 * m + n)
    for k in range(3):  # edge opposite corner k joins F[:, k+1] and F[:, k+2]
        a, b = F[:, (k + 1) % 3], F[:, (k + 2) % 3]
        rows[k * nF : (k + 1) * nF] = a
        cols[k * nF : (k + 1) * nF] = b
        rows[m + k * nF : m + (k + 1) * nF] = b
        cols[m + k * nF : m + (k + 1) * nF] = a
        data[k * nF : (k + 1) * nF] = -W[:, k]
    data[m : 2 * m] = data[:m]
    rows[2 * m :] = np.arange(n, dtype=itype)
    cols[2 * m :] = rows[2 * m :]
    data[2 * m :] = -np.bincount(rows[: 2 * m], data[: 2 * m], n)
    L = sp.csr_matrix((data, (rows, cols)), shape=(n, n))
    L.sum_duplicates()
    return L


def cotan_laplacian_from_lengths(
    l,
    F,
    n_vertices: int | None = None,
    *,
    clamp_cot: float | None = None,
    degenerate_tol: float = DEGENERATE_TOL,
) -> sp.csr_matrix:
    """Intrinsic cotan Laplacian from edge lengths.

    Parameters
    ----------
    l : (nF, 3) float64
        Edge lengths; ``l[f, k]`` is the edge opposite corner ``k`` of face ``f``.
    F : (nF, 3) int64
        Triangles.
    n_vertices : int, optional
        Number of vertices (default ``F.max() + 1``); unreferenced vertices get an empty row
        with an explicit zero diagonal.
    clamp_cot : float, optional
        **Sliver guard** (e.g. ``1e5``): on every face whose largest ``|cot|`` exceeds
        ``clamp_cot``, the three cotangents are multiplied together by
        ``clamp_cot / max |cot|``.  Every weight a face contributes is then at most
        ``clamp_cot / 2`` in magnitude, and since each face's 3×3 stiffness is only scaled by a
        positive factor (``cot₀cot₁ + cot₁cot₂ + cot₂cot₀ = 1`` keeps holding up to that
        factor²), ``L`` stays positive semidefinite with ``L @ 1 = 0``.  (Clipping each
        cotangent on its own, as before, broke that identity and made ``L`` indefinite on cap
        triangles.)  Default: no clamping.
    degenerate_tol : float
        Faces with ``area <= degenerate_tol * longest_edge²`` are degenerate and contribute
        nothing (the one policy of :class:`~manifold_nets.geometry._common.FaceGeometry`,
        shared by every operator).

    Returns
    -------
    L : (nV, nV) float64 csr_matrix
        Symmetric positive semidefinite on every mesh (a sum of per-face PSD stiffness
        matrices; off-diagonal entries are non-positive only on Delaunay meshes),
        ``L[i, j] = −(cot α + cot β)/2``, ``L @ 1 = 0``.  The sparsity pattern is always the diagonal plus both directions of
        every edge (explicit zeros are kept), so ``L.nnz == nV + 2 nE``.

    Raises
    ------
    MeshShapeError, NonFiniteError, FaceIndexError, DegenerateFaceError
        ``DegenerateFaceError`` when lengths violate the triangle inequality.

    Examples
    --------
    >>> from manifold_nets.shapes import flat_torus_lengths
    >>> l, F = flat_torus_lengths(4, 4)
    >>> L = cotan_laplacian_from_lengths(l, F)
    >>> L.shape, float(abs(L @ np.ones(16)).max()) < 1e-12
    ((16, 16), True)
    """
    l, F, n = check_lengths(l, F, n_vertices)
    cot = FaceGeometry.from_lengths(l, degenerate_tol).cot
    return _assemble_from_cot(_clamp_cot(cot, clamp_cot), F, n)


def _clamp_cot(cot: np.ndarray, clamp_cot: float | None) -> np.ndarray:
    """Scale each face's three cotangents together so that ``max |cot| <= clamp_cot``."""
    if clamp_cot is None:
        return cot
    try:
        c = float("nan") if isinstance(clamp_cot, (str, bool, np.bool_)) else float(clamp_cot)
    except (TypeError, ValueError):
        c = float("nan")
    if not c > 0:
        raise MeshShapeError(f"clamp_cot: expected a positive number or None (got {clamp_cot!r})")
    big = np.abs(cot).max(axis=1)
    over = big > c
    if not over.any():
        return cot
    out = cot.copy()
    out[over] *= (c / big[over])[:, None]
    return out


@accepts_mesh
@accepts_mesh
def cotan_laplacian(
    V,
    F,
    *,
    clamp_cot: float | None = None,
    degenerate_tol: float = DEGENERATE_TOL,
) -> sp.csr_matrix:
    """Cotan Laplacian of a triangle mesh (PSD weak form ``L ≈ M(−Δ)``).

    Parameters
    ----------
    V : (nV, 3) float64
        Vertex positions.
    F : (nF, 3) int64
        Triangles.
    clamp_cot, degenerate_tol
        Sliver guard (keeps ``L`` PSD) and degenerate-face threshold, see
        :func:`cotan_laplacian_from_lengths`.

    Returns
    -------
    L : (nV, nV) float64 csr_matrix
        ``L[i, j] = −(cot α_ij + cot β_ij)/2`` for every edge, ``L[i, i] = −Σ_j L[i, j]``.

    Raises
    ------
    MeshShapeError, NonFiniteError, FaceIndexError, EmptyMeshError

    Examples
    --------
    One right triangle with legs 1: the hypotenuse is opposite the right angle (cot = 0), each
    leg is opposite a 45° angle (cot = 1), so its weight is 1/2.

    >>> from manifold_nets.shapes import triangle
    >>> V, F = triangle()
    >>> cotan_laplacian(V, F).toarray().round(12) + 0.0
    array([[ 1. , -0.5, -0.5],
           [-0.5,  0.5,  0. ],
           [-0.5,  0. ,  0.5]])
    """
    return _cotan_laplacian(check_mesh(V, F), clamp_cot=clamp_cot, degenerate_tol=degenerate_tol)


def _cotan_laplacian(mesh: CheckedMesh, *, clamp_cot: float | None = None,
                     degenerate_tol: float = DEGENERATE_TOL) -> sp.csr_matrix:
    """Kernel of :func:`cotan_laplacian` on a checked mesh (no validation)."""
    V, F = require_checked(mesh)
    # The one triangle kernel (cross-product areas on an embedded mesh), as in every operator.
    cot = FaceGeometry.from_vertices(V, F, degenerate_tol).cot
    return _assemble_from_cot(_clamp_cot(cot, clamp_cot), F, V.shape[0])


def _robust_backend():
    try:
        return importlib.import_module("robust_laplacian")
    except ImportError as exc:
        raise MissingDependencyError(
            "optional dependency 'robust_laplacian' is needed for the robust Laplacian; "
            "run: pip install robust-laplacian"
        ) from exc


def _symmetric_csr(A) -> sp.csr_matrix:
    """csr view of a symmetric matrix; a csc matrix is reinterpreted without copying (Aᵀ = A)."""
    if sp.issparse(A) and A.format == "csc":
        return sp.csr_matrix((A.data.astype(np.float64, copy=False), A.indices, A.indptr), shape=A.shape)
    return sp.csr_matrix(A, dtype=np.float64)


def _to_csr_psd(L, M, F=None) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    L = _symmetric_csr(L)
    M = _symmetric_csr(M)
    if F is not None:
        # The backend puts 1 on the diagonal of L (and a tiny mass) at unreferenced vertices;
        # this library's convention is an empty row (explicit zero diagonal) and zero mass.
        unref = np.bincount(F.ravel(), minlength=L.shape[0]) == 0
        if unref.any():
            d = sp.diags(np.where(unref, 0.0, 1.0))
            L = sp.csr_matrix(d @ L @ d)
            L = sp.csr_matrix(L + sp.diags(np.zeros(L.shape[0])))  # keep the diagonal in the pattern
            M = sp.csr_matrix(sp.diags(np.where(unref, 0.0, M.diagonal())))
    # robust_laplacian already returns the PSD weak form (positive diagonal); verify the sign
    # instead of trusting it, since a sign flip would silently invert every spectrum.
    d = L.diagonal()
    if d.size and d.min() < 0 and d.max() <= 0:
        L = -L
    if not (np.isfinite(L.data).all() and np.isfinite(M.data).all()):
        raise SolverError("robust Laplacian: expected finite entries (got NaN/inf from the backend)")
    return L, M


@accepts_mesh
def robust_laplacian(V, F, *, mollify_factor: float = 1e-5) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Intrinsic-Delaunay Laplacian of the tufted cover and its lumped mass (any triangle mesh).

    Works on non-manifold meshes, soups, degenerate and duplicate triangles (Sharp & Crane,
    *A Laplacian for Nonmanifold Triangle Meshes*, 2020).  Backend: the ``robust_laplacian``
    package; its Laplacian is already in this library's PSD convention (checked on return).

    Parameters
    ----------
    V : (nV, 3) float64
        Vertex positions.
    F : (nF, 3) int64
        Triangles (any connectivity).
    mollify_factor : float
        Intrinsic mollification, relative to the mean edge length (``0`` disables it).

    Returns
    -------
    L : (nV, nV) float64 csr_matrix
        Symmetric positive semidefinite, ``L @ 1 = 0``; non-negative edge weights.
    M : (nV, nV) float64 csr_matrix
        Diagonal lumped (barycentric on the intrinsic Delaunay mesh) mass.  Unreferenced
        vertices get an empty row of ``L`` and zero mass, as with :func:`cotan_laplacian`.

    Raises
    ------
    MeshShapeError, NonFiniteError, FaceIndexError, SolverError

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> L, M = robust_laplacian(*icosphere(1))
    >>> L.shape, bool(abs(L - L.T).max() < 1e-12), round(float(M.sum()), 1)
    ((42, 42), True, 11.7)
    """
    return _robust_laplacian(check_mesh(V, F), mollify_factor=mollify_factor)


def _robust_laplacian(mesh: CheckedMesh, *, mollify_factor: float = 1e-5) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Kernel of :func:`robust_laplacian` on a checked mesh (no validation)."""
    V, F = require_checked(mesh)
    rl = _robust_backend()
    mollify_factor = check_nonnegative(mollify_factor, "mollify_factor")
    L, M = rl.mesh_laplacian(V, F, mollify_factor=mollify_factor)
    try:
        return _to_csr_psd(L, M, F)
    except SolverError:
        if not (_edge_lengths(V, F) > 0).any():  # every face collapsed to a point: bad input
            raise DegenerateFaceError(
                f"V, F: expected some edge of positive length for the robust Laplacian (got all "
                f"{F.shape[0]} faces collapsed to a single point)") from None
        raise


def point_cloud_laplacian(
    P, *, n_neighbors: int = 30, mollify_factor: float = 1e-5
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Laplacian and lumped mass of a point cloud (tufted cover of local Delaunay triangulations).

    Parameters
    ----------
    P : (nP, 3) float64
        Points.
    n_neighbors : int
        Neighbours used for each local triangulation.
    mollify_factor : float
        Intrinsic mollification, relative to the mean edge length.

    Returns
    -------
    L, M : (nP, nP) float64 csr_matrix
        PSD Laplacian and diagonal mass.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> L, M = point_cloud_laplacian(icosphere(2)[0], n_neighbors=12)
    >>> L.shape, bool(abs(L @ np.ones(162)).max() < 1e-10)
    ((162, 162), True)
    """
    P = as_vertices(P, name="P")
    if P.shape[0] < 4:
        raise MeshShapeError(f"P: expected at least 4 points (got {P.shape[0]})")
    mollify_factor = check_nonnegative(mollify_factor, "mollify_factor")
    _require_spread(P)
    k = int(n_neighbors)
    if k < 3:
        raise MeshShapeError(f"n_neighbors: expected an integer >= 3 (got {n_neighbors})")
    if k > P.shape[0] - 1:
        warn_user(
            f"point_cloud_laplacian: n_neighbors reduced from {k} to {P.shape[0] - 1}: a point has "
            f"only {P.shape[0] - 1} other points", RuntimeWarning)
        k = P.shape[0] - 1
    rl = _robust_backend()
    try:
        L, M = rl.point_cloud_laplacian(P, mollify_factor=mollify_factor, n_neighbors=k)
    except RuntimeError as exc:
        # geometry-central asserts when a local Delaunay triangulation leaves a point without a
        # triangle: its neighbours are (nearly) collinear or coincident with it
        m = re.search(r"unreferenced vertex (\d+)", str(exc))
        if "GC_SAFETY_ASSERT" not in str(exc) or m is None:
            raise SolverError(f"point cloud Laplacian: expected the backend to triangulate every "
                              f"neighbourhood (got: {str(exc).splitlines()[0]})") from exc
        i = int(m.group(1))
        raise MeshShapeError(
            f"P: expected points sampling a surface (got point {i}, {P[i].tolist()}, whose neighbours "
            "are (nearly) collinear or coincident with it, so its local triangulation is empty)") from None
    return _to_csr_psd(L, M)


#: Relative thickness below which a point cloud counts as collinear (second singular value of the
#: centred points at most this fraction of the first).
COLLINEAR_RTOL = 1e-9


def _require_spread(P: np.ndarray) -> None:
    """Refuse a point cloud whose points all coincide or lie on one line (O(n): the 3×3
    covariance); a surface cannot be triangulated from them."""
    X = P - P.mean(axis=0)
    sv = np.sqrt(np.maximum(np.linalg.eigvalsh(X.T @ X), 0.0))[::-1]
    if not sv[0] > 0:
        raise MeshShapeError(f"P: expected points sampling a surface (got all {P.shape[0]} points at "
                             f"{P[0].tolist()})")
    if sv[1] <= COLLINEAR_RTOL * sv[0]:
        raise MeshShapeError(f"P: expected points sampling a surface (got all {P.shape[0]} points on one "
                             f"line, thickness {sv[1] / sv[0]:.2g} of the length)")


def graph_laplacian(F, n_vertices: int | None = None, *, normalized: bool = False) -> sp.csr_matrix:
    """Combinatorial Laplacian ``D − A`` of the edge graph of ``F`` (no geometry).

    Parameters
    ----------
    F : (nF, 3) int64
        Triangles.
    n_vertices : int, optional
        Number of vertices (default ``F.max() + 1``, which must then be at most ``3 nF``: pass
        ``n_vertices`` for a mesh with many unreferenced vertices; a stray huge index raises
        :class:`~manifold_nets.errors.FaceIndexError` instead of allocating gigabytes).
    normalized : bool
        Return the symmetric normalised Laplacian ``I − D^{-1/2} A D^{-1/2}`` instead
        (isolated vertices get a zero row).

    Returns
    -------
    L : (nV, nV) float64 csr_matrix

    Examples
    --------
    >>> from manifold_nets.shapes import tetrahedron
    >>> graph_laplacian(tetrahedron()[1]).toarray()[0]
    array([ 3., -1., -1., -1.])
    """
    F, n = faces_and_count(F, n_vertices)
    E, _, _ = unique_edges(F, n)
    ones = np.ones(len(E))
    A = sp.csr_matrix(
        (np.concatenate([ones, ones]), (np.concatenate([E[:, 0], E[:, 1]]), np.concatenate([E[:, 1], E[:, 0]]))),
        shape=(n, n),
    )
    deg = np.asarray(A.sum(axis=1)).ravel()
    if normalized:
        s = np.divide(1.0, np.sqrt(deg), out=np.zeros_like(deg), where=deg > 0)
        Dm = sp.diags(s)
        return sp.csr_matrix(sp.diags((deg > 0).astype(float)) - Dm @ A @ Dm)
    return sp.csr_matrix(sp.diags(deg) - A)


@accepts_mesh
def edge_lengths(V, F) -> np.ndarray:
    """Edge lengths of each face, the input of the intrinsic constructors.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64

    Returns
    -------
    l : (nF, 3) float64
        ``l[f, k]`` is the length of the edge opposite corner ``k`` (from ``F[f, k+1]`` to
        ``F[f, k+2]``, indices mod 3).

    Examples
    --------
    >>> from manifold_nets.shapes import triangle
    >>> edge_lengths(*triangle()).round(4)
    array([[1.4142, 1.    , 1.    ]])
    """
    V, F = check_mesh(V, F)
    return _edge_lengths(V, F)
