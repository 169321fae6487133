"""Triangle quality numbers (hand-computed) and the Laplacian choice they drive."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.geometry import choose_laplacian, cotan_laplacian
from manifold_nets.geometry.quality import laplacian_choice, triangle_quality
from manifold_nets.shapes import icosphere


def test_triangle_quality_of_a_kite_by_hand():
    # The edge 0–1 is opposite two angles of 2·atan(5) ≈ 157.38° (cot −2.4 each), so its weight
    # (cot α + cot β) / 2 is −2.4: the only interior edge, and it is negative.
    V = np.array([[0.0, 0, 0], [2, 0, 0], [1, 0.2, 0], [1, -0.2, 0]])
    F = np.array([[0, 1, 2], [1, 0, 3]])
    q = triangle_quality(V, F)
    assert q.degenerate_faces == 0 and q.nonmanifold_edges == 0
    assert q.negative_weight_fraction == 1.0
    assert q.most_negative_weight == pytest.approx(-1.0, rel=1e-12)  # −2.4 / mean |w| over 1 edge
    assert q.obtuse_fraction == 1.0
    np.testing.assert_allclose(q.max_angle_deg, np.degrees(2 * np.arctan(5.0)), rtol=1e-12)
    np.testing.assert_allclose(q.min_angle_deg, np.degrees(np.arctan(0.2)), rtol=1e-12)
    np.testing.assert_allclose(q.max_abs_cot, 5.0, rtol=1e-12)  # cot(atan 0.2)
    # the weight counted is exactly L's off-diagonal entry (one triangle kernel)
    np.testing.assert_allclose(cotan_laplacian(V, F)[0, 1], 2.4, rtol=1e-12)
    kind, reason = laplacian_choice(V, F)
    assert kind == "robust" and "negative cotan weights" in reason


def test_well_shaped_and_degenerate_meshes():
    q = triangle_quality(*icosphere(2))
    assert q.negative_weight_fraction == 0 and q.obtuse_fraction == 0 and q.degenerate_faces == 0
    assert laplacian_choice(*icosphere(2))[0] == "cotan"
    V = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [1, 1, 0]])
    F = np.array([[0, 1, 3], [1, 2, 3], [0, 2, 1]])  # the last face is collinear
    assert triangle_quality(V, F).degenerate_faces == 1
    kind, reason = laplacian_choice(V, F)
    assert kind == "robust" and "degenerate" in reason


def test_choose_laplacian_follows_the_quality_rule():
    V, F = icosphere(2)
    assert choose_laplacian(V, F) == "cotan"
    # stretch the sphere: many obtuse triangles and negative cotan weights
    V2 = V * np.array([8.0, 1.0, 1.0])
    assert triangle_quality(V2, F).negative_weight_fraction > 0.01
    assert choose_laplacian(V2, F) == "robust"
    assert choose_laplacian(V2, F, "cotan") == "cotan"  # an explicit request is kept
