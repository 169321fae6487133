"""Label transfer rules of ``manifold_nets.data.labels``: hand-computed cases and invariances."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.data.labels import (
    face_areas,
    face_to_vertex_labels,
    remap_labels,
    vertex_scores_to_faces,
    vertex_to_face_labels,
)
from manifold_nets.errors import MeshError
from manifold_nets.shapes import icosphere
from manifold_nets.testing import shuffle_faces

# three triangles in the plane around vertex 0; areas 0.5, 1.0, 2.0
V3 = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [-2, 0, 0], [0, -2, 0]], float)
F3 = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 4]])


def test_face_areas_by_hand():
    assert np.allclose(face_areas(V3, F3), [0.5, 1.0, 2.0])


def test_face_to_vertex_by_hand():
    # vertex 0 touches all three: label 1 covers 0.5 + 1.0 = 1.5 < 2.0 of label 0
    lab = face_to_vertex_labels(F3, [1, 1, 0], 5, areas=face_areas(V3, F3))
    assert lab.tolist() == [0, 1, 1, 0, 0]
    # vertex 2 touches faces 0 (label 2, area .5) and 1 (label 1, area 1)
    lab = face_to_vertex_labels(F3, [2, 1, 0], 5, areas=face_areas(V3, F3))
    assert lab.tolist() == [0, 2, 1, 0, 0]
    # without areas every face counts 1: vertex 0 has 2 faces of label 1
    assert face_to_vertex_labels(F3, [1, 1, 0], 5).tolist() == [1, 1, 1, 0, 0]


def test_face_to_vertex_tie_and_unlabelled():
    # vertex 0: label 3 area 2.0 vs label 1 area 0.5 + label 1 ... make an exact tie instead
    areas = np.array([1.0, 1.0, 2.0])
    lab = face_to_vertex_labels(F3, [4, 2, -1], 6, areas=areas)
    assert lab[0] == 2  # 4 and 2 tie at area 1 -> the smaller label
    assert lab[4] == -1 and lab[5] == -1  # only an unlabelled face / no face at all
    assert lab[3] == 2 and lab[1] == 4
    assert face_to_vertex_labels(F3, [-1, -1, -1], 5).tolist() == [-1] * 5


def test_face_to_vertex_zero_area_face_still_counts():
    V = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0]], float)
    assert face_to_vertex_labels([[0, 1, 2]], [3], 3, areas=face_areas(V, [[0, 1, 2]])).tolist() == [3, 3, 3]


def _generic_sphere(seed=0):
    """An icosphere with jittered vertices: no two label areas at a vertex are exactly equal."""
    V, F = icosphere(2)
    return V + 0.01 * np.random.default_rng(seed).standard_normal(V.shape), F


def test_face_to_vertex_invariant_to_face_order_corners_and_numbering():
    V, F = _generic_sphere()
    rng = np.random.default_rng(0)
    lab = rng.integers(0, 4, len(F))
    ref = face_to_vertex_labels(F, lab, len(V), areas=face_areas(V, F))
    _, Fs, perm = shuffle_faces(V, F, seed=5)
    got = face_to_vertex_labels(Fs, lab[perm], len(V), areas=face_areas(V, Fs))
    assert np.array_equal(got, ref)
    p = rng.permutation(len(V))  # new vertex i is old vertex p[i]
    inv = np.argsort(p)
    Vp, Fp = V[p], inv[F]
    got = face_to_vertex_labels(Fp, lab, len(V), areas=face_areas(Vp, Fp))
    assert np.array_equal(got, ref[p])


def test_face_to_vertex_exact_area_ties_invariant_to_face_order():
    V, F = icosphere(2)  # many congruent faces: exact ties of label areas at some vertices
    bad = 0
    for seed in range(10):
        lab = np.random.default_rng(seed).integers(0, 4, len(F))
        ref = face_to_vertex_labels(F, lab, len(V), areas=face_areas(V, F))
        _, Fs, perm = shuffle_faces(V, F, seed=seed)
        bad += int((face_to_vertex_labels(Fs, lab[perm], len(V), areas=face_areas(V, Fs)) != ref).sum())
    assert bad == 0


def test_vertex_to_face_majority_and_tie():
    F = np.array([[0, 1, 2], [2, 3, 4], [0, 3, 5]])
    vl = np.array([5, 5, 1, 7, 2, 9])
    # face 0: 5,5,1 -> 5; face 1: 1,7,2 all differ -> 1; face 2: 5,7,9 -> 5
    assert vertex_to_face_labels(F, vl).tolist() == [5, 1, 5]


def test_vertex_to_face_unlabelled_corners():
    F = np.array([[0, 1, 2], [0, 1, 3], [1, 4, 5]])
    vl = np.array([-1, -1, 3, -1, -1, -1])
    # face 0: majority unlabelled but corner 2 labelled -> 3; face 1/2 all unlabelled -> -1
    assert vertex_to_face_labels(F, vl).tolist() == [3, -1, -1]


def test_vertex_to_face_invariant_to_corner_rotation_and_face_order():
    V, F = icosphere(1)
    vl = np.random.default_rng(2).integers(0, 3, len(V))
    ref = vertex_to_face_labels(F, vl)
    _, Fs, perm = shuffle_faces(V, F, seed=1)
    assert np.array_equal(vertex_to_face_labels(Fs, vl), ref[perm])


def test_vertex_scores_to_faces_mean_argmax():
    F = np.array([[0, 1, 2]])
    S = np.array([[1.0, 0.0], [0.0, 0.6], [0.0, 0.6]])  # means 1/3 vs 0.4
    assert vertex_scores_to_faces(F, S).tolist() == [1]
    S[1, 1] = 0.5  # 1/3 vs 1.1/3 -> still 1; equal sums -> class 0
    S[2, 1] = 0.5
    assert vertex_scores_to_faces(F, S).tolist() == [0]


def test_remap_labels_by_name():
    lab = np.array([0, 2, -1, 1])
    assert remap_labels(lab, ["a", "b", "c"], ["c", "b", "a", "d"]).tolist() == [2, 0, -1, 1]
    with pytest.raises(MeshError, match="among \\['c', 'a'\\] \\(got 'b', label 1\\)"):
        remap_labels(lab, ["a", "b", "c"], ["c", "a"])
    assert remap_labels(lab, ["a", "b", "c"], ["c", "a"], missing="unlabelled").tolist() == [1, 0, -1, -1]
    with pytest.raises(MeshError, match="expected values in \\[-1, 2\\) .*\\(got 2 at 1\\)"):
        remap_labels(lab, ["a", "b"], ["a", "b"])
