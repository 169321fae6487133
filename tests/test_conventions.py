"""Each claim of manifold_nets.conventions, tested once here on small meshes."""

import numpy as np
import pytest
import scipy.sparse as sp

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
    # PSD on every mesh, slivers included, with or without the clamp_cot guard: a cap
    # triangle (apex height 1e-7) next to an obtuse one
    V = np.array([[0.0, 0, 0], [1, 0, 0], [0.5, 1e-7, 0], [0.5, -0.1, 0]])
    F = np.array([[0, 1, 2], [0, 3, 1]])
    for clamp in (None, 1.0, 100.0):
        A = cotan_laplacian(V, F, clamp_cot=clamp).toarray()
        assert np.linalg.eigvalsh(A).min() >= -1e-12 * np.abs(A).max()


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
    # ρ_ij ← ρ_ij − g_i + g_j, checked through the frames: a vector at j carried to i gives
    # the same 3D vector whether read and written in the old frames or in the rotated ones
    E, rho = transport_angles(V, F)
    E2, rho2 = transport_angles(V, F, gauge=g)
    np.testing.assert_array_equal(E, E2)
    zj = np.exp(0.5j * np.arange(len(E)))
    wj = tangent_to_world(zj, x[E[:, 1]], y[E[:, 1]])
    old = tangent_to_world(np.exp(1j * rho) * zj, x[E[:, 0]], y[E[:, 0]])
    new = tangent_to_world(np.exp(1j * rho2) * world_to_tangent(wj, x2[E[:, 1]], y2[E[:, 1]]), x2[E[:, 0]], y2[E[:, 0]])
    np.testing.assert_allclose(new, old, atol=1e-12)
    # θ ← θ − g_i, checked through the frames on a flat mesh (where φ is the 3D polar angle)
    Vf, Ff = shapes.grid(5, 4)
    gf = np.random.default_rng(4).uniform(-np.pi, np.pi, len(Vf))
    _, xf, yf = tangent_frames(Vf, Ff, gauge=gf)
    Ef, phif = halfedge_angles(Vf, Ff, gauge=gf)
    d = Vf[Ef[:, 1]] - Vf[Ef[:, 0]]
    polar = np.arctan2(np.einsum("ij,ij->i", d, yf[Ef[:, 0]]), np.einsum("ij,ij->i", d, xf[Ef[:, 0]]))
    np.testing.assert_allclose(_wrap(phif - polar), 0, atol=1e-12)


def test_degenerate_face_policy():
    # One triangle kernel, one rule: relative area <= 1e-12 contributes nothing.
    from manifold_nets.geometry import connection_laplacian, face_gradient
    from manifold_nets.geometry.curvature import angle_defect

    assert C.DEGENERATE_FACE_POLICY == "relative-area-below-1e-12-contributes-nothing"
    assert C.DEGENERATE_TOL == 1e-12
    # unit right triangle (0, 1, 2) plus a face (1, 3, 4) of height h over a base of length 1
    for h, degenerate in ((0.0, True), (1e-12, True), (4e-12, False)):  # area h/2 vs 1e-12 · 1²
        V = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [1.5, h, 0]])
        F = np.array([[0, 1, 2], [1, 3, 4]])
        L = cotan_laplacian(V, F).toarray()
        assert (np.abs(L[3:, :]).max() == 0) == degenerate
        # the same rule in the connection Laplacian and the gradient (L = Gᵀ A G)
        Lc = connection_laplacian(V, F).toarray()
        np.testing.assert_allclose(np.abs(Lc), np.abs(L), rtol=1e-14, atol=0)
        G, A = face_gradient(V, F, return_areas=True)
        assert (abs(G[[1, 3, 5]]).max() == 0) == degenerate
        np.testing.assert_allclose(L, (G.T @ sp.diags(np.tile(A, 3)) @ G).toarray(), rtol=1e-12, atol=1e-12 * abs(L).max())
        # the area itself is kept in the mass matrix: 1ᵀ M 1 is the true area 1/2 + h/2
        np.testing.assert_allclose(mass_matrix(V, F).sum(), 0.5 + 0.5 * h, rtol=1e-15)
        np.testing.assert_allclose(mass_matrix(V, F, "voronoi").sum(), 0.5 + 0.5 * h, rtol=1e-15)
    # angles stay the true ones: collinear (1, 3, 4) has angles 0, 0, π; a repeated position
    # (vertex 4 on vertex 3) leaves two corners undefined, which share π − 0 equally
    V = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0], [1.5, 0, 0]])
    F = np.array([[0, 1, 2], [1, 3, 4]])
    K = angle_defect(V, F)  # boundary vertices: π − Σ angles
    np.testing.assert_allclose(K[3:], [np.pi, 0.0], atol=1e-15)
    V[4] = V[3]
    np.testing.assert_allclose(angle_defect(V, F)[3:], [np.pi / 2, np.pi / 2], atol=1e-15)


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
