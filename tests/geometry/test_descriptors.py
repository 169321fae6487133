"""HKS and WKS: hand values, automatic scales, invariances, scale behaviour, typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.errors import MeshShapeError, NonFiniteError
from manifold_nets.geometry import (
    cotan_laplacian,
    eigenbasis,
    hks,
    hks_times,
    mass_matrix,
    wks,
    wks_energies,
)
from manifold_nets.shapes import icosphere, tetrahedron, torus
from tests.geometry._ops_helpers import random_rotation


def _basis(V, F, k):
    M = mass_matrix(V, F)
    ev, vec = eigenbasis(cotan_laplacian(V, F), M, k)
    return ev, vec, M


def test_hks_tetrahedron_by_hand():
    # λ = 0, 2/3, 2/3, 2/3; mass m = 2√3 at every vertex; φ0² = 1/(4m) and, the basis being
    # complete, Σ_k φ_k(x)² = 1/m.  So HKS(x, t) = 1/(4m) + e^{−2t/3} (3/(4m)).
    ev, vec, _ = _basis(*tetrahedron(), 4)
    m = 2 * np.sqrt(3)
    t = np.array([0.0, 0.5, 2.0, 10.0])
    H = hks(ev, vec, times=t, normalize=False)
    expected = 1 / (4 * m) + np.exp(-2 * t / 3) * 3 / (4 * m)
    np.testing.assert_allclose(H, np.tile(expected, (4, 1)), rtol=1e-12)
    # normalised: divided by the mass-weighted mean (here every vertex has the same value)
    Hn = hks(ev, vec, times=t, mass=np.full(4, m))
    np.testing.assert_allclose(Hn, 1.0, rtol=1e-12)


def test_automatic_scales():
    ev = np.array([0.0, 0.5, 2.0, 50.0])
    t = hks_times(ev, 5)
    np.testing.assert_allclose(t[[0, -1]], [4 * np.log(10) / 50, 4 * np.log(10) / 0.5], rtol=1e-14)
    np.testing.assert_allclose(np.diff(np.log(t)), np.log(t[1] / t[0]), rtol=1e-12)  # log-spaced
    e, s = wks_energies(ev, 11, variance=6)
    np.testing.assert_allclose(e[[0, -1]], np.log([0.5, 50.0]), rtol=1e-14)
    np.testing.assert_allclose(s, 6 * (np.log(50) - np.log(0.5)) / 10, rtol=1e-14)


def test_sphere_hks_is_constant_and_wks_normalised():
    V, F = icosphere(3)
    ev, vec, M = _basis(V, F, 16)  # complete eigenspaces l = 0..3
    H = hks(ev, vec, 8, normalize=False)
    # Addition theorem: Σ_m Y_lm(x)² is constant on the sphere, so is the truncated HKS.
    assert (np.ptp(H, axis=0) / H.mean(axis=0)).max() < 0.05
    W = wks(ev, vec, 10)
    np.testing.assert_allclose(M.diagonal() @ W, 1.0, rtol=1e-10)


def test_invariance_and_scale(rng):
    V, F = torus(20, 10)
    ev, _, _ = _basis(V, F, 24)
    # Cut the spectrum between clusters: a truncated descriptor that splits a repeated
    # eigenvalue would depend on the (arbitrary) basis of its eigenspace.
    k = max(i for i in range(2, 21) if ev[i] - ev[i - 1] > 1e-6 * ev[i])
    ev, vec, _ = _basis(V, F, k)
    ev, vec, M = _basis(V, F, k)
    H, W = hks(ev, vec, 12, normalize=False), wks(ev, vec, 12)
    Hn = hks(ev, vec, 12, mass=M.diagonal())
    R = random_rotation(rng)
    ev2, vec2, _ = _basis(V @ R.T - 2.0, F, k)
    np.testing.assert_allclose(hks(ev2, vec2, 12, normalize=False), H, rtol=1e-7)
    np.testing.assert_allclose(wks(ev2, vec2, 12), W, rtol=1e-7)
    s = 2.5
    ev3, vec3, M3 = _basis(s * V, F, k)
    # Automatic scales follow the spectrum: only φ² changes, by 1/s²; the normalised HKS is invariant.
    np.testing.assert_allclose(hks(ev3, vec3, 12, normalize=False), H / s**2, rtol=1e-7)
    np.testing.assert_allclose(wks(ev3, vec3, 12), W / s**2, rtol=1e-7)
    np.testing.assert_allclose(hks(ev3, vec3, 12, mass=M3.diagonal()), Hn, rtol=1e-7)
    # Sign flips of eigenvectors do not matter.
    np.testing.assert_allclose(hks(ev, -vec, 12, normalize=False), H, rtol=0)


def test_bad_input():
    ev, vec, _ = _basis(*icosphere(1), 6)
    with pytest.raises(MeshShapeError, match="shapes"):
        hks(ev, vec[:, :3], normalize=False)
    with pytest.raises(NonFiniteError):
        hks(np.r_[ev[:-1], np.nan], vec, normalize=False)
    with pytest.raises(MeshShapeError, match="positive eigenvalue"):
        hks(np.zeros(6), vec, normalize=False)
    with pytest.raises(MeshShapeError, match="mass"):
        hks(ev, vec)  # normalize=True needs the masses
    with pytest.raises(MeshShapeError, match="mass"):
        hks(ev, vec, mass=np.ones(3))
    with pytest.raises(MeshShapeError, match="times"):
        hks(ev, vec, times=[-1.0], normalize=False)
    with pytest.raises(MeshShapeError, match="sigma"):
        wks(ev, vec, energies=[0.5])
    with pytest.raises(MeshShapeError, match="n_energies"):
        wks(ev, vec, n_energies=0)


def test_weyl_fallback_and_collapsed_range():
    # no positive eigenvalue: the range comes from Weyl's law given the area, else a typed error
    ev = np.zeros(3)
    t = hks_times(ev, 4, area=4 * np.pi)
    np.testing.assert_allclose(t[[0, -1]], [4 * np.log(10) / 3.0, 4 * np.log(10) / 1.0], rtol=1e-14)
    with pytest.raises(MeshShapeError, match="positive eigenvalue"):
        hks_times(ev, 4)
    # a single positive eigenvalue: the range is widened to [λ, 10 λ] (times and energies alike)
    t = hks_times(np.array([0.0, 2.0]), 3)
    np.testing.assert_allclose(t[[0, -1]], [4 * np.log(10) / 20.0, 4 * np.log(10) / 2.0], rtol=1e-14)
    e, _ = wks_energies(np.array([0.0, 2.0]), 3)
    np.testing.assert_allclose(e[[0, -1]], np.log([2.0, 20.0]), rtol=1e-14)
    # eigenvalues below the relative threshold count as zero
    t2 = hks_times(np.array([1e-9, 1.0, 4.0]), 3)
    np.testing.assert_allclose(t2[-1], 4 * np.log(10) / 1.0, rtol=1e-14)
