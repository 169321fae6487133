"""The ``k`` lowest eigenpairs of ``L φ = λ M φ`` (Laplace–Beltrami eigenbasis).

Method (chosen by measurement, see ``benchmarks/bench_eigen.py`` and
``benchmarks/bench_operators.py``):

* ``"lanczos"`` (the default from :data:`LANCZOS_MIN` active vertices on, and for
  :data:`LANCZOS_MIN_K` eigenpairs or more at any size): thick-restarted
  block Lanczos (block size :data:`BLOCK_SIZE`) on ``(L − σM)⁻¹ M`` in the M-inner product,
  around a small *negative* shift ``σ`` so that ``L − σM`` is symmetric positive definite.
  The known null space (component indicators) is locked out of the Krylov space and the
  basis is reorthogonalised with BLAS-3 block operations.  ``L − σM`` is factorised
  **once**, with CHOLMOD when ``cholespy`` is installed (called directly through
  :mod:`._solve` where that binding works), otherwise with SuperLU, and
  solved for a whole block of right-hand sides at a time.  Blocks also find repeated
  eigenvalues (symmetric meshes) that single-vector Lanczos can miss.

  Where the time goes (``benchmarks/bench_eigen.py``, k = 128, one thread, 41k–100k vertices):
  about a third in the sparse solves, a third in reorthogonalising each new block against the
  basis (two passes over an ``n × ~300`` matrix per step: memory-bound), the rest in the
  factorisation, the thick restarts and first-touch page faults of the basis.  What was
  measured and kept: every ``basis @ small`` product in the transposed (row-major) form
  OpenBLAS runs 1.3–1.9× faster (:func:`_tall`); a diagonal mass applied as a row scaling
  (:class:`_DiagonalMass`); one M-orthonormalisation pass for well-conditioned blocks; the thick
  restart written in place by row blocks (no ``n × k`` temporary to page in); a Ritz residual
  of :data:`LANCZOS_RTOL` instead of 1e-13, and convergence checks timed by the observed rate
  of convergence instead of every few steps (fewer steps past convergence).  Together
  1.4–1.6× over the previous version (same process, CPU time, one thread: dragon 100k 1.42×,
  armadillo 1.51×, horse 1.50×, ogre 1.60×), and 2.6–3.7× the DiffusionNet recipe on the
  ≥ 40k meshes of ``../shared`` and the 41k sphere (see the benchmark's table).  What was
  measured and not kept: block sizes 4, 6, 12 and 16 and bases of 350–512 columns were within
  ±5% of ``b = 8`` with ~300 columns (fewer solves with small blocks are paid back by more
  passes over the basis, and the other way round); CHOLMOD's solve costs the same per right-hand side from 4 columns on; a more
  negative shift (10²–10⁵ × the default) needs as many or up to 2.2× more solves.
  Reorthogonalising in float32 cannot work: the rounding of the inner products (~1e-10
  relative at n = 100k) is larger than the loss of orthogonality it must remove (~1e-11).
* ``"arpack"`` (the default between :data:`DENSE_MAX` and :data:`LANCZOS_MIN` for fewer than
  :data:`LANCZOS_MIN_K` eigenpairs, and the
  fallback of block Lanczos): ARPACK's implicitly restarted Lanczos
  (``scipy.sparse.linalg.eigsh``) in shift-invert mode with the same factorisation, plus a
  few guard pairs against missed copies of repeated eigenvalues.  Below ~8k vertices it
  needs fewer solves than the block method and its vector operations are cheap.
* ``"dense"``: LAPACK on the dense matrices, for small problems.
* ``"lobpcg"``: block LOBPCG preconditioned by the same factorisation (kept for comparison;
  on a 10k-vertex sphere with ``k = 128`` it needed ~10× more solves than ARPACK).

Robustness: vertices with zero mass and no stiffness (unreferenced vertices) are left out of
the solve and get eigenvector entries 0; vertices with zero mass but some stiffness get a tiny
regularising mass (``1e-8`` × the mean mass).  If the factorisation or the iteration fails the
solve is retried with a 10× larger shift, then with ARPACK (10× and 1000× shifts), then with
SuperLU, then (up to :data:`DENSE_RETRY_MAX` vertices) densely; after that
:class:`~manifold_nets.errors.SolverError`.

What the caller sees: every change to what was asked is an :class:`EigenbasisWarning` (a
``RuntimeWarning``) that says what changed — a retry that succeeded (which attempts failed and
which method, backend and shift gave the result), a regularising mass, and a dense LAPACK solve
used instead of the requested (or the default iterative) method because ``k`` is close to the
number of active vertices.  ``k = 0`` returns empty arrays; ``k`` above the number of active
vertices, and ``L = 0`` (the Laplacian of a mesh whose faces all have zero area:
:class:`~manifold_nets.errors.DegenerateFaceError`), are errors.

Reproducibility: the start vector is fixed, each eigenvector is normalised so that
``φᵀ M φ = 1`` and its entry of largest magnitude is positive
(:data:`~manifold_nets.conventions.EIGENVECTOR_SIGN_RULE`).  On a mesh with ``c`` connected
components, the null space (``λ = 0``, multiplicity ``c``) is returned as the normalised
indicator functions of the components, ordered by their lowest vertex index; within other
repeated eigenvalues the basis is whatever the solver returns.
"""

from __future__ import annotations

import logging
import mmap
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla_dense
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.sparse.csgraph import connected_components

from ..errors import DegenerateFaceError, MeshShapeError, NonFiniteError, SolverError
from ._checked import warn_user
from ._cholesky import sparse_cholesky
from ._solve import SPDSolver, have_cholmod_direct

