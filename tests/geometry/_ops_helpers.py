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


def sliver_grid(h: float, n: int = 7, m: int = 6):
    """A flat, valid (non-overlapping, counter-clockwise) grid with two rows of slivers.

    Built on ``shapes.grid(n, m)`` (vertex ``i·m + j`` at column ``i``, row ``j``): row 2 is
    moved to ``h`` above row 1 (the strip between them becomes right-angled **needles** with a
    corner of ``atan(h / dx)``) and row 4 to ``h`` above row 3, shifted by half a column (that
    strip becomes parallelograms cut into **caps** with an angle near π).  For
    ``h <= ~1e-12 · dx`` those faces are degenerate.
    """
    from manifold_nets.shapes import grid

    V, F = grid(n, m)
    V = V.copy()
    dy = V[1, 1] - V[0, 1]
    dx = V[m, 0] - V[0, 0]
    rows = V[:, 1].copy()
    j = np.rint(rows / dy).astype(int)
    V[j == 2, 1] = V[j == 1, 1] + h
    V[j == 4, 1] = V[j == 3, 1] + h
    V[j == 4, 0] += 0.5 * dx
    return V, F


def face_rings(F, seeds, rings: int):
    """Faces within ``rings`` vertex rings of the ``seeds`` faces, re-indexed: ``(F_sub, vertices)``."""
    F = np.asarray(F)
    keep = np.zeros(len(F), dtype=bool)
    keep[np.asarray(seeds)] = True
    for _ in range(rings):
        verts = np.unique(F[keep])
        keep |= np.isin(F, verts).any(axis=1)
    verts = np.unique(F[keep])
    remap = np.full(F.max() + 1, -1)
    remap[verts] = np.arange(len(verts))
    return remap[F[keep]], verts
