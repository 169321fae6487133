"""Spectral point descriptors: the heat kernel signature and the wave kernel signature.

This module is the **one definition** of both descriptors: the torch versions
(:func:`manifold_nets.nn.heat_kernel_signature`, :func:`~manifold_nets.nn.wave_kernel_signature`,
:func:`~manifold_nets.nn.input_features`) take their times, energies, widths, zero-eigenvalue
threshold and Weyl-law fallback from the functions here and use the same defaults
(:data:`N_TIMES`, :data:`N_ENERGIES`, :data:`WKS_VARIANCE`, :data:`ZERO_EIGENVALUE_RTOL`), so a
model's input features are the same numbers whether computed here (numpy) or in torch.

Both take an eigenbasis ``(evals, evecs)`` from :func:`~manifold_nets.geometry.eigenbasis`
(M-orthonormal, so ``Σ_k φ_k(x)²`` is the diagonal of a spectral kernel) and choose their
scales automatically from the spectrum:

* HKS (Sun, Ovsjanikov & Guibas 2009): ``HKS(x, t) = Σ_k e^{−λ_k t} φ_k(x)²`` at times
  log-spaced in ``[4 ln 10 / λ_max, 4 ln 10 / λ_min]`` (``λ_min`` the smallest positive
  eigenvalue), so that the fastest-decaying retained mode has decayed by 10⁻⁴ at the first time
  and the slowest by 10⁻⁴ at the last.  With ``normalize=True`` (default) every column is
  divided by its mass-weighted mean over the mesh (``Σ_k e^{−λ_k t} / area``).
* WKS (Aubry, Schlickewei & Cremers 2011): ``WKS(x, e) = Σ_k φ_k(x)² G(e − log λ_k) / Σ_k
  G(e − log λ_k)`` with a Gaussian ``G`` of standard deviation ``σ = variance · δ`` over
  log-energies ``e`` evenly spaced (step ``δ``) between ``log λ_min`` and ``log λ_max``;
  zero eigenvalues are left out.

Eigenvalues ``λ ≤ ZERO_EIGENVALUE_RTOL · max|λ|`` count as zero.  When the range collapses
(one positive eigenvalue) it is widened to ``[λ, 10 λ]``.  A mesh with more components than
eigenpairs has no positive eigenvalue among them; given its ``area`` the range then comes from
Weyl's law, ``λ_n ≈ 4πn / area`` for ``n = 1 … k`` (the HKS stays finite and constant on each
component; the WKS is zero).

Under a scaling of the mesh by ``s`` the automatic scales follow the spectrum, so the
unnormalised descriptors are multiplied by ``1/s²`` (the scaling of ``φ²``) and the normalised
HKS is invariant.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import MeshShapeError, NonFiniteError

__all__ = ["hks", "wks", "hks_times", "wks_energies", "spectral_range", "positive_eigenvalues",
           "N_TIMES", "N_ENERGIES", "WKS_VARIANCE", "ZERO_EIGENVALUE_RTOL"]

#: Default number of HKS times.
N_TIMES = 16
#: Default number of WKS energies.
N_ENERGIES = 16
#: Default WKS Gaussian width, in units of the log-energy step.
WKS_VARIANCE = 6.0
#: Eigenvalues at most this fraction of ``max |λ|`` count as zero (the constant modes).
ZERO_EIGENVALUE_RTOL = 1e-8


def _floats(x, name: str, what: str) -> np.ndarray:
    """``np.asarray(x, float64)`` with a typed error for non-numeric input."""
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MeshShapeError(f"{name}: expected {what} (got {type(x).__name__}: {exc})") from None


def _count(n, name: str) -> int:
    """A positive integer count (``2.5``, ``None``, ``True`` are refused, not truncated)."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or int(n) < 1:
        raise MeshShapeError(f"{name}: expected a positive integer (got {n!r})")
    return int(n)


def _check(evals, evecs):
    evals = _floats(evals, "evals", "a (k,) array of eigenvalues")
    evecs = _floats(evecs, "evecs", "an (nV, k) array of eigenvectors")
    if evals.ndim != 1 or evecs.ndim != 2 or evecs.shape[1] != evals.shape[0]:
        raise MeshShapeError(
            f"evals, evecs: expected shapes (k,) and (nV, k) (got {evals.shape} and {evecs.shape})"
        )
    if evals.size == 0:
        raise MeshShapeError(
            "evals, evecs: expected at least one eigenpair (got k = 0; operators(..., k=0) skips the "
            "eigen solve, ask for k >= 1)"
        )
    if not (np.isfinite(evals).all() and np.isfinite(evecs).all()):
        raise NonFiniteError("evals, evecs: expected finite values (got NaN/inf)")
    return evals, evecs


