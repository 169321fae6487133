"""Spectral point descriptors: the heat kernel signature and the wave kernel signature.

Both take an eigenbasis ``(evals, evecs)`` from :func:`~manifold_nets.geometry.eigenbasis`
(M-orthonormal, so ``Σ_k φ_k(x)²`` is the diagonal of a spectral kernel) and choose their
scales automatically from the spectrum:

* HKS (Sun, Ovsjanikov & Guibas 2009): ``HKS(x, t) = Σ_k e^{−λ_k t} φ_k(x)²`` at times
  log-spaced in ``[4 ln 10 / λ_max, 4 ln 10 / λ_min]`` (``λ_min`` the smallest positive
  eigenvalue), so that the fastest-decaying retained mode has decayed by 10⁻⁴ at the first time
  and the slowest by 10⁻⁴ at the last.
* WKS (Aubry, Schlickewei & Cremers 2011): ``WKS(x, e) = Σ_k φ_k(x)² G(e − log λ_k) / Σ_k
  G(e − log λ_k)`` with a Gaussian ``G`` of standard deviation ``σ = variance · δ`` over
  log-energies ``e`` evenly spaced (step ``δ``) between ``log λ_min`` and ``log λ_max``;
  zero eigenvalues are left out.

Under a scaling of the mesh by ``s`` the automatic scales follow the spectrum, so both
descriptors are multiplied by ``1/s²`` (the scaling of ``φ²``).
"""

from __future__ import annotations

import numpy as np

from ..errors import MeshShapeError, NonFiniteError

__all__ = ["hks", "wks", "hks_times", "wks_energies"]


def _check(evals, evecs):
    evals = np.asarray(evals, dtype=np.float64)
    evecs = np.asarray(evecs, dtype=np.float64)
    if evals.ndim != 1 or evecs.ndim != 2 or evecs.shape[1] != evals.shape[0]:
        raise MeshShapeError(
            f"evals, evecs: expected shapes (k,) and (nV, k) (got {evals.shape} and {evecs.shape})"
        )
    if not (np.isfinite(evals).all() and np.isfinite(evecs).all()):
        raise NonFiniteError("evals, evecs: expected finite values (got NaN/inf)")
    return evals, evecs


def _positive(evals, what):
    tol = 1e-10 * max(float(np.abs(evals).max(initial=0.0)), 1e-300)
    pos = evals[evals > tol]
    if pos.size == 0:
        raise MeshShapeError(f"evals: expected at least one positive eigenvalue for the automatic {what} (got none)")
    return pos


def hks_times(evals, n_times: int = 16) -> np.ndarray:
    """Automatic HKS times ``(n_times,)``, log-spaced in ``[4 ln 10/λ_max, 4 ln 10/λ_min]``.

    Examples
    --------
    >>> hks_times(np.array([0.0, 1.0, 100.0]), 3).round(4)
    array([0.0921, 0.921 , 9.2103])
    """
    evals = np.asarray(evals, dtype=np.float64)
    pos = _positive(evals, "times")
    if int(n_times) < 1:
        raise MeshShapeError(f"n_times: expected a positive integer (got {n_times})")
    c = 4.0 * np.log(10.0)
    lo, hi = c / pos.max(), c / pos.min()
    if hi <= lo:
        hi = lo * 10.0
    return np.geomspace(lo, hi, int(n_times))


def hks(evals, evecs, n_times: int = 16, times=None, *, normalize: bool = False) -> np.ndarray:
    """Heat kernel signature.

    Parameters
    ----------
    evals : (k,) float64
        Eigenvalues (ascending), zero included.
    evecs : (nV, k) float64
        M-orthonormal eigenvectors.
    n_times : int
        Number of automatic times (ignored when ``times`` is given).
    times : (T,) float64, optional
        Explicit diffusion times.
    normalize : bool
        Divide each column by the heat trace ``Σ_k e^{−λ_k t}`` (the "scaled HKS").

    Returns
    -------
    H : (nV, T) float64

    Examples
    --------
    >>> from manifold_nets.shapes import tetrahedron
    >>> from manifold_nets.geometry import cotan_laplacian, mass_matrix, eigenbasis
    >>> V, F = tetrahedron()
    >>> evals, evecs = eigenbasis(cotan_laplacian(V, F), mass_matrix(V, F), 4)
    >>> H = hks(evals, evecs, times=[0.0])   # Σ_k φ_k(x)² = 1 / mass(x) with the full basis
    >>> bool(np.allclose(H, 1 / (2 * np.sqrt(3))))
    True
    """
    evals, evecs = _check(evals, evecs)
    t = hks_times(evals, n_times) if times is None else np.atleast_1d(np.asarray(times, dtype=np.float64))
    if t.ndim != 1 or not np.isfinite(t).all() or (t < 0).any():
        raise MeshShapeError(f"times: expected non-negative finite times (got {t})")
    w = np.exp(-np.outer(np.maximum(evals, 0.0), t))  # (k, T)
    H = (evecs * evecs) @ w
    if normalize:
        H /= w.sum(axis=0)
    return H


