"""Segmentation metrics against hand-computed values on tiny meshes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from manifold_nets import shapes
from manifold_nets.errors import MeshError, MeshShapeError
from manifold_nets.tasks import metrics as M


def test_metrics_module_imports_without_torch():
    code = ("import sys; import manifold_nets.tasks.metrics, manifold_nets.tasks.evaluate; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ------------------------------------------------------------------------- label metrics
def test_face_and_area_accuracy_by_hand():
    true = np.array([0, 0, 1, 1, -1])
    pred = np.array([0, 1, 1, 1, 0])
    areas = np.array([1.0, 3.0, 2.0, 4.0, 100.0])
    assert M.face_accuracy(pred, true) == pytest.approx(3 / 4)
    # correct labelled area 1 + 2 + 4 = 7 of 10 (the unlabelled face's area is left out)
    assert M.area_weighted_accuracy(pred, true, areas) == pytest.approx(0.7)
    # invariant to the unit of the areas
    assert M.area_weighted_accuracy(pred, true, areas * 1e6) == pytest.approx(0.7)
    assert np.isnan(M.face_accuracy([0], [-1]))


def test_confusion_and_iou_by_hand():
    true = np.array([0, 0, 1, 1, 2, -1])
    pred = np.array([0, 1, 1, 1, 1, 2])
    C = M.confusion_matrix(pred, true, 4)
    assert C.tolist() == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    iou = M.per_part_iou(pred, true, 4)
    # class 0: 1 / (2 + 1 - 1) = 0.5; class 1: 2 / (2 + 4 - 2) = 0.5; class 2: 0 / 1; class 3: absent
    assert iou[:3] == pytest.approx([0.5, 0.5, 0.0])
    assert np.isnan(iou[3])
    Cw = M.confusion_matrix(pred, true, 4, weights=np.array([1, 2, 3, 4, 5, 6.0]))
    assert Cw[1, 1] == 7 and Cw[0, 1] == 2 and Cw.sum() == 15


def test_label_metrics_bad_input():
    with pytest.raises(MeshShapeError, match="expected 3 per-face labels"):
        M.face_accuracy([0, 1], [0, 1, 1])
    with pytest.raises(MeshError, match=r"expected labels in \[0, 2\)"):
        M.confusion_matrix([0, 5], [0, 1], 2)
    with pytest.raises(MeshError, match="non-negative"):
        M.area_weighted_accuracy([0], [0], [-1.0])


# ------------------------------------------------------------------------- partitions
def test_rand_index_by_hand():
    # 4 faces, unit weights: S1 splits {0,1} | {2,3}, S2 is one segment.  Of the 6 pairs,
    # the 4 across S1's split disagree: RI = 2/6.
    assert M.rand_index([0, 0, 1, 1], [0, 0, 0, 0]) == pytest.approx(1 / 3)
    assert M.rand_index([0, 0, 1, 1], [5, 5, 9, 9]) == 1.0  # ids are names only
    # weighted: a = (1, 1, 2): pairs (0,1) w1 agree, (0,2) w2, (1,2) w2 ; S1 = [0,0,1], S2 = [0,1,1]
    # pair (0,1): together in S1, apart in S2 -> disagree; (0,2): apart/apart agree; (1,2): apart/together
    # disagree -> RI = 2 / (1 + 2 + 2) = 0.4
    assert M.rand_index([0, 0, 1], [0, 1, 1], areas=[1, 1, 2]) == pytest.approx(0.4)


def test_consistency_errors_by_hand():
    assert M.consistency_errors([0, 0, 1, 1], [0, 0, 1, 1]) == (0.0, 0.0)
    # a refinement costs nothing
    assert M.consistency_errors([0, 0, 1, 1], [0, 0, 0, 0]) == (0.0, 0.0)
    # S1 = [0,0,1,1], S2 = [0,1,1,1]: sum E12 = 1/2 + 1/2 = 1, sum E21 = 0 + 2/3 + 1/3 + 1/3 = 4/3
    gce, lce = M.consistency_errors([0, 0, 1, 1], [0, 1, 1, 1])
    assert gce == pytest.approx(1 / 4)
    assert lce == pytest.approx(0.5 / 4)


def test_label_segments_splits_disconnected_regions():
    V, F = shapes.grid(4, 2)  # 3 x 1 cells, 6 triangles
    cx = V[F].mean(1)[:, 0]
    lab = np.where((cx < 1 / 3) | (cx > 2 / 3), 0, 1)  # label 0 at both ends
    seg = M.label_segments(F, lab)
    assert len(np.unique(seg)) == 3
    assert len(np.unique(seg[lab == 0])) == 2


def _grid_split(n, x):
    V, F = shapes.grid(n + 1, n + 1)  # n x n cells of side 1 / n
    cx = V[F].mean(1)[:, 0]
    return V, F, (cx > x).astype(np.int64)


def test_cut_discrepancy_by_hand():
    V, F, s1 = _grid_split(10, 0.5)
    _, _, s2 = _grid_split(10, 0.6)
    assert M.cut_discrepancy(V, F, s1, s1) == 0.0
    c1, c2 = M.cut_edges(F, s1), M.cut_edges(F, s2)
    # both cuts are vertical grid lines (10 unit-length edges), 0.1 apart along grid edges
    assert len(c1) == len(c2) == 10
    assert np.allclose(V[c1][:, :, 0], 0.5) and np.allclose(V[c2][:, :, 0], 0.6)
    assert M.directional_cut_discrepancy(V, F, c1, c2) == pytest.approx(0.1)
    assert M.directional_cut_discrepancy(V, F, c2, c1) == pytest.approx(0.1)
    R = M.average_radius(V, F)
    assert M.cut_discrepancy(V, F, s1, s2) == pytest.approx(0.2 / R)
    assert np.isnan(M.cut_discrepancy(V, F, s1, np.zeros_like(s1)))
    assert M.cut_discrepancy(V, F, np.zeros_like(s1), np.zeros_like(s1)) == 0.0


def test_average_radius_of_a_sphere():
    V, F = shapes.icosphere(4, radius=2.0)
    assert M.average_radius(V, F) == pytest.approx(2.0, rel=2e-3)
    assert M.average_radius(V * 1000, F) == pytest.approx(2000.0, rel=2e-3)


def test_identical_segmentations_score_perfectly():
    V, F, s = _grid_split(6, 0.5)
    sc = M.segmentation_scores(V, F, s, s)
    assert sc == {"rand_index": 1.0, "rand_index_error": 0.0, "cut_discrepancy": 0.0, "gce": 0.0, "lce": 0.0}
    # renaming the segments changes nothing
    assert M.segmentation_scores(V, F, s, 7 - s)["rand_index"] == 1.0


def test_compare_to_humans_averages_references():
    V, F, s1 = _grid_split(10, 0.5)
    _, _, s2 = _grid_split(10, 0.6)
    a = M.segmentation_scores(V, F, s1, s1)
    b = M.segmentation_scores(V, F, s1, s2)
    m = M.compare_to_humans(V, F, s1, [s1, s2])
    assert m["n_references"] == 2
    for k in ("rand_index", "cut_discrepancy", "gce", "lce"):
        assert m[k] == pytest.approx((a[k] + b[k]) / 2)
    assert 0 < m["rand_index_error"] < 0.2
    with pytest.raises(MeshError, match="at least one reference"):
        M.compare_to_humans(V, F, s1, [])