def positive_eigenvalues(evals) -> np.ndarray:
    """``(k,) bool``: the eigenvalues above ``ZERO_EIGENVALUE_RTOL · max |λ|``."""
    evals = np.asarray(evals, dtype=np.float64)
    tol = ZERO_EIGENVALUE_RTOL * max(float(np.abs(evals).max(initial=0.0)), 1e-300)
    return evals > tol


def spectral_range(evals, *, area: float | None = None, what: str = "scales") -> tuple[float, float]:
    """``(λ_lo, λ_hi)``: the smallest and largest positive eigenvalue (see the module docstring).

    Parameters
    ----------
    evals : (k,) float64
    area : float, optional
        Total area of the mesh, for the Weyl-law fallback when no eigenvalue is positive.
    what : {"scales", "times", "energies"}
        What the range is for, named in the error message.

    >>> spectral_range(np.array([0.0, 2.0, 8.0]))
    (2.0, 8.0)
    >>> spectral_range(np.zeros(3), area=4 * np.pi)      # Weyl: λ_n ≈ 4πn / area, n = 1 … 3
    (1.0, 3.0)
    """
    if not isinstance(what, str) or what not in ("scales", "times", "energies"):
        raise MeshShapeError(f"what: expected 'scales', 'times' or 'energies' (got {what!r})")
    evals = _floats(evals, "evals", "a (k,) array of eigenvalues").reshape(-1)
    if not np.isfinite(evals).all():
        raise NonFiniteError("evals: expected finite eigenvalues (got NaN/inf)")
    if area is not None:
        a = _floats(area, "area", "a positive number")
        if a.ndim != 0 or not (np.isfinite(a) and a >= 0):  # 0: unknown, as None
            raise MeshShapeError(f"area: expected a finite number >= 0 or None (got {area!r})")
    pos = evals[positive_eigenvalues(evals)]
    if pos.size:
        lo, hi = float(pos.min()), float(pos.max())
    elif area is not None and float(area) > 0:
        lo = 4.0 * np.pi / float(area)
        hi = lo * max(evals.size, 1)
    else:
        raise MeshShapeError(f"evals: expected at least one positive eigenvalue (or the mesh area) for the "
                             f"automatic {what} (got none)")
    if not hi > lo:
        hi = 10.0 * lo
    return lo, hi


def hks_times(evals, n_times: int = N_TIMES, *, area: float | None = None) -> np.ndarray:
    """Automatic HKS times ``(n_times,)``, log-spaced in ``[4 ln 10/λ_max, 4 ln 10/λ_min]``.

    ``area`` enables the Weyl-law fallback (see :func:`spectral_range`).

    Examples
    --------
    >>> hks_times(np.array([0.0, 1.0, 100.0]), 3).round(4)
    array([0.0921, 0.921 , 9.2103])
    """
    n = _count(n_times, "n_times")
    lo, hi = spectral_range(evals, area=area, what="times")
    c = 4.0 * np.log(10.0)
    return np.geomspace(c / hi, c / lo, n)


