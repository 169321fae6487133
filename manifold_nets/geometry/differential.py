"""Gradients and divergence: the per-face FEM gradient and the per-vertex tangent gradient.

* :func:`face_gradient` ``G`` (``3nF × nV``) maps vertex values of a piecewise-linear function
  to its constant gradient on each face; rows are ordered **x-components of all faces, then
  y, then z** (row ``f + d·nF`` holds component ``d`` of face ``f``).  With ``A`` the
  face areas repeated three times, ``L = Gᵀ diag(A) G`` is the cotan Laplacian.
* :func:`divergence` is the adjoint ``−Gᵀ diag(A)`` (integrated, weak divergence), so that
  ``divergence @ face_gradient == −L`` (``div ∘ grad = Δ``, and ``L ≈ M(−Δ)``).
* :func:`vertex_gradient` is the per-vertex tangent-plane gradient used by DiffusionNet: at
  each vertex a least-squares fit of ``u_j − u_i ≈ ⟨∇u_i, e_ij⟩`` over the one-ring edges
  ``e_ij`` expressed in the vertex frame, returned as one complex matrix in the vertex gauge
  (:data:`~manifold_nets.conventions.TANGENT_VECTOR_TYPE`): ``(G u)_i = ∂_x u + i ∂_y u``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import MeshShapeError
from ._checked import CheckedMesh, accepts_mesh, check_mesh, require_checked
from ._common import DEGENERATE_TOL, FaceGeometry, unique_edges

__all__ = ["face_gradient", "divergence", "face_areas", "vertex_gradient", "vertex_gradient_xy"]


@accepts_mesh
def face_areas(V, F) -> np.ndarray:
    """Triangle areas ``(nF,)`` float64.

    Examples
    --------
    >>> from manifold_nets.shapes import triangle
    >>> face_areas(*triangle())
    array([0.5])
    """
    V, F = check_mesh(V, F)
    c = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    return 0.5 * np.linalg.norm(c, axis=1)


def _face_gradient(V, F, degenerate_tol):
    nV, nF = V.shape[0], F.shape[0]
    # Degenerate faces and areas from the one triangle kernel, as in cotan_laplacian, so that
    # Gᵀ diag(A) G equals it on every mesh (degenerate faces: zero rows, zero area).
    geom = FaceGeometry.from_vertices(V, F, degenerate_tol)
    ok = ~geom.degenerate
    c = geom.normal  # (p1 − p0) × (p2 − p0), length 2·area
    dbl = 2.0 * geom.area
    e = np.stack([V[F[:, 2]] - V[F[:, 1]], V[F[:, 0]] - V[F[:, 2]], V[F[:, 1]] - V[F[:, 0]]], axis=1)
    n = np.zeros_like(c)
    n[ok] = c[ok] / dbl[ok, None]
    inv = np.zeros(nF)
    inv[ok] = 1.0 / dbl[ok]
    # grad φ_k = (n × e_k) / (2A), e_k the edge opposite corner k.
    g = np.cross(n[:, None, :], e) * inv[:, None, None]  # (nF, 3 corners, 3 dims)
    rows = (np.arange(nF)[:, None, None] + nF * np.arange(3)[None, None, :]).repeat(3, axis=1)
    cols = np.broadcast_to(F[:, :, None], (nF, 3, 3))
    G = sp.csr_matrix((g.ravel(), (rows.ravel(), cols.ravel())), shape=(3 * nF, nV))
    G.sum_duplicates()
    return G, geom.area * ok


@accepts_mesh
def face_gradient(V, F, *, degenerate_tol: float = DEGENERATE_TOL, return_areas: bool = False):
    """Per-face gradient of piecewise-linear functions.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    degenerate_tol : float
        Faces with ``area <= degenerate_tol * longest_edge²`` get zero rows (their gradient is
        undefined), and zero area in ``areas``.
    return_areas : bool
        Also return the face areas ``(nF,)`` used in ``L = Gᵀ diag(A,A,A) G``.

    Returns
    -------
    G : (3 nF, nV) float64 csr_matrix
        Row ``f + d·nF`` is component ``d`` (x, y, z) of the gradient on face ``f``.
    areas : (nF,) float64
        Only with ``return_areas=True``.

    Examples
    --------
    The gradient of ``u = x + 2y`` on the unit right triangle:

    >>> from manifold_nets.shapes import triangle
    >>> V, F = triangle()
    >>> (face_gradient(V, F) @ (V[:, 0] + 2 * V[:, 1])).round(12) + 0.0
    array([1., 2., 0.])
    """
    V, F = check_mesh(V, F)
    G, A = _face_gradient(V, F, degenerate_tol)
    return (G, A) if return_areas else G


@accepts_mesh
def divergence(V, F, *, degenerate_tol: float = DEGENERATE_TOL) -> sp.csr_matrix:
    """Integrated divergence of per-face vector fields, the adjoint ``−Gᵀ diag(A,A,A)``.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64

    Returns
    -------
    D : (nV, 3 nF) float64 csr_matrix
        Takes a face field stacked like :func:`face_gradient`'s output (all x, all y, all z)
        to integrated vertex values; ``D @ G == −L`` (cotan Laplacian).

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> from manifold_nets.geometry import cotan_laplacian
    >>> V, F = icosphere(1)
    >>> float(abs(divergence(V, F) @ face_gradient(V, F) + cotan_laplacian(V, F)).max()) < 1e-12
    True
    """
    V, F = check_mesh(V, F)
    G, A = _face_gradient(V, F, degenerate_tol)
    return sp.csr_matrix(-(G.T @ sp.diags(np.tile(A, 3))))


def _check_frames(frames, nV):
    try:
        normals, x_axes, y_axes = frames
    except (TypeError, ValueError) as exc:
        raise MeshShapeError(
            f"frames: expected a tuple (normals, x_axes, y_axes) of (nV, 3) arrays (got {type(frames).__name__})"
        ) from exc
    out = []
    for name, a in (("normals", normals), ("x_axes", x_axes), ("y_axes", y_axes)):
        a = np.asarray(a, dtype=np.float64)
        if a.shape != (nV, 3):
            raise MeshShapeError(f"{name}: expected shape ({nV}, 3) (got {a.shape})")
        if not np.isfinite(a).all():
            raise MeshShapeError(f"{name}: expected finite values (got NaN/inf)")
        out.append(a)
    return out


def _tangent_gradient_coeffs(V, F, x_axes, y_axes, ridge):
    nV = V.shape[0]
    E, _, _ = unique_edges(F, nV)
    src = np.concatenate([E[:, 0], E[:, 1]])
    dst = np.concatenate([E[:, 1], E[:, 0]])
    d = V[dst] - V[src]
    a = np.einsum("ij,ij->i", d, x_axes[src])
    b = np.einsum("ij,ij->i", d, y_axes[src])
    saa = np.bincount(src, a * a, nV)
    sab = np.bincount(src, a * b, nV)
    sbb = np.bincount(src, b * b, nV)
    reg = ridge * 0.5 * (saa + sbb)
    p, q, r = saa + reg, sab, sbb + reg
    det = p * r - q * q
    ok = det > 0
    inv_det = np.divide(1.0, det, out=np.zeros(nV), where=ok)
    # Row i of the normal-equation inverse applied to each edge vector (a, b).
    cx = (r[src] * a - q[src] * b) * inv_det[src]
    cy = (p[src] * b - q[src] * a) * inv_det[src]
    return src, dst, cx, cy


@accepts_mesh
def vertex_gradient_xy(V, F, frames=None, *, ridge: float = 1e-8) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Per-vertex tangent gradient as two real matrices ``(grad_x, grad_y)`` (DiffusionNet's layout).

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
        The one-ring of vertex ``i`` is the set of vertices sharing an edge with it.
    frames : tuple of three (nV, 3) float64, optional
        ``(normals, x_axes, y_axes)``; default :func:`manifold_nets.geometry.frames.tangent_frames`.
    ridge : float
        Tikhonov regularisation of each 2×2 least-squares system, relative to its mean
        eigenvalue (keeps vertices with collinear neighbours finite).  ``0`` gives the exact
        least-squares fit; ``1e-8`` (default) changes results by about that relative amount.

    Returns
    -------
    grad_x, grad_y : (nV, nV) float64 csr_matrix
        ``(grad_x @ u)[i]`` is the derivative of ``u`` along ``x_axes[i]`` at ``i``.
        Vertices without two independent neighbours get a zero row.

    Examples
    --------
    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(4)
    >>> frames = (np.tile([0., 0, 1], (16, 1)), np.tile([1., 0, 0], (16, 1)), np.tile([0., 1, 0], (16, 1)))
    >>> gx, gy = vertex_gradient_xy(V, F, frames, ridge=0)
    >>> bool(np.allclose(gx @ (3 * V[:, 0] - V[:, 1]), 3)), bool(np.allclose(gy @ (3 * V[:, 0] - V[:, 1]), -1))
    (True, True)
    """
    G = _vertex_gradient(check_mesh(V, F), frames, ridge=ridge)
    return sp.csr_matrix(G.real), sp.csr_matrix(G.imag)