__all__ = ["eigenbasis", "active_vertices", "fix_eigenvector_signs", "sparse_cholesky", "DENSE_MAX",
           "DENSE_RETRY_MAX", "LANCZOS_MIN", "LANCZOS_MIN_K", "LANCZOS_RTOL", "BLOCK_SIZE", "EigenbasisWarning"]


class EigenbasisWarning(RuntimeWarning):
    """The eigen solve did something other than what was asked (a retry with another method,
    shift or backend, a regularised mass, a dense solve, a reduced ``k``); the message says what."""

logger = logging.getLogger(__name__)

#: The factorisation backends of :func:`eigenbasis` (and ``eig_backend`` of
#: :func:`~manifold_nets.geometry.operators`).
EIG_BACKENDS = ("auto", "cholmod", "superlu")
#: Up to this many active vertices the dense LAPACK solver is used by ``method="auto"``.
DENSE_MAX = 1200
#: ``method="auto"`` uses block Lanczos from this many active vertices on, ARPACK below
#: (where the Krylov basis is cheap to orthogonalise and single-vector Lanczos needs fewer solves)
#: unless ``k`` reaches :data:`LANCZOS_MIN_K`.
LANCZOS_MIN = 8000
#: ``method="auto"`` uses block Lanczos for this many eigenpairs or more at any size above
#: :data:`DENSE_MAX`: with ``k`` = 128 and 160 on remeshed fertility of 1.5k–8k vertices it took
#: 1.2–1.8× less time than ARPACK (k = 64: within ±12 %, k = 32: ARPACK ahead by ~10 %), and
#: on the 4k–6k-vertex remeshed lion and cat poses at k = 160 1.45× and 1.6× less.
LANCZOS_MIN_K = 100
#: Block size of the block Lanczos solver.
BLOCK_SIZE = 8
#: Block Lanczos stops when every wanted Ritz pair of ``(L − σM)⁻¹M`` has a relative residual
#: below ``max(tol, LANCZOS_RTOL)``.  The eigenvalues are then Rayleigh quotients with ``L``, whose
#: error is quadratic in the eigenvector error: on the 41k sphere, armadillo and the 100k
#: dragon they match a ``tol=0`` ARPACK solve to ~1e-13 relative from 1e-10 down, as at the
#: earlier 1e-13, and the relative residuals ``|Lφ − λMφ|`` are ≤ 1.2e-9 at 1e-11 (1.3e-8 on
#: the dragon at 1e-10); 1e-11 needs ~3–6% fewer solves than 1e-13.
LANCZOS_RTOL = 1e-11
#: Fewest locked component indicators that block Lanczos projects out with sparse products
#: instead of keeping them in its dense basis: with one component (armadillo, 43k vertices) the
#: sparse products cost 4 % more time than the dense column; with 44 (ogre, 62k) 10 % less
#: (one thread, k = 128, same eigenvalues to 4e-14; this module and the previous commit's, both
#: imported in one process and run interleaved, median of 5).
SPARSE_LOCK_MIN = 8
#: Last-resort dense retry up to this many active vertices.
DENSE_RETRY_MAX = 6000


def fix_eigenvector_signs(evecs: np.ndarray) -> np.ndarray:
    """Flip columns in place so that each column's entry of largest magnitude (first on a tie)
    is positive; returns ``evecs``.

    Examples
    --------
    >>> fix_eigenvector_signs(np.array([[1.0, 2.0], [-3.0, 0.5]]))
    array([[-1. ,  2. ],
           [ 3. ,  0.5]])
    """
    if not isinstance(evecs, np.ndarray) or evecs.ndim != 2 or evecs.dtype.kind != "f":
        raise MeshShapeError(
            f"evecs: expected an (nV, k) float array, flipped in place (got {type(evecs).__name__}"
            f"{' of shape ' + str(evecs.shape) + ' and dtype ' + str(evecs.dtype) if isinstance(evecs, np.ndarray) else ''})")
    if evecs.size == 0:
        return evecs
    # by blocks of columns: no |evecs| temporary as large as the eigenbasis
    idx = np.concatenate([np.argmax(np.abs(evecs[:, c : c + 16]), axis=0) for c in range(0, evecs.shape[1], 16)])
    s = np.sign(evecs[idx, np.arange(evecs.shape[1])])
    s[s == 0] = 1.0
    evecs *= s
    return evecs


def active_vertices(L, M) -> np.ndarray:
    """Boolean mask ``(nV,)`` of the vertices taking part in an eigen solve: positive mass or a
    non-zero off-diagonal entry of ``L`` (unreferenced vertices have neither).

    Examples
    --------
    >>> active_vertices(sp.csr_matrix((3, 3)), sp.diags([1.0, 0.0, 2.0])).tolist()
    [True, False, True]
    """
    L = _check_operator(L, "L")
    M = _check_operator(M, "M")
    if M.shape != L.shape:
        raise MeshShapeError(f"M: expected shape {L.shape} like L (got {M.shape})")
    Loff = L - sp.diags(L.diagonal())
    stiff = np.asarray(abs(Loff).sum(axis=1)).ravel() > 0
    return (M.diagonal() > 0) | stiff