def wks_energies(evals, n_energies: int = 100, variance: float = 6.0) -> tuple[np.ndarray, float]:
    """Automatic WKS log-energies ``(n_energies,)`` and the Gaussian width ``σ``.

    Examples
    --------
    >>> e, sigma = wks_energies(np.array([0.0, 1.0, np.e**2]), 5)
    >>> e.round(2), round(float(sigma), 2)
    (array([0. , 0.5, 1. , 1.5, 2. ]), 3.0)
    """
    evals = np.asarray(evals, dtype=np.float64)
    pos = _positive(evals, "energies")
    n = int(n_energies)
    if n < 1:
        raise MeshShapeError(f"n_energies: expected a positive integer (got {n_energies})")
    lo, hi = np.log(pos.min()), np.log(pos.max())
    if hi <= lo:
        hi = lo + 1.0
    e = np.linspace(lo, hi, n)
    delta = (hi - lo) / max(n - 1, 1)
    return e, float(float(variance) * delta)


def wks(evals, evecs, n_energies: int = 100, energies=None, *, variance: float = 6.0,
        sigma: float | None = None) -> np.ndarray:
    """Wave kernel signature.

    Parameters
    ----------
    evals : (k,) float64
        Eigenvalues; zeros (the constant modes) are left out.
    evecs : (nV, k) float64
        M-orthonormal eigenvectors.
    n_energies : int
        Number of automatic log-energies (ignored when ``energies`` is given).
    energies : (E,) float64, optional
        Explicit log-energies ``e`` (natural log of eigenvalue units).
    variance : float
        Gaussian width in units of the energy step (automatic energies).
    sigma : float, optional
        Explicit Gaussian width (default from ``variance``; required with ``energies`` of
        length 1).

    Returns
    -------
    W : (nV, E) float64
        Each column is a weighted average of ``φ_k(x)²``; ``Σ_x mass_x W[x, e] = 1``.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> from manifold_nets.geometry import cotan_laplacian, mass_matrix, eigenbasis
    >>> V, F = icosphere(2)
    >>> M = mass_matrix(V, F)
    >>> evals, evecs = eigenbasis(cotan_laplacian(V, F), M, 16)
    >>> W = wks(evals, evecs, 8)
    >>> W.shape, bool(np.allclose(M.diagonal() @ W, 1.0))
    ((162, 8), True)
    """
    evals, evecs = _check(evals, evecs)
    tol = 1e-10 * max(float(np.abs(evals).max(initial=0.0)), 1e-300)
    keep = evals > tol
    if energies is None:
        e, s = wks_energies(evals, n_energies, variance)
    else:
        e = np.atleast_1d(np.asarray(energies, dtype=np.float64))
        if e.ndim != 1 or not np.isfinite(e).all():
            raise MeshShapeError(f"energies: expected finite log-energies (got {e})")
        if sigma is None and e.size < 2:
            raise MeshShapeError("sigma: expected a width when fewer than two energies are given (got None)")
        s = float(variance) * float(np.mean(np.diff(e))) if sigma is None else None
    if sigma is not None:
        s = float(sigma)
    if not s > 0:
        raise MeshShapeError(f"sigma: expected a positive width (got {s})")
    if not keep.any():
        raise MeshShapeError("evals: expected at least one positive eigenvalue (got none)")
    loglam = np.log(evals[keep])
    G = np.exp(-((e[None, :] - loglam[:, None]) ** 2) / (2 * s * s))  # (k+, E)
    norm = G.sum(axis=0)
    norm = np.where(norm > 0, norm, 1.0)
    return (evecs[:, keep] ** 2) @ (G / norm)
