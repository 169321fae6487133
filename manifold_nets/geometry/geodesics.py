"""Geodesic distances: the heat method (prefactored, many sources at once), exact polyhedral
distances (MMP via libigl), graph (Dijkstra) distances and chunked distance matrices on disk.

The heat method (Crane, Weischedel & Wardetzky 2013)
----------------------------------------------------
1. diffuse: ``(M + t L) u = δ_S`` (one column per source, one Cholesky factorisation);
2. normalise: on every face ``X = −∇u / |∇u|``;
3. integrate: ``L φ = Gᵀ A X`` (the weak divergence of ``X``), then shift ``φ`` so that it is
   zero at the source (per connected component).

All three steps run on one triangulation with the FEM gradient ``G`` of its faces (laid out in
2D from edge lengths), ``L = Gᵀ A G`` (the cotan Laplacian, exactly adjoint to the divergence
and positive semidefinite whatever the signs of its weights) and the lumped barycentric mass.
With ``laplacian="robust"`` that triangulation is the **intrinsic Delaunay triangulation** of
the (intrinsically mollified) mesh, :func:`~manifold_nets.geometry.intrinsic_delaunay.intrinsic_delaunay`:
the same surface, with non-negative cotan weights, so skinny and obtuse triangles no longer
matter (what potpourri3d's ``use_robust`` does).  With ``"cotan"`` it is the input mesh.  The
default ``"auto"`` follows :func:`~manifold_nets.geometry.quality.laplacian_choice` (robust on
non-manifold, degenerate or poorly shaped meshes — which includes most scanned meshes).  The
Poisson system pins one vertex per component instead of adding a regulariser, so it is
positive definite by construction (no factorisation failure or CHOLMOD message on a valid
mesh).  On meshes with boundary the heat is the average of the Neumann and Dirichlet
solutions (Crane et al. §3.2).  Distances are ``inf`` in components that hold no source.

Time step: ``t = t_factor · h²`` with ``h`` the mean edge length of the triangulation used.
The default ``t_factor=None`` takes :data:`T_FACTOR_CLOSED` ``= 0.5`` on meshes without boundary
and :data:`T_FACTOR_BOUNDARY` ``= 1`` (the standard value of Crane et al., potpourri3d and
libigl) on meshes with boundary.  Chosen on the 17 TUNING meshes of
``tests/geometry/_geodesic_meshes.py`` (mean relative error vs exact, 4 sources, intrinsic
Delaunay, offset "source"): t = h²/2 was better on 12 of the 13 closed ones (mean 1.95 %
against 2.47 % at t = h²), t = h² on all 4 with boundary (1.38 % against 1.90 %; the Dirichlet
half of the boundary average needs the longer step).  The previous solver's t = h²/2 lost to
t = h² on meshes the project had never seen (issue 8); on the closed tuning meshes where it lost
too (teddy, the decimated armadillo and cheburashka: skinny triangles, whose noisy gradients on
the input faces a longer step smoothed) the intrinsic Delaunay gradients make t = h²/2 the
better step again on two of the three (1.12/1.58 % against 1.31/1.87 %; teddy 2.32 % against
2.16 %).  Reproduce with ``python -m tests.geometry.test_geodesic_accuracy --set tuning --grid``.

Accuracy, mean relative error against exact (MMP) distances, 4 random sources, on the 9
HELD-OUT meshes (no default was chosen on them; 4 clean scans, 1 with boundary and 4
quadric-decimated meshes with ~45 % obtuse faces): with the defaults 1.88 %; at equal settings
(t = h², intrinsic Delaunay) this solver 1.93 %, potpourri3d 1.94 %, libigl 11.3 % (cotan only;
36–45 % on the two homer meshes); the previous solver 3.01 % (1.52–6.66 %).  The defaults beat
t = h² on 4 of the 8 closed held-out meshes and lose on 4 (by up to 0.6 points, rocker-arm).
Reproduce with ``python -m tests.geometry.test_geodesic_accuracy --set held-out``.

Exact geodesics and thin triangles
----------------------------------
libigl's MMP (Kirsanov's implementation) snaps and compares positions on an edge with a
tolerance relative to that edge (``1e-6 ×`` its length), but positions on the short edge of a
sliver come out of its long edges (cancellation) and pick up rounding along a run of slivers.
The trace-back that libigl runs after the window propagation then bounces between two points
(two coincident vertices, or two points 7e-14 apart on a 2e-8 edge) for ever, appending to a
``std::vector`` until ``std::bad_alloc``; on long runs the window propagation itself blows up
(3.2 million window propagations instead of 10 000).  Measured on strips of slivers: runaways
only below a smallest angle of about ``1.6e-6 · √m`` radians for a run of ``m`` edge-adjacent
slivers (at 1e-6 rad for 4–8 faces, 1e-5 for 38, 1e-4 for 4 000, 1.8e-4 for 12 000), and on
zero-length edges (a flattened icosphere).  Folds do not matter (MMP sees edge lengths only):
a double-covered disc with healthy angles is exact.  :func:`_require_mmp_safe` refuses, before
MMP, every face whose smallest angle is below :data:`_MMP_MIN_ANGLE` (``1e-5`` rad, the bound
of libigl's own assertion, compiled out of release builds) and every run of more than
``(t / _MMP_RUN_SCALE)²`` edge-adjacent faces whose smallest angle is below ``t`` (``t`` from
:data:`_MMP_RUN_LEVELS`), 12.5 times below the measured envelope.  Shared meshes: the
thinnest face of a clean one is 1.1e-3 rad (nefertiti), of the decimated ones 0.8°, of the
generated stretched spheres 3.3e-4 rad, and no run reaches 0.1 % of its allowance.

Sparse factorisations use the CHOLMOD library of ``cholespy`` when it is installed, called
directly (simplicial, AMD with postordering, see :mod:`._solve`), and the heat system
``M + tL`` and the pinned Poisson system share one sparsity pattern and so one symbolic
analysis; SciPy's SuperLU otherwise.  The intrinsic Delaunay flips run in vectorised rounds
(:func:`~manifold_nets.geometry.intrinsic_delaunay.intrinsic_delaunay`).  Armadillo (43k
vertices, one thread): setup 1.19 s before these two changes, about 0.4 s after.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from scipy.sparse import csgraph

from ..errors import DegenerateFaceError, MeshError, MeshShapeError, NonManifoldError
from ..topology import _edge_components
from ._checked import (
    CheckedMesh,
    accepts_mesh,
    check_mesh,
    mesh_edges,
    require_checked,
    require_positive_area,
)
from ._common import (
    FaceGeometry,
    boundary_vertex_mask,
    check_positive,
    edge_length_table,
    unique_edges,
)
from ._intrinsic import edge_lengths
from ._solve import LowerCSC, SPDSolver
from .intrinsic_delaunay import _intrinsic_delaunay
from .quality import _laplacian_choice

__all__ = [
    "T_FACTOR_CLOSED",
    "T_FACTOR_BOUNDARY",
    "HeatGeodesicSolver",
    "geodesic_distance",
    "exact_geodesic_distance",
    "graph_distance",
    "distance_matrix",
]


#: Default ``t / h²`` of the heat method on meshes without boundary (chosen on the tuning meshes).
T_FACTOR_CLOSED = 0.5
#: Default ``t / h²`` on meshes with boundary (chosen on the tuning meshes; the standard value).
T_FACTOR_BOUNDARY = 1.0

#: Smallest corner angle (radians) that exact geodesics accept on any face: libigl's own
#: assertion ``angle > 1e-5`` (compiled out of release builds); isolated slivers of 1e-6 rad ran away.
_MMP_MIN_ANGLE = 1e-5
#: Runs of slivers: at level ``t`` a run of more than ``(t / _MMP_RUN_SCALE)²`` edge-adjacent
#: faces whose smallest angle is below ``t`` is refused (measured runaways: below about
#: ``1.6e-6 · √m`` rad for a run of ``m`` faces; see the module docstring).
_MMP_RUN_SCALE = 2e-5
_MMP_RUN_LEVELS = (3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)


#: Keyword options of :class:`HeatGeodesicSolver` besides ``t`` and ``laplacian``.
_SOLVER_OPTIONS = frozenset({"t_factor", "backend", "max_memory", "offset", "boundary"})


def _check_sources(sources, nV: int, *, name: str = "sources") -> np.ndarray:
    s = np.asarray(sources)
    if s.dtype == bool or not np.issubdtype(s.dtype, np.integer):
        if s.size and not (np.issubdtype(s.dtype, np.floating) and np.all(s == np.round(s))):
            raise MeshShapeError(f"{name}: expected integer vertex indices (got dtype {s.dtype})")
    s = s.astype(np.int64).ravel()
    if s.size == 0:
        raise MeshShapeError(f"{name}: expected at least one source vertex (got none)")
    bad = (s < 0) | (s >= nV)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise MeshShapeError(f"{name}: expected vertex indices in [0, {nV}) (got {int(s[k])} at position {k})")
    return s


def _gradient_parts(F, lengths, nV):
    """``(Gx, Gy, area, ok)``: ``2 A_f ∇u = Σ_i u_i R e_i`` in a 2D layout of each face.

    ``lengths`` ``(nF, 3)``: column ``c`` the length of the edge opposite corner ``c`` (an
    embedded or an intrinsic triangulation alike).  Each face is laid out with corner 0 at the
    origin and corner 1 on the positive x-axis; ``e_i`` is the edge opposite corner ``i``
    oriented counter-clockwise and ``R`` the rotation by +90°.  Faces of (near) zero area are
    flagged ``ok = False`` and get zero rows.
    """
    nF = F.shape[0]
    l0, l1, l2 = lengths[:, 0], lengths[:, 1], lengths[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        x2 = np.where(l2 > 0, (l1 * l1 + l2 * l2 - l0 * l0) / (2.0 * np.where(l2 > 0, l2, 1.0)), 0.0)
    y2 = np.sqrt(np.maximum(l1 * l1 - x2 * x2, 0.0))
    P = np.zeros((nF, 3, 2))
    P[:, 1, 0] = l2
    P[:, 2, 0] = x2
    P[:, 2, 1] = y2
    dbl = l2 * y2  # twice the area
    lmax = np.maximum(np.maximum(l0, l1), l2)
    ok = dbl > 1e-12 * lmax**2
    rows = np.tile(np.arange(nF), 3)
    cols = F.T.ravel()
    vals = []
    for c in range(3):
        e = P[:, (c + 2) % 3] - P[:, (c + 1) % 3]
        g = np.stack([-e[:, 1], e[:, 0]], axis=1)  # R e_c: points into the face, length |e_c|
        g[~ok] = 0.0
        vals.append(g)
    v = np.concatenate(vals)
    Gx = sp.csr_matrix((v[:, 0], (rows, cols)), shape=(nF, nV))
    Gy = sp.csr_matrix((v[:, 1], (rows, cols)), shape=(nF, nV))
    return Gx, Gy, 0.5 * dbl, ok


def _gradient_stack(F, lengths, nV):
    """``(Gs, g, area, ok)``: ``Gs = [Gx; Gy]`` ``(2 nF, nV)`` CSR built directly (rows sorted by
    face, three entries each) and the per-corner vectors ``g`` ``(nF, 3, 2)`` of
    :func:`_gradient_parts` (same values, same layout)."""
    nF = F.shape[0]
    l0, l1, l2 = lengths[:, 0], lengths[:, 1], lengths[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        x2 = np.where(l2 > 0, (l1 * l1 + l2 * l2 - l0 * l0) / (2.0 * np.where(l2 > 0, l2, 1.0)), 0.0)
    y2 = np.sqrt(np.maximum(l1 * l1 - x2 * x2, 0.0))
    dbl = l2 * y2  # twice the area
    lmax = np.maximum(np.maximum(l0, l1), l2)
    ok = dbl > 1e-12 * lmax**2
    # corner positions P0 = 0, P1 = (l2, 0), P2 = (x2, y2); e_c = P_{c+2} - P_{c+1}; R e_c = (-e_y, e_x)
    g = np.empty((nF, 3, 2))
    g[:, 0, 0], g[:, 0, 1] = -y2, x2 - l2  # e_0 = P2 - P1 = (x2 - l2, y2)
    g[:, 1, 0], g[:, 1, 1] = y2, -x2       # e_1 = P0 - P2 = (-x2, -y2)
    g[:, 2, 0], g[:, 2, 1] = 0.0, l2       # e_2 = P1 - P0 = (l2, 0)
    g[~ok] = 0.0
    return _LazyGradient(g, F, nV), g, 0.5 * dbl, ok


class _LazyGradient:
    """``Gs = [Gx; Gy]`` ``(2 nF, nV)`` CSR of :func:`_gradient_stack`, made on first use (a solve
    needs it; a setup does not: scipy's CSR constructor alone was 7 % of a small mesh's setup)."""

    __slots__ = ("_g", "_F", "_nV", "_m")

    def __init__(self, g, F, nV):
        self._g, self._F, self._nV, self._m = g, F, nV, None

    def get(self) -> sp.csr_matrix:
        if self._m is None:
            g, F = self._g, self._F
            nF = F.shape[0]
            indptr = np.arange(0, 6 * nF + 1, 3, dtype=np.int64)
            indices = np.concatenate([F, F]).ravel()
            data = np.concatenate([g[:, :, 0], g[:, :, 1]]).ravel()
            self._m = sp.csr_matrix((data, indices, indptr), shape=(2 * nF, self._nV))
            self._g = self._F = None
        return self._m


def _laplacian_pattern(nV: int, E: np.ndarray):
    """Sparsity pattern of a Laplacian on the edges ``E (nE, 2)`` (``E[:, 0] < E[:, 1]``, rows in
    lexicographic order, as :func:`~._common.unique_edges` gives them) with every diagonal entry.

    Its lower triangle in CSC is its upper triangle in CSR: column ``r`` holds the diagonal and
    then the edges ``(r, c > r)`` in order, so edge ``e`` sits at ``e + E[e, 0] + 1`` (its row's
    diagonal and the ``e`` edges before it in the table come first) and no sort is needed.

    Returns ``(indptr (nV + 1,) int32, indices (nV + nE,) int32, diag (nV,) int64, epos (nE,) int64)``:
    the lower-CSC arrays and the positions of the diagonal entries and of the edges in them.
    """
    nE = E.shape[0]
    indptr = np.zeros(nV + 1, dtype=np.int64)
    np.cumsum(np.bincount(E[:, 0], minlength=nV) + 1, out=indptr[1:])
    diag = indptr[:-1]
    epos = np.arange(1, nE + 1) + E[:, 0]
    indices = np.empty(nV + nE, dtype=np.int32)
    indices[diag] = np.arange(nV, dtype=np.int32)
    indices[epos] = E[:, 1]
    return indptr.astype(np.int32), indices, diag, epos


class _HeatIntegrator:
    """Steps 2–3 of the heat method on a triangulation given by faces and edge lengths.

    Holds the FEM gradient ``G`` (``2A∇ = G``), the cotan Laplacian ``L = Gᵀ (1/4A) G`` (positive
    semidefinite whatever the signs of its weights), the lumped barycentric mass and a
    factorisation of ``L`` with one vertex per connected component pinned (which removes the
    constant null space exactly; the additive constant is fixed by the caller).

    ``L`` is assembled face by face (``L_ij = Σ_f g_i·g_j / 4A_f``) straight into the lower-CSC
    arrays CHOLMOD reads (:func:`_laplacian_pattern` on the triangulation's edges ``edges``, its
    :func:`~._common.unique_edges` table when at hand), every edge and every diagonal entry
    structural, so ``M + tL`` and the pinned ``L`` have one sparsity pattern (the same array
    objects) and their factorisations share one symbolic analysis (``symbolic``: a solver of that
    pattern, e.g. the heat system's).  No scipy matrix is made for them: on a 162-vertex mesh
    the scipy constructors, COO sums and triangle filters were most of the setup.  A caller that
    already holds this cotan Laplacian (the vector heat solver: from its edge weights) passes it
    as ``L`` instead: a :class:`~._solve.LowerCSC` with every diagonal entry stored first in its
    column, or a CSR matrix with every structural entry kept.
    """

    def __init__(self, F, lengths, nV, used, labels, backend, L=None, *, edges=None, n_components=None):
        Gs, g, area, ok = _gradient_stack(F, lengths, nV)
        self.face_ok = ok  # (nF,) bool: the face has positive area (zero-area faces add nothing to L)
        self.nF = F.shape[0]
        self._Gs = Gs  # (2 nF, nV)
        self._lower = None  # LowerCSC of L when assembled here
        self._L = None
        if L is None:
            E, face_edge, _ = unique_edges(F, nV) if edges is None else edges
            w = np.zeros_like(area)
            w[ok] = 1.0 / (4.0 * area[ok])
            # corner c: the entry of the edge opposite it, g_{c+1}·g_{c+2} w, and the diagonal g_c·g_c w
            ga, gb = g[:, [1, 2, 0]], g[:, [2, 0, 1]]
            off = (ga[:, :, 0] * gb[:, :, 0] + ga[:, :, 1] * gb[:, :, 1]) * w[:, None]
            dia = (g[:, :, 0] * g[:, :, 0] + g[:, :, 1] * g[:, :, 1]) * w[:, None]
            del g, ga, gb
            indptr, indices, diag, epos = _laplacian_pattern(nV, E)
            fe = face_edge.ravel()
            off = off.ravel()
            if fe.size and fe.min() < 0:  # a face with a repeated vertex: no edge for its self-loop
                keep = fe >= 0
                fe, off = fe[keep], off[keep]
            data = np.empty(indices.size)
            data[epos] = np.bincount(fe, weights=off, minlength=E.shape[0])
            data[diag] = np.bincount(F.ravel(), weights=dia.ravel(), minlength=nV)
            self._lower = LowerCSC(nV, indptr, indices, data)
            self._diag = diag
        elif isinstance(L, LowerCSC):  # its diagonal is the first entry of every column
            self._lower = L
            self._diag = L.indptr[:-1].astype(np.int64)
        else:
            L.sort_indices()
            self._L = L
        m = np.bincount(F.ravel(), weights=np.repeat(area / 3.0, 3), minlength=nV)
        self.mass = np.where(m > 0, m, max(m[m > 0].min() if (m > 0).any() else 1.0, 1e-300))
        self._backend = backend
        self._used = used
        self._labels = labels
        self._n_components = n_components
        self._poisson = None
        self._pin = None

    @property
    def L(self):
        """The cotan Laplacian ``(nV, nV)`` CSR (made from the lower triangle on first use), or None
        once a caller has dropped it."""
        if self._L is None and self._lower is not None:
            self._L = self._lower.full()
            self._L.sort_indices()
        return self._L

    @L.setter
    def L(self, value):
        self._L = value
        if value is None:
            self._lower = None

    def system(self, t: float):
        """``M + t L`` on the pattern of :attr:`L` (the diagonal is always structural): a
        :class:`~._solve.LowerCSC` when ``L`` was assembled here, a CSR matrix otherwise."""
        if self._lower is not None:
            data = self._lower.data * t
            data[self._diag] += self.mass
            return self._lower.with_data(data)
        A = self.L.copy()
        A.data *= t
        return _add_diagonal(A, self.mass)

    def _factor(self, symbolic=None, simplicial: bool = True, simplicial_max_mb: float = float("inf")):
        used = self._used
        if self._n_components == 1 and used.all():
            pin = np.zeros(used.size, dtype=bool)
            pin[0] = True
        else:
            pin = np.zeros(used.size, dtype=bool)
            cand = np.flatnonzero(used)
            pin[cand[np.unique(self._labels[cand], return_index=True)[1]]] = True  # one per component
            pin[~used] = True
        self._pin = pin
        if self._lower is not None and self._n_components == 1 and used.all():
            # vertex 0 pinned: its column is the first, and row 0 appears in no other column
            T = self._lower
            data = T.data.copy()
            data[T.indptr[0]:T.indptr[1]] = 0.0
            data[self._diag[0]] = 1.0
            P = T.with_data(data)
        elif self._lower is not None:  # pinned rows and columns → identity, on the lower triangle
            T = self._lower
            r = T.indices
            c = np.repeat(np.arange(T.shape[0], dtype=np.int32), np.diff(T.indptr))
            P = T.with_data(np.where(pin[r] | pin[c], np.where(r == c, 1.0, 0.0), T.data))
        else:
            L = self.L
            P = L.copy()
            r = np.repeat(np.arange(L.shape[0]), np.diff(L.indptr))
            c = L.indices
            P.data = np.where(pin[r] | pin[c], np.where(r == c, 1.0, 0.0), L.data)  # pinned rows → identity
            if (~used).any():
                P = P.tolil()
                P.setdiag(np.where(used, P.diagonal(), 1.0))
                P = P.tocsr()
                P.sort_indices()
        self._poisson = SPDSolver(P, self._backend, what="Poisson system L", symbolic=symbolic,
                                  simplicial=simplicial, simplicial_max_mb=simplicial_max_mb)

    def potential(self, U: np.ndarray) -> np.ndarray:
        """``φ`` ``(nV, k)`` with ``L φ = div X``, ``X = −∇u / |∇u|`` per face, for heat ``U (nV, k)``."""
        if self._poisson is None:
            self._factor()
        nF = self.nF
        Gs = self._Gs.get()
        g = (Gs @ U).reshape(2, nF, -1)
        nrm = np.sqrt(g[0] * g[0] + g[1] * g[1])
        good = nrm > 0
        inv = np.zeros_like(nrm)
        inv[good] = -0.5 / nrm[good]
        g *= inv[None]
        # Gᵀ A X with 2A∇φ_i = G: ∫ X·∇φ_i = Σ_f A_f X_f·G_fi / (2 A_f) = ½ Σ_f X_f·G_fi
        # Gᵀ as the CSC view of G (no transposed copy): 4.4× faster than a CSR Gᵀ for 16
        # right-hand sides, 2.5× for 32, 1.5× for 100, equal for one (armadillo, one thread)
        rhs = Gs.T @ g.reshape(2 * nF, -1)
        rhs[self._pin] = 0.0
        return self._poisson.solve(rhs)


def _add_diagonal(A: sp.csr_matrix, d: np.ndarray) -> sp.csr_matrix:
    """``A + diag(d)``: in place on the stored diagonal of a CSR matrix with sorted indices;
    rows without a stored diagonal (unreferenced vertices) get one through a slower path."""
    n = A.shape[0]
    r = np.repeat(np.arange(n), np.diff(A.indptr))
    on = np.flatnonzero(A.indices == r)
    has = np.zeros(n, dtype=bool)
    has[r[on]] = True
    A.data[on] += d[r[on]]
    if not has.all():
        A = (A + sp.diags(np.where(has, 0.0, d))).tocsr()
        A.sort_indices()
    return A


class HeatGeodesicSolver:
    """Prefactored heat-method geodesic distance on a triangle mesh.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
        Any triangle mesh: non-manifold edges and vertices, boundaries and several components
        are fine (distances are ``inf`` in components without a source).
    t : float, optional
        Diffusion time; default ``t_factor · h²`` with ``h`` the mean edge length.
    laplacian : {"auto", "robust", "cotan"}
        ``"robust"``: every step on the intrinsic Delaunay triangulation of the (mollified)
        mesh; ``"cotan"``: every step on the input faces; ``"auto"`` (default) asks
        :func:`~manifold_nets.geometry.quality.laplacian_choice` (robust on non-manifold,
        degenerate or poorly shaped meshes).  The choice and its reason are kept in
        :attr:`laplacian` and :attr:`laplacian_reason`.
    t_factor : float, optional
        Multiple of ``h²`` used when ``t`` is None, ``h`` the mean edge length of the
        triangulation used.  Default: :data:`T_FACTOR_CLOSED` (0.5) without boundary,
        :data:`T_FACTOR_BOUNDARY` (1.0) with boundary (see the module docstring); the value used
        is kept in :attr:`t_factor`.
    backend : {"auto", "cholespy", "scipy"}
        Sparse factorisation backend.
    max_memory : float
        Bytes of scratch memory :meth:`distances` may use per batch of sources.
    offset : {"source", "one-ring"}
        How the additive constant of the Poisson solution is fixed: ``"source"`` (default) is
        the classic ``φ − φ(source)``; ``"one-ring"`` matches the solution to the edge lengths
        around the sources (at ``t = h²`` it measured 2.53 % vs 2.41 % for ``"source"`` on the
        tuning meshes, better only at ``t = h²/2``).
    boundary : {"average", "neumann"}
        On meshes with boundary, ``"average"`` (default) diffuses with Neumann and with
        Dirichlet conditions and averages the two (Crane et al. §3.2; sources on the boundary
        use the Neumann solution alone); ``"neumann"`` uses Neumann only.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> V, F = icosphere(3)
    >>> solver = HeatGeodesicSolver(V, F)
    >>> d = solver.distance(0)
    >>> d.shape, float(d[0]), bool(abs(d.max() - np.pi) < 0.1)      # antipode at distance π
    ((642,), 0.0, True)
    >>> solver.distances([0, 5]).shape
    (2, 642)
    """

    @accepts_mesh
    def __init__(self, V, F, t: float | None = None, laplacian: str = "auto", *,
                 t_factor: float | None = None, backend: str = "auto", max_memory: float = 256e6,
                 offset: str = "source", boundary: str = "average"):
        self._setup(check_mesh(V, F), t, laplacian, t_factor=t_factor, backend=backend,
                    max_memory=max_memory, offset=offset, boundary=boundary)

    @classmethod
    def _from_checked(cls, mesh: CheckedMesh, t: float | None = None, laplacian: str = "auto",
                      **kwargs) -> HeatGeodesicSolver:
        """The solver of a checked mesh, for composite functions (no second validation)."""
        unknown = sorted(set(kwargs) - _SOLVER_OPTIONS)
        if unknown:
            raise TypeError(f"HeatGeodesicSolver: unexpected keyword argument {unknown[0]!r} (expected among t, "
                            f"laplacian, {', '.join(sorted(_SOLVER_OPTIONS))})")
        self = cls.__new__(cls)
        self._setup(mesh, t, laplacian, **kwargs)
        return self

    def _setup(self, mesh: CheckedMesh, t: float | None = None, laplacian: str = "auto", *,
               t_factor: float | None = None, backend: str = "auto", max_memory: float = 256e6,
               offset: str = "source", boundary: str = "average"):
        V, F = require_checked(mesh)
        require_positive_area(mesh, "HeatGeodesicSolver")
        if backend not in ("auto", "cholespy", "scipy"):
            raise MeshError(f"backend: expected 'auto', 'cholespy' or 'scipy' (got {backend!r})")
        t = None if t is None else check_positive(t, "t")
        t_factor = None if t_factor is None else check_positive(t_factor, "t_factor")
        max_memory = check_positive(max_memory, "max_memory")
        if laplacian not in ("auto", "robust", "cotan"):
            raise MeshError(f"laplacian: expected 'auto', 'robust' or 'cotan' (got {laplacian!r})")
        if offset not in ("one-ring", "source"):
            raise MeshError(f"offset: expected 'one-ring' or 'source' (got {offset!r})")
        if boundary not in ("average", "neumann"):
            raise MeshError(f"boundary: expected 'average' or 'neumann' (got {boundary!r})")
        self.V, self.F = V, F
        nV = V.shape[0]
        self.n_vertices = nV
        if laplacian == "auto":
            laplacian, self.laplacian_reason = _laplacian_choice(mesh)
        else:
            self.laplacian_reason = "requested"
        self.laplacian = laplacian
        E, face_edge, counts = mesh_edges(mesh)
        if laplacian == "robust":
            T = _intrinsic_delaunay(mesh, signposts=False)
            Fi, lengths = T.F, T.lengths
            self.n_flips = T.n_flips
            h = T.mean_edge_length
        else:
            Fi, lengths = F, edge_lengths(V, F)
            self.n_flips = 0
            h = _mean_edge_length(F, lengths, nV, edges=(E, face_edge, counts))
        self.faces = Fi
        used = np.bincount(F.ravel(), minlength=nV) > 0
        self._graph_cache = None
        ncomp, labels = _edge_components(E, nV)
        self._labels = labels
        self._ncomp = ncomp
        # the input's edge table serves the triangulation unless flips changed its edges
        tri_edges = (E, face_edge, counts) if self.n_flips == 0 else None
        self._integrator = _HeatIntegrator(Fi, lengths, nV, used, labels, backend, edges=tri_edges,
                                           n_components=ncomp)
        bnd = boundary_vertex_mask(F, nV, edges=(E, face_edge, counts))
        if t_factor is None:
            t_factor = T_FACTOR_BOUNDARY if bnd.any() else T_FACTOR_CLOSED
        self.t = float(t) if t is not None else float(t_factor) * h * h
        if not np.isfinite(self.t) or self.t <= 0:
            raise MeshShapeError(f"t: expected a positive diffusion time (got {self.t})")
        self.t_factor = self.t / (h * h) if h > 0 else float(t_factor)
        self.mean_edge_length = h
        ok = self._integrator.face_ok
        if not ok.all():
            # a vertex whose faces all have zero area has an empty row in L, and faces of positive
            # area joined only through zero-area ones make blocks of their own: both would leave
            # the pinned Poisson system singular.  Such vertices are treated as unreferenced
            # (distance inf, refused as sources) and components are taken over positive-area faces.
            good = Fi[ok]
            area_used = np.bincount(good.ravel(), minlength=nV) > 0
            ncomp, labels = _edge_components(unique_edges(good, nV)[0], nV)
            self._labels, self._ncomp = labels, ncomp
            self._used_cache = area_used
            self._integrator._used = area_used
            self._integrator._labels = labels
            self._integrator._n_components = ncomp
        A = self._integrator.system(self.t)
        self._heat = SPDSolver(A, backend, what="heat system M + tL")
        self._integrator._factor(symbolic=self._heat)  # same pattern: one symbolic analysis
        # Dirichlet variant on meshes with boundary: unknowns at interior vertices only
        self._interior = None
        self._heat_dirichlet = None
        if boundary == "average" and bnd.any():
            inner = np.flatnonzero(~bnd)
            if inner.size:
                self._interior = inner
                AD = A.principal(~bnd) if isinstance(A, LowerCSC) else A[inner][:, inner]
                self._heat_dirichlet = SPDSolver(AD, backend, what="heat system M + tL (Dirichlet)")
        self.boundary = boundary
        self._on_boundary = bnd
        self.max_memory = float(max_memory)
        self.offset = offset
        self.backend = self._heat.backend

    @property
    def _graph(self):
        """Edge-length graph of the input mesh (built on first use, by the one-ring offset)."""
        if self._graph_cache is None:
            self._graph_cache = _edge_graph(self.V, self.F)
        return self._graph_cache

    def _solve_columns(self, B: np.ndarray, src_lists) -> np.ndarray:
        """Heat-method distances for the columns of ``B`` ``(nV, k)``; returns ``(k, nV)``."""
        U = self._heat.solve(B)
        if self._heat_dirichlet is not None:
            inner = self._interior
            UD = np.zeros_like(U)
            UD[inner] = self._heat_dirichlet.solve(B[inner])
            # a column whose sources all lie on the boundary has no Dirichlet solution
            live = np.abs(B[inner]).sum(axis=0) > 0
            U[:, live] = 0.5 * (U[:, live] + UD[:, live])
        phi = self._integrator.potential(U)
        out = phi.T.copy()
        for k, s in enumerate(src_lists):
            col = out[k]
            if self._ncomp == 1:
                col -= self._offset(phi[:, k], s)
            else:
                for c in np.unique(self._labels[s]):
                    src_c = s[self._labels[s] == c]
                    sel = self._labels == c
                    col[sel] -= self._offset(phi[:, k], src_c)
                col[~np.isin(self._labels, self._labels[s])] = np.inf
            col[s] = 0.0
        np.maximum(out, 0.0, out=out)
        return out

    def _offset(self, col: np.ndarray, src: np.ndarray) -> float:
        """Additive constant of the Poisson solution ``col`` for sources ``src``.

        Matched on the one-ring: the median of ``col[j] − ℓ_sj`` over the neighbours ``j`` of
        the sources (``ℓ_sj`` the shortest edge to a source).  This removes the error of the
        singular point value at the source, which the plain ``col − col[s]`` shift carries to
        every vertex.
        """
        if self.offset != "one-ring":
            return float(col[src].min())
        G = self._graph
        if src.size == 1:
            a, b = G.indptr[src[0]], G.indptr[src[0] + 1]
            j, d = G.indices[a:b], G.data[a:b]
            if j.size == 0:
                return float(col[src[0]])
            return float(np.median(col[j] - d))
        sub = G[src]
        j = sub.indices
        d = sub.data
        keep = ~np.isin(j, src)
        if not keep.any():
            return float(col[src].min())
        j, d = j[keep], d[keep]
        o = np.lexsort((d, j))
        j, d = j[o], d[o]
        first = np.ones(j.size, dtype=bool)
        first[1:] = j[1:] != j[:-1]
        return float(np.median(col[j[first]] - d[first]))

    @property
    def _used(self) -> np.ndarray:
        """``(nV,)`` bool: the vertex lies on some face of positive area."""
        u = getattr(self, "_used_cache", None)
        if u is None:
            u = self._used_cache = np.bincount(self.F.ravel(), minlength=self.n_vertices) > 0
        return u

    def _require_sources(self, s: np.ndarray) -> None:
        _require_referenced(s, self._used, referenced=np.bincount(self.F.ravel(), minlength=self.n_vertices) > 0
                            if not self._used[s].all() else None)

    def distance(self, sources) -> np.ndarray:
        """Distance ``(nV,)`` to the nearest of ``sources`` (an int or an array of vertex ids)."""
        s = _check_sources(sources, self.n_vertices)
        self._require_sources(s)
        B = np.zeros((self.n_vertices, 1))
        B[s, 0] = 1.0
        return self._solve_columns(B, [s])[0]

    def distances(self, sources, *, batch: int | None = None) -> np.ndarray:
        """One row per source: ``(len(sources), nV)`` float64, batched multi-right-hand-side solves.

        ``batch`` sources are solved together (default: 16, fewer if ``max_memory`` requires).
        """
        s = _check_sources(sources, self.n_vertices)
        self._require_sources(s)
        nF = self.faces.shape[0]
        if batch is None:
            # 16 columns measured fastest per source (cache-friendly solves) on 5k–40k meshes
            per_col = 8.0 * (6 * nF + 4 * self.n_vertices)
            batch = max(1, min(16, int(self.max_memory // per_col)))
        elif isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise MeshShapeError(f"batch: expected a positive integer or None (got {batch!r})")
        batch = int(batch)
        out = np.empty((s.size, self.n_vertices))
        for a in range(0, s.size, batch):
            ss = s[a:a + batch]
            B = np.zeros((self.n_vertices, ss.size), order="F")  # column-major, as CHOLMOD solves
            B[ss, np.arange(ss.size)] = 1.0
            out[a:a + ss.size] = self._solve_columns(B, [np.array([x]) for x in ss])
        return out


@accepts_mesh
def geodesic_distance(V, F, sources, t: float | None = None, method: str = "heat", **kwargs) -> np.ndarray:
    """Geodesic distance ``(nV,)`` from a vertex or a set of vertices.

    Parameters
    ----------
    sources : int or array of int
        Source vertex (or set; the distance to the nearest one).
    method : {"heat", "exact", "graph"}
        Heat method (:class:`HeatGeodesicSolver`, any mesh), exact polyhedral distance
        (:func:`exact_geodesic_distance`, manifold meshes) or Dijkstra along edges.
    **kwargs
        Passed to :class:`HeatGeodesicSolver` for ``method="heat"``.

    Examples
    --------
    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(11)
    >>> d = geodesic_distance(V, F, 0, method="exact")
    >>> round(float(d[-1]), 6)        # the opposite corner of the unit square
    1.414214
    """
    if method not in ("heat", "exact", "graph"):
        raise MeshError(f"method: expected 'heat', 'exact' or 'graph' (got {method!r})")
    mesh = check_mesh(V, F)
    if method != "graph":  # Dijkstra along edges needs no face area
        require_positive_area(mesh, "geodesic_distance")
    if method == "heat":
        return HeatGeodesicSolver._from_checked(mesh, t=t, **kwargs).distance(sources)
    if method == "exact":
        return _exact_geodesic_distance(mesh, sources)
    return _graph_distance(mesh, sources)


@accepts_mesh
def exact_geodesic_distance(V, F, source) -> np.ndarray:
    """Exact polyhedral geodesic distance ``(nV,)`` from a vertex (or set), MMP via libigl.

    Needs an edge-manifold mesh (raises :class:`~manifold_nets.errors.NonManifoldError`
    otherwise) without slivers that libigl's MMP cannot handle (raises
    :class:`~manifold_nets.errors.DegenerateFaceError` naming a face with a smallest angle
    below 1e-5 rad, or in a long run of thin faces; see the module docstring); unreferenced
    vertices and other components get ``inf``.

    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(5)
    >>> float(exact_geodesic_distance(V, F, 0)[4])
    1.0
    """
    mesh = check_mesh(V, F)
    require_positive_area(mesh, "exact_geodesic_distance")
    return _exact_geodesic_distance(mesh, source)


def _require_referenced(s: np.ndarray, used: np.ndarray, name: str = "sources", *,
                        referenced: np.ndarray | None = None) -> None:
    """A source on no face has no distance field (every other vertex would be ``inf``): refuse it.
    ``referenced``: when ``used`` means "on a face of positive area", the vertices on any face
    (for the message)."""
    if not used[s].all():
        k = int(s[~used[s]][0])
        if referenced is not None and referenced[k]:
            raise MeshShapeError(f"{name}: expected a vertex of some face with positive area (got vertex {k}, "
                                 "whose faces all have zero area)")
        raise MeshShapeError(f"{name}: expected a vertex used by some face (got unreferenced vertex {k})")


def _exact_geodesic_distance(mesh: CheckedMesh, source, *, manifold_checked: bool = False) -> np.ndarray:
    """Kernel of :func:`exact_geodesic_distance` on a checked mesh (validates only ``source``)."""
    V, F = require_checked(mesh)
    s = _check_sources(source, V.shape[0], name="source")
    if not manifold_checked:
        _require_edge_manifold(F)
    import igl

    used = np.bincount(F.ravel(), minlength=V.shape[0]) > 0
    d = np.full(V.shape[0], np.inf)
    _require_referenced(s, used, "source")
    # libigl's MMP reads a face that repeats a vertex out of bounds (a segmentation fault)
    rep = (F[:, 0] == F[:, 1]) | (F[:, 1] == F[:, 2]) | (F[:, 0] == F[:, 2])
    if rep.any():
        f = int(np.flatnonzero(rep)[0])
        raise DegenerateFaceError(f"face {f}: expected three distinct vertices for exact geodesics "
                                  f"(got {F[f].tolist()}; remove it first: manifold-nets repair IN OUT "
                                  f"--steps drop-degenerate)")
    _require_mmp_safe(V, F)
    _, labels = csgraph.connected_components(_edge_graph(V, F), directed=False)
    reach = np.isin(labels, labels[s]) & used
    targets = np.flatnonzero(reach).astype(np.int64)
    res = np.asarray(igl.exact_geodesic(V, F, VS=s, VT=targets), dtype=np.float64)
    res[~np.isfinite(res) | (res > 1e300)] = np.inf
    d[targets] = res
    d[s] = 0.0
    return d


def _require_edge_manifold(F):
    e = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    u, cnt = np.unique(e, axis=0, return_counts=True)
    if (cnt > 2).any():
        i, j = (int(x) for x in u[np.flatnonzero(cnt > 2)[0]])
        raise NonManifoldError(
            f"edge ({i}, {j}): expected at most 2 faces per edge for exact geodesics "
            f"(got {int(cnt[cnt > 2][0])}; {int((cnt > 2).sum())} such edges); use method='heat', "
            "which works on non-manifold meshes"
        )


def _smallest_angles(V, F) -> np.ndarray:
    """Smallest corner angle ``(nF,)`` of each face, in radians (the kernel's ``atan2`` angles,
    accurate for slivers); 0 on a face with a zero-length edge or collinear vertices."""
    geom = FaceGeometry.from_vertices(V, F)
    l2 = geom.l2
    num = l2[:, [1, 2, 0]] + l2[:, [2, 0, 1]] - l2
    theta = np.arctan2(4.0 * geom.area[:, None], num).min(axis=1)
    theta[(l2 <= 0.0).any(axis=1)] = 0.0
    return theta


def _sliver_runs(F, nV: int, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Faces ``idx`` where ``mask`` holds and the label of their run (edge-connected component
    of those faces only)."""
    idx = np.flatnonzero(mask)
    fe = unique_edges(F[idx], nV)[1].ravel()
    rows = np.repeat(np.arange(idx.size), 3)
    ok = fe >= 0
    _, cols = np.unique(fe[ok], return_inverse=True)
    A = sp.csr_matrix((np.ones(cols.size), (rows[ok], cols)), shape=(idx.size, int(cols.max(initial=-1)) + 1))
    return idx, csgraph.connected_components(A @ A.T, directed=False)[1]


