"""evaluate_segmentation by hand; evaluate_model on a trained run; boundary metrics from .seg files;
text and JSON formatting."""

from __future__ import annotations

import json

import numpy as np
import pytest

from manifold_nets import shapes
from manifold_nets.data.dataset import LabeledMesh, MeshDataset
from manifold_nets.errors import MeshError, MeshShapeError
from manifold_nets.tasks.evaluate import (
    evaluate_boundaries,
    evaluate_model,
    evaluate_segmentation,
    format_boundaries,
    format_text,
    to_json,
)

NAMES = ("a", "b", "c")


def two_meshes():
    # mesh 1: a unit square split in two triangles of area 1/2 each
    V1 = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float)
    F1 = np.array([[0, 1, 2], [0, 2, 3]])
    m1 = LabeledMesh(V1, F1, [0, 1], NAMES, name="sq")
    # mesh 2: three triangles of area 1 (scaled by 10: units must not matter)
    V2 = np.array([[0, 0, 0], [2, 0, 0], [0, 1, 0], [2, 1, 0], [4, 1, 0], [4, 0, 0]], float) * 10
    F2 = np.array([[0, 1, 2], [1, 3, 2], [1, 5, 4]])
    m2 = LabeledMesh(V2, F2, [0, 0, -1], NAMES, name="tri")
    return m1, m2


def test_evaluate_segmentation_by_hand():
    m1, m2 = two_meshes()
    assert np.allclose(m2.face_areas, [100, 100, 100])
    r = evaluate_segmentation([m1, m2], [np.array([0, 0]), np.array([0, 1, 2])])
    # mesh 1: one of two equal faces right -> 0.5 by area and by faces
    # mesh 2: labelled faces 0, 1 (the third is unlabelled); face 0 right -> 0.5 / 0.5
    assert r["per_mesh"] == [
        {"name": "sq", "n_faces": 2, "area_weighted_accuracy": 0.5, "face_accuracy": 0.5},
        {"name": "tri", "n_faces": 3, "area_weighted_accuracy": 0.5, "face_accuracy": 0.5},
    ]
    assert r["area_weighted_accuracy"] == 0.5 and r["face_accuracy"] == 0.5
    assert r["face_accuracy_pooled"] == 0.5
    assert r["confusion"] == [[2, 1, 0], [1, 0, 0], [0, 0, 0]]
    # area confusion: each mesh's labelled area sums to 1
    assert np.allclose(r["confusion_area"], [[1.0, 0.5, 0], [0.5, 0, 0], [0, 0, 0]])
    assert r["per_part_iou"]["a"] == pytest.approx(1.0 / (1.5 + 1.5 - 1.0))
    assert r["per_part_iou"]["b"] == 0.0
    assert np.isnan(r["per_part_iou"]["c"])
    assert r["mean_iou"] == pytest.approx((0.5 + 0.0) / 2)
    assert r["part_names"] == list(NAMES) and r["n_meshes"] == 2


def test_area_weighting_differs_from_face_counting():
    V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [3, 0, 0], [0, 3, 0]], float)
    F = np.array([[0, 1, 2], [1, 3, 4], [1, 4, 2]])
    m = LabeledMesh(V, F, [0, 1, 1], NAMES, name="m")
    r = evaluate_segmentation([m], [np.array([0, 0, 0])])
    a = m.face_areas
    assert r["face_accuracy"] == pytest.approx(1 / 3)
    assert r["area_weighted_accuracy"] == pytest.approx(a[0] / a.sum())


def test_evaluate_segmentation_errors():
    m1, m2 = two_meshes()
    with pytest.raises(MeshShapeError, match="one array per mesh"):
        evaluate_segmentation([m1, m2], [np.array([0, 0])])
    with pytest.raises(MeshShapeError, match="tri: expected 3 predicted"):
        evaluate_segmentation([m1, m2], [np.array([0, 0]), np.array([0, 1])])
    with pytest.raises(MeshError, match=r"sq: .*expected labels in \[0, 3\)"):
        evaluate_segmentation([m1], [np.array([0, 7])])


