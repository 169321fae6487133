"""Mesh hierarchy: decimated levels, pooling / unpooling maps, canonical order, transport angles."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.errors import MeshShapeError
from manifold_nets.geometry import (
    canonical_mesh_order,
    level_transport,
    mesh_hierarchy,
    tangent_frames,
)
from manifold_nets.shapes import icosphere, tetrahedron, torus
from manifold_nets.testing import shuffle_faces


def _bumpy(subdivisions=3, seed=0):
    V, F = icosphere(subdivisions)
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((4, 3))
    return V * (1 + 0.08 * np.tanh(V @ c.T).sum(1))[:, None], F


@pytest.mark.parametrize("mesh", [_bumpy(3), torus(32, 16)], ids=["sphere", "torus"])
def test_maps_are_averages_and_coarsen_by_ratio(mesh):
    V, F = mesh
    levels = mesh_hierarchy(V, F, levels=2, ratio=0.25)
    assert len(levels) == 2
    n_fine = V.shape[0]
    for lev in levels:
        n = lev.V.shape[0]
        assert lev.decimated
        assert 0.15 * n_fine < n < 0.35 * n_fine  # about a quarter per level
        assert lev.F.dtype == np.int64 and lev.F.min() >= 0 and lev.F.max() < n
        assert np.bincount(lev.F.ravel(), minlength=n).min() > 0  # no unreferenced vertex
        assert lev.pool.shape == (n, n_fine) and lev.unpool.shape == (n_fine, n)
        for M in (lev.pool, lev.unpool):
            np.testing.assert_allclose(np.asarray(M.sum(axis=1)).ravel(), 1.0, atol=1e-12)
            assert M.data.min() > 0
        assert np.diff(lev.pool.indptr).min() >= 1  # no empty coarse row
        # every fine vertex is pooled into its nearest coarse vertex
        d = np.linalg.norm(V[:, None, :] - lev.V[None, :, :], axis=2)
        np.testing.assert_array_equal(lev.assign, d.argmin(1))
        assert lev.pool[lev.assign, np.arange(n_fine)].min() > 0
        V, F, n_fine = lev.V, lev.F, n


def test_constant_and_linear_fields_survive_unpooling():
    V, F = _bumpy(3)
    (lev,) = mesh_hierarchy(V, F, levels=1)
    const = lev.unpool @ np.full(lev.V.shape[0], 3.0)
    np.testing.assert_allclose(const, 3.0, atol=1e-12)
    # interpolating the coarse x coordinate lands near the fine one (within a coarse edge length)
    err = np.abs(lev.unpool @ lev.V[:, 0] - V[:, 0]).max()
    assert err < 0.3


def test_invariant_to_renumbering_face_order_and_corner_rotation():
    V, F = _bumpy(3, seed=4)
    ref = mesh_hierarchy(V, F, levels=2)
    rng = np.random.default_rng(1)
    perm = rng.permutation(V.shape[0])
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    V1, F1, _ = shuffle_faces(V[perm], inv[F], seed=2)
    out = mesh_hierarchy(V1, F1, levels=2)
    for a, b in zip(ref, out):  # coarse levels identical, bit for bit
        np.testing.assert_array_equal(a.V, b.V)
        np.testing.assert_array_equal(a.F, b.F)
    # the first maps permute with the fine vertices; the deeper ones are identical
    np.testing.assert_allclose(out[0].pool.toarray(), ref[0].pool.toarray()[:, perm], atol=1e-15)
    np.testing.assert_allclose(out[0].unpool.toarray(), ref[0].unpool.toarray()[perm], atol=1e-15)
    np.testing.assert_array_equal(out[0].assign, ref[0].assign[perm])
    np.testing.assert_array_equal(out[1].pool.toarray(), ref[1].pool.toarray())


def test_canonical_order_ignores_face_order():
    V, F = _bumpy(2)
    o1, F1 = canonical_mesh_order(V, F)
    _, Fs, _ = shuffle_faces(V, F, seed=3)
    o2, F2 = canonical_mesh_order(V, Fs)
    np.testing.assert_array_equal(o1, o2)
    np.testing.assert_array_equal(F1, F2)
    assert (F1[:, 0] < F1[:, 1]).all() and (F1[:, 0] < F1[:, 2]).all()


def test_tiny_mesh_repeats_the_level_with_identity_maps():
    V, F = tetrahedron()
    levels = mesh_hierarchy(V, F, levels=2)
    assert len(levels) == 2
    for lev in levels:
        assert not lev.decimated
        np.testing.assert_array_equal(lev.V, V)
        np.testing.assert_array_equal(lev.pool.toarray(), np.eye(4))
        np.testing.assert_array_equal(lev.unpool.toarray(), np.eye(4))
    # a mesh that coarsens once, then stops at min_vertices
    V, F = icosphere(2)  # 162 vertices -> about 42 -> stop (42 < 12 / 0.25)
    levels = mesh_hierarchy(V, F, levels=3)
    assert [lev.decimated for lev in levels] == [True, False, False]
    assert levels[1].V.shape == levels[0].V.shape
    assert mesh_hierarchy(V, F, levels=0) == []


def test_several_components():
    V1, F1 = _bumpy(3, seed=0)
    V2, F2 = icosphere(2)
    V = np.concatenate([V1, 0.3 * V2 + [4.0, 0, 0]])
    F = np.concatenate([F1, F2 + V1.shape[0]])
    (lev,) = mesh_hierarchy(V, F, levels=1)
    np.testing.assert_allclose(np.asarray(lev.pool.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    np.testing.assert_allclose(np.asarray(lev.unpool.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    assert lev.V[:, 0].max() > 3.0  # the small sphere keeps coarse vertices


@pytest.mark.parametrize("kw, match", [
    (dict(levels=-1), "levels: expected a non-negative integer"),
    (dict(levels=1.5), "levels: expected a non-negative integer"),
    (dict(ratio=1.0), r"ratio: expected a fraction in \(0, 1\)"),
    (dict(ratio=0.0), r"ratio: expected a fraction in \(0, 1\)"),
])
def test_bad_arguments(kw, match):
    V, F = icosphere(1)
    with pytest.raises(MeshShapeError, match=match):
        mesh_hierarchy(V, F, **kw)


def test_level_transport_follows_gauge_changes():
    V, F = _bumpy(3, seed=2)
    (lev,) = mesh_hierarchy(V, F, levels=1)
    nf, xf, yf = tangent_frames(V, F)
    nc, xc, yc = tangent_frames(lev.V, lev.F)
    U = lev.unpool.tocoo()
    a = level_transport(U.row, U.col, nf, xf, yf, nc, xc)
    rng = np.random.default_rng(0)
    g = rng.uniform(0, 2 * np.pi, V.shape[0])
    h = rng.uniform(0, 2 * np.pi, lev.V.shape[0])
    _, xf2, yf2 = tangent_frames(V, F, gauge=g)
    _, xc2, _ = tangent_frames(lev.V, lev.F, gauge=h)
    a2 = level_transport(U.row, U.col, nf, xf2, yf2, nc, xc2)
    np.testing.assert_allclose(np.angle(np.exp(1j * (a2 - (a - g[U.row] + h[U.col])))), 0.0, atol=1e-10)
    # nearby frames of a smooth surface: the transport is close to the identity up to the gauges
    # (not a constant: the angles spread over the circle since the gauges are arbitrary)
    assert np.ptp(a) > 1.0


def test_a_level_the_decimator_refuses_is_repeated_with_a_warning(monkeypatch):
    import fast_simplification

    def refuse(*args, **kwargs):
        raise RuntimeError("refused")

    monkeypatch.setattr(fast_simplification, "simplify", refuse)
    V, F = icosphere(3)
    with pytest.warns(RuntimeWarning, match="fast_simplification refused"):
        levels = mesh_hierarchy(V, F, levels=1)
    assert len(levels) == 1 and not levels[0].decimated and levels[0].V.shape == V.shape
