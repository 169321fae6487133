"""Shared helpers for the intrinsic-operator tests (issue 3)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from manifold_nets import read_mesh
from tests.conftest import DATA


def load_shared(path):
    m = read_mesh(path, triangulate=True)
    return np.asarray(m.V, dtype=np.float64), np.asarray(m.F, dtype=np.int64)


def n_edges(F):
    """Number of undirected edges, computed directly (independent of the library)."""
    e = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
    e = e[e[:, 0] != e[:, 1]]
    return len(np.unique(e, axis=0))


def is_psd(L, rel=1e-10):
    """True when ``L + δI`` has a Cholesky factor (CHOLMOD), δ = rel · max|diag|."""
    n = L.shape[0]
    d = rel * max(float(np.abs(L.diagonal()).max()), 1e-300)
    try:
        import cholespy
    except ImportError:  # fall back to the smallest eigenvalue by shift-invert Lanczos
        import scipy.sparse.linalg as sla

        lam = sla.eigsh(sp.csc_matrix(L), k=1, sigma=-d, which="LM", return_eigenvectors=False)
        return bool(lam[0] >= -d)
    A = sp.coo_matrix(sp.csr_matrix(L) + d * sp.eye(n))
    try:
        cholespy.CholeskySolverD(n, A.row.astype(np.int32), A.col.astype(np.int32), A.data,
                                 cholespy.MatrixType.COO)
    except (RuntimeError, ValueError):
        return False
    return True


def random_rotation(rng):
    Q, R = np.linalg.qr(rng.standard_normal((3, 3)))
    Q = Q * np.sign(np.diag(R))
    if np.linalg.det(Q) < 0:
        Q[:, 0] *= -1
    return Q


def data_available() -> bool:
    return (DATA / "meshes").is_dir()