def test_text_and_json_formatting():
    m1, m2 = two_meshes()
    r = evaluate_segmentation([m1, m2], [np.array([0, 0]), np.array([0, 1, 2])])
    text = format_text(r)
    assert "sq" in text and "tri" in text
    assert "area-weighted accuracy (mean over 2 meshes): 50.00 %" in text
    assert "confusion" in text and "n/a" in text  # part c has no IoU
    d = json.loads(to_json(r))  # strict JSON: NaN became null
    assert d["per_part_iou"]["c"] is None and d["area_weighted_accuracy"] == 0.5


def test_boundary_metrics_from_seg_files(tmp_path):
    V, F = shapes.grid(11, 11)
    cx = V[F].mean(1)[:, 0]
    pred = (cx > 0.5).astype(np.int64)
    m = LabeledMesh(V, F, pred, ("l", "r"), name="Grid/7", path=tmp_path / "7.off")
    other = LabeledMesh(V, F, pred, ("l", "r"), name="Grid/8", path=tmp_path / "8.off")
    seg = tmp_path / "seg" / "Benchmark" / "7"
    seg.mkdir(parents=True)
    (seg / "7_0.seg").write_text("\n".join(str(v) for v in pred) + "\n")
    (seg / "7_1.seg").write_text("\n".join(str(v) for v in (cx > 0.6).astype(int)) + "\n")
    r = evaluate_boundaries([m, other], [pred, pred], tmp_path / "seg")
    assert r["missing"] == ["Grid/8"] and r["n_meshes"] == 1
    row = r["per_mesh"][0]
    assert row["n_references"] == 2
    # human 0 is the prediction (all scores 0); human 1 moves the cut by one column (10 % of the
    # area): contingency fractions n = [[.5, 0], [.1, .4]], rows r = (.5, .5), columns c = (.6, .4)
    # 1 - RI = (.5 + .52 - 2 * .42) / (1 - 200 / 200**2) ; GCE = min(.16, 1/6) ; mean of the two humans
    assert row["rand_index_error"] == pytest.approx(0.18 / 0.995 / 2)
    assert row["gce"] == pytest.approx(0.16 / 2)
    assert row["cut_discrepancy"] > 0
    text = format_boundaries(r)
    assert "Grid/7" in text and "no .seg files for 1 meshes: Grid/8" in text
    bad = tmp_path / "seg" / "Benchmark" / "7" / "7_2.seg"
    bad.write_text("0\n1\n")
    with pytest.raises(MeshError, match="7_2.seg: expected 200 lines"):
        evaluate_boundaries([m], [pred], tmp_path / "seg")


def test_evaluate_model_on_a_dataset(tmp_path):
    pytest.importorskip("torch")
    from .test_predict import PARTS, egg, make_run

    run = make_run(tmp_path / "run")
    V, F, lab = egg()
    V2, F2, lab2 = egg(2)
    ds = MeshDataset([LabeledMesh(V, F, lab, PARTS, name="egg3"), LabeledMesh(V2 * 50, F2, lab2, PARTS, name="egg2")])
    seen = []
    result, preds = evaluate_model(run, ds, progress=lambda i, n, name: seen.append((i, n, name)))
    assert seen == [(0, 2, "egg3"), (1, 2, "egg2")]
    assert [r["name"] for r in result["per_mesh"]] == ["egg3", "egg2"]
    assert result["area_weighted_accuracy"] > 0.85
    assert len(preds) == 2 and preds[0].face_labels.shape == (len(F),)
    assert result["model"].endswith("model.pt")
    wrong = MeshDataset([LabeledMesh(V, F, lab, ("x", "y"), name="e")])
    with pytest.raises(MeshError, match="model's part names"):
        evaluate_model(run, wrong)
