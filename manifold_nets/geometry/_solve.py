"""Private sparse symmetric positive definite solver: cholespy when installed, else SuperLU.

``cholespy`` (``pip install cholespy``) factorises with CHOLMOD-like supernodal Cholesky and
solves many right-hand sides at once, much faster than SciPy's SuperLU; it is optional.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from ..errors import SolverError

try:  # optional accelerator
    import cholespy as _cholespy
except ImportError:  # pragma: no cover - depends on the environment
    _cholespy = None


def have_cholespy() -> bool:
    """Whether the optional ``cholespy`` backend is importable."""
    return _cholespy is not None


class SPDSolver:
    """Factorise a sparse symmetric positive definite matrix once; solve ``(n,)`` or ``(n, k)``.

    Parameters
    ----------
    A : scipy.sparse matrix, (n, n), real symmetric positive definite
    backend : {"auto", "cholespy", "scipy"}
    what : str
        Name of the system, for error messages.
    """

    def __init__(self, A, backend: str = "auto", what: str = "system"):
        A = sp.csr_matrix(A, dtype=np.float64)
        self.n = A.shape[0]
        self.what = what
        if backend not in ("auto", "cholespy", "scipy"):
            raise ValueError(f"backend: expected 'auto', 'cholespy' or 'scipy' (got {backend!r})")
        if backend == "cholespy" and _cholespy is None:
            from ..errors import MissingDependencyError

            raise MissingDependencyError("backend='cholespy' needs cholespy; run: pip install cholespy")
        use = "cholespy" if (backend in ("auto", "cholespy") and _cholespy is not None) else "scipy"
        self.backend = use
        try:
            if use == "cholespy":
                C = A.tocoo()
                self._chol = _cholespy.CholeskySolverD(
                    self.n, C.row.astype(np.int32), C.col.astype(np.int32),
                    C.data.astype(np.float64), _cholespy.MatrixType.COO,
                )
            else:
                self._lu = sla.splu(A.tocsc(), permc_spec="MMD_AT_PLUS_A")
        except Exception as exc:  # factorisation failure is reported as a typed error
            raise SolverError(f"{what}: expected a symmetric positive definite matrix (factorisation failed: {exc})") from exc

    def solve(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=np.float64)
        one = b.ndim == 1
        B = np.ascontiguousarray(b.reshape(self.n, -1))
        if self.backend == "cholespy":
            X = np.zeros_like(B)
            if B.shape[1] == 1:
                x1 = np.zeros(self.n)
                self._chol.solve(np.ascontiguousarray(B[:, 0]), x1)
                X[:, 0] = x1
            else:
                self._chol.solve(B, X)
        else:
            X = self._lu.solve(B)
        if not np.isfinite(X).all():
            raise SolverError(f"{self.what}: expected a finite solution (got NaN/inf; the matrix is singular or ill-conditioned)")
        return X[:, 0] if one else X
