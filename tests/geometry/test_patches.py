"""Geodesic polar patches: one-ring (exact discrete) and radius (local unfolding)."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.errors import MeshShapeError, NonManifoldError
from manifold_nets.geometry import (
    Patches,
    VectorHeatSolver,
    geodesic_patches,
    halfedge_angles,
    random_gauge,
    tangent_frames,
    transport_angles,
)
from manifold_nets.shapes import grid, icosphere
from manifold_nets.topology import nonmanifold_edges, nonmanifold_vertices
from tests.geometry._geodesic_meshes import load


def _angerr(a, b):
    return np.abs(np.angle(np.exp(1j * (np.asarray(a) - np.asarray(b)))))


def test_one_ring_is_exact_discrete_quantities():
    V, F = icosphere(2)
    p = geodesic_patches(V, F)
    assert isinstance(p, Patches) and len(p) == p.edges.shape[0]
    e, phi = halfedge_angles(V, F)
    e2, rho = transport_angles(V, F)
    np.testing.assert_array_equal(p.edges, e)
    np.testing.assert_array_equal(p.edges, e2)
    np.testing.assert_allclose(p.r, np.linalg.norm(V[e[:, 1]] - V[e[:, 0]], axis=1))
    np.testing.assert_array_equal(p.theta, phi)
    np.testing.assert_array_equal(p.transport, rho)
    assert p.edges.dtype == np.int64 and p.r.dtype == np.float64
    off = p.offsets
    assert off[0] == 0 and off[-1] == len(p) and (p.edges[off[5]:off[6], 0] == 5).all()
    with pytest.raises(AttributeError):
        p.r = None  # frozen


def test_include_self_rows():
    V, F = grid(4)
    p = geodesic_patches(V, F, include_self=True)
    selfrows = p.edges[:, 0] == p.edges[:, 1]
    assert selfrows.sum() == len(V)
    assert (p.r[selfrows] == 0).all() and (p.theta[selfrows] == 0).all() and (p.transport[selfrows] == 0).all()
    assert (np.diff(p.edges[:, 0]) >= 0).all()


@pytest.mark.parametrize("diagonal", ["alternate", "regular"])
def test_radius_patches_exact_on_plane(diagonal):
    V, F = grid(15, 12, diagonal=diagonal)
    V[:, :2] += 0.01 * np.sin(9 * V[:, ::-1][:, :2])
    R = 0.25
    p = geodesic_patches(V, F, radius=R, batch=50)  # several batches
    i, j = p.edges.T
    _, x, y = tangent_frames(V, F)
    d = V[j] - V[i]
    np.testing.assert_allclose(p.r, np.linalg.norm(d, axis=1), atol=1e-12)
    assert _angerr(p.theta, np.arctan2((d * y[i]).sum(1), (d * x[i]).sum(1))).max() < 1e-10
    ang = np.arctan2(x[:, 1], x[:, 0])
    assert _angerr(p.transport, ang[j] - ang[i]).max() < 1e-10
    # complete: every pair within the radius whose straight segment stays in the (convex) grid
    D = np.linalg.norm(V[:, None] - V[None], axis=2)
    want = np.argwhere((D <= R) & (D > 0))
    got = set(map(tuple, p.edges.tolist()))
    missing = [tuple(w) for w in want.tolist() if tuple(w) not in got]
    assert len(missing) <= 0.01 * len(want)  # only where the unfolding exits near the border
    assert (p.r <= R).all()


def test_radius_patches_on_sphere_close_to_analytic():
    V, F = icosphere(4)
    R = 0.3
    p = geodesic_patches(V, F, radius=R)
    i, j = p.edges.T
    gc = np.arccos(np.clip((V[i] * V[j]).sum(1), -1, 1))
    assert np.abs(p.r - gc).max() < 0.01 * R + 0.003
    n, x, y = tangent_frames(V, F)
    d = V[j] - (V[j] * n[i]).sum(1)[:, None] * n[i]
    az = np.arctan2((d * y[i]).sum(1), (d * x[i]).sum(1))
    assert np.mean(_angerr(p.theta, az)) < 0.01
    # transport agrees with the vector heat method's parallel transport from the centre
    vhm = VectorHeatSolver(V, F)
    c = 123
    rows = i == c
    X = vhm.transport(c, 1.0)
    back = np.exp(1j * p.transport[rows]) * X[j[rows]]
    assert _angerr(np.angle(back), 0.0).max() < 0.01
    # neighbourhood sizes are about area ratio: π R² / (4π / nV)
    counts = np.bincount(i, minlength=len(V))
    assert 0.8 < counts.mean() / (len(V) * R**2 / 4) < 1.2


def test_gauge_change_of_patches_matches_rotated_frames():
    V, F = grid(9)
    g = random_gauge(len(V), seed=2)
    p = geodesic_patches(V, F, radius=0.3, gauge=g)
    i, j = p.edges.T
    _, x, y = tangent_frames(V, F, gauge=g)
    d = V[j] - V[i]
    assert _angerr(p.theta, np.arctan2((d * y[i]).sum(1), (d * x[i]).sum(1))).max() < 1e-10
    ang = np.arctan2(x[:, 1], x[:, 0])
    assert _angerr(p.transport, ang[j] - ang[i]).max() < 1e-10
    p0 = geodesic_patches(V, F, radius=0.3)
    np.testing.assert_array_equal(p.edges, p0.edges)
    assert _angerr(p.theta, p0.theta - g[i]).max() < 1e-12
    assert _angerr(p.transport, p0.transport - g[i] + g[j]).max() < 1e-12


@pytest.mark.parametrize("name", ["suzanne.obj", "dragon_vrip_res4.ply.gz", "shark.ply"])
def test_dirty_meshes_finite_or_refused(name):
    V, F = load("dirty", name)
    nonmanifold = bool(len(nonmanifold_edges(F)) or len(nonmanifold_vertices(F, len(V))))
    for radius in (None, 0.02 * np.ptp(V, axis=0).max()):
        if radius is not None and nonmanifold:
            # unfolding across cut fans gives radii that are too short: refused, never silent
            with pytest.raises(NonManifoldError, match="non-manifold"):
                geodesic_patches(V, F, radius=radius)
            continue
        p = geodesic_patches(V, F, radius=radius)
        assert np.isfinite(p.r).all() and np.isfinite(p.theta).all() and np.isfinite(p.transport).all()
        assert len(np.unique(p.edges, axis=0)) == len(p)


def test_bad_inputs():
    V, F = grid(4)
    with pytest.raises(MeshShapeError, match="radius"):
        geodesic_patches(V, F, radius=-1.0)
    with pytest.raises(MeshShapeError, match="radius"):
        geodesic_patches(V, F, radius=float("nan"))
    with pytest.raises(MeshShapeError, match="batch"):
        geodesic_patches(V, F, radius=0.5, batch=0)
    with pytest.raises(MeshShapeError, match="gauge"):
        geodesic_patches(V, F, gauge=np.zeros(2))