def _check_operator(A, name: str) -> sp.csr_matrix:
    if not sp.issparse(A):
        if isinstance(A, np.ndarray) and A.ndim == 2:
            A = sp.csr_matrix(A)
        else:
            raise MeshShapeError(f"{name}: expected a scipy.sparse matrix (got {type(A).__name__})")
    A = sp.csr_matrix(A, dtype=np.float64)
    if A.shape[0] != A.shape[1]:
        raise MeshShapeError(f"{name}: expected a square matrix (got shape {A.shape})")
    if not np.isfinite(A.data).all():
        r = int(np.searchsorted(A.indptr, np.flatnonzero(~np.isfinite(A.data))[0], side="right") - 1)
        raise NonFiniteError(f"{name}: expected finite entries (got NaN/inf in row {r})")
    return A


class _Progress:
    """Counts solves; logs every few seconds and drives an optional tqdm bar."""

    def __init__(self, enabled: bool, desc: str):
        self.count = 0
        self.t0 = time.perf_counter()
        self.t_last = self.t0
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            self.bar = tqdm(desc=desc, unit="solve", leave=False)

    def step(self, n: int = 1) -> None:
        self.count += n
        if self.bar is not None:
            self.bar.update(n)
        now = time.perf_counter()
        if now - self.t_last > 5.0:
            self.t_last = now
            logger.info("eigenbasis: %d solves after %.1f s", self.count, now - self.t0)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _solve_arpack(L, M, k, sigma, backend, tol, maxiter, v0, prog):
    n = L.shape[0]
    fac = sparse_cholesky((L - sigma * M).tocsr(), backend=backend)

    def mv(b):
        prog.step(1)
        return fac.solve(b)

    def mm(B):
        prog.step(B.shape[1])
        return fac.solve(B)

    op = sla.LinearOperator((n, n), matvec=mv, matmat=mm, dtype=np.float64)
    # Guard pairs: single-vector Lanczos can miss one copy of a repeated eigenvalue at the
    # end of the wanted range (symmetric meshes), so a few more pairs are computed and dropped.
    kk = min(n - 1, k + max(4, k // 16))
    ncv = min(n, max(2 * kk + 1, 20))
    evals, evecs = sla.eigsh(
        L, k=kk, M=M, sigma=sigma, OPinv=op, which="LM", v0=v0, ncv=ncv, tol=tol, maxiter=maxiter
    )
    order = np.argsort(evals, kind="stable")[:k]
    return evals[order], evecs[:, order], fac.backend


def _solve_lobpcg(L, M, k, sigma, backend, tol, maxiter, v0, prog):
    n = L.shape[0]
    fac = sparse_cholesky((L - sigma * M).tocsr(), backend=backend)

    def mm(B):
        B = np.atleast_2d(B.T).T
        prog.step(B.shape[1])
        return fac.solve(B)

    op = sla.LinearOperator((n, n), matvec=mm, matmat=mm, dtype=np.float64)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, min(n, k + max(8, k // 4))))
    X[:, 0] = v0
    evals, evecs = sla.lobpcg(
        L, X, B=M, M=op, largest=False, tol=tol or 1e-10, maxiter=maxiter or 500, verbosityLevel=0
    )
    order = np.argsort(evals)[:k]
    return evals[order], evecs[:, order], fac.backend


class _DiagonalMass:
    """A diagonal (lumped) mass matrix as a vector: ``M @ X`` is a row scaling, without the
    sparse-matrix product's overhead and with the layout of ``X`` kept (column-major blocks stay
    column-major)."""

    def __init__(self, d: np.ndarray):
        self.d = d
        self._d2 = d[:, None]

    @classmethod
    def of(cls, M):
        """``M`` itself unless it is diagonal, then a :class:`_DiagonalMass`."""
        M = sp.csr_matrix(M)
        d = M.diagonal()
        if M.nnz == np.count_nonzero(d) and np.count_nonzero(M.data) == M.nnz:
            return cls(d)
        return M

    def __matmul__(self, X: np.ndarray) -> np.ndarray:
        return self.d * X if X.ndim == 1 else self._d2 * X


def _columnwise(f, X: np.ndarray, width: int = 16) -> np.ndarray:
    """``f(X)`` for a per-column reduction ``f`` ``(n, p) → (p,)``, evaluated on blocks of
    ``width`` columns (temporaries of ``n × width``, not ``n × k``: 1 GB less at 1M vertices)."""
    return np.concatenate([f(X[:, c : c + width]) for c in range(0, X.shape[1], width)]) \
        if X.shape[1] else np.zeros(0)


def _m_norms2(M, X: np.ndarray) -> np.ndarray:
    """``diag(Xᵀ M X)`` ``(p,)`` without an ``n × p`` temporary."""
    Md = _DiagonalMass.of(M)
    if isinstance(Md, _DiagonalMass):
        return np.einsum("ij,ij,i->j", X, X, Md.d)
    return _columnwise(lambda B: np.einsum("ij,ij->j", B, Md @ B), X)


def _tall(Q: np.ndarray, C: np.ndarray) -> np.ndarray:
    """``Q @ C`` for a tall column-major ``Q`` (n, m) and a small ``C`` (m, p), computed as
    ``(Cᵀ Qᵀ)ᵀ``: OpenBLAS runs that form (row-major operands) about 1.3–1.9× faster than
    ``Q @ C`` on a column-major ``Q`` (measured with one thread, n = 41k, m = 300, p = 8–143)."""
    return (C.T @ Q.T).T


def _rows_times(Q: np.ndarray, S: np.ndarray, out: np.ndarray, rows: int = 4096) -> np.ndarray:
    """``out[:] = Q @ S`` by blocks of rows, for a tall ``Q`` (n, m) and ``S`` (m, p) with
    ``p <= m``; ``out`` may share memory with the first ``p`` columns of ``Q`` (the thick restart
    rewrites the basis in place).  No (n, p) temporary to page in: each row block is finished
    before it is written (in the transposed form of :func:`_tall`; 4096-row blocks measured as
    fast as one ``n × p`` product on warm memory, 2× faster than one on fresh memory)."""
    n = Q.shape[0]
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        out[r0:r1] = (S.T @ Q[r0:r1].T).T
    return out


def _morth(W, M, Q, c, rng, tau=1e-10, project=None):
    """M-orthonormalise the block ``W`` (already M-orthogonal to ``Q[:, :c]``).

    Returns ``(Qn, B)`` with ``W ≈ Qn B`` and ``Qnᵀ M Qn = I``.  Directions of ``W`` that are
    numerically zero (an invariant subspace was found) are replaced by random vectors
    M-orthogonal to everything so far, with zero rows in ``B``; ``project``, if given, removes
    the locked vectors kept outside ``Q`` (:class:`_IndicatorLock`) from them.
    """
    b = W.shape[1]
    B = np.eye(b)
    X = W
    for _ in range(2):
        G = X.T @ (M @ X)
        G = 0.5 * (G + G.T)
        w, U = np.linalg.eigh(G)
        wmax = max(float(w[-1]), 1e-300)
        good = w > tau * wmax if _ == 0 else w > 1e-3 * wmax
        sq = np.sqrt(np.where(good, w, 1.0))
        Xn = _tall(X, U / sq)  # column-major: copied into the column-major basis cheaply
        Bn = (U * sq).T  # rows: coefficients of X in the new basis
        Bn[~good] = 0.0
        if (~good).any():
            R = rng.standard_normal((X.shape[0], int((~good).sum())))
            for _p in range(2):
                if project is not None:
                    project(R, M @ R)
                MR = M @ R
                R -= _tall(Q[:, :c], Q[:, :c].T @ MR)
                Xg = Xn[:, good]
                R -= Xg @ (Xg.T @ (M @ R))
            G2 = R.T @ (M @ R)
            w2, U2 = np.linalg.eigh(0.5 * (G2 + G2.T))
            Xn[:, ~good] = (R @ U2) / np.sqrt(np.maximum(w2, 1e-300))
        X = Xn
        B = Bn @ B
        if _ == 0 and good.all() and w[0] > 1e-3 * wmax:
            # A well-conditioned block (Gram condition number < 1e3) is M-orthonormal to
            # ~1e-13 after one pass; the second pass is for nearly dependent blocks.
            break
    return X, B


def _factor_for_solves(A, backend: str):
    """A factorisation of the SPD ``A`` for block Lanczos's many block solves: ``.solve(B)``,
    ``.backend``.

    CHOLMOD called directly when that binding is usable (:class:`~manifold_nets.geometry._solve.SPDSolver`:
    AMD with postordering, one analysis), :func:`sparse_cholesky` (``cholespy``) otherwise.  The
    direct factorisation is 3–4× faster (armadillo, 43k vertices: 0.07 s against 0.25 s); its
    simplicial solves are slower per block (10 against 7 ms for 8 right-hand sides on armadillo),
    and in all the eigenbasis took 0.5–8 % less time on the 41k–100k meshes of
    ``benchmarks/bench_eigen.py`` (one thread, k = 128; measured as for :data:`SPARSE_LOCK_MIN`).  A failure falls
    through to :func:`sparse_cholesky`, whose typed error the caller's retries handle.
    """
    if backend in ("auto", "cholmod"):
        if have_cholmod_direct():
            try:
                return _DirectSolves(SPDSolver(A, "cholespy", "L - sigma M"))
            except SolverError:
                pass
    return sparse_cholesky(A, backend=backend)


@dataclass
class _DirectSolves:
    """:class:`~manifold_nets.geometry._solve.SPDSolver` (direct CHOLMOD) in the role of
    :class:`~manifold_nets.geometry._cholesky._Factor` (``.solve``, ``.backend``)."""

    solver: object
    backend: str = "cholmod"

    def solve(self, b: np.ndarray) -> np.ndarray:
        return self.solver.solve(b)


class _IndicatorLock:
    """Locked vectors with at most one non-zero per row (e.g. scaled indicators of connected
    components, the null space of a Laplacian), kept out of the dense Krylov basis.

    Projecting them out of a block costs two sparse products, ``O(n b)``, instead of a pass
    over ``n × n_locked`` dense columns in every reorthogonalisation (on a 62k-vertex mesh with
    44 components, a fifth of the basis that each step reads).
    """

    def __init__(self, locked: np.ndarray):
        self.S = sp.csr_matrix(locked)
        self.St = self.S.T.tocsr()

    @staticmethod
    def applies(locked) -> bool:
        """At least :data:`SPARSE_LOCK_MIN` columns, each row with at most one non-zero."""
        return (locked is not None and locked.shape[1] >= SPARSE_LOCK_MIN
                and bool(np.all(np.count_nonzero(locked, axis=1) <= 1)))

    def __call__(self, X: np.ndarray, MX: np.ndarray) -> np.ndarray:
        """``X -= S Sᵀ (M X)`` in place (``MX`` = ``M X``); returns ``X``."""
        X -= self.S @ (self.St @ MX)
        return X


def _solve_block_lanczos(L, M, k, sigma, backend, tol, maxiter, v0, prog, *, block=None, locked=None,
                         max_cols=None):
    """Thick-restarted block Lanczos on ``(L − σM)⁻¹ M`` in the M-inner product.

    Full reorthogonalisation (BLAS-3, against the locked vectors too); when the basis reaches
    ``max_cols`` columns it is compressed to the wanted Ritz vectors plus a margin
    (Krylov–Schur style thick restart) and the iteration goes on.  ``locked`` columns (known
    M-orthonormal eigenvectors, e.g. the null space) are kept out of the Krylov space; when each
    row of them has at most one non-zero (component indicators) they are projected out with
    sparse products (:class:`_IndicatorLock`) instead of being stored in the dense basis.
    """
    n = L.shape[0]
    fac = _factor_for_solves((L - sigma * M).tocsr(), backend)
    M = _DiagonalMass.of(M)
    rng = np.random.default_rng(12345)
    nl = 0 if locked is None else locked.shape[1]
    kk = k - nl
    lock = _IndicatorLock(locked) if _IndicatorLock.applies(locked) else None
    nq = 0 if lock is not None else nl  # locked columns stored at the front of Q
    if block is None:
        block = BLOCK_SIZE
    b = int(min(block, max(1, (n - nl) // 4)))
    keep = kk + 2 * b  # Ritz vectors kept at a restart
    if max_cols is None:
        max_cols = max(2 * kk + 6 * b, keep + 4 * b)
        # on very large meshes the basis is capped at BASIS_BUDGET_BYTES (never below keep + 4b)
        max_cols = max(min(max_cols, int(BASIS_BUDGET_BYTES // (8 * max(n, 1))) - nq - b), keep + 4 * b)
    max_cols = int(min(max_cols, n - nl - b))
    if max_cols < kk + 2 * b:
        raise SolverError(f"block Lanczos: expected n >> k (got n={n}, k={k}); use method='dense'")
    max_restarts = 50 if maxiter is None else int(maxiter)
    Q, release = _basis(n, nq + max_cols + b)  # column-major: columns contiguous
    if nq:
        Q[:, :nq] = locked
    T = np.zeros((max_cols + b, max_cols + b))
    X = rng.standard_normal((n, b))
    X[:, 0] = v0
    for _p in range(2 if nl else 0):
        if lock is not None:
            lock(X, M @ X)
        else:
            X -= _tall(Q[:, :nl], Q[:, :nl].T @ (M @ X))
    Qj, _ = _morth(X, M, Q, nq, rng, project=lock)
    cols = nq
    Q[:, cols : cols + b] = Qj
    cols += b
    restarts = 0
    since_check = 0
    check_every = max(2, (kk // b) // 3)
    next_check = check_every
    last_excess = None  # worst (relative residual / target) at the previous check
    rtol = max(tol, LANCZOS_RTOL)
    while True:
        s0 = cols - b
        t0 = s0 - nq
        W = fac.solve(M @ Q[:, s0:cols])
        prog.step(b)
        MW = M @ W
        # Local step first (the three-term recurrence: the current and previous block), then
        # full reorthogonalisation by classical Gram–Schmidt, repeated only when it cancelled a
        # large part of some column (Daniel–Gragg–Kaufman–Stewart test); after the local step
        # one pass nearly always suffices.  The diagonal block of T is the current block's part
        # of the local coefficients.
        lo = max(nq, s0 - b)
        Ql = Q[:, lo:cols]
        Cl = Ql.T @ MW
        A = Cl[-b:]
        T[t0 : t0 + b, t0 : t0 + b] = 0.5 * (A + A.T)
        W -= _tall(Ql, Cl)
        MW = M @ W
        before = np.einsum("ij,ij->j", W, MW)
        for _p in range(2):
            if lock is not None:
                lock(W, MW)
            C = Q[:, :cols].T @ MW
            W -= _tall(Q[:, :cols], C)
            MW = M @ W
            after = np.einsum("ij,ij->j", W, MW)
            if np.all(after > 0.5 * before):
                break
            before = after
        Qn, B = _morth(W, M, Q, cols, rng, project=lock)
        m = cols - nq  # Krylov columns described by T
        T[m : m + b, t0 : t0 + b] = B
        T[t0 : t0 + b, m : m + b] = B.T
        since_check += 1
        full = cols + b > nq + max_cols
        if m >= kk + b and (since_check >= next_check or full):
            theta, S = np.linalg.eigh(T[:m, :m])
            theta, S = theta[::-1], S[:, ::-1]
            res = np.linalg.norm(B @ S[m - b : m, :kk], axis=0)
            excess = float(np.max(res / (rtol * np.abs(theta[:kk]))))
            if excess <= 1.0:
                break
            # Next check: when the residual, falling at the rate seen since the last check, should
            # reach the target (at most check_every steps on): saves the overshoot of a fixed
            # cadence for a few eigh of the small projected matrix.
            next_check = check_every
            if last_excess is not None and excess < last_excess:
                rate = (excess / last_excess) ** (1.0 / since_check)
                next_check = int(min(check_every, max(1.0, np.floor(np.log(excess) / -np.log(rate)))))
            last_excess = excess
            since_check = 0
            if full:
                restarts += 1
                if restarts > max_restarts:
                    raise SolverError(
                        f"block Lanczos: expected convergence within {max_restarts} restarts "
                        f"(got relative residual {float(np.max(res / np.abs(theta[:kk]))):.2e})"
                    )
                p = min(keep, m - b)
                _rows_times(Q[:, nq : nq + m], S[:, :p], out=Q[:, nq : nq + p])
                E = B @ S[m - b : m, :p]
                T[:] = 0.0
                T[:p, :p] = np.diag(theta[:p])
                T[p : p + b, :p] = E
                T[:p, p : p + b] = E.T
                cols = nq + p
        Q[:, cols : cols + b] = Qn
        cols += b
    backend = fac.backend
    del fac, W, MW, Qn  # the factor is not needed any more: free it before the eigenvectors
    # The eigenvectors are written over the basis, in place (column-major, as ARPACK's): the
    # Ritz vectors into its first columns, moved right past the locked vectors when those were
    # kept outside the basis; the rest of the basis is then handed back to the system.  No second
    # n × k array next to the n × ~300 basis (1M vertices: 1 GB less at the peak).
    _rows_times(Q[:, nq : nq + m], S[:, :kk], out=Q[:, nq : nq + kk])
    if nl and not nq:
        for c in range(kk - 1, -1, -1):  # columns do not overlap: one column at a time, last first
            Q[:, nl + c] = Q[:, c]
    if nl:
        Q[:, :nl] = locked
    Y = release(k)
    evals = np.concatenate([np.zeros(nl), sigma + 1.0 / theta[:kk]])
    order = np.argsort(evals, kind="stable")
    if np.any(order != np.arange(k)):
        evals, Y = evals[order], Y[:, order]
    return evals, Y, backend


#: Largest Lanczos basis (bytes) before its width is cut below the default ``2k + 6b`` columns
#: (``k = 128``: from about 800k vertices on).  On the 300k-vertex sphere, ``k = 128``: 242
#: columns instead of 302 took 552 block solves instead of 544 in the same time; 200 columns
#: took 608 (about 10 % slower).  At 1M vertices the cap takes the basis from 2.5 to 2.0 GB.
BASIS_BUDGET_BYTES = 2e9

#: From this many bytes on, the Lanczos basis is an anonymous memory map, so that the part not
#: holding the eigenvectors can be given back to the system at the end (``MADV_DONTNEED``).
BASIS_MMAP_BYTES = 64 << 20


def _basis(n: int, cols: int):
    """``(Q, release)``: an uninitialised column-major ``(n, cols)`` float64 array, and
    ``release(k)`` that returns ``Q[:, :k]`` and frees the memory of the other columns.

    Large bases live in an anonymous ``mmap``; ``release`` then returns a view and advises the
    kernel to drop the pages past column ``k`` (resident memory falls at once).  Elsewhere (small
    bases, no ``madvise``) ``release`` returns a copy, and the basis goes with its last reference.
    """
    nbytes = 8 * n * cols
    if (nbytes >= BASIS_MMAP_BYTES and hasattr(mmap.mmap, "madvise") and hasattr(mmap, "MADV_DONTNEED")
            and hasattr(mmap, "MAP_PRIVATE") and hasattr(mmap, "MAP_ANONYMOUS")):
        # private: MADV_DONTNEED frees the pages of a private mapping (not those of a shared one)
        mm = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        Q = np.ndarray((n, cols), dtype=np.float64, buffer=mm, order="F")

        def release(k: int) -> np.ndarray:
            start = -(-8 * n * k // mmap.PAGESIZE) * mmap.PAGESIZE
            if start < nbytes:
                mm.madvise(mmap.MADV_DONTNEED, start, nbytes - start)
            return Q[:, :k]

        return Q, release
    Q = np.empty((n, cols), order="F")
    return Q, lambda k: Q[:, :k].copy(order="F")


def _solve_dense(L, M, k):
    evals, evecs = sla_dense.eigh(L.toarray(), M.toarray(), subset_by_index=[0, k - 1])
    return evals, evecs, "lapack"


def eigenbasis(
    L,
    M,
    k: int,
    *,
    method: str = "auto",
    sigma: float | None = None,
    backend: str = "auto",
    tol: float = 0.0,
    maxiter: int | None = None,
    progress: bool = False,
    return_info: bool = False,
):
    """The ``k`` smallest eigenpairs of ``L φ = λ M φ``, M-orthonormal, signs fixed.

    Parameters
    ----------
    L : (nV, nV) sparse float64
        Symmetric positive semidefinite Laplacian (weak form).
    M : (nV, nV) sparse float64
        Symmetric mass matrix (lumped or full), positive on referenced vertices.
    k : int
        Number of eigenpairs, ``0 <= k <= (number of active vertices)``; ``k = 0`` returns
        ``np.zeros(0)`` and ``np.zeros((nV, 0))`` (as :func:`~manifold_nets.geometry.operators`
        with ``k=0``).  A ``k`` above half of the active vertices (with more than
        :data:`DENSE_MAX` of them) is solved densely, with an :class:`EigenbasisWarning`.
    method : {"auto", "lanczos", "arpack", "lobpcg", "dense"}
        Solver; ``"auto"`` is dense up to :data:`DENSE_MAX` active vertices (or when ``k`` is
        more than half of them), shift-invert ARPACK up to :data:`LANCZOS_MIN` for fewer than
        :data:`LANCZOS_MIN_K` eigenpairs, shift-invert block Lanczos otherwise (see the module
        notes).
    sigma : float, optional
        Shift (negative).  Default ``−0.01 × (mean of diag L / diag M) / nV``, a small
        fraction of the lowest non-zero eigenvalue on typical meshes.
    backend : {"auto", "cholmod", "superlu"}
        Factorisation, see :func:`sparse_cholesky`.
    tol : float
        Relative accuracy of the iterative solvers (``0`` = as accurate as rounding allows;
        block Lanczos stops at a relative Ritz residual of ``max(tol, LANCZOS_RTOL)``).
    maxiter : int, optional
        Iteration limit for the iterative solvers.
    progress : bool
        Show a tqdm bar counting linear solves (the work is also logged at INFO level every
        5 s through the ``manifold_nets.geometry.spectral`` logger).
    return_info : bool
        Also return a dict with the method, backend, shift, number of solves, retries and time.

    Returns
    -------
    evals : (k,) float64
        Ascending.
    evecs : (nV, k) float64
        ``evecsᵀ M evecs = I``; entries of unreferenced vertices are 0.
    info : dict
        Only with ``return_info=True``.

    Raises
    ------
    MeshShapeError
        Bad shapes, or ``k`` out of range.
    NonFiniteError
        NaN/inf in ``L`` or ``M``.
    DegenerateFaceError
        ``L`` is zero (the Laplacian of a mesh whose faces all have zero area).
    SolverError
        Every retry failed.

    Warns
    -----
    EigenbasisWarning
        A retry succeeded after failed attempts, vertices with zero mass got a regularising
        mass, or a dense solve replaced the requested or default iterative method.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> from manifold_nets.geometry import cotan_laplacian, mass_matrix
    >>> V, F = icosphere(2)
    >>> evals, evecs = eigenbasis(cotan_laplacian(V, F), mass_matrix(V, F), 4)
    >>> evals.round(2)
    array([0., 2., 2., 2.])
    >>> M = mass_matrix(V, F)
    >>> bool(np.allclose(evecs.T @ M @ evecs, np.eye(4)))
    True
    """
    t0 = time.perf_counter()
    L = _check_operator(L, "L")
    M = _check_operator(M, "M")
    n = L.shape[0]
    if M.shape != L.shape:
        raise MeshShapeError(f"M: expected shape {L.shape} like L (got {M.shape})")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise MeshShapeError(f"k: expected a non-negative integer (got {k!r})")
    k = int(k)
    if method not in ("auto", "lanczos", "arpack", "lobpcg", "dense"):
        raise MeshShapeError(
            f"method: expected 'auto', 'lanczos', 'arpack', 'lobpcg' or 'dense' (got {method!r})"
        )
    if not isinstance(backend, str) or backend not in EIG_BACKENDS:
        raise MeshShapeError(f"backend: expected 'auto', 'cholmod' or 'superlu' (got {backend!r})")

    mdiag = M.diagonal()
    Loff = L - sp.diags(L.diagonal())
    active = active_vertices(L, M)
    idx = np.flatnonzero(active)
    na = idx.size
    if (mdiag < 0).any():
        i = int(np.flatnonzero(mdiag < 0)[0])
        raise MeshShapeError(f"M: expected a non-negative diagonal (got {mdiag[i]:.3g} at vertex {i})")
    if not (L.data != 0).any():
        raise DegenerateFaceError(
            "L: expected a Laplacian with some non-zero entry (got L = 0, the Laplacian of a mesh "
            "whose faces all have zero area)"
        )
    if na == 0:
        raise MeshShapeError("M: expected some vertex with positive mass or stiffness (got none)")
    if k > na:
        raise MeshShapeError(f"k: expected 0 <= k <= {na} (the number of referenced vertices) (got {k})")
    if k == 0:
        dt = time.perf_counter() - t0
        ev0, vec0 = np.zeros(0), np.zeros((n, 0))
        if return_info:
            return ev0, vec0, {"method": "none", "backend": "none", "sigma": None, "solves": 0,
                               "retries": 0, "errors": [], "seconds": dt, "n_components": None,
                               "n_inactive": int(n - na)}
        return ev0, vec0
    La = L[idx][:, idx].tocsr() if na < n else L
    Ma = M[idx][:, idx].tocsr() if na < n else M
    ma = Ma.diagonal()
    zero_mass = ma <= 0
    if zero_mass.any():
        eps = 1e-8 * float(ma[~zero_mass].mean()) if (~zero_mass).any() else 1.0
        Ma = (Ma + sp.diags(np.where(zero_mass, eps, 0.0))).tocsr()
        ma = Ma.diagonal()
        warn_user(
            f"eigenbasis: {int(zero_mass.sum())} vertices with zero mass but non-zero stiffness "
            f"got a regularising mass {eps:.3g} (1e-8 x the mean mass) so that M is positive definite",
            EigenbasisWarning)

    scale = float(np.mean(La.diagonal() / ma))
    if not scale > 0:
        scale = 1.0
    if sigma is None:
        sigma = -0.01 * scale / na
    sigma = float(sigma)
    if not sigma < 0:
        raise MeshShapeError(f"sigma: expected a negative shift so that L - sigma M is positive definite (got {sigma})")

    # Fixed start vector: reproducible results.
    v0 = np.random.default_rng(12345).uniform(0.5, 1.5, na)

    # Null space: the M-normalised indicators of the connected components (ordered by their
    # lowest vertex), when L annihilates them (true for every Laplacian of this library).
    Loff_a = Loff[idx][:, idx] if na < n else Loff
    ncomp, labels = connected_components(abs(Loff_a), directed=False)
    first = np.full(ncomp, na, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(na))
    comp_order = np.argsort(first)
    c_lock = min(ncomp, k)
    rank = np.argsort(comp_order)[labels]  # rank of each vertex's component
    sel = np.flatnonzero(rank < c_lock)
    ind = np.zeros((na, c_lock))
    ind[sel, rank[sel]] = 1.0
    ind /= np.sqrt(np.maximum(np.einsum("ij,ij->j", ind, Ma @ ind), 1e-300))
    Lnorm = float(abs(La).max()) if La.nnz else 0.0
    null_ok = bool(np.abs(La @ ind).max(initial=0.0) <= 1e-10 * Lnorm * max(1.0, float(np.abs(ind).max(initial=0.0))))
    locked = ind if null_ok else None

    use_dense = method == "dense" or (method == "auto" and (na <= DENSE_MAX or k > na // 2))
    if method == "auto" and use_dense and na > DENSE_MAX:
        warn_user(
            f"eigenbasis: k={k} is more than half of the {na} active vertices, so a dense LAPACK "
            f"solve is used instead of the iterative solver (O(n^3) time, {8e-9 * 2 * na * na:.2g} GB); "
            "ask for fewer eigenpairs to avoid it", EigenbasisWarning)
    if not use_dense and k >= na - 1:
        use_dense = True
        warn_user(
            f"eigenbasis: method={method!r} cannot compute k={k} of {na} eigenpairs (an iterative "
            "solver needs k < n - 1); a dense LAPACK solve is used instead", EigenbasisWarning)
    attempts: list[tuple[str, float, str]] = []
    if use_dense:
        attempts.append(("dense", sigma, "lapack"))
    elif null_ok and c_lock == k:
        attempts.append(("null", sigma, "none"))
    else:
        big = na >= LANCZOS_MIN or k >= LANCZOS_MIN_K
        m = ("lanczos" if big else "arpack") if method == "auto" else method
        if m == "lanczos" and locked is None:
            m = "arpack"
        attempts += [(m, sigma, backend), (m, 10 * sigma, backend)]
        if m != "arpack":
            attempts.append(("arpack", 10 * sigma, backend))
        attempts.append(("arpack", 1000 * sigma, backend))
        if backend != "superlu":
            attempts.append(("arpack", 10 * sigma, "superlu"))
        if na <= DENSE_RETRY_MAX:
            attempts.append(("dense", sigma, "lapack"))

    prog = _Progress(progress and not use_dense, "eigenbasis")
    errors = []
    result = None
    try:
        for a, (meth, sig, be) in enumerate(attempts):
            try:
                if meth == "dense":
                    result = _solve_dense(La, Ma, k)
                elif meth == "null":
                    result = (np.zeros(k), ind[:, :k].copy(), "none")
                elif meth == "lanczos":
                    result = _solve_block_lanczos(La, Ma, k, sig, be, tol, maxiter, v0, prog, locked=locked)
                elif meth == "arpack":
                    result = _solve_arpack(La, Ma, k, sig, be, tol, maxiter, v0, prog)
                else:
                    result = _solve_lobpcg(La, Ma, k, sig, be, tol, maxiter, v0, prog)
                ev, vec, used = result
                if not (np.all(np.isfinite(ev)) and np.all(np.isfinite(vec))):
                    raise SolverError("non-finite eigenpairs")
                sigma_used = sig
                retries = a
                method_used = meth
                break
            except (SolverError, sla.ArpackNoConvergence, sla.ArpackError, np.linalg.LinAlgError,
                    RuntimeError, ValueError) as exc:
                errors.append(f"{meth}/{be} shift {sig:.3g}: {type(exc).__name__}: {exc}")
                logger.info("eigenbasis attempt failed (%s); retrying", errors[-1])
                result = None
    finally:
        prog.close()
    if result is not None and retries > 0:
        warn_user(
            f"eigenbasis: {retries} attempt(s) failed ({'; '.join(errors)}); the eigenpairs come "
            f"from the retry with method {method_used!r}, backend {result[2]!r} and shift {sigma_used:.3g}",
            EigenbasisWarning)
    if result is None:
        raise SolverError(
            f"eigenbasis: expected the {k} lowest eigenpairs of an {n}-vertex Laplacian "
            f"(got failures in all {len(attempts)} attempts: " + "; ".join(errors) + ")"
        )
    ev, vec, used = result
    if method_used in ("lanczos", "arpack", "lobpcg"):
        # Eigenvalues as Rayleigh quotients with L itself: their error is quadratic in the
        # eigenvector error and free of the solve error of the shifted factorisation, which
        # limits the accuracy of the Ritz values of (L − σM)⁻¹M on badly conditioned meshes.
        ev = _columnwise(lambda X: np.einsum("ij,ij->j", X, La @ X), vec) / _m_norms2(Ma, vec)
    order = np.argsort(ev, kind="stable")
    if np.any(order != np.arange(k)):
        ev, vec = ev[order], vec[:, order]
    ev = np.asarray(ev, dtype=np.float64)
    vec = np.asarray(vec, dtype=np.float64)

    # Null space: replace the computed basis by the component indicators (reproducible).
    c = c_lock
    thr = 1e-8 * max(scale / na, abs(ev[-1]))
    if null_ok and c > 0 and np.all(np.abs(ev[:c]) <= thr) and (c == k or abs(ev[c]) > thr):
        vec[:, :c] = ind
        ev[:c] = 0.0

    # M-normalise (ARPACK already returns M-orthonormal vectors up to rounding).
    vec /= np.sqrt(_m_norms2(Ma, vec))
    fix_eigenvector_signs(vec)
    if na < n:
        full = np.zeros((n, k))
        full[idx] = vec
        vec = full
    dt = time.perf_counter() - t0
    if dt > 5:
        logger.info("eigenbasis: %d eigenpairs of %d vertices in %.1f s (%s)", k, n, dt, used)
    if return_info:
        info = {"method": method_used, "backend": used, "sigma": sigma_used, "solves": prog.count, "retries": retries,
                "errors": errors, "seconds": dt, "n_components": int(ncomp), "n_inactive": int(n - na)}
        return ev, vec, info
    return ev, vec
