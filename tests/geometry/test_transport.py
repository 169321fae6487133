"""Discrete Levi-Civita connection: transport angles, holonomy, connection Laplacian."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla

from manifold_nets.errors import MeshError, MeshShapeError
from manifold_nets.geometry import (
    connection_laplacian,
    connection_laplacian_from_lengths,
    cotan_laplacian,
    face_angle_excess,
    face_holonomy,
    halfedge_angles,
    holonomy,
    random_gauge,
    tangent_frames,
    tangent_to_world,
    transport_angles,
    transport_angles_from_lengths,
    transport_vector,
    world_to_tangent,
)
from manifold_nets.geometry._intrinsic import edge_lengths
from manifold_nets.shapes import flat_torus_lengths, grid, icosphere, torus, uv_sphere
from tests.conftest import data_path
from tests.geometry._geodesic_meshes import load
from tests.geometry._ops_helpers import face_rings, load_shared, random_rotation, sliver_grid


def _wrap(a):
    return np.angle(np.exp(1j * np.asarray(a)))


def _reverse_rows(edges, n):
    key = edges[:, 0] * n + edges[:, 1]
    return np.searchsorted(key, edges[:, 1] * n + edges[:, 0])


def test_transport_antisymmetric_and_defined_by_phi():
    V, F = load("clean", "bunny.off")
    edges, rho = transport_angles(V, F)
    e2, phi = halfedge_angles(V, F)
    np.testing.assert_array_equal(edges, e2)
    rev = _reverse_rows(edges, len(V))
    np.testing.assert_array_equal(edges[rev], edges[:, ::-1])
    assert np.abs(_wrap(rho + rho[rev])).max() < 1e-12
    assert np.abs(_wrap(rho - (phi - phi[rev] + np.pi))).max() < 1e-12
    assert rho.min() > -np.pi - 1e-15 and rho.max() <= np.pi


def test_flat_grid_transport_is_frame_rotation():
    # on a flat mesh transport is the rotation between the (coplanar) frames
    from manifold_nets.geometry import tangent_frames

    V, F = grid(6, 5)
    edges, rho = transport_angles(V, F)
    _, x, _ = tangent_frames(V, F)
    ang = np.arctan2(x[:, 1], x[:, 0])
    assert np.abs(_wrap(rho - (ang[edges[:, 1]] - ang[edges[:, 0]]))).max() < 1e-12


@pytest.mark.parametrize("h", [0.5, 1.0, 2.0])
def test_pyramid_holonomy_is_hand_computed_angle_defect(h):
    # Square pyramid, base (±1, ±1, 0), apex (0, 0, h): each apex angle has
    # cos α = (2(2 + h²) − 4) / (2(2 + h²)) = h² / (2 + h²), so the apex angle defect is
    # 2π − 4 arccos(h² / (2 + h²)).  A vector carried once counter-clockwise around the base
    # loop turns by exactly that (the base vertices are boundary vertices: no rescaling).
    V = np.array([[1.0, 1, 0], [-1, 1, 0], [-1, -1, 0], [1, -1, 0], [0, 0, h]])
    F = np.array([[0, 1, 4], [1, 2, 4], [2, 3, 4], [3, 0, 4]])
    defect = 2 * np.pi - 4 * np.arccos(h * h / (2 + h * h))
    assert abs(_wrap(holonomy(V, F, [0, 1, 2, 3]) - defect)) < 1e-12
    assert abs(_wrap(holonomy(V, F, [3, 2, 1, 0]) + defect)) < 1e-12
    z = transport_vector(V, F, [0, 1, 2, 3, 0], 0.3 + 0.4j)
    assert abs(z - (0.3 + 0.4j) * np.exp(1j * defect)) < 1e-12
    # the face holonomies add up to the loop's, and match their closed form
    fh = face_holonomy(V, F)
    assert abs(_wrap(fh.sum() - defect)) < 1e-12
    assert np.abs(_wrap(fh - face_angle_excess(V, F))).max() < 1e-12


def _torus_parallel(n_major, n_minor, j):
    """Vertices of the parallel at minor angle v = 2π j / n_minor of ``shapes.torus``."""
    return j + n_minor * np.arange(n_major)


def test_torus_parallel_holonomy_converges_to_enclosed_curvature():
    # Torus of revolution (R, r), outward normals: K = cos v / (r (R + r cos v)) and
    # dA = r (R + r cos v) du dv, so the band between the outer equator v = 0 and the parallel
    # at v holds ∫K dA = 2π sin v.  The equator is a geodesic (holonomy 0); the band lies to
    # the left of the equator travelled towards +u and of the parallel travelled towards −u,
    # so the parallel travelled towards +u (the loop below) has holonomy −2π sin v (mod 2π).
    # K takes both signs: v = π/4 (outer side) and v = 5π/4 (inner side).
    errs = []
    for n_major, n_minor in ((24, 8), (48, 16), (96, 32)):
        V, F = torus(n_major, n_minor, R=1.0, r=0.4)
        e = []
        for j, v in ((n_minor // 8, np.pi / 4), (5 * n_minor // 8, 5 * np.pi / 4)):
            loop = _torus_parallel(n_major, n_minor, j)
            h = holonomy(V, F, loop)
            e.append(abs(_wrap(h + 2 * np.pi * np.sin(v))))
            assert abs(_wrap(holonomy(V, F, loop[::-1]) + h)) < 1e-12
        errs.append(max(e))
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    # measured: errors 0.43, 0.11, 0.028 (rates 1.95, 1.99): second order
    assert errs[-1] < 0.04 and np.all(rates > 1.8), (errs, rates)


def test_holonomy_latitude_loop_converges_to_enclosed_curvature():
    errs = []
    for n in (16, 32, 64):
        V, F = uv_sphere(n, 2 * n)
        r = n // 4  # ring index: colatitude (r+1) π / n
        ring = 1 + r * 2 * n + np.arange(2 * n)
        colat = (r + 1) * np.pi / n
        exact = 2 * np.pi * (1 - np.cos(colat))  # curvature of the unit-sphere cap
        h = holonomy(V, F, ring)
        assert np.isclose(holonomy(V, F, ring[::-1]), -h)
        errs.append(abs(h - exact))
    assert errs[-1] < 2e-3 and errs[0] / errs[-1] > 8  # about second order


@pytest.mark.parametrize("diagonal", ["alternate", "regular"])
def test_flat_grid_closed_loop_returns_vector(diagonal):
    V, F = grid(6, diagonal=diagonal)
    loop = [7, 8, 9, 10, 16, 22, 28, 27, 26, 25, 19, 13, 7]  # around the interior
    z = transport_vector(V, F, loop, 0.3 - 1.2j)
    assert abs(z - (0.3 - 1.2j)) < 1e-12
    assert abs(holonomy(V, F, loop)) < 1e-12
    # transport along an open path is path-independent on a flat mesh
    a = transport_vector(V, F, [7, 8, 14, 20], 1j)
    b = transport_vector(V, F, [7, 13, 19, 20], 1j)
    assert abs(a - b) < 1e-12


def _frame_checked_transport(V, F, x, y, edges, rho, w):
    """Carry the world vector ``w`` (tangent at every ``j``) from ``j`` to ``i`` along each edge
    ``(i, j)`` with ``z_i = e^{iρ_ij} z_j``, reading and writing coordinates with the frames."""
    zj = world_to_tangent(np.tile(w, (len(edges), 1)), x[edges[:, 1]], y[edges[:, 1]])
    return tangent_to_world(np.exp(1j * rho) * zj, x[edges[:, 0]], y[edges[:, 0]])


def test_transport_in_any_gauge_matches_the_frames_on_a_flat_mesh(rng):
    # An irregular planar mesh, rotated into a general plane: transport must keep every 3D
    # vector of the plane.  Checked in a random gauge, with the rotated frames of
    # tangent_frames(gauge=g) (an independent code path from the transport's gauge formula).
    V, F = grid(7, 6)
    V = V + rng.uniform(-0.03, 0.03, V.shape) * [1, 1, 0]
    R = random_rotation(rng)
    V = V @ R.T + [0.2, -0.5, 1.0]
    w = R @ np.array([0.7, -1.1, 0.0])
    for g in (None, random_gauge(len(V), seed=4)):
        n, x, y = tangent_frames(V, F, gauge=g)
        edges, rho = transport_angles(V, F, gauge=g)
        out = _frame_checked_transport(V, F, x, y, edges, rho, w)
        np.testing.assert_allclose(out, np.tile(w, (len(edges), 1)), atol=1e-12)


def test_transport_gauge_covariance_checked_in_3d_on_a_curved_mesh():
    # On a curved mesh the transported 3D vector does not depend on the gauge: carrying a
    # tangent vector from j to i gives the same world vector whether coordinates are read and
    # written in the standard frames with ρ, or in the rotated frames with ρ in that gauge.
    V, F = icosphere(2)
    g = random_gauge(len(V), seed=1)
    n, x, y = tangent_frames(V, F)
    _, xg, yg = tangent_frames(V, F, gauge=g)
    edges, rho = transport_angles(V, F)
    _, rho_g = transport_angles(V, F, gauge=g)
    zj = np.exp(1j * np.arange(len(edges)))  # arbitrary vectors at the tails j
    wj = tangent_to_world(zj, x[edges[:, 1]], y[edges[:, 1]])
    a = tangent_to_world(np.exp(1j * rho) * zj, x[edges[:, 0]], y[edges[:, 0]])
    b = tangent_to_world(np.exp(1j * rho_g) * world_to_tangent(wj, xg[edges[:, 1]], yg[edges[:, 1]]),
                         xg[edges[:, 0]], yg[edges[:, 0]])
    np.testing.assert_allclose(b, a, atol=1e-12)
    # holonomy is gauge invariant and not trivially zero here
    for tri in F[:5]:
        assert np.isclose(holonomy(V, F, tri), holonomy(V, F, tri, connection=(edges, rho_g)))
        assert abs(holonomy(V, F, tri)) > 1e-3


@pytest.mark.parametrize("h", [1e-4, 1e-8, 1e-13])
def test_connection_laplacian_equals_scalar_on_flat_slivers(h):
    # One triangle kernel: on a flat mesh with needles and caps (h = 1e-13: degenerate faces)
    # the connection Laplacian in the gauge that aligns every frame with one world axis
    # (transport angles 0) is the scalar cotan Laplacian, entry by entry.
    V, F = sliver_grid(h)
    n, x, _ = tangent_frames(V, F)
    assert np.allclose(n, [0, 0, 1])
    theta = np.arctan2(x[:, 1], x[:, 0])
    _, rho = transport_angles(V, F, gauge=-theta)
    assert np.abs(_wrap(rho)).max() < 1e-9
    Ls = cotan_laplacian(V, F).toarray()
    Lc = connection_laplacian(V, F, gauge=-theta).toarray()
    scale = np.abs(Ls).max()
    assert np.abs(Lc - Ls).max() <= 1e-9 * scale, np.abs(Lc - Ls).max() / scale


@pytest.mark.parametrize("h", [1e-4, 1e-8, 1e-13, 0.0])
def test_edge_weights_from_angles_follow_the_same_policy(h):
    # cotan_edge_weights(F, alpha, ...) without cot= (the log-map's call) rebuilds the
    # cotangents from the corner angles with the same degenerate-face rule
    from manifold_nets.geometry._intrinsic import corner_angles
    from manifold_nets.geometry.transport import cotan_edge_weights

    V, F = sliver_grid(h)
    edges, _ = transport_angles(V, F)
    w = cotan_edge_weights(F, corner_angles(V, F), edges, len(V))
    L = cotan_laplacian(V, F)
    ref = -np.asarray(L[edges[:, 0], edges[:, 1]]).ravel()
    assert np.abs(w - ref).max() <= 1e-8 * np.abs(ref).max()


def _assert_same_weights(V, F):
    Ls = cotan_laplacian(V, F)
    Lc = connection_laplacian(V, F)
    scale = abs(Ls).max()
    assert abs(abs(Lc) - abs(Ls)).max() <= 1e-13 * scale
    assert np.abs(Lc.diagonal() - Ls.diagonal()).max() <= 1e-13 * scale
    Lp = connection_laplacian(V, F, weights="positive")
    off = Ls - sp.diags(Ls.diagonal())
    np.testing.assert_allclose(abs(Lp - sp.diags(Lp.diagonal())).sum(), abs(off.minimum(0)).sum(),
                               rtol=1e-13)


def test_connection_and_scalar_weights_agree_with_coincident_vertices():
    # h = 0: rows 1 and 2 coincide (zero-length edges), rows 3 and 4 become collinear
    _assert_same_weights(*sliver_grid(0.0))
    _assert_same_weights(*sliver_grid(1e-8))


@pytest.mark.data
def test_connection_and_scalar_weights_agree_on_degenerate_shared_meshes():
    # ogre has 4 faces with three collinear vertices (the connection Laplacian used to give
    # them weights ±1e12 there), shark has slivers of relative area 1.6e-4.
    V, F = load_shared(data_path("meshes", "dirty", "ogre.obj"))
    l = edge_lengths(V, F)
    A = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1)
    seeds = np.flatnonzero(A <= 1e-12 * l.max(1) ** 2)
    assert len(seeds) == 4
    Fs, verts = face_rings(F, seeds, 3)
    _assert_same_weights(V[verts], Fs)
    _assert_same_weights(*load_shared(data_path("meshes", "dirty", "shark.ply")))


def _min_eig(L):
    L = L.tocsc()
    vals = sla.eigsh(L, k=1, sigma=-1e-8, which="LM", return_eigenvectors=False)
    return vals.min()


def test_connection_laplacian_sphere_positive_flat_torus_zero():
    V, F = icosphere(3)
    L = connection_laplacian(V, F)
    assert L.dtype == np.complex128 and sp.isspmatrix_csr(L)
    assert abs(L - L.conj().T).max() < 1e-12
    lam = np.linalg.eigvalsh(L.toarray())
    assert lam.min() > 1e-3  # no parallel vector field on the sphere (hairy ball)
    # flat torus from edge lengths: a global parallel field exists
    Lt, Ft = flat_torus_lengths(16, 12)
    Lc = connection_laplacian_from_lengths(Ft, Lt, 16 * 12)
    assert abs(Lc - Lc.conj().T).max() < 1e-12
    lam_t = np.linalg.eigvalsh(Lc.toarray())
    assert abs(lam_t.min()) < 1e-10 and lam_t.min() > -1e-10
    assert lam_t[2] > 1e-3  # multiplicity: constant fields only
    # the embedded torus of revolution is curved: no parallel field
    V2, F2 = torus(16, 12)
    assert np.linalg.eigvalsh(connection_laplacian(V2, F2).toarray()).min() > 1e-4


def test_connection_laplacian_psd_on_clean_mesh_with_positive_weights():
    V, F = load("clean", "bumpy.off")
    L = connection_laplacian(V, F, weights="positive")
    assert abs(L - L.conj().T).max() < 1e-10
    assert _min_eig(L) > -1e-8
    z = np.random.default_rng(0).normal(size=(len(V), 3)) @ [1, 1j, 0]
    assert (z.conj() @ (L @ z)).real >= 0


def test_intrinsic_transport_matches_embedded():
    V, F = torus(10, 7)
    e1, r1 = transport_angles(V, F)
    e2, r2 = transport_angles_from_lengths(F, edge_lengths(V, F))
    np.testing.assert_array_equal(e1, e2)
    assert np.abs(_wrap(r1 - r2)).max() < 1e-10


@pytest.mark.parametrize("name", ["suzanne.obj", "truck.obj", "dragon_vrip_res4.ply.gz"])
def test_dirty_meshes_finite(name):
    V, F = load("dirty", name)
    edges, rho = transport_angles(V, F)
    assert np.isfinite(rho).all()
    L = connection_laplacian(V, F)
    assert np.isfinite(L.data).all() and abs(L - L.conj().T).max() < 1e-6 * abs(L).max()
    assert np.isfinite(face_holonomy(V, F)).all()


def test_bad_inputs():
    V, F = grid(4)
    with pytest.raises(MeshError, match="not an edge"):
        holonomy(V, F, [0, 5, 15])
    with pytest.raises(MeshShapeError, match="loop"):
        holonomy(V, F, [0])
    with pytest.raises(MeshShapeError, match="loop"):
        transport_vector(V, F, [0, 99], 1.0)
    with pytest.raises(MeshError, match="weights"):
        connection_laplacian(V, F, weights="nope")
    with pytest.raises(MeshShapeError, match="gauge"):
        transport_angles(V, F, gauge=np.zeros(2))
