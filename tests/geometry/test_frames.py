"""Tangent frames and half-edge angles: the gauge rule of manifold_nets.conventions."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.errors import MeshError, MeshShapeError
from manifold_nets.geometry import (
    change_gauge,
    halfedge_angles,
    halfedge_angles_from_lengths,
    random_gauge,
    rotate_frames,
    tangent_frames,
    tangent_to_world,
    world_to_tangent,
)
from manifold_nets.geometry._intrinsic import edge_lengths
from manifold_nets.shapes import cylinder_strip, grid, icosphere, torus
from tests.geometry._geodesic_meshes import load
from tests.geometry._ops_helpers import sliver_grid


def _frame_angle(V, edges, x, y):
    d = V[edges[:, 1]] - V[edges[:, 0]]
    i = edges[:, 0]
    return np.arctan2((d * y[i]).sum(1), (d * x[i]).sum(1))


def _angdiff(a, b):
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


@pytest.mark.parametrize("mesh", [icosphere(2), torus(12, 8), grid(6)])
def test_frames_orthonormal_right_handed(mesh):
    V, F = mesh
    n, x, y = tangent_frames(V, F)
    for a in (n, x, y):
        assert a.shape == V.shape and a.dtype == np.float64
        np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose((n * x).sum(1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y, np.cross(n, x), atol=1e-12)


def test_x_axis_follows_reference_halfedge_of_lowest_face():
    V, F = icosphere(2)
    n, x, _ = tangent_frames(V, F)
    for i in range(0, len(V), 7):
        f, c = np.argwhere(F == i)[0]
        e = V[F[f, (c + 1) % 3]] - V[i]
        e -= (e @ n[i]) * n[i]
        np.testing.assert_allclose(x[i], e / np.linalg.norm(e), atol=1e-12)


def test_normals_point_outward_on_sphere():
    V, F = icosphere(3)
    n, _, _ = tangent_frames(V, F)
    assert ((n * V).sum(1) > 0.99).all()


@pytest.mark.parametrize("diagonal", ["alternate", "regular"])
def test_flat_grid_angles_are_true_polar_angles(diagonal):
    # on a flat mesh every vertex (interior: Θ = 2π; boundary: not rescaled) has exact angles
    V, F = grid(7, 5, diagonal=diagonal)
    V[:, :2] += 0.03 * np.sin(7.0 * V[:, ::-1][:, :2])  # perturb in plane: not a regular grid
    edges, phi = halfedge_angles(V, F)
    n, x, y = tangent_frames(V, F)
    assert np.max(_angdiff(phi, _frame_angle(V, edges, x, y))) < 1e-12


@pytest.mark.parametrize("h, tol", [(1e-4, 1e-12), (1e-8, 1e-8), (1e-13, 1e-11)])
def test_flat_sliver_angles_are_true_polar_angles(h, tol):
    # needles and caps (h = 1e-13: degenerate): the kernel's atan2 angles stay the polar
    # angles of the plane; the law-of-cosines numerator loses about ε·dx/h (measured
    # 1.1e-13, 3.7e-10, 6.0e-13)
    V, F = sliver_grid(h)
    edges, phi = halfedge_angles(V, F)
    n, x, y = tangent_frames(V, F)
    assert np.max(_angdiff(phi, _frame_angle(V, edges, x, y))) < tol


def test_interior_angles_wrap_and_sum_to_full_turn():
    V, F = icosphere(2)
    edges, phi = halfedge_angles(V, F)
    assert phi.min() >= 0 and phi.max() < 2 * np.pi
    for i in (0, 5, 17):
        out = np.sort(phi[edges[:, 0] == i])
        assert out[0] == 0.0  # the reference half-edge
        gaps = np.diff(np.append(out, 2 * np.pi))
        # rescaled corner angles: proportional to the true corner angles, summing to 2π
        assert np.isclose(gaps.sum(), 2 * np.pi) and (gaps > 0.5).all()


def test_boundary_vertex_angles_not_rescaled():
    from manifold_nets.geometry._intrinsic import corner_angles

    V, F = cylinder_strip(8, 4, bend=0.7)
    edges, phi = halfedge_angles(V, F)
    alpha = corner_angles(V, F)
    theta_sum = np.bincount(F.ravel(), weights=alpha.ravel(), minlength=len(V))
    for i in (0, 1, 2, 3, 4, 8):  # boundary vertices of the strip
        out = phi[edges[:, 0] == i]
        # the fan is unfolded, not rescaled: its angles span exactly Θ_i (< 2π)
        assert np.isclose(out.max() - out.min(), theta_sum[i], atol=1e-12)
        assert theta_sum[i] < 2 * np.pi - 0.1
    assert np.isclose(np.ptp(phi[edges[:, 0] == 0]), np.pi / 2, atol=1e-2)


def test_intrinsic_lengths_match_embedded():
    V, F = torus(10, 7)
    e1, p1 = halfedge_angles(V, F)
    e2, p2 = halfedge_angles_from_lengths(F, edge_lengths(V, F), len(V))
    np.testing.assert_array_equal(e1, e2)
    assert np.max(_angdiff(p1, p2)) < 1e-10


def test_random_gauge_rotates_frames_and_angles_consistently():
    V, F = grid(6)
    g = random_gauge(len(V), seed=3)
    n, x, y = tangent_frames(V, F)
    n2, x2, y2 = tangent_frames(V, F, gauge=g)
    np.testing.assert_allclose(n2, n)
    np.testing.assert_allclose(np.cross(n2, x2), y2, atol=1e-12)
    # the rotated x-axis sits at angle g_i in the old frame
    np.testing.assert_allclose(np.arctan2((x2 * y).sum(1), (x2 * x).sum(1)), np.angle(np.exp(1j * g)), atol=1e-12)
    # angles measured in rotated frames (independently, from 3D) equal φ − g_i
    edges, phi_g = halfedge_angles(V, F, gauge=g)
    assert np.max(_angdiff(phi_g, _frame_angle(V, edges, x2, y2))) < 1e-12
    # a vector keeps its 3D direction while its coordinates change by e^{-ig}
    z = np.exp(1j * np.arange(len(V)))
    z2 = change_gauge(g, vectors=z)["vectors"]
    np.testing.assert_allclose(tangent_to_world(z2, x2, y2), tangent_to_world(z, x, y), atol=1e-12)
    np.testing.assert_allclose(world_to_tangent(tangent_to_world(z, x, y), x2, y2), z2, atol=1e-12)
    xr, yr = rotate_frames(x, y, g)
    np.testing.assert_allclose(xr, x2)
    np.testing.assert_allclose(yr, y2)


def test_isolated_vertex_gets_world_frame():
    V, F = icosphere(1)
    V = np.vstack([V, [5.0, 5.0, 5.0]])
    n, x, y = tangent_frames(V, F)
    np.testing.assert_array_equal(np.concatenate([n[-1], x[-1], y[-1]]), [0, 0, 1, 1, 0, 0, 0, 1, 0])
    edges, _ = halfedge_angles(V, F)
    assert len(V) - 1 not in edges


@pytest.mark.parametrize("name", ["suzanne.obj", "truck.obj", "dragon_vrip_res4.ply.gz", "shark.ply"])
def test_dirty_meshes_finite(name):
    V, F = load("dirty", name)
    n, x, y = tangent_frames(V, F)
    edges, phi = halfedge_angles(V, F)
    assert np.isfinite(n).all() and np.isfinite(x).all() and np.isfinite(phi).all()
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-9)
    np.testing.assert_allclose((n * x).sum(1), 0.0, atol=1e-9)
    assert len(np.unique(edges, axis=0)) == len(edges)


def test_bad_inputs():
    V, F = icosphere(1)
    with pytest.raises(MeshShapeError, match="gauge"):
        tangent_frames(V, F, gauge=np.zeros(3))
    with pytest.raises(MeshShapeError, match="gauge"):
        halfedge_angles(V, F, gauge=np.full(len(V), np.nan))
    with pytest.raises(MeshError):
        tangent_frames(V[:, :2], F)
    with pytest.raises(MeshError):
        halfedge_angles(V, F + 100)
    with pytest.raises(MeshShapeError, match="lengths"):
        halfedge_angles_from_lengths(F, -np.ones(F.shape))
