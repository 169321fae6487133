"""Private sparse SPD solver used by the geodesic and vector-heat solvers.

A thin layer over :func:`manifold_nets.geometry.spectral.sparse_cholesky` (CHOLMOD through
``cholespy`` when installed, SuperLU otherwise): it names the system in its errors and checks
that every solution is finite.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..errors import MissingDependencyError, SolverError
from .spectral import sparse_cholesky

_BACKENDS = {"auto": "auto", "cholespy": "cholmod", "scipy": "superlu"}
_NAMES = {"cholmod": "cholespy", "superlu": "scipy"}


def have_cholespy() -> bool:
    """Whether the ``cholespy`` backend is importable."""
    return importlib.util.find_spec("cholespy") is not None


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
        if backend not in _BACKENDS:
            raise ValueError(f"backend: expected 'auto', 'cholespy' or 'scipy' (got {backend!r})")
        self.n = A.shape[0]
        self.what = what
        try:
            self._factor = sparse_cholesky(A, backend=_BACKENDS[backend])
        except ImportError as exc:
            raise MissingDependencyError("backend='cholespy' needs cholespy; run: pip install cholespy") from exc
        except SolverError as exc:
            raise SolverError(f"{what}: expected a symmetric positive definite matrix ({exc})") from exc
        self.backend = _NAMES[self._factor.backend]

    def solve(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=np.float64)
        one = b.ndim == 1
        B = np.ascontiguousarray(b.reshape(self.n, -1))
        X = self._factor.solve(B[:, 0]).reshape(self.n, 1) if B.shape[1] == 1 else self._factor.solve(B)
        if not np.isfinite(X).all():
            raise SolverError(
                f"{self.what}: expected a finite solution (got NaN/inf; the matrix is singular or ill-conditioned)"
            )
        return X[:, 0] if one else X