def _require_mmp_safe(V, F) -> None:
    """Refuse faces too thin for libigl's MMP before it runs away (module docstring, "Exact
    geodesics and thin triangles"): a smallest angle below :data:`_MMP_MIN_ANGLE`, or a run of
    more than ``(t / _MMP_RUN_SCALE)²`` edge-adjacent faces below ``t`` for a level ``t`` of
    :data:`_MMP_RUN_LEVELS`.  O(nF) on meshes without slivers (no face below 0.57°)."""
    theta = _smallest_angles(V, F)
    fix = "use method='heat', which handles such faces, or remesh"
    bad = theta < _MMP_MIN_ANGLE
    if bad.any():
        f = int(np.flatnonzero(bad)[np.argmin(theta[bad])])
        raise DegenerateFaceError(
            f"face {f}: expected a triangle whose smallest angle is at least "
            f"{np.degrees(_MMP_MIN_ANGLE):.2g} degrees for exact geodesics (got "
            f"{np.degrees(theta[f]):.2g} degrees; {int(bad.sum())} such faces); {fix}")
    for t in _MMP_RUN_LEVELS:
        thin = theta < t
        allowed = int(round((t / _MMP_RUN_SCALE) ** 2))
        if int(thin.sum()) <= allowed:
            continue
        idx, lab = _sliver_runs(F, V.shape[0], thin)
        size = np.bincount(lab)
        if size.max() <= allowed:
            continue
        run = idx[lab == int(np.argmax(size))]
        f = int(run[np.argmin(theta[run])])
        raise DegenerateFaceError(
            f"face {f}: expected at most {allowed} edge-adjacent triangles with a smallest angle "
            f"below {np.degrees(t):.2g} degrees for exact geodesics (got a run of {run.size}, "
            f"down to {np.degrees(theta[f]):.2g} degrees at this face); {fix}")