def hks(evals, evecs, n_times: int = N_TIMES, times=None, *, mass=None, normalize: bool = True) -> np.ndarray:
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
    mass : (nV,) float64 or diagonal (nV, nV) sparse matrix, optional
        Lumped vertex masses; required by ``normalize`` (and enables the Weyl-law fallback).
    normalize : bool
        Divide each column by its mass-weighted mean over the mesh (then the HKS is invariant to
        a global scaling).  Needs ``mass``.

    Returns
    -------
    H : (nV, T) float64

    Examples
    --------
    >>> from manifold_nets.shapes import tetrahedron
    >>> from manifold_nets.geometry import cotan_laplacian, mass_matrix, eigenbasis
    >>> V, F = tetrahedron()
    >>> evals, evecs = eigenbasis(cotan_laplacian(V, F), mass_matrix(V, F), 4)
    >>> H = hks(evals, evecs, times=[0.0], normalize=False)  # Σ_k φ_k(x)² = 1 / mass(x), full basis
    >>> bool(np.allclose(H, 1 / (2 * np.sqrt(3))))
    True
    """
    evals, evecs = _check(evals, evecs)
    m = _check_mass(mass, evecs.shape[0])
    if normalize and m is None:
        raise MeshShapeError("mass: expected the (nV,) lumped masses for normalize=True (got None)")
    area = None if m is None else float(m.sum())
    t = (hks_times(evals, n_times, area=area) if times is None
         else np.atleast_1d(_floats(times, "times", "non-negative finite times")))
    if t.ndim != 1 or not np.isfinite(t).all() or (t < 0).any():
        raise MeshShapeError(f"times: expected non-negative finite times (got {t})")
    w = np.exp(-np.outer(np.maximum(evals, 0.0), t))  # (k, T)
    H = (evecs * evecs) @ w
    if normalize:
        H /= (m @ H) / m.sum()
    return H


def _check_mass(mass, n):
    if mass is None:
        return None
    if sp.issparse(mass):  # a lumped mass matrix: its diagonal
        if mass.shape != (n, n) or (sp.csr_matrix(mass) - sp.diags(mass.diagonal())).count_nonzero():
            raise MeshShapeError(
                f"mass: expected the ({n},) lumped masses or a diagonal ({n}, {n}) matrix (got a "
                f"{'non-diagonal ' if mass.shape == (n, n) else ''}sparse {mass.shape} matrix)")
        mass = mass.diagonal()
    m = _floats(mass, "mass", f"the ({n},) lumped masses").reshape(-1)
    if m.shape != (n,):
        raise MeshShapeError(f"mass: expected shape ({n},) (got {np.shape(mass)})")
    if not np.isfinite(m).all() or (m < 0).any() or not m.sum() > 0:
        raise MeshShapeError("mass: expected finite non-negative masses with a positive sum")
    return m


def wks_energies(evals, n_energies: int = N_ENERGIES, variance: float = WKS_VARIANCE, *,
                 area: float | None = None) -> tuple[np.ndarray, float]:
    """Automatic WKS log-energies ``(n_energies,)`` and the Gaussian width ``σ``.

    ``area`` enables the Weyl-law fallback (see :func:`spectral_range`).

    Examples
    --------
    >>> e, sigma = wks_energies(np.array([0.0, 1.0, np.e**2]), 5)
    >>> e.round(2), round(float(sigma), 2)
    (array([0. , 0.5, 1. , 1.5, 2. ]), 3.0)
    """
    n = _count(n_energies, "n_energies")
    v = _floats(variance, "variance", "a positive number")
    if v.ndim != 0 or not (np.isfinite(v) and v > 0):
        raise MeshShapeError(f"variance: expected a positive finite width (got {variance!r})")
    lo, hi = spectral_range(evals, area=area, what="energies")
    lo, hi = np.log(lo), np.log(hi)
    e = np.linspace(lo, hi, n)
    delta = (hi - lo) / max(n - 1, 1)
    return e, float(float(v) * delta)


def wks(evals, evecs, n_energies: int = N_ENERGIES, energies=None, *, variance: float = WKS_VARIANCE,
        sigma: float | None = None, mass=None) -> np.ndarray:
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
    mass : (nV,) float64 or diagonal (nV, nV) sparse matrix, optional
        Lumped masses: enables the Weyl-law fallback (a basis without positive eigenvalue gives
        zeros instead of an error).

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
    m = _check_mass(mass, evecs.shape[0])
    area = None if m is None else float(m.sum())
    keep = positive_eigenvalues(evals)
    if energies is None:
        e, s = wks_energies(evals, n_energies, variance, area=area)
    else:
        e = np.atleast_1d(_floats(energies, "energies", "finite log-energies"))
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
        if area is None:
            raise MeshShapeError("evals: expected at least one positive eigenvalue (got none)")
        return np.zeros((evecs.shape[0], e.size))
    loglam = np.log(evals[keep])
    G = np.exp(-((e[None, :] - loglam[:, None]) ** 2) / (2 * s * s))  # (k+, E)
    norm = G.sum(axis=0)
    norm = np.where(norm > 0, norm, 1.0)
    return (evecs[:, keep] ** 2) @ (G / norm)
