"""Sparse Cholesky factorisation of a symmetric positive definite matrix, once, for many solves.

:func:`sparse_cholesky` wraps ``cholespy`` (CHOLMOD) with SciPy's SuperLU as the fallback, and turns
CHOLMOD's C-level messages into typed errors.  A leaf of the geometry layer: the eigensolver
(:mod:`.spectral`) and the geodesic solvers' direct CHOLMOD binding (:mod:`._solve`) both build
on it.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import tempfile
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from ..errors import MeshShapeError, SolverError

__all__ = ["sparse_cholesky"]


@dataclass
class _Factor:
    """A factorisation of an SPD matrix with ``solve(B)`` for 1-D or 2-D right-hand sides."""

    backend: str
    _solver: object
    n: int

    def solve(self, b: np.ndarray) -> np.ndarray:
        b = np.ascontiguousarray(b, dtype=np.float64)
        if self.backend == "cholmod":
            x = np.empty_like(b)
            self._solver.solve(b, x)
            return x
        return self._solver.solve(b)


def _first_line(said: list[str]) -> str:
    text = " ".join(x.strip() for x in said if x.strip())
    if "CHOLMOD" in text:
        text = text[text.index("CHOLMOD"):]
    return text.split(". file:")[0].strip()[:200]


def _c_flush() -> None:
    try:
        import ctypes

        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError, TypeError):
        pass


@contextlib.contextmanager
def _c_output_to(sink: list[str]):
    """Redirect the C-level stdout and stderr (descriptors 1 and 2) into ``sink`` for the block.

    CHOLMOD reports problems by printing (``printf``) from C, which Python cannot catch or turn
    into a warning; the text is collected instead so the caller can raise a typed error.
    Falls back to no redirection when the descriptors cannot be duplicated.
    """
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass
    _c_flush()
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:
        yield
        return
    tmp = tempfile.TemporaryFile()
    try:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            _c_flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            tmp.seek(0)
            sink.append(tmp.read().decode("utf-8", errors="replace"))
    finally:
        for fd in saved:
            os.close(fd)
        tmp.close()


def sparse_cholesky(A: sp.spmatrix, backend: str = "auto") -> _Factor:
    """Factorise a sparse symmetric positive definite matrix once.

    Parameters
    ----------
    A : (n, n) sparse, SPD
    backend : {"auto", "cholmod", "superlu"}
        ``"cholmod"`` uses ``cholespy`` (CHOLMOD); ``"auto"`` uses it when installed and falls
        back to SuperLU (``scipy.sparse.linalg.splu``).

    Returns
    -------
    factor
        Object with ``.solve(b)`` for ``b`` of shape ``(n,)`` or ``(n, m)`` and ``.backend``.

    Raises
    ------
    SolverError
        The matrix is not numerically positive definite / is singular.  CHOLMOD's own
        messages (which it prints to the C-level stderr) are captured and put in the error
        instead of reaching the terminal.

    Examples
    --------
    >>> A = sp.csr_matrix(np.array([[2.0, -1.0], [-1.0, 2.0]]))
    >>> sparse_cholesky(A).solve(np.array([1.0, 1.0])).round(12)
    array([1., 1.])
    """
    if not isinstance(backend, str) or backend not in ("auto", "cholmod", "superlu"):
        raise MeshShapeError(f"backend: expected 'auto', 'cholmod' or 'superlu' (got {backend!r})")
    n = A.shape[0]
    if backend in ("auto", "cholmod"):
        try:
            cholespy = importlib.import_module("cholespy")
        except ImportError:
            if backend == "cholmod":
                raise
            cholespy = None
        if cholespy is not None:
            C = sp.coo_matrix(A)
            said: list[str] = []
            try:
                with _c_output_to(said):
                    solver = cholespy.CholeskySolverD(
                        n, C.row.astype(np.int32), C.col.astype(np.int32), C.data.astype(np.float64),
                        cholespy.MatrixType.COO,
                    )
                    f = _Factor("cholmod", solver, n)
                    # CHOLMOD may not raise on an indefinite matrix; check one solve.
                    x = f.solve(np.ones(n))
            except (RuntimeError, ValueError) as exc:
                msg = _first_line(said) or str(exc)
                raise SolverError(f"Cholesky factorisation: expected an SPD matrix (got: {msg})") from exc
            if not np.all(np.isfinite(x)):
                raise SolverError("Cholesky factorisation: expected an SPD matrix (got non-finite solve)")
            text = "".join(said)
            if "CHOLMOD" in text:
                # CHOLMOD warned but factorised (e.g. a matrix that is barely positive definite)
                raise SolverError(f"Cholesky factorisation: expected an SPD matrix (got: {_first_line(said)})")
            if text:  # someone else's output written while descriptors were redirected
                os.write(1, text.encode())
            return f
    try:
        lu = sla.splu(sp.csc_matrix(A), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
    except RuntimeError as exc:
        raise SolverError(f"LU factorisation: expected a non-singular matrix (got: {exc})") from exc
    return _Factor("superlu", lu, n)
