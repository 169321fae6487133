"""Each claim of manifold_nets.conventions, tested once here on small meshes."""

import numpy as np
import pytest

from manifold_nets import conventions as C
from manifold_nets import shapes
from manifold_nets.geometry import (
    change_gauge,
    cotan_laplacian,
    eigenbasis,
    halfedge_angles,
    mass_matrix,
    rotate_frames,
    tangent_frames,
    tangent_to_world,
    transport_angles,
    world_to_tangent,
)


def _wrap(a):
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def test_laplacian_is_psd_weak_form_and_positive_on_sphere():
    assert C.LAPLACIAN_SIGN == "positive-semidefinite"
    V, F = shapes.icosphere(3)
    L, M = cotan_laplacian(V, F), mass_matrix(V, F)
    assert abs(L @ np.ones(len(V))).max() < 1e-12
    assert np.linalg.eigvalsh(L.toarray()).min() > -1e-10
    # L ≈ M(−Δ): on the unit sphere z = Y_1 satisfies −Δz = 2z, so zᵀLz / zᵀMz ≈ +2
    z = V[:, 2]
    assert abs((z @ (L @ z)) / (z @ (M @ z)) - 2.0) < 0.01


def test_default_mass_is_lumped_barycentric():
    assert C.DEFAULT_MASS == "barycentric"
    V, F = shapes.torus(10, 6)
    M = mass_matrix(V, F)
    A = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)
    expect = np.bincount(F.reshape(-1), np.repeat(A / 3, 3), minlength=len(V))
    np.testing.assert_allclose(M.diagonal(), expect, rtol=1e-14)
    assert M.nnz == len(V)  # diagonal


def test_eigenvector_sign_rule():
    assert C.EIGENVECTOR_SIGN_RULE == "largest-magnitude-entry-positive"
    V, F = shapes.icosphere(2)
    _, Phi = eigenbasis(cotan_laplacian(V, F), mass_matrix(V, F), 10)
    idx = np.argmax(np.abs(Phi), axis=0)
    assert (Phi[idx, np.arange(10)] > 0).all()


def test_gauge_rule_reference_halfedge_and_right_handed():
    assert C.GAUGE_RULE == "reference-halfedge-of-lowest-face"
    V, F = shapes.icosphere(1)
    V = V * np.array([1.0, 0.8, 1.3])  # not a sphere: the rule must not rely on symmetry
    n, x, y = tangent_frames(V, F)
    for i in range(len(V)):
        f = int(np.flatnonzero((F == i).any(1))[0])
        c = int(np.flatnonzero(F[f] == i)[0])
        e = V[F[f, (c + 1) % 3]] - V[i]
        e -= (e @ n[i]) * n[i]
        np.testing.assert_allclose(x[i], e / np.linalg.norm(e), atol=1e-12)
    np.testing.assert_allclose(np.cross(n, x), y, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(np.einsum("ij,ij->i", n, x), 0, atol=1e-12)


def test_angles_are_counter_clockwise_and_sum_to_two_pi():
    assert C.ANGLE_ORIENTATION == "counter-clockwise"
    V, F = shapes.grid(5, 5)  # flat, normal +z: φ is the ordinary polar angle from x_i
    n, x, y = tangent_frames(V, F)
    E, phi = halfedge_angles(V, F)
    d = V[E[:, 1]] - V[E[:, 0]]
    polar = np.arctan2(np.einsum("ij,ij->i", d, y[E[:, 0]]), np.einsum("ij,ij->i", d, x[E[:, 0]]))
    np.testing.assert_allclose(_wrap(phi - polar), 0, atol=1e-12)
    # at an interior vertex of a curved mesh the rescaled angles cover [0, 2π)
    V, F = shapes.icosphere(2)
    E, phi = halfedge_angles(V, F)
    assert phi.min() >= 0 and phi.max() < 2 * np.pi


def test_tangent_vectors_are_complex_in_the_gauge():
    assert C.TANGENT_VECTOR_TYPE == "complex"
    V, F = shapes.icosphere(1)
    n, x, y = tangent_frames(V, F)
    z = np.random.default_rng(0).normal(size=len(V)) + 1j * np.random.default_rng(1).normal(size=len(V))
    w = tangent_to_world(z, x, y)
    np.testing.assert_allclose(w, z.real[:, None] * x + z.imag[:, None] * y, atol=1e-14)
    np.testing.assert_allclose(world_to_tangent(w, x, y), z, atol=1e-12)


def test_gauge_change_formulas():
    V, F = shapes.icosphere(1)
    g = np.random.default_rng(3).uniform(-np.pi, np.pi, len(V))
    n, x, y = tangent_frames(V, F)
    x2, y2 = rotate_frames(x, y, g)
    np.testing.assert_allclose(x2, np.cos(g)[:, None] * x + np.sin(g)[:, None] * y, atol=1e-14)
    z = np.exp(1j * np.arange(len(V)))
    out = change_gauge(g, vectors=z)
    # the same world vector, new coordinates e^{-ig} z
    np.testing.assert_allclose(tangent_to_world(out["vectors"], x2, y2), tangent_to_world(z, x, y), atol=1e-12)
    E, rho = transport_angles(V, F)
    E2, rho2 = transport_angles(V, F, gauge=g)
    np.testing.assert_array_equal(E, E2)
    np.testing.assert_allclose(_wrap(rho2 - (rho - g[E[:, 0]] + g[E[:, 1]])), 0, atol=1e-12)
    _, phi = halfedge_angles(V, F)
    _, phi2 = halfedge_angles(V, F, gauge=g)
    np.testing.assert_allclose(_wrap(phi2 - (phi - g[E[:, 0]])), 0, atol=1e-12)


@pytest.mark.parametrize("mesh", ["grid", "sphere"])
def test_transport_formula_and_antisymmetry(mesh):
    V, F = shapes.grid(6, 6) if mesh == "grid" else shapes.icosphere(2)
    E, rho = transport_angles(V, F)
    _, phi = halfedge_angles(V, F)
    key = {(int(i), int(j)): k for k, (i, j) in enumerate(E)}
    rev = np.array([key[(int(j), int(i))] for i, j in E])
    np.testing.assert_allclose(_wrap(rho + rho[rev]), 0, atol=1e-12)  # ρ_ji = −ρ_ij
    np.testing.assert_allclose(_wrap(rho - (phi - phi[rev] + np.pi)), 0, atol=1e-12)
    if mesh == "grid":  # flat: transport keeps the world vector, z_i = e^{iρ_ij} z_j
        n, x, y = tangent_frames(V, F)
        w = np.array([0.3, -1.2, 0.0])
        zj = world_to_tangent(np.tile(w, (len(E), 1)), x[E[:, 1]], y[E[:, 1]])
        zi = np.exp(1j * rho) * zj
        np.testing.assert_allclose(tangent_to_world(zi, x[E[:, 0]], y[E[:, 0]]), np.tile(w, (len(E), 1)), atol=1e-12)
