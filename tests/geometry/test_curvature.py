"""Curvature: Gauss–Bonnet on closed meshes of genus 0, 1, 3, 4 and with boundary, convergence on
the sphere, cylinder and torus, and sign conventions."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.geometry import (
    angle_defect,
    gaussian_curvature,
    mean_curvature,
    principal_curvatures,
)
from manifold_nets.shapes import cylinder_strip, grid, icosphere, tetrahedron, torus
from tests.conftest import data_path, manifest
from tests.geometry._ops_helpers import load_shared, n_edges


def _chi(V, F):
    return len(V) - n_edges(F) + len(F)


def test_tetrahedron_by_hand():
    np.testing.assert_allclose(angle_defect(*tetrahedron()), np.pi, rtol=1e-14)


@pytest.mark.parametrize(
    "name, genus",
    [("bunny.off", 0), ("rocker-arm.obj", 1), ("3holes.off", 3), ("fertility.off", 4)],
)
@pytest.mark.data
def test_gauss_bonnet_shared_meshes(name, genus):
    V, F = load_shared(data_path("meshes", "clean", name))
    chi = 2 - 2 * genus
    assert _chi(V, F) == chi
    row = manifest().get(f"clean/{name}")
    if row:
        assert int(row["euler_characteristic"]) == chi
    K = angle_defect(V, F)
    np.testing.assert_allclose(K.sum(), 2 * np.pi * chi, atol=1e-8)


@pytest.mark.parametrize("mesh, chi", [(icosphere(3), 2), (torus(20, 9), 0)], ids=["sphere", "torus"])
def test_gauss_bonnet_synthetic(mesh, chi):
    K = angle_defect(*mesh)
    np.testing.assert_allclose(K.sum(), 2 * np.pi * chi, atol=1e-10)


def test_angle_defect_over_torus_bands_converges_to_integral_of_K():
    # The Gauss–Bonnet sums above hold for any angles that sum to π per face; this one depends
    # on the geometry.  Torus of revolution (R = 1, r = 0.4), minor angle v_j = j Δ: the rows
    # 0..J own the band v ∈ (−Δ/2, (J + ½)Δ), whose ∫K dA = 2π (sin((J + ½)Δ) + sin(Δ/2))
    # (K dA = cos v du dv).  J is taken on the outer (K > 0) and the inner (K < 0) side.
    errs = []
    for n_major, n_minor in ((24, 8), (48, 16), (96, 32)):
        K = angle_defect(*torus(n_major, n_minor, R=1.0, r=0.4)).reshape(n_major, n_minor)
        d = 2 * np.pi / n_minor
        errs.append(max(abs(K[:, : J + 1].sum() - 2 * np.pi * (np.sin((J + 0.5) * d) + np.sin(d / 2)))
                        for J in (n_minor // 8, 5 * n_minor // 8)))
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    # measured: 8.3e-3, 2.0e-3, 4.6e-4 (rates 2.06, 2.12)
    assert errs[-1] < 1e-3 and np.all(rates > 1.8), (errs, rates)


def test_gauss_bonnet_with_boundary():
    V, F = grid(6, 5)
    rng = np.random.default_rng(3)
    V = V + rng.uniform(-0.03, 0.03, V.shape)  # non-flat, non-regular disk
    np.testing.assert_allclose(angle_defect(V, F).sum(), 2 * np.pi * 1, atol=1e-10)
    # Open cylinder (an annulus, χ = 0): the strip rolled all the way round and glued.
    n, m = 24, 5
    Vs, Fs = cylinder_strip(n=n + 1, m=m, length=2 * np.pi, bend=1.0)
    Fs = np.where(Fs >= n * m, Fs - n * m, Fs)  # glue the last column onto the first
    Vs = Vs[: n * m]
    np.testing.assert_allclose(angle_defect(Vs, Fs).sum(), 0.0, atol=1e-10)


@pytest.mark.data
def test_gauss_bonnet_boundary_mesh():
    V, F = load_shared(data_path("meshes", "boundary", "camel_b.obj"))
    np.testing.assert_allclose(angle_defect(V, F).sum(), 2 * np.pi * _chi(V, F), atol=1e-8)


def test_sphere_curvatures_converge():
    R = 1.5
    errs = []
    for s in (2, 3, 4):
        V, F = icosphere(s, radius=R)
        K = gaussian_curvature(V, F)
        H = mean_curvature(V, F)
        k1, k2, _, _ = principal_curvatures(V, F)
        errs.append([abs(K - 1 / R**2).max() * R**2, abs(H - 1 / R).max() * R,
                     max(abs(k1 - 1 / R).max(), abs(k2 - 1 / R).max()) * R])
    errs = np.array(errs)
    assert np.all(errs[-1] < [0.02, 0.01, 0.05]), errs
    assert np.all(errs[2] < errs[0])


def test_cylinder_curvatures():
    Rc = 0.8
    V, F = cylinder_strip(n=60, m=15, length=2 * np.pi * Rc * 0.5, width=1.0, bend=1 / Rc)
    interior = np.ones(len(V), bool)
    interior[np.bincount(F.ravel(), minlength=len(V)) < 6] = False  # drop the boundary vertices
    K = angle_defect(V, F)
    assert abs(K[interior]).max() < 1e-12  # developable: no angle defect
    H = mean_curvature(V, F)
    # The strip curls towards +z around the axis y; the normal of the (counter-clockwise seen
    # from +z) grid points to the inside of the cylinder, so H is negative there.
    np.testing.assert_allclose(np.abs(H[interior]), 1 / (2 * Rc), rtol=0.02)
    k1, k2, d1, d2 = principal_curvatures(V, F)
    big = np.where(np.abs(k1) > np.abs(k2), k1, k2)
    small = np.where(np.abs(k1) > np.abs(k2), k2, k1)
    np.testing.assert_allclose(np.abs(big[interior]), 1 / Rc, rtol=0.05)
    assert abs(small[interior]).max() < 0.05
    # Direction of zero curvature is the cylinder axis (y).
    dir0 = np.where((np.abs(k1) < np.abs(k2))[:, None], d1, d2)
    assert np.abs(dir0[interior, 1]).min() > 0.99


def test_torus_principal_curvatures():
    R, r = 1.0, 0.3
    errs = []
    for n_major, n_minor in ((32, 16), (64, 32)):
        V, F = torus(n_major, n_minor, R=R, r=r)
        v = np.tile(np.linspace(0, 2 * np.pi, n_minor, endpoint=False), n_major)
        k1, k2, _, _ = principal_curvatures(V, F)
        errs.append(max(abs(k1 - 1 / r).max() * r, abs(k2 - np.cos(v) / (R + r * np.cos(v))).max() * r))
    assert errs[1] < 0.05 and errs[0] / errs[1] > 3.0, errs  # second order
    K = gaussian_curvature(V, F)
    np.testing.assert_allclose(K, np.cos(v) / (r * (R + r * np.cos(v))), atol=0.1)


def test_orientation_flips_mean_curvature_only():
    V, F = icosphere(3)
    H = mean_curvature(V, F)
    Hf = mean_curvature(V, F[:, ::-1])
    np.testing.assert_allclose(Hf, -H, rtol=1e-12)
    np.testing.assert_allclose(angle_defect(V, F[:, ::-1]), angle_defect(V, F), atol=1e-14)
    k1, k2, _, _ = principal_curvatures(V, F[:, ::-1])
    assert k1.max() < 0 and k2.max() < 0


def test_unreferenced_vertex():
    V, F = tetrahedron()
    V = np.vstack([V, [0.0, 0, 0]])
    assert angle_defect(V, F)[4] == 0 and gaussian_curvature(V, F)[4] == 0
