"""The scale contract: normalize_for_learning (centred, unit area, factor recorded) and the robust
mesh-relative length of one-ring patches."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.errors import MeshError, MeshShapeError
from manifold_nets.geometry import (
    Normalization,
    cotan_laplacian,
    eigenbasis,
    mass_matrix,
    normalize_for_learning,
    robust_edge_length,
    total_area,
)
from manifold_nets.shapes import grid, icosphere, torus
from tests.geometry._ops_helpers import random_rotation


def test_unit_area_and_area_weighted_centroid():
    V, F = torus(16, 8)
    Vn, norm = normalize_for_learning(2.5 * V + [1.0, -4.0, 7.0], F)
    assert abs(total_area(Vn, F) - 1.0) < 1e-12
    # the area-weighted centroid of the triangles is at the origin
    a = np.linalg.norm(np.cross(Vn[F[:, 1]] - Vn[F[:, 0]], Vn[F[:, 2]] - Vn[F[:, 0]]), axis=1)
    c = (a[:, None] * Vn[F].mean(1)).sum(0) / a.sum()
    np.testing.assert_allclose(c, 0, atol=1e-14)
    np.testing.assert_allclose(norm.center, [1.0, -4.0, 7.0], atol=1e-12)  # the torus is symmetric
    np.testing.assert_allclose(norm.scale, 1 / (2.5 * np.sqrt(total_area(V, F))), rtol=1e-12)
    Vt, nt = normalize_for_learning(V, F, area=4.0, center=False)
    assert abs(total_area(Vt, F) - 4.0) < 1e-12 and np.array_equal(nt.center, np.zeros(3))


def test_similarity_invariance_and_maps_back(rng):
    V, F = icosphere(2)
    V = V * (1 + 0.1 * rng.standard_normal((len(V), 1)))
    R = random_rotation(rng)
    Vn, norm = normalize_for_learning(V, F)
    W = 1e3 * V @ R.T + 5.0
    Wn, nw = normalize_for_learning(W, F)
    np.testing.assert_allclose(Wn, Vn @ R.T, atol=1e-12)
    np.testing.assert_allclose(nw.points_back(Wn), W, rtol=1e-12)
    np.testing.assert_allclose(nw.scale, norm.scale / 1e3, rtol=1e-12)
    # every quantity maps back with the recorded factor
    e = np.linalg.norm(W[F[:, 0]] - W[F[:, 1]], axis=1)
    en = np.linalg.norm(Wn[F[:, 0]] - Wn[F[:, 1]], axis=1)
    np.testing.assert_allclose(nw.lengths_back(en), e, rtol=1e-12)
    np.testing.assert_allclose(nw.areas_back(total_area(Wn, F)), total_area(W, F), rtol=1e-12)
    lam = eigenbasis(cotan_laplacian(W, F), mass_matrix(W, F), 6)[0]
    lamn = eigenbasis(cotan_laplacian(Wn, F), mass_matrix(Wn, F), 6)[0]
    np.testing.assert_allclose(nw.eigenvalues_back(lamn[1:]), lam[1:], rtol=1e-8)
    assert Normalization.from_dict(nw.to_dict()) == nw and nw != norm


def test_bad_input_is_typed():
    V, F = icosphere(1)
    with pytest.raises(MeshShapeError, match="area"):
        normalize_for_learning(V, F, area=0.0)
    with pytest.raises(MeshShapeError, match="positive total area"):
        normalize_for_learning(np.zeros_like(V), F)
    with pytest.raises(MeshError):
        normalize_for_learning(V[:, :2], F)
    with pytest.raises(MeshShapeError, match="scale"):
        Normalization(np.zeros(3), -1.0)
    with pytest.raises(MeshShapeError, match="center"):
        Normalization(np.zeros(2), 1.0)


def test_robust_edge_length_ignores_outliers():
    V, F = grid(6)
    base = robust_edge_length(V, F)
    e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    np.testing.assert_allclose(base, np.linalg.norm(V[e[:, 0]] - V[e[:, 1]], axis=1).mean(), rtol=1e-12)
    W = V.copy()
    W[0] = [-50.0, -50.0, 0.0]  # a corner pulled far away: two or three huge edges
    assert abs(robust_edge_length(W, F) / base - 1) < 0.02
    assert abs(robust_edge_length(3.0 * V, F) / base - 3.0) < 1e-12
