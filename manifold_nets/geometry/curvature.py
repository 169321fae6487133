"""Discrete curvature: Gaussian (angle defect), mean (from ``L V``), principal (shape-operator fit).

Sign conventions (outward normals, counter-clockwise faces): a convex surface has positive
Gaussian and positive mean curvature; the unit sphere has ``K = 1``, ``H = 1``,
``κ₁ = κ₂ = 1``.  ``H`` is the *average* ``(κ₁ + κ₂) / 2``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import MeshShapeError
from ._checked import CheckedMesh, accepts_mesh, check_mesh, require_checked
from ._common import FaceGeometry, boundary_vertex_mask, unique_edges
from ._common import vertex_normals as _vertex_normals

__all__ = ["angle_defect", "gaussian_curvature", "mean_curvature", "principal_curvatures"]


@accepts_mesh
def angle_defect(V, F) -> np.ndarray:
    """Integrated Gaussian curvature per vertex ``(nV,)``.

    ``2π − Σ angles`` at interior vertices, ``π − Σ angles`` at boundary vertices (the turning
    of the boundary, so that the discrete Gauss–Bonnet theorem ``Σ K = 2π χ`` holds for
    surfaces with boundary too).  Unreferenced vertices get 0.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64

    Returns
    -------
    K : (nV,) float64

    Examples
    --------
    >>> from manifold_nets.shapes import tetrahedron
    >>> angle_defect(*tetrahedron()).round(6)   # 2π − 3·(π/3) = π at each corner
    array([3.141593, 3.141593, 3.141593, 3.141593])
    """
    return _angle_defect(check_mesh(V, F))


def _angle_defect(mesh: CheckedMesh) -> np.ndarray:
    """Kernel of :func:`angle_defect` on a checked mesh (no validation)."""
    V, F = require_checked(mesh)
    nV = V.shape[0]
    ang = FaceGeometry.from_vertices(V, F).angles  # the one triangle kernel
    total = np.bincount(F.ravel(), ang.ravel(), minlength=nV)
    used = np.bincount(F.ravel(), minlength=nV) > 0
    full = np.where(boundary_vertex_mask(F, nV), np.pi, 2 * np.pi)
    return np.where(used, full - total, 0.0)


@accepts_mesh
def gaussian_curvature(V, F, *, pointwise: bool = True, mass=None) -> np.ndarray:
    """Gaussian curvature per vertex.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    pointwise : bool
        ``True`` (default): angle defect divided by the vertex area (``K`` in 1/length²);
        ``False``: the integrated angle defect (:func:`angle_defect`).
    mass : (nV,) float64, optional
        Vertex areas to divide by (default the mixed Voronoi areas, Meyer et al. 2003).

    Returns
    -------
    K : (nV,) float64
        Vertices with zero area get 0.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> K = gaussian_curvature(*icosphere(3))
    >>> bool(abs(K.mean() - 1) < 0.01)
    True
    """
    from .mass import _mass_matrix

    mesh = check_mesh(V, F)
    K = _angle_defect(mesh)
    if not pointwise:
        return K
    m = _mass_matrix(mesh, "voronoi").diagonal() if mass is None else np.asarray(mass, dtype=np.float64)
    if m.shape != K.shape:
        raise MeshShapeError(f"mass: expected shape {K.shape} (got {m.shape})")
    return np.divide(K, m, out=np.zeros_like(K), where=m > 0)


def _floats(x, name: str, what: str) -> np.ndarray:
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MeshShapeError(f"{name}: expected {what} (got {type(x).__name__}: {exc})") from None


@accepts_mesh
def mean_curvature(V, F, *, L=None, M=None, normals=None) -> np.ndarray:
    """Signed mean curvature ``H = (κ₁ + κ₂)/2`` from the mean-curvature normal ``M⁻¹ L V = 2 H n``.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    L, M : sparse, optional
        Laplacian and lumped mass to use (default cotan and mixed Voronoi, which makes
        ``M⁻¹ L V`` converge pointwise; the barycentric mass does not at irregular vertices).
    normals : (nV, 3) float64, optional
        Orientation of the sign (default angle-weighted vertex normals).

    Returns
    -------
    H : (nV,) float64
        Positive on convex parts with outward normals.  At boundary vertices ``L V`` also
        contains the boundary's curvature, so values there are not the mean curvature.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> H = mean_curvature(*icosphere(3, radius=2.0))
    >>> bool(np.allclose(H, 0.5, rtol=0.02))
    True
    """
    from .laplacian import _cotan_laplacian
    from .mass import _mass_matrix

    mesh = check_mesh(V, F)
    V, F = mesh
    nV = V.shape[0]
    if L is None:
        L = _cotan_laplacian(mesh)
    elif not (sp.issparse(L) or isinstance(L, np.ndarray)) or L.shape != (nV, nV):
        raise MeshShapeError(f"L: expected an ({nV}, {nV}) matrix (got {type(L).__name__} of shape {np.shape(L)})")
    if M is None:
        m = _mass_matrix(mesh, "voronoi").diagonal()
    elif sp.issparse(M) or (isinstance(M, np.ndarray) and M.ndim == 2):
        if M.shape != (nV, nV):
            raise MeshShapeError(f"M: expected an ({nV}, {nV}) lumped mass matrix or ({nV},) masses (got shape {M.shape})")
        m = M.diagonal()
    else:
        m = _floats(M, "M", f"an ({nV}, {nV}) lumped mass matrix or ({nV},) masses").reshape(-1)
        if m.shape != (nV,):
            raise MeshShapeError(f"M: expected an ({nV}, {nV}) lumped mass matrix or ({nV},) masses (got shape {np.shape(M)})")
    m = np.asarray(m, dtype=np.float64)
    if not np.isfinite(m).all():
        raise MeshShapeError("M: expected finite masses (got NaN/inf)")
    Hn = L @ V
    if not np.isfinite(Hn).all():
        raise MeshShapeError("L: expected finite entries (got NaN/inf)")
    Hn = np.divide(Hn, m[:, None], out=np.zeros_like(Hn), where=m[:, None] > 0)
    if normals is None:
        n = _vertex_normals(V, F)
    else:
        n = _floats(normals, "normals", f"({nV}, 3) vertex normals")
        if n.shape != (nV, 3) or not np.isfinite(n).all():
            raise MeshShapeError(f"normals: expected finite ({nV}, 3) vertex normals (got shape {n.shape})")
    H = 0.5 * np.linalg.norm(Hn, axis=1)
    return np.where(np.einsum("ij,ij->i", Hn, n) < 0, -H, H)


@accepts_mesh
def principal_curvatures(V, F, *, normals=None, rings: int = 2):
    """Principal curvatures and directions from a per-vertex quadratic height-field fit.

    At each vertex ``i``, the neighbours ``p_j`` within ``rings`` edge rings are written in the
    vertex frame ``(t₁, t₂, n_i)`` as ``(x, y, z)`` and the height field
    ``z ≈ d x + e y + ½ (a x² + 2 b xy + c y²)`` is fitted by least squares (the linear terms
    absorb the error of the vertex normal); the principal curvatures are the eigenvalues of
    ``−[[a, b], [b, c]]``.  Fully vectorised (batched 5×5 normal equations).

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    normals : (nV, 3) float64, optional
        Unit vertex normals fixing the sign (default angle-weighted).
    rings : int
        Neighbourhood size, 1 or 2 (default 2, which always has enough points).

    Returns
    -------
    k1, k2 : (nV,) float64
        Principal curvatures, ``k1 >= k2``; positive where the surface bends away from the
        normal (convex with outward normals).
    d1, d2 : (nV, 3) float64
        Unit principal directions in the tangent plane, ``d2 = n × d1``.  Vertices whose
        neighbourhood cannot determine a quadric get zeros.

    Examples
    --------
    >>> from manifold_nets.shapes import torus
    >>> k1, k2, d1, d2 = principal_curvatures(*torus(48, 24, R=1.0, r=0.25))
    >>> bool(np.allclose(k1, 4.0, rtol=0.08))   # around the tube: 1/r (second-order error)
    True
    """
    import scipy.sparse as sp

    V, F = check_mesh(V, F)
    nV = V.shape[0]
    if rings not in (1, 2):
        raise MeshShapeError(f"rings: expected 1 or 2 (got {rings!r})")
    n = _vertex_normals(V, F) if normals is None else np.asarray(normals, dtype=np.float64)
    if n.shape != V.shape:
        raise MeshShapeError(f"normals: expected shape {V.shape} (got {n.shape})")
    axis = np.eye(3)[np.argmin(np.abs(n), axis=1)]
    t1 = axis - np.einsum("ij,ij->i", axis, n)[:, None] * n
    t1 /= np.linalg.norm(t1, axis=1, keepdims=True)
    t2 = np.cross(n, t1)
    E, _, _ = unique_edges(F, nV)
    A = sp.csr_matrix((np.ones(2 * len(E)), (np.r_[E[:, 0], E[:, 1]], np.r_[E[:, 1], E[:, 0]])), shape=(nV, nV))
    if rings == 2:
        A = sp.csr_matrix(A + A @ A)
    A = sp.coo_matrix(A)
    keep = A.row != A.col
    src, dst = A.row[keep].astype(np.int64), A.col[keep].astype(np.int64)
    dp = V[dst] - V[src]
    x = np.einsum("ij,ij->i", dp, t1[src])
    y = np.einsum("ij,ij->i", dp, t2[src])
    z = np.einsum("ij,ij->i", dp, n[src])
    # Scale the columns per vertex for conditioning: h = mean neighbour distance.
    h = np.sqrt(np.bincount(src, x * x + y * y, nV) / np.maximum(np.bincount(src, minlength=nV), 1))
    h = np.where(h > 0, h, 1.0)
    xs, ys = x / h[src], y / h[src]
    basis = np.stack([xs, ys, 0.5 * xs * xs, xs * ys, 0.5 * ys * ys], axis=1)  # (nE2, 5)
    AtA = np.zeros((nV, 5, 5))
    Atz = np.zeros((nV, 5))
    for p in range(5):
        Atz[:, p] = np.bincount(src, basis[:, p] * z, nV)
        for q in range(p, 5):
            AtA[:, p, q] = AtA[:, q, p] = np.bincount(src, basis[:, p] * basis[:, q], nV)
    tr = np.trace(AtA, axis1=1, axis2=2)
    ok = (np.bincount(src, minlength=nV) >= 5) & (tr > 0)
    AtA[ok] += (1e-10 * tr[ok])[:, None, None] * np.eye(5)
    AtA[~ok] = np.eye(5)
    coef = np.linalg.solve(AtA, Atz[:, :, None])[:, :, 0]
    # Undo the scaling: second derivatives carry 1/h².
    a, b, c = (coef[:, 2:] / (h * h)[:, None]).T
    S = -np.stack([np.stack([a, b], -1), np.stack([b, c], -1)], -2)
    w, U = np.linalg.eigh(S)  # ascending
    k2, k1 = w[:, 0], w[:, 1]
    d1 = U[:, 0, 1:2] * t1 + U[:, 1, 1:2] * t2
    d1 /= np.maximum(np.linalg.norm(d1, axis=1, keepdims=True), 1e-300)
    k1, k2 = np.where(ok, k1, 0.0), np.where(ok, k2, 0.0)
    d1[~ok] = 0.0
    d2 = np.cross(n, d1)
    return k1, k2, d1, d2