@accepts_mesh
def vertex_gradient(V, F, frames=None, *, ridge: float = 1e-8) -> sp.csr_matrix:
    """Per-vertex tangent gradient, complex in the vertex gauge.

    Parameters
    ----------
    V, F, frames, ridge
        See :func:`vertex_gradient_xy`.

    Returns
    -------
    G : (nV, nV) complex128 csr_matrix
        ``(G @ u)[i] = ∂u/∂x_i + 1j ∂u/∂y_i``: the gradient of ``u`` at ``i`` as a tangent
        vector in ``i``'s gauge.  Sparsity: the diagonal plus both directions of every edge.

    Examples
    --------
    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(3)
    >>> frames = (np.tile([0., 0, 1], (9, 1)), np.tile([0., 1, 0], (9, 1)), np.tile([-1., 0, 0], (9, 1)))
    >>> (vertex_gradient(V, F, frames, ridge=0) @ V[:, 0])[4].round(12)
    np.complex128(-1j)
    """
    return _vertex_gradient(check_mesh(V, F), frames, ridge=ridge)


def _vertex_gradient(mesh: CheckedMesh, frames=None, *, ridge: float = 1e-8) -> sp.csr_matrix:
    """Kernel of :func:`vertex_gradient` on a checked mesh (validates only ``frames`` and ``ridge``)."""
    V, F = require_checked(mesh)
    nV = V.shape[0]
    if frames is None:
        from .frames import _tangent_frames

        frames = _tangent_frames(mesh)
    _, x_axes, y_axes = _check_frames(frames, nV)
    ridge = float(ridge)
    if not ridge >= 0:
        raise MeshShapeError(f"ridge: expected a non-negative number (got {ridge})")
    src, dst, cx, cy = _tangent_gradient_coeffs(V, F, x_axes, y_axes, ridge)
    coef = cx + 1j * cy
    diag = -(np.bincount(src, cx, nV) + 1j * np.bincount(src, cy, nV))
    ar = np.arange(nV)
    G = sp.csr_matrix(
        (np.concatenate([coef, diag]), (np.concatenate([src, ar]), np.concatenate([dst, ar]))),
        shape=(nV, nV),
    )
    G.sum_duplicates()
    return G
