"""Functional maps: the solve, conversions to and from point-to-point maps, ZoomOut.

Conventions (one direction, written once)
-----------------------------------------
A functional map ``C_ab`` ``(k_b, k_a)`` carries functions on shape ``a`` to functions on shape
``b`` in the reduced eigenbases ``Φ_a (n_a, k_a)``, ``Φ_b (n_b, k_b)`` (M-orthonormal, from
:func:`~manifold_nets.geometry.eigenbasis`).  It is the pull-back of a point-to-point map
``T_ba : b → a`` (``p2p_ba (n_b,)``, for every vertex of ``b`` a vertex of ``a``):
``Φ_b C_ab ≈ Π_ba Φ_a`` with ``(Π_ba g)(y) = g(T_ba(y))``.  Hence

* :func:`p2p_to_fmap` ``C_ab = Φ_bᵀ M_b Φ_a[p2p_ba]``;
* :func:`fmap_to_p2p` ``p2p_ba[y] = argmin_x ‖Φ_b[y] − Φ_a[x] C_abᵀ‖`` (nearest neighbours in
  the spectral embedding, as ZoomOut; ``adjoint=True`` for ``‖Φ_b[y] C_ab − Φ_a[x]‖``).

The solve (:func:`solve_fmap`)
------------------------------
With descriptor coefficients ``A = Φ_aᵀ M_a D_a`` ``(k_a, d)`` and ``B = Φ_bᵀ M_b D_b``
``(k_b, d)``, ``C_ab`` minimises ::

    w_descr ‖C A − B‖² + w_lap Σ_ij C_ij² Λ_ij + w_orient Σ_f ‖C X_a,f − X_b,f C‖²
        + w_dcomm Σ_f ‖C P_a,f − P_b,f C‖²

* the descriptor term (Ovsjanikov et al. 2012);
* Laplacian commutativity in its diagonal form, with the mask ``Λ`` of the resolvent (Ren et al.
  2019) on eigenvalues divided by the largest of the two shapes (:func:`laplacian_mask`);
* the orientation term of Ren, Poulenard, Guibas & Ovsjanikov 2018 ("Continuous and
  orientation-preserving correspondences via functional maps"): ``X_f`` is the operator
  ``g ↦ ⟨n, ∇f × ∇g⟩`` of descriptor ``f`` in the reduced basis (:func:`orientation_operators`).
  A map preserving orientation commutes with it; a mirror image flips its sign, so mirror images
  are no longer as good as the right map;
* descriptor commutativity (Nogneng & Ovsjanikov 2017): ``P_f`` multiplies by descriptor ``f``
  (:func:`multiplication_operators`).

The energy is quadratic in ``C``.  Without the operator terms every row of ``C`` is a small
independent least-squares problem and all ``k_b`` rows are solved in one batched call; with it the
rows are coupled and the ``k_a·k_b`` normal equations are assembled from Kronecker products (no
loop over rows or descriptors in Python) and solved in one dense Cholesky solve.  The torch twin
:func:`manifold_nets.nn.fmaps.solve_fmap` builds the same system.

ZoomOut (:func:`zoomout`, Melzi et al. 2019) alternates ``p2p → C`` and ``C → p2p`` while the
basis grows.  To stay fast on dense meshes the intermediate steps use a subsample of the vertices
of both shapes (farthest-point samples, the mass of each sample is the mass of the vertices
closest to it), and only the last conversion uses every vertex.  Started from a functional map
(``C_init``), the initial point-to-point map is only computed for the samples.

Nearest neighbours in the spectral embedding (:func:`nearest_neighbors`) are exact by default: the
embeddings of a mesh are 2-D surfaces in ``k`` dimensions, on which a KD-tree stays fast when the
queries lie near the points (measured on a 30k/26k-vertex pair of one shape, one thread:
0.05 s against 1.2 s for float32 brute force at ``k = 30``, 1.1 s against 2.9 s at ``k = 120``);
a probe of a few hundred queries falls back to blocked brute force where the tree is slower
(badly aligned embeddings, e.g. two different shapes).  ZoomOut's searches on every vertex accept
float32 brute force (``single=True``), about twice as fast as float64, where near-ties may
resolve differently.

Default weights (:data:`W_LAP`, :data:`W_ORIENT`, :data:`W_DCOMM`, relative to a descriptor term
scaled to unit size as :func:`manifold_nets.tasks.correspondence.correspond` does) were chosen on
three cat/lion pose pairs (a grid over ``w_lap ∈ {1e-3 … 1}``, ``w_orient ∈ {0 … 0.1}``,
``w_dcomm ∈ {0 … 1}``, ``k ∈ {20, 30, 40}``).
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla

from ..errors import MeshShapeError

__all__ = [
    "W_DESCR", "W_LAP", "W_ORIENT", "W_DCOMM",
    "commutator_hessian",
    "project",
    "orientation_operators",
    "multiplication_operators",
    "laplacian_mask",
    "fmap_system",
    "solve_fmap",
    "fmap_to_p2p",
    "p2p_to_fmap",
    "spectral_residual",
    "nearest_neighbors",
    "farthest_point_sampling",
    "zoomout",
    "icp_refine",
]

#: Default weight of the descriptor-preservation term.
W_DESCR = 1.0
#: Default weight of the Laplacian-commutativity term.
W_LAP = 1e-1
#: Default weight of the orientation-preserving term.
W_ORIENT = 1e-2
#: Default weight of the descriptor-commutativity term.
W_DCOMM = 1e-1

#: Exponent of the resolvent Laplacian mask (:func:`laplacian_mask`).
RESOLVENT_GAMMA = 0.5

#: Queries in blocks of at most this many rows for the brute-force nearest neighbours ...
_NN_BLOCK = 2048
#: ... and of at most this many bytes of scores (a block's score matrix is read again by the
#: arg-max: at 43k points, 512-row blocks in float32 were twice as fast as 2048-row ones).
_NN_BLOCK_BYTES = 64 * 2**20
#: Up to this many spectral dimensions the nearest neighbours always use a KD-tree.
_KDTREE_MAX_DIM = 12
#: Above this many pairs ``n_query · n_points`` (and :data:`_KDTREE_MAX_DIM` dimensions) the
#: nearest neighbours probe whether a KD-tree beats brute force.
_PROBE_MIN_PRODUCT = 2e7
#: Up to this many pairs ``n_query · n_points``, queries that accept float32 (``single=True``:
#: ZoomOut's queries on every vertex, its last step and final iterations) are float32 brute force
#: without a probe: on the 4k–6k-vertex remeshed pose pairs at ``k = 160`` that is about 4× faster
#: than the float64 probe.  Above, a probe chooses between a KD-tree and float32 brute force: on
#: 30k-vertex meshes of one shape the KD-tree wins; between different shapes (62k-vertex ogre onto
#: 43k-vertex armadillo) the KD-tree took 55 ms per query against 0.13 ms for float32 brute force.
_SINGLE_MAX_PRODUCT = 1e8
#: Queries timed by the probe (evenly spread over the query rows).
_PROBE_QUERIES = 256
#: The probe's KD-tree queries run in chunks of this many; the probe gives up on the tree once it
#: has taken :data:`_PROBE_GIVE_UP` times brute force's time for as many queries (so a tree that
#: degrades to a scan costs a few queries, not the whole probe: 512 such queries took 27.9 s there).
_PROBE_CHUNK = 4
_PROBE_GIVE_UP = 4.0
#: Leaf size of the KD-trees above :data:`_KDTREE_MAX_DIM` dimensions (scipy's default 16 was
#: about 1.5× slower on 30k-vertex spectral embeddings at ``k = 120``).
_KDTREE_LEAFSIZE = 4
#: Faces per block in :func:`orientation_operators` (bounds the scratch array).
_FACE_BLOCK = 1024


def _as2d(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2:
        raise MeshShapeError(f"{name}: expected a 2-D array (got shape {a.shape})")
    if not np.isfinite(a).all():
        raise MeshShapeError(f"{name}: expected finite values (got NaN or inf)")
    return a


def project(evecs, mass, values) -> np.ndarray:
    """Coefficients ``(k, d)`` of functions ``values (n, d)`` in an M-orthonormal basis
    ``evecs (n, k)`` with lumped ``mass (n,)``: ``Φᵀ M values``.

    >>> project(np.eye(2), np.array([1.0, 2.0]), np.array([[3.0], [4.0]])).ravel().tolist()
    [3.0, 8.0]
    """
    Phi = _as2d(evecs, "evecs")
    m = np.asarray(mass, dtype=np.float64).reshape(-1)
    X = np.asarray(values, dtype=np.float64)
    X2 = X[:, None] if X.ndim == 1 else X
    if m.shape != (Phi.shape[0],) or X2.shape[0] != Phi.shape[0]:
        raise MeshShapeError(f"mass, values: expected {Phi.shape[0]} rows like evecs "
                             f"(got {m.shape} and {X.shape})")
    out = Phi.T @ (m[:, None] * X2)
    return out[:, 0] if X.ndim == 1 else out


def orientation_operators(V, F, evecs, descriptors, *, face_normals=None) -> np.ndarray:
    """The operators ``g ↦ ⟨n, ∇f × ∇g⟩`` of each descriptor ``f``, in the reduced basis.

    ``X_f[i, j] = ∫ φ_i ⟨n, ∇f × ∇φ_j⟩ dA`` with piecewise-linear gradients on the faces (the
    face value of ``φ_i`` is the mean of its corners).  The map ``g ↦ ⟨n, ∇f × ∇g⟩`` is the
    derivative along the rotated gradient ``n × ∇f``; orientation-preserving isometries commute
    with it, orientation-reversing ones flip its sign (Ren et al. 2018).

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
        Consistently oriented faces (the outward normal is ``(p1 − p0) × (p2 − p0)``).
    evecs : (nV, k) float64
    descriptors : (nV, d) float64
    face_normals : (nF, 3) float64, optional
        Unit face normals (default from ``F``'s winding).

    Returns
    -------
    X : (d, k, k) float64
    """
    from .differential import face_gradient

    V = _as2d(V, "V")
    F = np.asarray(F, dtype=np.int64)
    Phi = _as2d(evecs, "evecs")
    D = _as2d(descriptors, "descriptors")
    if Phi.shape[0] != V.shape[0] or D.shape[0] != V.shape[0]:
        raise MeshShapeError(f"evecs, descriptors: expected {V.shape[0]} rows (got {Phi.shape[0]} and {D.shape[0]})")
    G, area = face_gradient(V, F, return_areas=True)
    nF = F.shape[0]
    if face_normals is None:
        c = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
        n = c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-300)
    else:
        n = _as2d(face_normals, "face_normals")
    gPhi = (G @ Phi).reshape(3, nF, -1)  # (3, nF, k)
    gD = (G @ D).reshape(3, nF, -1)  # (3, nF, d)
    # n × ∇f per face, coordinate by coordinate: (3, nF, d)
    rot = np.stack([n[:, 1, None] * gD[2] - n[:, 2, None] * gD[1],
                    n[:, 2, None] * gD[0] - n[:, 0, None] * gD[2],
                    n[:, 0, None] * gD[1] - n[:, 1, None] * gD[0]])
    # ⟨n, ∇f × ∇φ_j⟩ = ⟨n × ∇f, ∇φ_j⟩ per face
    Phi_face = Phi[F].mean(axis=1) * area[:, None]  # (nF, k), area-weighted face values
    d, k = D.shape[1], Phi.shape[1]
    X = np.zeros((k, d * k))
    for a in range(0, nF, _FACE_BLOCK):  # blocks of faces keep the scratch array in cache
        s = slice(a, a + _FACE_BLOCK)
        # Q[t, f, j] = ⟨(n × ∇f)_t, ∇φ_j,t⟩
        Q = rot[0, s, :, None] * gPhi[0, s, None, :]
        Q += rot[1, s, :, None] * gPhi[1, s, None, :]
        Q += rot[2, s, :, None] * gPhi[2, s, None, :]
        X += Phi_face[s].T @ Q.reshape(Q.shape[0], d * k)
    return X.reshape(k, d, k).transpose(1, 0, 2).copy()


def multiplication_operators(evecs, mass, descriptors) -> np.ndarray:
    """The operators ``g ↦ f·g`` of each descriptor ``f`` in the reduced basis:
    ``(d, k, k)`` with ``X_f = Φᵀ M diag(f) Φ`` (Nogneng & Ovsjanikov 2017)."""
    Phi = _as2d(evecs, "evecs")
    m = np.asarray(mass, dtype=np.float64).reshape(-1)
    D = _as2d(descriptors, "descriptors")
    if m.shape[0] != Phi.shape[0] or D.shape[0] != Phi.shape[0]:
        raise MeshShapeError(f"mass, descriptors: expected {Phi.shape[0]} rows (got {m.shape[0]} and {D.shape[0]})")
    n, k, d = Phi.shape[0], Phi.shape[1], D.shape[1]
    MP = m[:, None] * Phi
    X = np.empty((d, k, k))
    chunk = max(1, int(4e6 // max(n * k, 1)))  # bound the (n, chunk, k) scratch array
    for a in range(0, d, chunk):
        Df = D[:, a:a + chunk]
        c = Df.shape[1]
        # one product for the chunk: Φᵀ [M f_1 Φ, …, M f_c Φ] (each block symmetric)
        prod = Phi.T @ (Df[:, :, None] * MP[:, None, :]).reshape(n, c * k)
        X[a:a + c] = prod.reshape(k, c, k).transpose(1, 0, 2)
    return X


def laplacian_mask(evals_a, evals_b, *, gamma: float | None = RESOLVENT_GAMMA) -> np.ndarray:
    """``(k_b, k_a)`` weights of the diagonal Laplacian-commutativity term.

    Both spectra are first divided by the largest eigenvalue of the two.  With ``gamma`` (default)
    the weights are those of the resolvent ``(Δ^γ + i)⁻¹`` (Ren, Melzi, Wonka & Ovsjanikov 2019),
    ``(r_b,i − r_a,j)² + (s_b,i − s_a,j)²`` with ``r = λ^γ / (λ^{2γ} + 1)`` and ``s = 1 / (λ^{2γ} + 1)``,
    which weigh low and high frequencies evenly; ``gamma=None`` gives the plain ``(λ̂_b,i − λ̂_a,j)²``.
    """
    la = np.maximum(np.asarray(evals_a, dtype=np.float64).reshape(-1), 0.0)
    lb = np.maximum(np.asarray(evals_b, dtype=np.float64).reshape(-1), 0.0)
    s = max(float(la.max(initial=0.0)), float(lb.max(initial=0.0)), 1e-300)
    la, lb = la / s, lb / s
    if gamma is None:
        return (lb[:, None] - la[None, :]) ** 2
    g = float(gamma)

    def parts(x):
        xg = x ** g
        den = x ** (2 * g) + 1.0
        return xg / den, 1.0 / den

    ra, sa = parts(la)
    rb, sb = parts(lb)
    return (rb[:, None] - ra[None, :]) ** 2 + (sb[:, None] - sa[None, :]) ** 2


def _check_ops(ops_a, ops_b, ka, kb, name):
    if (ops_a is None) != (ops_b is None):
        raise MeshShapeError(f"{name}: expected both or neither")
    if ops_a is None:
        return None, None
    ops_a = np.asarray(ops_a, dtype=np.float64)
    ops_b = np.asarray(ops_b, dtype=np.float64)
    if ops_a.ndim != 3 or ops_a.shape[1:] != (ka, ka) or ops_b.shape != (ops_a.shape[0], kb, kb):
        raise MeshShapeError(f"{name}: expected shapes (d, {ka}, {ka}) and (d, {kb}, {kb}) "
                             f"(got {ops_a.shape} and {ops_b.shape})")
    return ops_a, ops_b


def check_weight(value, name: str) -> float:
    """An energy weight (``w_descr``, ``w_lap``, ...): a finite number ``>= 0``, else a
    :class:`~manifold_nets.errors.MeshShapeError` naming it (NaN or inf would otherwise surface
    as a non-finite map, blamed on whatever checked the map first)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    if isinstance(value, (bool, np.bool_, str)) or not (np.isfinite(x) and x >= 0):
        raise MeshShapeError(f"{name}: expected a finite weight >= 0 (got {value!r})")
    return x


def _check_weights(**weights) -> dict:
    return {name: check_weight(v, name) for name, v in weights.items()}


def _check_system_inputs(A, B, evals_a, evals_b, ops_a, ops_b, mult_a, mult_b):
    A = _as2d(A, "A")
    B = _as2d(B, "B")
    if A.shape[1] != B.shape[1]:
        raise MeshShapeError(f"A, B: expected the same number of descriptors (got {A.shape[1]} and {B.shape[1]})")
    la = np.asarray(evals_a, dtype=np.float64).reshape(-1)
    lb = np.asarray(evals_b, dtype=np.float64).reshape(-1)
    if la.shape[0] != A.shape[0] or lb.shape[0] != B.shape[0]:
        raise MeshShapeError(f"evals_a, evals_b: expected {A.shape[0]} and {B.shape[0]} eigenvalues "
                             f"(got {la.shape[0]} and {lb.shape[0]})")
    ka, kb = A.shape[0], B.shape[0]
    ops_a, ops_b = _check_ops(ops_a, ops_b, ka, kb, "ops_a, ops_b")
    mult_a, mult_b = _check_ops(mult_a, mult_b, ka, kb, "mult_a, mult_b")
    return A, B, la, lb, ops_a, ops_b, mult_a, mult_b


def commutator_hessian(Xa, Xb) -> np.ndarray:
    """Hessian ``(k_b·k_a, k_b·k_a)`` of ``Σ_f ‖C X_a,f − X_b,f C‖²`` in the row-major ``vec(C)``:
    ``I ⊗ Σ XXᵀ + Σ YᵀY ⊗ I − Σ (Y ⊗ X + Yᵀ ⊗ Xᵀ)`` with ``X = X_a,f``, ``Y = X_b,f`` (assembled
    with one ``einsum`` over all operators, not a loop)."""
    ka, kb = Xa.shape[1], Xb.shape[1]
    SXX = np.einsum("fij,fkj->ik", Xa, Xa)
    SYY = np.einsum("fji,fjk->ik", Xb, Xb)
    cross = np.einsum("fab,fcd->acbd", Xb, Xa).reshape(kb * ka, kb * ka)
    return np.kron(np.eye(kb), SXX) + np.kron(SYY, np.eye(ka)) - cross - cross.T


def fmap_system(A, B, evals_a, evals_b, ops_a=None, ops_b=None, *, mult_a=None, mult_b=None,
                w_descr: float = W_DESCR, w_lap: float = W_LAP, w_orient: float = W_ORIENT,
                w_dcomm: float = W_DCOMM):
    """Normal equations ``H x = g`` of the functional-map energy (see the module notes).

    ``x`` is ``C_ab`` flattened row by row (``x[i·k_a + j] = C[i, j]``).

    Returns
    -------
    H : (k_b·k_a, k_b·k_a) float64
        Symmetric positive (semi)definite.
    g : (k_b·k_a,) float64
    """
    A, B, la, lb, ops_a, ops_b, mult_a, mult_b = _check_system_inputs(A, B, evals_a, evals_b, ops_a, ops_b,
                                                                      mult_a, mult_b)
    w = _check_weights(w_descr=w_descr, w_lap=w_lap, w_orient=w_orient, w_dcomm=w_dcomm)
    w_descr, w_lap, w_orient, w_dcomm = w["w_descr"], w["w_lap"], w["w_orient"], w["w_dcomm"]
    kb = B.shape[0]
    H = np.kron(np.eye(kb), w_descr * (A @ A.T))
    H[np.diag_indices_from(H)] += w_lap * laplacian_mask(la, lb).ravel()
    if ops_a is not None and w_orient:
        H += w_orient * commutator_hessian(ops_a, ops_b)
    if mult_a is not None and w_dcomm:
        H += w_dcomm * commutator_hessian(mult_a, mult_b)
    g = w_descr * (B @ A.T).ravel()
    return H, g


def solve_fmap(A, B, evals_a, evals_b, ops_a=None, ops_b=None, *, mult_a=None, mult_b=None,
               w_descr: float = W_DESCR, w_lap: float = W_LAP, w_orient: float = W_ORIENT,
               w_dcomm: float = W_DCOMM) -> np.ndarray:
    """The functional map ``C_ab`` ``(k_b, k_a)`` minimising the energy of the module notes.

    Parameters
    ----------
    A : (k_a, d) float64
        Descriptor coefficients on shape ``a`` (:func:`project`).
    B : (k_b, d) float64
        The same descriptors on shape ``b``.
    evals_a, evals_b : (k_a,), (k_b,) float64
    ops_a, ops_b : (d_o, k_a, k_a), (d_o, k_b, k_b) float64, optional
        Orientation operators (:func:`orientation_operators`).
    mult_a, mult_b : (d_m, k_a, k_a), (d_m, k_b, k_b) float64, optional
        Descriptor multiplication operators (:func:`multiplication_operators`).
    w_descr, w_lap, w_orient, w_dcomm : float
        Weights of the terms.  Without operators (or with zero weights) each row of ``C`` is an
        independent least-squares problem and all rows are solved in one batched call.

    Examples
    --------
    Identical descriptors on identical spectra give the identity:

    >>> A = np.random.default_rng(0).normal(size=(4, 10))
    >>> C = solve_fmap(A, A, np.arange(4.0), np.arange(4.0))
    >>> bool(np.allclose(C, np.eye(4), atol=1e-8))
    True
    """
    A, B, la, lb, ops_a, ops_b, mult_a, mult_b = _check_system_inputs(A, B, evals_a, evals_b, ops_a, ops_b,
                                                                      mult_a, mult_b)
    w = _check_weights(w_descr=w_descr, w_lap=w_lap, w_orient=w_orient, w_dcomm=w_dcomm)
    w_descr, w_lap, w_orient, w_dcomm = w["w_descr"], w["w_lap"], w["w_orient"], w["w_dcomm"]
    ka, kb = A.shape[0], B.shape[0]
    if (ops_a is None or not w_orient) and (mult_a is None or not w_dcomm):
        # rows decouple: (w_d A Aᵀ + w_l diag(mask_i)) c_i = w_d A b_i for every row i at once
        mask = laplacian_mask(la, lb)
        H = np.broadcast_to(w_descr * (A @ A.T), (kb, ka, ka)).copy()
        H[:, np.arange(ka), np.arange(ka)] += w_lap * mask
        rhs = w_descr * (B @ A.T)  # (kb, ka)
        try:
            return np.linalg.solve(H, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:
            # rank-deficient descriptors (e.g. all zero, or fewer independent descriptors than
            # basis functions where the Laplacian term vanishes): the minimum-norm least-squares
            # map, as the coupled system below, with a warning instead of numpy's LinAlgError
            _warn_singular(kb, ka)
            return (np.linalg.pinv(H, hermitian=True) @ rhs[:, :, None])[:, :, 0]
    H, g = fmap_system(A, B, la, lb, ops_a, ops_b, mult_a=mult_a, mult_b=mult_b, w_descr=w_descr,
                       w_lap=w_lap, w_orient=w_orient, w_dcomm=w_dcomm)
    try:
        x = sla.cho_solve(sla.cho_factor(H, lower=True, check_finite=False), g, check_finite=False)
    except np.linalg.LinAlgError:  # semidefinite (e.g. symmetric shapes): the least-squares map
        x = np.linalg.lstsq(H, g, rcond=None)[0]
    return x.reshape(kb, ka)


def _warn_singular(kb: int, ka: int) -> None:
    from ..errors import MeshWarning
    from ._checked import warn_user

    warn_user(f"solve_fmap: the ({kb}, {ka}) functional-map system is singular (the descriptors do not "
              "determine the map: all zero, or too few independent ones); the minimum-norm "
              "least-squares map is returned", MeshWarning)


def _brute_prepare(P, single):
    """``(P, ½‖p‖² (n_p,), Pᵀ)`` for :func:`_brute_nn` (float32 with ``single``)."""
    if single:
        P = P.astype(np.float32)
    return P, 0.5 * np.einsum("ij,ij->i", P, P), np.ascontiguousarray(P.T)


def _brute_nn(Q, prepared) -> np.ndarray:
    """Blocked brute-force nearest neighbours: ``argmax_p q·p − ½‖p‖²``, one product per block."""
    P, half, PT = prepared
    Q = Q.astype(P.dtype, copy=False)
    out = np.empty(Q.shape[0], dtype=np.int64)
    rows = int(min(_NN_BLOCK, max(64, _NN_BLOCK_BYTES // max(P.shape[0] * P.itemsize, 1))))
    for a in range(0, Q.shape[0], rows):
        S = Q[a:a + rows] @ PT
        S -= half
        out[a:a + rows] = S.argmax(axis=1)
    return out


def _probed_nn(Q, P, single: bool = False) -> np.ndarray:
    """Nearest neighbours by a KD-tree or by brute force (float32 with ``single``), whichever
    answers a probe of :data:`_PROBE_QUERIES` evenly spread queries faster.  Brute force answers
    the probe first; the tree then gets the same queries in chunks of :data:`_PROBE_CHUNK` and is
    given up as soon as it has taken :data:`_PROBE_GIVE_UP` times brute force's time for as many
    queries.  Both are exact (float64), or brute force is float32, so only near-ties can depend on
    the choice."""
    import time

    from scipy.spatial import cKDTree

    nq = Q.shape[0]
    probe = np.unique(np.linspace(0, nq - 1, min(nq, _PROBE_QUERIES)).round().astype(np.int64))
    prepared = _brute_prepare(P, single)
    t0 = time.perf_counter()
    brute = _brute_nn(Q[probe], prepared)
    t_brute = time.perf_counter() - t0
    tree = cKDTree(P, leafsize=_KDTREE_LEAFSIZE)
    kd = np.empty(probe.size, dtype=np.int64)
    t_kd = 0.0
    done = 0
    while done < probe.size:
        part = slice(done, done + _PROBE_CHUNK)
        t0 = time.perf_counter()
        kd[part] = tree.query(Q[probe[part]], k=1)[1]
        t_kd += time.perf_counter() - t0
        done = min(done + _PROBE_CHUNK, probe.size)
        if t_kd > _PROBE_GIVE_UP * t_brute * done / probe.size:
            break
    out = np.empty(nq, dtype=np.int64)
    rest = np.ones(nq, dtype=bool)
    rest[probe] = False
    if done == probe.size and t_kd <= t_brute:
        out[probe] = kd
        out[rest] = tree.query(Q[rest], k=1)[1]
    else:
        out[probe] = brute
        out[rest] = _brute_nn(Q[rest], prepared)
    return out


def nearest_neighbors(query, points, *, single: bool = False, method: str = "auto") -> np.ndarray:
    """Index ``(n_q,)`` int64 of the nearest row of ``points (n_p, k)`` for each row of
    ``query (n_q, k)`` (Euclidean).

    ``method``:

    * ``"kdtree"``: scipy ``cKDTree`` (exact);
    * ``"brute"``: blocked brute force, one matrix product per block of queries (exact in float64;
      ``single=True`` does the products in float32, about twice as fast, and near-ties may
      resolve differently);
    * ``"auto"`` (default): a KD-tree up to :data:`_KDTREE_MAX_DIM` dimensions; above, brute force
      for small problems (``n_q · n_p`` up to :data:`_PROBE_MIN_PRODUCT`, or up to
      :data:`_SINGLE_MAX_PRODUCT` with ``single=True``) and otherwise whichever of the KD-tree and
      brute force (float32 with ``single``) is faster on a probe of :data:`_PROBE_QUERIES` queries
      (:func:`_probed_nn`).  Spectral embeddings are 2-D surfaces in ``k`` dimensions,
      where a KD-tree answers queries lying near the points fast even at ``k = 120``; far from
      them it degrades to a scan slower than brute force, which the probe detects.  The result
      does not depend on the choice (both exact) except between exactly equidistant points.

    >>> nearest_neighbors([[0.1, 0.0], [2.0, 2.1]], [[0.0, 0.0], [2.0, 2.0], [5.0, 5.0]]).tolist()
    [0, 1]
    """
    Q = np.asarray(query, dtype=np.float64)
    P = np.asarray(points, dtype=np.float64)
    if Q.ndim != 2 or P.ndim != 2 or Q.shape[1] != P.shape[1] or P.shape[0] == 0:
        raise MeshShapeError(f"query, points: expected (n, k) arrays with the same k and some points "
                             f"(got {Q.shape} and {P.shape})")
    if method not in ("auto", "kdtree", "brute"):
        raise MeshShapeError(f"method: expected 'auto', 'kdtree' or 'brute' (got {method!r})")
    if method == "auto":
        if P.shape[1] <= _KDTREE_MAX_DIM:
            method = "kdtree"
        elif Q.shape[0] * P.shape[0] <= (_SINGLE_MAX_PRODUCT if single else _PROBE_MIN_PRODUCT):
            method = "brute"
        else:
            return _probed_nn(Q, P, bool(single))
    if method == "kdtree":
        from scipy.spatial import cKDTree

        leafsize = 16 if P.shape[1] <= _KDTREE_MAX_DIM else _KDTREE_LEAFSIZE
        return cKDTree(P, leafsize=leafsize).query(Q, k=1)[1].astype(np.int64)
    return _brute_nn(Q, _brute_prepare(P, bool(single)))


def fmap_to_p2p(C_ab, evecs_a, evecs_b, *, adjoint: bool = False, single: bool | None = None) -> np.ndarray:
    """Point-to-point map ``p2p_ba (n_b,)`` int64 (a vertex of ``a`` for every vertex of ``b``)
    of a functional map ``C_ab (k_b, k_a)``.

    Default (as ZoomOut): each row of ``Φ_b`` is matched to the nearest row of ``Φ_a C_abᵀ``
    (the deltas of ``a`` carried to ``b``).  ``adjoint=True`` matches the rows of ``Φ_b C_ab``
    to the rows of ``Φ_a`` instead; the two agree for an orthogonal ``C`` (measured on the cat
    poses, the default keeps ZoomOut from drifting, the adjoint does not).  ``single=True``:
    float32 brute-force nearest neighbours allowed (:func:`nearest_neighbors` with ``single=True``:
    a KD-tree where a probe finds it faster); default (``None`` or ``False``): exact
    (:func:`nearest_neighbors` with ``method="auto"``).
    """
    C = _as2d(C_ab, "C")
    Pa = _as2d(evecs_a, "evecs_a")
    Pb = _as2d(evecs_b, "evecs_b")
    kb, ka = C.shape
    if Pa.shape[1] < ka or Pb.shape[1] < kb:
        raise MeshShapeError(f"evecs_a, evecs_b: expected at least {ka} and {kb} columns "
                             f"(got {Pa.shape[1]} and {Pb.shape[1]})")
    single = bool(single)
    if adjoint:
        return nearest_neighbors(Pb[:, :kb] @ C, Pa[:, :ka], single=single)
    return nearest_neighbors(Pb[:, :kb], Pa[:, :ka] @ C.T, single=single)


def p2p_to_fmap(p2p_ba, evecs_a, evecs_b, mass_b) -> np.ndarray:
    """Functional map ``C_ab = Φ_bᵀ M_b Φ_a[p2p_ba]`` ``(k_b, k_a)`` of a point-to-point map
    ``p2p_ba (n_b,)`` (the pull-back of functions on ``a``)."""
    Pa = _as2d(evecs_a, "evecs_a")
    Pb = _as2d(evecs_b, "evecs_b")
    t = np.asarray(p2p_ba, dtype=np.int64).reshape(-1)
    m = np.asarray(mass_b, dtype=np.float64).reshape(-1)
    if t.shape[0] != Pb.shape[0] or m.shape[0] != Pb.shape[0]:
        raise MeshShapeError(f"p2p_ba, mass_b: expected {Pb.shape[0]} entries (got {t.shape[0]} and {m.shape[0]})")
    if t.size and (t.min() < 0 or t.max() >= Pa.shape[0]):
        raise MeshShapeError(f"p2p_ba: expected vertex indices in [0, {Pa.shape[0]}) "
                             f"(got {int(t.min())}..{int(t.max())})")
    return Pb.T @ (m[:, None] * Pa[t])


def spectral_residual(p2p_ba, evecs_a, evecs_b, mass_b) -> float:
    """ZoomOut's energy of a point-to-point map ``p2p_ba (n_b,)`` at the basis size ``k`` of the
    given ``evecs_a (n_a, k)``, ``evecs_b (n_b, k)``: float,
    ``Σ_i m_b(i) ‖Φ_a[p2p(i)] Cᵀ − Φ_b[i]‖²`` with ``C = p2p_to_fmap(p2p_ba)``.

    Zero for a map that carries the basis of ``a`` exactly onto the span of the basis of ``b``
    (an isometry with matching bases); it needs no ground truth, so it can choose between
    candidate maps (:func:`zoomout` with several ``C_init``).
    """
    Pa = _as2d(evecs_a, "evecs_a")
    Pb = _as2d(evecs_b, "evecs_b")
    if Pa.shape[1] != Pb.shape[1]:
        raise MeshShapeError(f"evecs_a, evecs_b: expected the same number of columns (got {Pa.shape[1]} and {Pb.shape[1]})")
    C = p2p_to_fmap(p2p_ba, Pa, Pb, mass_b)
    t = np.asarray(p2p_ba, dtype=np.int64).reshape(-1)
    m = np.asarray(mass_b, dtype=np.float64).reshape(-1)
    r = Pa[t] @ C.T - Pb
    return float(m @ np.einsum("ij,ij->i", r, r))


def farthest_point_sampling(V, n: int, *, start: int = 0) -> np.ndarray:
    """``n`` vertex indices ``(n,)`` int64 spread by farthest-point sampling in 3-D (Euclidean),
    starting at vertex ``start``; ``1 <= n <= len(V)``.

    >>> farthest_point_sampling(np.array([[0.0, 0, 0], [1, 0, 0], [10, 0, 0]]), 2).tolist()
    [0, 2]
    """
    V = _as2d(V, "V")
    nV = V.shape[0]
    if V.shape[1] != 3 or nV == 0:
        raise MeshShapeError(f"V: expected shape (nV, 3) with nV >= 1 (got {V.shape})")
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or not 1 <= n <= nV:
        raise MeshShapeError(f"n: expected an integer number of samples in [1, {nV}] (got {n!r})")
    if isinstance(start, (bool, np.bool_)) or not isinstance(start, (int, np.integer)) or not 0 <= start < nV:
        raise MeshShapeError(f"start: expected a vertex index in [0, {nV}) (got {start!r})")
    n = int(n)
    X = np.ascontiguousarray(V.T)  # coordinates as contiguous rows: a few passes over cache-sized arrays
    idx = np.empty(n, dtype=np.int64)
    j = idx[0] = int(start)
    d = np.full(V.shape[0], np.inf)
    buf, tmp = np.empty(V.shape[0]), np.empty(V.shape[0])
    for i in range(1, n):
        # squared distance to the newest sample, (x − xj)² + (y − yj)² + (z − zj)², in place
        np.subtract(X[0], X[0, j], out=buf)
        np.multiply(buf, buf, out=buf)
        for c in (1, 2):
            np.subtract(X[c], X[c, j], out=tmp)
            np.multiply(tmp, tmp, out=tmp)
            buf += tmp
        np.minimum(d, buf, out=d)
        j = idx[i] = int(d.argmax())
    return idx


def _sample(V, mass, n):
    """Sample indices and the masses of their Euclidean Voronoi cells (they sum to the area)."""
    from scipy.spatial import cKDTree

    if n >= V.shape[0]:
        return np.arange(V.shape[0]), np.asarray(mass, dtype=np.float64)
    s = farthest_point_sampling(V, n)
    owner = cKDTree(V[s]).query(V, k=1)[1]
    return s, np.bincount(owner, weights=mass, minlength=s.size)


def zoomout(p2p_ba, evecs_a, evecs_b, mass_b, *, k_end: int | None = None, step: int = 1,
            k_start: int | None = None, n_samples: int | None = 2000, V_a=None, V_b=None,
            mass_a=None, n_final: int = 0, bijective: bool = False, progress=None, C_init=None,
            select_at: int | None = None, timings: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """ZoomOut refinement (Melzi et al. 2019) of a point-to-point map ``p2p_ba (n_b,)``.

    At each size ``k`` from ``k_start`` to ``k_end`` (by ``step``):
    ``C = p2p_to_fmap(p2p, Φ_a[:, :k], Φ_b[:, :k])`` then ``p2p = fmap_to_p2p(C, ...)``.

    Parameters
    ----------
    p2p_ba : (n_b,) int64 or None
        Initial map (``b → a``); ``None`` with ``C_init``.
    evecs_a, evecs_b : (n_a, K_a), (n_b, K_b) float64
    mass_b : (n_b,) float64
    k_end : int, optional
        Final basis size (default: all columns of the smaller basis).
    step : int
    k_start : int, optional
        First basis size (default ``step`` above 10, as little as the spectra allow).
    n_samples : int or None
        Farthest-point samples per shape for the intermediate steps (needs ``V_a``, ``V_b``,
        ``mass_a``); ``None`` uses every vertex throughout.  The last step always maps every
        vertex of ``b`` onto every vertex of ``a``.
    n_final : int
        Extra iterations at ``k_end`` on every vertex after the last step (they undo the noise of
        the subsampled steps).
    bijective : bool
        Make the ``n_final`` iterations two-sided (needs ``mass_a``): each one also maps every vertex
        of ``a`` onto ``b`` with the current map and uses the average of the two functional maps,
        ``½ (Φ_bᵀ M_b Φ_a[p2p_ba] + (Φ_aᵀ M_a Φ_b[p2p_ab])ᵀ)``: the adjoint of the reverse map
        approximates the inverse of a near-orthogonal ``C``, so the average favours maps that are
        close to bijective (the bijectivity term of Ren et al. 2021, "Discrete optimization for
        shape matching", in ZoomOut's alternating form).
    progress : callable, optional
        Called as ``progress(k)`` after each step.
    C_init : (k0_b, k0_a) float64 or a list of them, optional
        Start from this functional map instead of ``p2p_ba``: the initial map is
        ``fmap_to_p2p(C_init)``, computed only for the samples of ``b`` when subsampling (the
        same map at the samples as converting every vertex first, at a fraction of the cost).
        A list holds candidate initial maps (e.g. from different descriptors): each is refined
        up to the first size at or above ``select_at``, and only the one with the lowest
        :func:`spectral_residual` there (on the samples when subsampling) goes on.
    select_at : int, optional
        Where candidates are compared (default: ``k_start``); ignored with one initial map.
    timings : dict, optional
        Filled with the seconds spent in ``"sampling"``, ``"init"`` (the initial map),
        ``"steps"`` (all but the last step) and ``"final"`` (the last step and ``n_final``); with
        several candidates also ``"selected"`` (the index of the kept one) and ``"residuals"``.

    Returns
    -------
    p2p_ba : (n_b,) int64
    C_ab : (k_end, k_end) float64
        The functional map of the last step's input map.
    """
    import time

    Pa = _as2d(evecs_a, "evecs_a")
    Pb = _as2d(evecs_b, "evecs_b")
    inits = None
    if C_init is not None:
        many = isinstance(C_init, (list, tuple))
        inits = [_as2d(c, "C_init") for c in (C_init if many else [C_init])]
        if not inits:
            raise MeshShapeError("C_init: expected at least one functional map (got an empty list)")
        for c in inits:
            if c.shape[0] > Pb.shape[1] or c.shape[1] > Pa.shape[1]:
                raise MeshShapeError(f"C_init: expected at most ({Pb.shape[1]}, {Pa.shape[1]}) (got {c.shape})")
        p2p = None
    elif p2p_ba is None:
        raise MeshShapeError("p2p_ba: expected an initial map (or C_init)")
    else:
        p2p = np.asarray(p2p_ba, dtype=np.int64).reshape(-1)
    mb = np.asarray(mass_b, dtype=np.float64).reshape(-1)
    kmax = min(Pa.shape[1], Pb.shape[1])
    k_end = kmax if k_end is None else int(k_end)
    if not 1 <= k_end <= kmax:
        raise MeshShapeError(f"k_end: expected 1 <= k_end <= {kmax} (got {k_end})")
    step = int(step)
    if step < 1:
        raise MeshShapeError(f"step: expected a positive integer (got {step})")
    if n_samples is not None and (isinstance(n_samples, (bool, np.bool_))
                                  or not isinstance(n_samples, (int, np.integer)) or n_samples < 1):
        raise MeshShapeError(f"n_samples: expected a positive integer or None (got {n_samples!r})")
    if isinstance(n_final, (bool, np.bool_)) or not isinstance(n_final, (int, np.integer)) or n_final < 0:
        raise MeshShapeError(f"n_final: expected a non-negative integer (got {n_final!r})")
    k_start = min(k_end, 10) if k_start is None else int(k_start)
    sizes = list(range(k_start, k_end + 1, step))
    if not sizes or sizes[-1] != k_end:
        sizes.append(k_end)
    tm = {"sampling": 0.0, "init": 0.0, "steps": 0.0, "final": 0.0}
    t0 = time.perf_counter()
    sub = n_samples is not None and V_a is not None and V_b is not None and mass_a is not None
    if sub:
        from scipy.spatial import cKDTree

        Va = np.asarray(V_a, dtype=np.float64)
        sa, _ = _sample(Va, mass_a, int(n_samples))
        sb, mbs = _sample(np.asarray(V_b, dtype=np.float64), mb, int(n_samples))
        t1 = time.perf_counter()
        tm["sampling"] = t1 - t0
        tree = cKDTree(Va[sa])
        curs = []
        for c in (inits if p2p is None else [None]):
            if c is None:
                img = p2p[sb]
            else:
                img = nearest_neighbors(Pb[sb, :c.shape[0]], Pa[:, :c.shape[1]] @ c.T)  # the initial map at the samples
            # the sampled map: each sample of b goes to the sample of a nearest (in 3-D) to its image
            curs.append(tree.query(Va[img], k=1)[1].astype(np.int64))
        Pas, Pbs = Pa[sa], Pb[sb]
    else:
        t1 = t0
        curs = [fmap_to_p2p(c, Pa, Pb) for c in inits] if p2p is None else [p2p]
        mbs, Pas, Pbs = mb, Pa, Pb
    t2 = time.perf_counter()
    tm["init"] = t2 - t1
    # candidates are compared at the first size at or above select_at
    k_sel = sizes[0] if select_at is None else next((k for k in sizes if k >= int(select_at)), sizes[-1])
    C = None
    for i, k in enumerate(sizes):
        if len(curs) > 1 and k == k_sel:
            res = [spectral_residual(c, Pas[:, :k], Pbs[:, :k], mbs) for c in curs]
            best = int(np.argmin(res))
            tm["selected"], tm["residuals"] = best, res
            curs = [curs[best]]
        Cs = [Pbs[:, :k].T @ (mbs[:, None] * Pas[c, :k]) for c in curs]
        C = Cs[0]
        last = i == len(sizes) - 1
        if last:  # one candidate is left here (k_sel is at most the last size)
            t3 = time.perf_counter()
            tm["steps"] = t3 - t2
            p2p = fmap_to_p2p(C, Pa[:, :k], Pb[:, :k], single=True)
        else:
            curs = [nearest_neighbors(Pbs[:, :k], Pas[:, :k] @ c.T, single=True) for c in Cs]
        if progress is not None:
            progress(k)
    if bijective:
        if mass_a is None:
            raise MeshShapeError("bijective: expected mass_a (the reverse map's functional map needs it)")
        ma = np.asarray(mass_a, dtype=np.float64).reshape(-1)
        if ma.shape[0] != Pa.shape[0]:
            raise MeshShapeError(f"mass_a: expected {Pa.shape[0]} entries (got {ma.shape[0]})")
    single = True  # float32 brute force, or a KD-tree where a probe finds it faster
    for _ in range(int(n_final)):
        C = Pb[:, :k_end].T @ (mb[:, None] * Pa[p2p, :k_end])
        if bijective:  # average with the adjoint of the reverse map (every vertex of a onto b)
            back = nearest_neighbors(Pa[:, :k_end] @ C.T, Pb[:, :k_end], single=single)
            C = 0.5 * (C + (Pa[:, :k_end].T @ (ma[:, None] * Pb[back, :k_end])).T)
        new = fmap_to_p2p(C, Pa[:, :k_end], Pb[:, :k_end], single=single)
        if np.array_equal(new, p2p):
            break
        p2p = new
    tm["final"] = time.perf_counter() - t3
    if timings is not None:
        timings.update(tm)
    return p2p, C


def icp_refine(C_ab, evecs_a, evecs_b, *, n_iter: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Orthogonal ICP refinement (Ovsjanikov et al. 2012): alternate ``p2p = fmap_to_p2p(C)``
    and ``C = U Vᵀ`` from the SVD of ``Φ_bᵀ Φ_a[p2p]`` (the closest orthogonal map); square ``C``.

    Returns ``(p2p_ba (n_b,), C_ab (k, k))``.
    """
    C = _as2d(C_ab, "C")
    if C.shape[0] != C.shape[1]:
        raise MeshShapeError(f"C: expected a square map for ICP (got {C.shape})")
    k = C.shape[0]
    Pa = _as2d(evecs_a, "evecs_a")[:, :k]
    Pb = _as2d(evecs_b, "evecs_b")[:, :k]
    p2p = fmap_to_p2p(C, Pa, Pb)
    for _ in range(int(n_iter)):
        U, _, Wt = np.linalg.svd(Pb.T @ Pa[p2p])
        C = U @ Wt
        new = fmap_to_p2p(C, Pa, Pb)
        if np.array_equal(new, p2p):
            break
        p2p = new
    return p2p, C
