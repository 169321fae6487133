"""Mass matrices: lumped barycentric (the default), mixed Voronoi, and the full FEM mass.

All three integrate the constant function exactly: ``1ᵀ M 1`` is the surface area.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..conventions import DEFAULT_MASS
from ..errors import MeshShapeError
from ._checked import CheckedMesh, accepts_mesh, check_mesh, require_checked
from ._common import FaceGeometry, check_lengths

__all__ = ["mass_matrix", "mass_matrix_from_lengths", "vertex_areas", "MASS_KINDS"]

#: Accepted values of ``kind``.
MASS_KINDS = ("barycentric", "voronoi", "full")


def _corner_areas(geom: FaceGeometry, kind: str) -> np.ndarray:
    """Per-corner areas from the one triangle kernel (areas, cotangents, degenerate policy)."""
    A = geom.area
    if kind == "barycentric":
        return np.repeat(A[:, None] / 3.0, 3, axis=1)
    # Mixed Voronoi (Meyer, Desbrun, Schröder & Barr 2003).
    cot = geom.cot
    l2 = geom.l2
    vor = 0.125 * (l2[:, [1, 2, 0]] * cot[:, [1, 2, 0]] + l2[:, [2, 0, 1]] * cot[:, [2, 0, 1]])
    # Obtuse test on the law of cosines: corner k is obtuse iff l_k² > l_{k+1}² + l_{k+2}².
    obtuse = l2 > l2[:, [1, 2, 0]] + l2[:, [2, 0, 1]]
    any_obtuse = obtuse.any(axis=1)
    out = np.where(any_obtuse[:, None], np.where(obtuse, A[:, None] / 2.0, A[:, None] / 4.0), vor)
    # Degenerate faces (kernel policy: no angles, no cotangents) keep their tiny area, split in
    # three, so that 1ᵀ M 1 is the surface area on every mesh.
    out[geom.degenerate] = (A[geom.degenerate] / 3.0)[:, None]
    return out


def mass_matrix_from_lengths(
    l, F, n_vertices: int | None = None, *, kind: str = DEFAULT_MASS
) -> sp.csr_matrix:
    """Mass matrix from edge lengths (intrinsic).

    Parameters
    ----------
    l : (nF, 3) float64
        Edge lengths; column ``k`` is the edge opposite corner ``k``.
    F : (nF, 3) int64
        Triangles.
    n_vertices : int, optional
        Number of vertices (default ``F.max() + 1``); unreferenced vertices get zero mass.
    kind : {"barycentric", "voronoi", "full"}
        ``"barycentric"``: ``M_ii = Σ area/3`` (diagonal).  ``"voronoi"``: mixed Voronoi areas
        (diagonal; obtuse triangles split ½, ¼, ¼).  ``"full"``: the Galerkin mass of linear
        elements, ``M_ij = Σ area/12`` on edges and ``M_ii = Σ area/6``.

    Returns
    -------
    M : (nV, nV) float64 csr_matrix
        Symmetric; diagonal for the lumped kinds.

    Raises
    ------
    MeshShapeError
        Unknown ``kind`` or bad ``l``.

    Examples
    --------
    >>> from manifold_nets.shapes import flat_torus_lengths
    >>> l, F = flat_torus_lengths(4, 4)
    >>> round(float(mass_matrix_from_lengths(l, F).sum()), 12)
    1.0
    """
    if kind not in MASS_KINDS:
        raise MeshShapeError(f"kind: expected one of {MASS_KINDS} (got {kind!r})")
    l, F, n = check_lengths(l, F, n_vertices)
    return _assemble(FaceGeometry.from_lengths(l), F, n, kind)


def _assemble(geom: FaceGeometry, F: np.ndarray, n: int, kind: str) -> sp.csr_matrix:
    if kind == "full":
        A = geom.area
        I = F[:, [1, 2, 0]].ravel()
        J = F[:, [2, 0, 1]].ravel()
        off = np.repeat(A / 12.0, 3)
        diag = np.bincount(F.ravel(), np.repeat(A / 6.0, 3), minlength=n)
        ar = np.arange(n)
        M = sp.csr_matrix(
            (np.concatenate([off, off, diag]), (np.concatenate([I, J, ar]), np.concatenate([J, I, ar]))),
            shape=(n, n),
        )
        M.sum_duplicates()
        return M
    m = np.bincount(F.ravel(), _corner_areas(geom, kind).ravel(), minlength=n)
    return diagonal_csr(m)


def diagonal_csr(m: np.ndarray) -> sp.csr_matrix:
    """The diagonal matrix ``diag(m)`` as a csr_matrix with an explicit entry per row."""
    n = m.shape[0]
    ar = np.arange(n + 1, dtype=np.int64)
    return sp.csr_matrix((np.asarray(m, dtype=np.float64), ar[:n].copy(), ar), shape=(n, n))


@accepts_mesh
def mass_matrix(V, F, kind: str = DEFAULT_MASS) -> sp.csr_matrix:
    """Mass matrix of a triangle mesh.

    Parameters
    ----------
    V : (nV, 3) float64
        Vertex positions.
    F : (nF, 3) int64
        Triangles.
    kind : {"barycentric", "voronoi", "full"}
        See :func:`mass_matrix_from_lengths`.  Default: lumped barycentric.

    Returns
    -------
    M : (nV, nV) float64 csr_matrix

    Examples
    --------
    >>> from manifold_nets.shapes import triangle
    >>> mass_matrix(*triangle()).diagonal().round(4)
    array([0.1667, 0.1667, 0.1667])
    >>> mass_matrix(*triangle(), kind="voronoi").diagonal()
    array([0.25 , 0.125, 0.125])
    """
    if kind not in MASS_KINDS:
        raise MeshShapeError(f"kind: expected one of {MASS_KINDS} (got {kind!r})")
    return _mass_matrix(check_mesh(V, F), kind)


def _mass_matrix(mesh: CheckedMesh, kind: str = DEFAULT_MASS) -> sp.csr_matrix:
    """Kernel of :func:`mass_matrix` on a checked mesh (``kind`` checked by the caller)."""
    V, F = require_checked(mesh)
    # embedded: areas from the cross product (exact for slivers), same kernel as from lengths
    return _assemble(FaceGeometry.from_vertices(V, F), F, V.shape[0], kind)


@accepts_mesh
def vertex_areas(V, F, kind: str = "barycentric") -> np.ndarray:
    """Diagonal of a lumped mass matrix as a vector ``(nV,)`` float64.

    Examples
    --------
    >>> from manifold_nets.shapes import tetrahedron
    >>> bool(np.allclose(vertex_areas(*tetrahedron()), 2 * np.sqrt(3)))
    True
    """
    if kind == "full":
        raise MeshShapeError("kind: expected a lumped kind, 'barycentric' or 'voronoi' (got 'full')")
    return mass_matrix(V, F, kind).diagonal()
