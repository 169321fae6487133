"""The discrete Levi-Civita connection: transport angles, connection Laplacian, holonomy.

For a directed edge ``(i, j)`` the transport angle ``ρ_ij = φ_ij − φ_ji + π`` carries a tangent
vector at ``j``, in ``j``'s gauge, to ``i``'s gauge: ``z_i = e^{i ρ_ij} z_j`` (see
:mod:`manifold_nets.conventions` and :mod:`manifold_nets.geometry.frames`).  It is the rotation
that makes the unfolded fans of ``i`` and ``j`` agree along their common edge, so ``ρ_ji = −ρ_ij``
(mod 2π) and all angles are intrinsic: every function has a variant taking edge lengths
``(nF, 3)`` instead of vertex positions.

Moving a vector along the edge ``i → j`` therefore multiplies it by ``e^{i ρ_ji}``; the
**holonomy** of a closed loop ``v_0 → v_1 → … → v_0`` is ``Σ_t ρ_{v_{t+1} v_t}`` wrapped to
``(−π, π]``: the counter-clockwise rotation a vector suffers when carried once around.  Around a
single face ``(a, b, c)`` of a manifold mesh it equals ``Σ_{corners} s_v α_v − π`` (``s_v = 2π/Θ_v``
at interior vertices, 1 at boundary ones), the rescaled angle excess of the face; summed over
a closed mesh these give ``2π χ`` (discrete Gauss–Bonnet).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import MeshError, MeshShapeError
from ._checked import CheckedMesh, accepts_mesh, check_mesh, require_checked
from ._common import FaceGeometry, cotangents_from_angles
from ._common import check_lengths as _check_lengths_common
from ._intrinsic import Fans, wrap_angle
from .frames import _check_gauge

__all__ = [
    "transport_angles",
    "transport_angles_from_lengths",
    "connection_laplacian",
    "connection_laplacian_from_lengths",
    "cotan_edge_weights",
    "holonomy",
    "face_holonomy",
    "face_angle_excess",
    "transport_vector",
]


def _fans(mesh: CheckedMesh) -> tuple[Fans, np.ndarray, FaceGeometry]:
    V, F = require_checked(mesh)
    geom = FaceGeometry.from_vertices(V, F)
    return Fans(F, geom.angles, V.shape[0]), F, geom


def _fans_lengths(F, lengths, n_vertices):
    L, F, nV = _check_lengths_common(lengths, F, n_vertices)
    geom = FaceGeometry.from_lengths(L)
    return Fans(F, geom.angles, nV), F, geom


def _transport(fans: Fans, gauge) -> tuple[np.ndarray, np.ndarray]:
    g = _check_gauge(gauge, fans.nV)
    rho = fans.transport()
    if g is not None:
        rho = wrap_angle(rho - g[fans.edges[:, 0]] + g[fans.edges[:, 1]])
    return fans.edges.copy(), rho


@accepts_mesh
def transport_angles(V, F, *, gauge=None) -> tuple[np.ndarray, np.ndarray]:
    """Transport angle of every directed edge.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    gauge : (nV,) float64, optional
        Work in frames rotated by these angles (``ρ_ij − g_i + g_j``).

    Returns
    -------
    edges : (m, 2) int64
        Directed edges ``(i, j)``, both directions of every mesh edge, sorted
        lexicographically (the same rows as :func:`~manifold_nets.geometry.frames.halfedge_angles`).
    angles : (m,) float64
        ``ρ_ij`` in ``(−π, π]``: ``z_i = e^{i ρ_ij} z_j`` carries a vector at ``j`` (``j``'s
        gauge) to ``i``'s gauge.

    Examples
    --------
    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(4)
    >>> edges, rho = transport_angles(V, F)
    >>> rev = {tuple(e): r for e, r in zip(edges.tolist(), rho)}
    >>> bool(np.allclose([rev[(i, j)] + rev[(j, i)] for i, j in edges.tolist()], 0))
    True
    """
    fans, _, _ = _fans(check_mesh(V, F))
    return _transport(fans, gauge)


def transport_angles_from_lengths(F, lengths, n_vertices: int | None = None, *, gauge=None):
    """:func:`transport_angles` of an intrinsic mesh given by edge lengths ``(nF, 3)``."""
    fans, _, _ = _fans_lengths(F, lengths, n_vertices)
    return _transport(fans, gauge)


def cotan_edge_weights(F, alpha, edges, n_vertices: int, *, cot=None) -> np.ndarray:
    """Cotan weight ``w_ij = (cot α + cot β) / 2`` of each row of ``edges`` (symmetric).

    ``cot`` are the corner cotangents ``(nF, 3)`` of the triangle kernel
    (:class:`~manifold_nets.geometry._common.FaceGeometry`); when omitted they are computed
    from the corner angles ``alpha`` ``(nF, 3)`` with the kernel's degenerate-face policy
    (:func:`~manifold_nets.geometry._common.cotangents_from_angles`: degenerate faces, of
    relative area ``<= 1e-12``, contribute 0).  Either way the weights are those of
    :func:`~manifold_nets.geometry.cotan_laplacian` (exactly with ``cot``, up to rounding
    from angles), so ``w_ij = −L[i, j]``.
    """
    nV = int(n_vertices)
    cot = cotangents_from_angles(alpha) if cot is None else np.asarray(cot, dtype=np.float64)
    rows, cols, vals = [], [], []
    for c in range(3):
        i, j = F[:, (c + 1) % 3], F[:, (c + 2) % 3]
        rows += [i, j]
        cols += [j, i]
        vals += [0.5 * cot[:, c], 0.5 * cot[:, c]]
    W = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(nV, nV)
    ).tocsr()
    W.sum_duplicates()
    return np.asarray(W[edges[:, 0], edges[:, 1]]).ravel()


def _connection_laplacian(fans, F, geom, gauge, weights):
    edges, rho = _transport(fans, gauge)
    nV = fans.nV
    w = cotan_edge_weights(F, geom.angles, edges, nV, cot=geom.cot)
    if weights == "positive":
        w = np.maximum(w, 0.0)
    elif weights != "cotan":
        raise MeshError(f"weights: expected 'cotan' or 'positive' (got {weights!r})")
    off = sp.csr_matrix((-w * np.exp(1j * rho), (edges[:, 0], edges[:, 1])), shape=(nV, nV))
    diag = np.bincount(edges[:, 0], weights=w, minlength=nV)
    L = (off + sp.diags(diag.astype(np.complex128))).tocsr()
    L.sort_indices()
    return L


@accepts_mesh
def connection_laplacian(V, F, *, gauge=None, weights: str = "cotan") -> sp.csr_matrix:
    """The connection (vector) Laplacian on complex tangent vectors, ``(nV, nV) complex128`` CSR.

    ``L[i, j] = −w_ij e^{i ρ_ij}`` for each edge and ``L[i, i] = Σ_j w_ij``, so that
    ``zᴴ L z = Σ_{edges} w_ij |z_i − e^{i ρ_ij} z_j|²`` (the weak form of ``−Δ∇``, positive
    semidefinite like every Laplacian here).

    Parameters
    ----------
    weights : {"cotan", "positive"}
        ``"cotan"`` uses the cotan weights; the matrix is always Hermitian and it is PSD when
        the weights are non-negative (e.g. a Delaunay mesh).  ``"positive"`` clips negative
        weights to zero, which guarantees PSD at some cost in accuracy.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> L = connection_laplacian(*icosphere(1))
    >>> L.shape, L.dtype, abs(L - L.conj().T).max() < 1e-12
    ((42, 42), dtype('complex128'), np.True_)
    """
    fans, F, geom = _fans(check_mesh(V, F))
    return _connection_laplacian(fans, F, geom, gauge, weights)


def connection_laplacian_from_lengths(F, lengths, n_vertices: int | None = None, *, gauge=None,
                                      weights: str = "cotan") -> sp.csr_matrix:
    """:func:`connection_laplacian` of an intrinsic mesh given by edge lengths ``(nF, 3)``."""
    fans, F, geom = _fans_lengths(F, lengths, n_vertices)
    return _connection_laplacian(fans, F, geom, gauge, weights)


def _loop_edges(loop, edges, nV, closed=True):
    p = np.asarray(loop, dtype=np.int64).ravel()
    if p.size < 2:
        raise MeshShapeError(f"loop: expected at least 2 vertices (got {p.size})")
    if (p < 0).any() or (p >= nV).any():
        k = int(np.flatnonzero((p < 0) | (p >= nV))[0])
        raise MeshShapeError(f"loop: expected vertex indices in [0, {nV}) (got {int(p[k])} at position {k})")
    if closed and p[0] != p[-1]:
        p = np.append(p, p[0])
    key = edges[:, 0] * nV + edges[:, 1]
    # moving from a to b multiplies by e^{i rho_ba}: look up rows (b, a)
    q = p[1:] * nV + p[:-1]
    pos = np.searchsorted(key, q)
    posc = np.minimum(pos, key.size - 1)
    hit = (pos < key.size) & (key[posc] == q)
    if not hit.all():
        k = int(np.flatnonzero(~hit)[0])
        raise MeshError(
            f"loop: expected consecutive vertices to share a mesh edge "
            f"(got ({int(p[k])}, {int(p[k + 1])}) at position {k}, which is not an edge)"
        )
    return posc


def _connection(V, F, connection):
    """``(edges, rho, n_vertices)`` from a precomputed ``connection`` or from the mesh."""
    if connection is None:
        mesh = check_mesh(V, F)
        edges, rho = _transport(_fans(mesh)[0], None)
        return edges, rho, mesh.n_vertices
    edges, rho = (np.asarray(a) for a in connection)
    return edges, rho, (int(edges.max()) + 1 if V is None else np.asarray(V).shape[0])


@accepts_mesh
def holonomy(V, F, loop, *, connection=None) -> float:
    """Holonomy angle of a closed vertex loop, in ``(−π, π]``.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    loop : (k,) int
        Vertices ``v_0, v_1, …``; consecutive ones must share an edge.  The loop is closed
        back to ``v_0`` if the last vertex is not ``v_0``.
    connection : tuple (edges, angles), optional
        Precomputed :func:`transport_angles` (e.g. of an intrinsic mesh).

    Returns
    -------
    float
        The counter-clockwise rotation of a vector carried once around the loop.  It is
        gauge-invariant.  On a manifold, a loop that goes counter-clockwise (seen from the
        normal side) around a region encloses curvature equal to this angle (mod 2π).

    Examples
    --------
    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(4)
    >>> abs(holonomy(V, F, [5, 6, 10, 9])) < 1e-12          # flat: no rotation
    True
    """
    edges, rho, nV = _connection(V, F, connection)
    rows = _loop_edges(loop, edges, nV, closed=True)
    return float(wrap_angle(rho[rows].sum()))


@accepts_mesh
def face_holonomy(V, F, *, connection=None) -> np.ndarray:
    """Holonomy ``(nF,)`` of the loop ``F[f, 0] → F[f, 1] → F[f, 2] → F[f, 0]`` of every face.

    Computed from the transport angles (faces whose sides are not all edges, i.e. degenerate
    faces with a repeated vertex, get 0).  Compare :func:`face_angle_excess`.
    """
    mesh = check_mesh(V, F)
    V, F = mesh
    nV = V.shape[0]
    edges, rho = _transport(_fans(mesh)[0], None) if connection is None else connection
    key = edges[:, 0] * nV + edges[:, 1]
    tot = np.zeros(F.shape[0])
    ok = np.ones(F.shape[0], dtype=bool)
    for c in range(3):
        a, b = F[:, c], F[:, (c + 1) % 3]
        q = b * nV + a
        pos = np.searchsorted(key, q)
        posc = np.minimum(pos, key.size - 1)
        hit = (pos < key.size) & (key[posc] == q)
        ok &= hit
        tot += np.where(hit, rho[posc], 0.0)
    return np.where(ok, wrap_angle(tot), 0.0)


@accepts_mesh
def face_angle_excess(V, F) -> np.ndarray:
    """Closed form of the face holonomy: ``Σ_c s_{F[f, c]} α_{f, c} − π`` ``(nF,)``.

    ``s_v = 2π / Θ_v`` at interior vertices and 1 at boundary vertices.  Summed over a closed
    manifold mesh this is ``2π χ`` up to rounding (each interior vertex contributes ``2π``).
    """
    fans, F, geom = _fans(check_mesh(V, F))
    return (geom.angles * fans.scale[F]).sum(axis=1) - np.pi


@accepts_mesh
def transport_vector(V, F, path, z, *, connection=None) -> complex:
    """Parallel-transport a tangent vector along a vertex path.

    Parameters
    ----------
    path : (k,) int
        Vertices ``v_0 … v_{k−1}``; consecutive ones must share an edge.
    z : complex
        Tangent vector at ``v_0`` in ``v_0``'s gauge.
    connection : tuple (edges, angles), optional
        Precomputed :func:`transport_angles` (gauge changes included).

    Returns
    -------
    complex
        The vector at ``v_{k−1}`` in ``v_{k−1}``'s gauge: ``z · exp(i Σ_t ρ_{v_{t+1} v_t})``.

    Examples
    --------
    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(4)
    >>> z = transport_vector(V, F, [5, 6, 10, 9, 5], 1 + 2j)     # around a closed loop
    >>> bool(np.isclose(z, 1 + 2j))
    True
    """
    edges, rho, nV = _connection(V, F, connection)
    p = np.asarray(path, dtype=np.int64).ravel()
    if p.size == 1:
        return complex(z)
    rows = _loop_edges(p, edges, nV, closed=False)
    return complex(np.asarray(z, dtype=np.complex128) * np.exp(1j * rho[rows].sum()))
