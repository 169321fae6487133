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
    face_angle_excess,
    face_holonomy,
    halfedge_angles,
    holonomy,
    random_gauge,
    transport_angles,
    transport_angles_from_lengths,
    transport_vector,
)
from manifold_nets.geometry._intrinsic import edge_lengths
from manifold_nets.shapes import flat_torus_lengths, grid, icosphere, torus, uv_sphere
from tests.geometry._geodesic_meshes import load


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


@pytest.mark.parametrize(
    "folder,name,chi",
    [("clean", "3holes.off", -4), ("clean", "fertility.off", -6), ("clean", "rocker-arm.obj", 0),
     ("clean", "bunny.off", 2), (None, "torus", 0), (None, "icosphere", 2)],
)
def test_face_holonomy_closed_form_and_gauss_bonnet(folder, name, chi):
    if folder is None:
        V, F = torus(20, 9) if name == "torus" else icosphere(3)
    else:
        V, F = load(folder, name)
    h = face_holonomy(V, F)
    ex = face_angle_excess(V, F)
    assert np.abs(_wrap(h - ex)).max() < 1e-9
    assert abs(h.sum() - 2 * np.pi * chi) < 1e-10
    assert abs(ex.sum() - 2 * np.pi * chi) < 1e-10


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


def test_gauge_change_of_transport_and_holonomy_invariance():
    V, F = icosphere(2)
    g = random_gauge(len(V), seed=1)
    edges, rho = transport_angles(V, F)
    _, rho_g = transport_angles(V, F, gauge=g)
    assert np.abs(_wrap(rho_g - (rho - g[edges[:, 0]] + g[edges[:, 1]]))).max() < 1e-12
    # holonomy is gauge invariant
    for tri in F[:5]:
        assert np.isclose(holonomy(V, F, tri), holonomy(V, F, tri, connection=(edges, rho_g)))
        assert abs(holonomy(V, F, tri)) > 1e-3


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