def _mean_edge_length(F, lengths, nV: int, edges=None) -> float:
    """Mean length over the undirected edges of a triangulation (faces + per-corner lengths).

    ``edges``: the :func:`~manifold_nets.geometry._common.unique_edges` of ``F`` when already at
    hand; each edge's length as :func:`~manifold_nets.geometry._common.edge_length_table` reads it.
    """
    edges = unique_edges(F, nV) if edges is None else edges
    if not len(edges[0]):
        return 1.0
    return float(np.mean(edge_length_table(lengths, edges)))


def _edge_graph(V, F):
    """Symmetric CSR matrix of edge lengths (zero-length edges stored as the tiniest float)."""
    nV = V.shape[0]
    e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    e = e[e[:, 0] != e[:, 1]]
    key = np.unique(np.minimum(e[:, 0], e[:, 1]) * nV + np.maximum(e[:, 0], e[:, 1]))
    i, j = np.divmod(key, nV)
    w = np.linalg.norm(V[i] - V[j], axis=1)
    w = np.maximum(w, np.finfo(float).tiny)  # csgraph treats explicit zeros as missing edges
    G = sp.csr_matrix((np.r_[w, w], (np.r_[i, j], np.r_[j, i])), shape=(nV, nV))
    G.sort_indices()
    return G


