"""Gradients and divergence: L = Gᵀ A G, the patch test, adjointness, gauge covariance."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from manifold_nets.errors import MeshShapeError
from manifold_nets.geometry import (
    cotan_laplacian,
    divergence,
    face_areas,
    face_gradient,
    tangent_frames,
    vertex_gradient,
    vertex_gradient_xy,
)
from manifold_nets.shapes import cylinder_strip, grid, icosphere, torus, triangle
from tests.conftest import data_path
from tests.geometry._ops_helpers import load_shared, random_rotation, sliver_grid


def test_face_gradient_hand_values():
    V, F = triangle()
    G = face_gradient(V, F).toarray()  # rows: x, y, z of the single face
    # Hat functions 1 − x − y, x, y.
    np.testing.assert_allclose(G, [[-1, 1, 0], [-1, 0, 1], [0, 0, 0]], atol=1e-15)
    np.testing.assert_allclose(face_areas(V, F), [0.5])


@pytest.mark.parametrize("mesh", [icosphere(3), torus(16, 8), grid(6)], ids=["sphere", "torus", "grid"])
def test_laplacian_is_GtAG_and_divergence_adjoint(mesh):
    V, F = mesh
    G, A = face_gradient(V, F, return_areas=True)
    assert G.shape == (3 * len(F), len(V))
    L = cotan_laplacian(V, F)
    GtAG = G.T @ sp.diags(np.tile(A, 3)) @ G
    assert abs(GtAG - L).max() <= 1e-12 * abs(L).max()
    D = divergence(V, F)
    assert D.shape == (len(V), 3 * len(F))
    assert abs(D @ G + L).max() <= 1e-12 * abs(L).max()
    # Adjointness: <D X, u> = −<X, G u>_A for a random face field X.
    rng = np.random.default_rng(1)
    X, u = rng.standard_normal(3 * len(F)), rng.standard_normal(len(V))
    np.testing.assert_allclose(u @ (D @ X), -(np.tile(A, 3) * X) @ (G @ u), rtol=1e-10)


@pytest.mark.parametrize("h", [1e-4, 1e-8, 1e-13])
def test_laplacian_is_GtAG_on_slivers(h):
    # needles and caps (h = 1e-13: degenerate faces, zero rows and zero area in both)
    V, F = sliver_grid(h)
    G, A = face_gradient(V, F, return_areas=True)
    L = cotan_laplacian(V, F)
    assert abs(G.T @ sp.diags(np.tile(A, 3)) @ G - L).max() <= 1e-14 * abs(L).max()
    assert (A == 0).any() == (h < 1e-12)


def test_fem_patch_test_rotated_plane(rng):
    V, F = grid(7, 5)
    V = V + rng.uniform(-0.03, 0.03, V.shape) * [1, 1, 0]  # irregular flat mesh
    R = random_rotation(rng)
    W = V @ R.T + [0.3, -1.0, 2.0]
    a = R @ np.array([1.5, -2.0, 0.0])  # a vector in the (rotated) plane
    u = W @ a + 4.0
    g = (face_gradient(W, F) @ u).reshape(3, -1).T
    np.testing.assert_allclose(g, np.tile(a, (len(F), 1)), atol=1e-11)


def _const_frames(n, x, y):
    return np.tile(np.cross(x, y), (n, 1)), np.tile(x, (n, 1)), np.tile(y, (n, 1))


def test_tangent_gradient_patch_test_flat_grid(rng):
    V, F = grid(8, 6)
    V = V + rng.uniform(-0.02, 0.02, V.shape) * [1, 1, 0]
    u = 2.0 * V[:, 0] - 3.0 * V[:, 1] + 1.0
    # Frames built here: x along (cos t, sin t), y = n × x.
    t = 0.4
    x, y = np.array([np.cos(t), np.sin(t), 0.0]), np.array([-np.sin(t), np.cos(t), 0.0])
    frames = _const_frames(len(V), x, y)
    G = vertex_gradient(V, F, frames, ridge=0.0)
    assert G.dtype == np.complex128 and G.shape == (len(V), len(V))
    grad = np.array([2.0, -3.0, 0.0])
    np.testing.assert_allclose(G @ u, grad @ x + 1j * (grad @ y), atol=1e-11)
    # With the library's frames (per-vertex gauge): |∇u| and the world vector are exact.
    n, xa, ya = tangent_frames(V, F)
    z = vertex_gradient(V, F, (n, xa, ya), ridge=0.0) @ u
    world = z.real[:, None] * xa + z.imag[:, None] * ya
    np.testing.assert_allclose(world, np.tile(grad, (len(V), 1)), atol=1e-11)
    # Default ridge changes the result only at the 1e-8 level.
    z2 = vertex_gradient(V, F) @ u
    np.testing.assert_allclose(z2, z, atol=1e-6)


def test_xy_layout_is_derivative_along_the_frame_axes(rng):
    # Independent of the complex matrix: on an irregular flat mesh a linear u = a·p has
    # ∂u/∂x_i = a·x_i and ∂u/∂y_i = a·y_i exactly, with the library's own frames.
    V, F = grid(7, 6)
    V = V + rng.uniform(-0.03, 0.03, V.shape) * [1, 1, 0]
    a = np.array([1.3, -0.4, 0.0])
    u = V @ a
    _, x, y = tangent_frames(V, F)
    gx, gy = vertex_gradient_xy(V, F, ridge=0.0)
    assert gx.dtype == np.float64 and isinstance(gx, sp.csr_matrix) and isinstance(gy, sp.csr_matrix)
    np.testing.assert_allclose(gx @ u, x @ a, atol=1e-12)
    np.testing.assert_allclose(gy @ u, y @ a, atol=1e-12)


def test_gauge_covariance():
    V, F = torus(12, 8)
    n, x, y = tangent_frames(V, F)
    g = np.linspace(0, 5, len(V))
    x2 = np.cos(g)[:, None] * x + np.sin(g)[:, None] * y
    y2 = np.cross(n, x2)
    G1 = vertex_gradient(V, F, (n, x, y))
    G2 = vertex_gradient(V, F, (n, x2, y2))
    # Rotating the frame at i by g_i changes coordinates as z ← e^{−i g_i} z.
    assert abs(G2 - sp.diags(np.exp(-1j * g)) @ G1).max() < 1e-12


def test_rigid_motion_and_bending(rng):
    V, F = cylinder_strip(n=9, m=5)
    R = random_rotation(rng)
    W = V @ R.T + 1.0
    u = np.sin(3 * V[:, 0]) + V[:, 1] ** 2
    z1 = vertex_gradient(V, F) @ u
    z2 = vertex_gradient(W, F) @ u
    np.testing.assert_allclose(z2, z1, atol=1e-12)


def test_sphere_tangent_gradient_converges():
    errs = []
    for s in (2, 3, 4):
        V, F = icosphere(s)
        n, x, y = tangent_frames(V, F)
        z = vertex_gradient(V, F, (n, x, y)) @ V[:, 2]
        exact = np.array([0, 0, 1.0]) - V[:, 2:3] * V  # projection of e_z on the tangent plane
        world = z.real[:, None] * x + z.imag[:, None] * y
        errs.append(np.abs(world - exact).max())
    assert errs[2] < errs[1] < errs[0] and errs[2] < 0.05


@pytest.mark.data
def test_tangent_gradient_on_clean_mesh_is_finite():
    V, F = load_shared(data_path("meshes", "clean", "fertility.off"))
    G = vertex_gradient(V, F)
    assert np.isfinite(G.data).all()
    np.testing.assert_allclose(G @ np.ones(len(V)), 0, atol=1e-9)


def test_bad_frames_and_ridge():
    V, F = icosphere(1)
    with pytest.raises(MeshShapeError, match="frames"):
        vertex_gradient(V, F, frames=np.zeros((42, 3)))
    with pytest.raises(MeshShapeError, match="x_axes"):
        vertex_gradient(V, F, frames=(np.zeros((42, 3)), np.zeros((41, 3)), np.zeros((42, 3))))
    with pytest.raises(MeshShapeError, match="ridge"):
        vertex_gradient(V, F, ridge=-1.0)
