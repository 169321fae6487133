"""MeshCNN edge order and the edge <-> face label rules of ``manifold_nets.data.edges``."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.data.edges import (
    edge_scores_to_face_labels,
    edge_to_face_labels,
    face_to_edge_labels,
    mesh_edges,
    meshcnn_dropped_face,
)
from manifold_nets.errors import MeshError
from manifold_nets.shapes import grid, icosahedron
from manifold_nets.testing import shuffle_faces

# two triangles sharing edge (1, 2); the second one is three times larger
V2 = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 2, 0]], float)
F2 = np.array([[0, 1, 2], [2, 1, 3]])


def test_mesh_edges_meshcnn_order_by_hand():
    E, FE = mesh_edges(F2)
    # face 0: (0,1) (1,2) (2,0); face 1: (2,1) known, (1,3), (3,2)
    assert E.tolist() == [[0, 1], [1, 2], [0, 2], [1, 3], [2, 3]]
    assert FE.tolist() == [[0, 1, 2], [1, 3, 4]]
    assert E.dtype == np.int64 and FE.dtype == np.int64


def test_mesh_edges_closed_mesh_counts():
    V, F = icosahedron()
    E, FE = mesh_edges(F)
    assert len(E) == 30 == 3 * len(F) // 2
    # every edge of every face is the face's corner pair
    for f in range(len(F)):
        for i in range(3):
            assert sorted((F[f, i], F[f, (i + 1) % 3])) == E[FE[f, i]].tolist()
    assert np.bincount(FE.ravel()).tolist() == [2] * 30


def test_mesh_edges_empty():
    E, FE = mesh_edges(np.zeros((0, 3), int))
    assert E.shape == (0, 2) and FE.shape == (0, 3)


def test_edge_to_face_majority_and_tie():
    # face 0 edges 0,1,2; face 1 edges 1,3,4
    assert edge_to_face_labels(F2, [4, 4, 1, 0, 2]).tolist() == [4, 0]  # majority 4; all differ -> min 0
    assert edge_to_face_labels(F2, [2, 1, 0, 1, 1]).tolist() == [0, 1]
    # unlabelled majority with one labelled edge -> the labelled edge
    assert edge_to_face_labels(F2, [-1, -1, 3, -1, -1]).tolist() == [3, -1]


def test_edge_to_face_wrong_count():
    with pytest.raises(MeshError, match="expected one per edge, 5 \\(got 4\\)"):
        edge_to_face_labels(F2, [0, 0, 0, 0])


def _relabel(F, edge_label_of):
    E, _ = mesh_edges(F)
    return np.array([edge_label_of[tuple(e)] for e in E])


def test_edge_to_face_independent_of_face_order_and_corners():
    V, F = grid(4)
    rng = np.random.default_rng(1)
    E, _ = mesh_edges(F)
    label_of = {tuple(e): int(rng.integers(0, 3)) for e in E}
    ref = edge_to_face_labels(F, _relabel(F, label_of))
    _, F2s, perm = shuffle_faces(V, F, seed=3)
    got = edge_to_face_labels(F2s, _relabel(F2s, label_of))
    assert np.array_equal(got, ref[perm])


def test_scores_one_hot_agree_with_hard_rule():
    V, F = grid(3)
    E, _ = mesh_edges(F)
    rng = np.random.default_rng(0)
    hard = rng.integers(0, 4, len(E))
    soft = np.eye(4)[hard]
    assert np.array_equal(edge_scores_to_face_labels(F, soft), edge_to_face_labels(F, hard))


def test_scores_sum_tie_and_zero():
    S = np.array([[1, 1], [0, 1], [1, 0], [0, 0], [0, 0]], float)
    # face 0 sums [2, 2] -> tie -> 0; face 1 sums [0, 1] -> 1
    assert edge_scores_to_face_labels(F2, S).tolist() == [0, 1]
    S[1] = 0
    assert edge_scores_to_face_labels(F2, S).tolist() == [0, -1]


def test_face_to_edge_larger_face_wins():
    # shared edge 1 goes to the larger face 1
    assert face_to_edge_labels(V2, F2, [3, 5]).tolist() == [3, 5, 3, 5, 5]
    # unlabelled larger face: the labelled one wins
    assert face_to_edge_labels(V2, F2, [3, -1]).tolist() == [3, 3, 3, -1, -1]


def test_face_to_edge_tie_goes_to_smaller_label():
    V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], float)  # two congruent triangles
    F = np.array([[0, 1, 2], [2, 1, 3]])
    assert face_to_edge_labels(V, F, [7, 2]).tolist() == [7, 2, 7, 2, 2]
    assert face_to_edge_labels(V, F, [2, 7]).tolist() == [2, 2, 2, 7, 7]


def test_face_to_edge_independent_of_face_order_and_corners():
    V, F = grid(5)  # congruent triangles: every interior edge is an exact area tie
    lab = np.random.default_rng(4).integers(0, 3, len(F))
    E, _ = mesh_edges(F)
    ref = dict(zip(map(tuple, E), face_to_edge_labels(V, F, lab)))
    for seed in range(5):
        _, Fs, perm = shuffle_faces(V, F, seed=seed)
        Es, _ = mesh_edges(Fs)
        got = dict(zip(map(tuple, Es), face_to_edge_labels(V, Fs, lab[perm])))
        assert got == ref


def test_face_to_edge_round_trip_on_blocky_labels():
    # two halves of a grid split along a grid line: no face has two edges on the border
    V, F = grid(5)  # vertices at x = 0, 0.25, 0.5, 0.75, 1: the border x = 0.5 is a grid line
    lab = (V[F].mean(axis=1)[:, 0] > 0.5).astype(int)
    assert 0 < lab.sum() < len(F)
    e = face_to_edge_labels(V, F, lab)
    assert np.array_equal(edge_to_face_labels(F, e), lab)


def test_face_to_edge_wrong_count():
    with pytest.raises(MeshError, match="one per face, 2 \\(got 3\\)"):
        face_to_edge_labels(V2, F2, [0, 1, 2])


def test_meshcnn_dropped_face():
    V, F = icosahedron()
    assert meshcnn_dropped_face(V, F) is None
    flipped = F.copy()
    flipped[5] = flipped[5, ::-1]  # now shares directed edges with its neighbours
    got = meshcnn_dropped_face(V, flipped)
    assert got is not None and "repeats the directed edge" in got[1]
    Vz = np.vstack([V, V[0]])  # a face whose corners 0 and 12 coincide: zero area
    assert meshcnn_dropped_face(Vz, np.vstack([F, [0, 12, 1]])) == (20, "has zero area")