@accepts_mesh
def graph_distance(V, F, sources, *, rows: bool = False) -> np.ndarray:
    """Shortest-path distance along mesh edges (Dijkstra, ``scipy.sparse.csgraph``).

    Returns ``(nV,)`` — the distance to the nearest source — or, with ``rows=True``,
    ``(len(sources), nV)``, one row per source.

    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(3, diagonal="regular")
    >>> graph_distance(V, F, 0)[[2, 8]].round(4).tolist()
    [1.0, 1.4142]
    """
    return _graph_distance(check_mesh(V, F), sources, rows=rows)


def _graph_distance(mesh: CheckedMesh, sources, *, rows: bool = False) -> np.ndarray:
    """Kernel of :func:`graph_distance` on a checked mesh (validates only ``sources``)."""
    V, F = require_checked(mesh)
    s = _check_sources(sources, V.shape[0])
    _require_referenced(s, np.bincount(F.ravel(), minlength=V.shape[0]) > 0)
    G = _edge_graph(V, F)
    if rows:
        return csgraph.dijkstra(G, directed=False, indices=s)
    return csgraph.dijkstra(G, directed=False, indices=s, min_only=True)


@accepts_mesh
def distance_matrix(V, F, sources=None, *, method: str = "heat", out=None, chunk: int = 256,
                    dtype=np.float64, progress: bool = False, solver=None, **kwargs):
    """Sources-to-all (or all-pairs) geodesic distances computed in chunks with bounded memory.

    Parameters
    ----------
    sources : array of int, optional
        Rows of the matrix; ``None`` means all vertices (all pairs, ``nV × nV``).
    method : {"heat", "exact", "graph"}
    out : str or Path, optional
        Write the matrix to this ``.npy`` file (a memory map filled chunk by chunk and renamed
        into place atomically when complete) and return it opened read-only as a memory map.
        Without ``out`` an in-memory array is returned.
    chunk : int
        Rows computed per chunk (the memory bound is about ``chunk × nV`` values plus the solver).
    dtype : numpy dtype
        Stored precision (``float32`` halves the size).
    progress : bool
        Show a tqdm progress bar.
    solver : HeatGeodesicSolver, optional
        Reuse a prefactored solver (``method="heat"``).
    **kwargs
        Passed to :class:`HeatGeodesicSolver`.

    Returns
    -------
    (len(sources), nV) ndarray or numpy.memmap

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> V, F = icosphere(1)
    >>> D = distance_matrix(V, F, method="graph", chunk=10)
    >>> D.shape, bool(np.allclose(D, D.T))
    ((42, 42), True)
    """
    mesh = check_mesh(V, F)
    V, F = mesh
    nV = V.shape[0]
    s = np.arange(nV) if sources is None else _check_sources(sources, nV)
    chunk = int(chunk)
    if chunk < 1:
        raise MeshShapeError(f"chunk: expected a positive integer (got {chunk})")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or not np.issubdtype(dt, np.floating):
        raise MeshShapeError(f"dtype: expected a floating dtype such as float64 or float32, which hold inf for "
                             f"unreachable vertices (got {dtype!r})")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise MeshShapeError(f"out: expected a path ending in .npy (got {type(out).__name__})")
    if method == "heat":
        solver = solver if solver is not None else HeatGeodesicSolver._from_checked(mesh, **kwargs)

        def rows_of(ss):
            return solver.distances(ss)
    elif method == "exact":
        require_positive_area(mesh, "distance_matrix")
        _require_edge_manifold(F)

        def rows_of(ss):
            return np.stack([_exact_geodesic_distance(mesh, int(x), manifold_checked=True) for x in ss])
    elif method == "graph":
        _require_referenced(s, np.bincount(F.ravel(), minlength=nV) > 0)
        G = _edge_graph(V, F)

        def rows_of(ss):
            return csgraph.dijkstra(G, directed=False, indices=ss)
    else:
        raise MeshError(f"method: expected 'heat', 'exact' or 'graph' (got {method!r})")

    tmp = None
    if out is not None:
        out = Path(out)
        if out.suffix != ".npy":
            raise MeshShapeError(f"out: expected a path ending in .npy (got {out.name!r})")
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=out.name + ".", suffix=".partial.npy", dir=out.parent)
        os.close(fd)
        D = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=(s.size, nV))
    else:
        D = np.empty((s.size, nV), dtype=dtype)
    starts = range(0, s.size, chunk)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, total=(s.size + chunk - 1) // chunk, desc="distance rows", unit="chunk")
    try:
        for a in starts:
            D[a:a + chunk] = rows_of(s[a:a + chunk])
        if tmp is not None:
            D.flush()
            del D
            os.replace(tmp, out)
            tmp = None
            return np.load(out, mmap_mode="r")
        return D
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.remove(tmp)
