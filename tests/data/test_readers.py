"""Readers of labelled data sets: a hand-made mesh in every format (exact round trip), every
malformed case (an error naming the file and line), ``skip_bad``, and the real Labeled PSB."""

from __future__ import annotations

import json

import numpy as np
import pytest

from manifold_nets.data import FORMATS, load_dataset, read_labeled_mesh, read_psb_segmentations
from manifold_nets.data.edges import face_to_edge_labels, mesh_edges
from manifold_nets.data.labels import vertex_to_face_labels
from manifold_nets.errors import MeshError, MeshFileNotFoundError, MeshParseError
from manifold_nets.io import write_mesh
from manifold_nets.shapes import grid, octahedron, tetrahedron
from tests.conftest import data_path

V8, F8 = octahedron()  # 6 vertices, 8 faces
LAB8 = np.array([0, 0, 1, 1, 2, 2, 2, 0])


def _psb_text(parts: dict) -> str:
    """``{name: 0-based faces}`` -> Labeled PSB text (1-based indices, trailing space as the real files)."""
    return "".join(f"{n}\n{' '.join(str(f + 1) for f in fs)} \n" for n, fs in parts.items())


def _psb_folder(tmp_path, files: dict, category="Cat"):
    d = tmp_path / category
    d.mkdir(parents=True, exist_ok=True)
    for stem, text in files.items():
        write_mesh(d / f"{stem}.off", V8, F8)
        if text is not None:
            (d / f"{stem}_labels.txt").write_text(text)
    return d


GOOD = _psb_text({"leg": [0, 1, 7], "arm": [2, 3], "head": [4, 5, 6]})


# ---------------------------------------------------------------------------------------------
# Labeled PSB


def test_labeled_psb_round_trip_union_of_names_numeric_order(tmp_path):
    _psb_folder(tmp_path, {"10": GOOD, "2": _psb_text({"leg": [0, 1, 2, 3, 7], "head": [4, 5, 6]})})
    ds = load_dataset(tmp_path, "labeled-psb", category="Cat")
    assert ds.part_names == ("arm", "head", "leg")  # sorted union: "arm" is missing on mesh 2
    assert ds.names == ["Cat/2", "Cat/10"]
    assert ds.skipped == []
    assert ds[0].face_labels.tolist() == [2, 2, 2, 2, 1, 1, 1, 2]
    assert ds[1].face_labels.tolist() == [2, 2, 0, 0, 1, 1, 1, 2]
    assert np.array_equal(ds[1].V, V8) and np.array_equal(ds[1].F, F8)


def test_labeled_psb_category_rules(tmp_path):
    _psb_folder(tmp_path, {"1": GOOD}, "Cat")
    _psb_folder(tmp_path, {"1": GOOD}, "Dog")
    with pytest.raises(MeshError, match="expected a category .*available: Cat, Dog"):
        load_dataset(tmp_path, "labeled-psb")
    with pytest.raises(MeshError, match="among Cat, Dog \\(got 'Cow'\\)"):
        load_dataset(tmp_path, "labeled-psb", category="Cow")
    assert load_dataset(tmp_path, "labeled-psb", category="dog").names == ["Dog/1"]
    assert len(load_dataset(tmp_path / "Cat", "labeled-psb")) == 1  # root is the category


def test_labeled_psb_given_part_names_and_unknown_name(tmp_path):
    _psb_folder(tmp_path, {"1": GOOD})
    ds = load_dataset(tmp_path, "labeled-psb", category="Cat", labels=["head", "leg", "arm", "tail"])
    assert ds.part_names == ("head", "leg", "arm", "tail")
    assert ds[0].face_labels.tolist() == [1, 1, 2, 2, 0, 0, 0, 1]
    with pytest.raises(MeshParseError, match="1_labels.txt: line 3: expected a part name among .* \\(got 'arm'\\)"):
        load_dataset(tmp_path, "labeled-psb", category="Cat", labels=["head", "leg"])


BAD_PSB = {
    "out of range": ("leg\n1 2 8 9\narm\n3 4 5 6 7\n", r"line 2: expected face indices in \[1, 8\] .*\(got 9\)"),
    "zero": ("leg\n1 2 8\narm\n0 3 4 5 6 7\n", r"line 4: expected 1-based face indices >= 1 \(got 0\)"),
    "negative": ("leg\n1 2 -8\narm\n3 4 5 6 7\n", r"line 2: expected 1-based .*\(got -8\)"),
    "twice": ("leg\n1 2 8\narm\n3 4 5 6 7 2\n",
              r"line 4: expected every face listed once \(got face 2 on line 2 \(part 'leg'\) and on line 4"),
    "uncovered": ("leg\n1 2\narm\n3 4 6 7\n",
                  r"line 4 \(end of file\): expected every face 1..8 in a part \(got 2 faces not listed; first: face 5\)"),
    "non-integer": ("leg\n1 2 8\narm\n3 4 x5 6 7\n", r"line 4: expected an integer face index \(got 'x5'\)"),
    "float": ("leg\n1 2 8\narm\n3 4 5.5 6 7\n", r"line 4: expected an integer face index \(got '5.5'\)"),
    "name without indices": ("leg\n1 2 8 3 4 5 6 7\narm\n",
                             r"line 4: expected a line of face indices after part name 'arm' on line 3 \(got end of file\)"),
    "empty part": ("leg\n\narm\n1 2 3 4 5 6 7 8\n", r"line 2: expected the face indices of part 'leg' \(got an empty line"),
    "missing name line": ("leg\n1 2 8\n3 4 5 6 7\n", r"line 3: expected a part name of one word"),
    "empty file": ("", r"line 1: expected a part name \(got an empty file\)"),
}


@pytest.mark.parametrize("case", list(BAD_PSB))
def test_labeled_psb_malformed_names_file_and_line(tmp_path, case):
    text, match = BAD_PSB[case]
    _psb_folder(tmp_path, {"1": text})
    with pytest.raises(MeshParseError, match="1_labels.txt: " + match):
        load_dataset(tmp_path, "labeled-psb", category="Cat")


def test_labeled_psb_skip_bad_reports_and_continues(tmp_path):
    d = _psb_folder(tmp_path, {"1": GOOD, "2": BAD_PSB["twice"][0], "3": None})
    (d / "4_labels.txt").write_text(GOOD)  # a label file without its mesh
    with pytest.raises(MeshParseError, match="2_labels.txt"):
        load_dataset(tmp_path, "labeled-psb", category="Cat")
    ds = load_dataset(tmp_path, "labeled-psb", category="Cat", skip_bad=True)
    assert ds.names == ["Cat/1"]
    paths = [p for p, _ in ds.skipped]
    assert [p.rsplit("/", 1)[-1] for p in paths] == ["2_labels.txt", "3.off", "4_labels.txt"]
    assert "line 4" in ds.skipped[0][1] and "3_labels.txt" in ds.skipped[1][1]


def test_labeled_psb_two_meshes_for_one_id(tmp_path):
    d = _psb_folder(tmp_path, {"1": GOOD, "2": GOOD})
    write_mesh(d / "2.ply", V8, F8)
    with pytest.raises(MeshError, match="expected one mesh file for id 2 \\(got 2.off, 2.ply\\)"):
        load_dataset(d, "labeled-psb")
    ds = load_dataset(d, "labeled-psb", skip_bad=True)
    assert ds.names == ["Cat/1"] and len(ds.skipped) == 1


def test_skip_bad_everything_bad_is_an_error(tmp_path):
    _psb_folder(tmp_path, {"1": BAD_PSB["zero"][0]})
    with pytest.raises(MeshError, match="at least one readable labelled mesh .*1 skipped"):
        load_dataset(tmp_path, "labeled-psb", category="Cat", skip_bad=True)


@pytest.mark.data
def test_real_labeled_psb_human():
    root = data_path("datasets", "labeled-psb")
    ds = load_dataset(root, "labeled-psb", category="Human")
    assert len(ds) == 14 and ds.skipped == []
    assert ds.part_names == ("foot", "hand", "head", "lowerarm", "lowerleg", "torso", "upperarm", "upperleg")
    assert ds.names[:3] == ["Human/1", "Human/2", "Human/3"]
    for m in ds:
        assert (m.face_labels >= 0).all()  # every face labelled
        header = m.path.read_text().splitlines()[1].split()
        assert (m.n_vertices, m.n_faces) == (int(header[0]), int(header[1]))
        # every listed index appears once: the label-file token count equals the face count
        lines = open(m.meta["label_path"]).read().splitlines()
        assert sum(len(s.split()) for s in lines[1::2]) == m.n_faces
        assert set(lines[0::2]) == {ds.part_names[i] for i in np.unique(m.face_labels)}
    assert ds.label_counts().sum() == sum(m.n_faces for m in ds)


# ---------------------------------------------------------------------------------------------
# Princeton .seg


def _seg_set(tmp_path, segs):
    (tmp_path / "off").mkdir()
    write_mesh(tmp_path / "off" / "5.off", V8, F8)
    d = tmp_path / "seg" / "Benchmark" / "5"
    d.mkdir(parents=True)
    for k, s in enumerate(segs):
        (d / f"5_{k}.seg").write_text("\n".join(str(v) for v in s) + "\n")
    return d


def test_psb_seg_round_trip_and_all_segmentations(tmp_path):
    a, b = [0, 0, 1, 1, 2, 2, 2, 0], [3, 3, 3, 3, 0, 0, 1, 1]
    d = _seg_set(tmp_path, [a, b])
    ds = load_dataset(tmp_path, "psb-seg")
    assert ds.part_names == ("segment_0", "segment_1", "segment_2")
    assert ds[0].face_labels.tolist() == a and ds[0].meta["n_segmentations"] == 2
    ds1 = load_dataset(tmp_path, "psb-seg", segmentation=1)
    assert ds1[0].face_labels.tolist() == b and ds1.num_classes == 4
    segs = read_psb_segmentations(tmp_path / "seg", 5, n_faces=8)
    assert [s.tolist() for s in segs] == [a, b]
    assert read_labeled_mesh(tmp_path / "off" / "5.off", d / "5_1.seg").face_labels.tolist() == b


def test_psb_seg_errors(tmp_path):
    d = _seg_set(tmp_path, [[0] * 7])
    with pytest.raises(MeshParseError, match="5_0.seg: expected 8 lines, one segment id per face .*\\(got 7\\)"):
        load_dataset(tmp_path, "psb-seg")
    (d / "5_0.seg").write_text("0\n1\n-1\n0\n0\n0\n0\n0\n")
    with pytest.raises(MeshParseError, match="5_0.seg: line 3: expected a 0-based segment id >= 0 \\(got -1\\)"):
        load_dataset(tmp_path, "psb-seg")
    (d / "5_0.seg").write_text("0\n1\n2\nfoo\n0\n0\n0\n0\n")
    with pytest.raises(MeshParseError, match="5_0.seg: line 4: expected an integer segment id \\(got 'foo'\\)"):
        load_dataset(tmp_path, "psb-seg")
    with pytest.raises(MeshFileNotFoundError, match="expected 6_<k>.seg"):
        read_psb_segmentations(tmp_path / "seg", 6)


# ---------------------------------------------------------------------------------------------
# Maron et al. 2017


def _maron_set(tmp_path, lab_a, lab_b, *, labels_dir="segs"):
    (tmp_path / "meshes" / "train").mkdir(parents=True)
    (tmp_path / "meshes" / "test" / "shrec").mkdir(parents=True)
    write_mesh(tmp_path / "meshes" / "train" / "a.off", V8, F8)
    write_mesh(tmp_path / "meshes" / "test" / "shrec" / "b.ply", V8, F8)
    (tmp_path / labels_dir / "train").mkdir(parents=True)
    (tmp_path / labels_dir / "other").mkdir(parents=True)
    (tmp_path / labels_dir / "train" / "a.txt").write_text("\n".join(map(str, lab_a)) + "\n")
    (tmp_path / labels_dir / "other" / "b.txt").write_text("\n".join(map(str, lab_b)) + "\n")


def test_maron_round_trip_1_based(tmp_path):
    _maron_set(tmp_path, LAB8 + 1, [8] * 8, labels_dir="labels")
    ds = load_dataset(tmp_path, "maron")
    assert ds.part_names == tuple(f"part_{i}" for i in range(1, 9))
    assert ds.names == ["train/a", "test/shrec/b"]
    assert ds[0].face_labels.tolist() == LAB8.tolist() and ds[1].face_labels.tolist() == [7] * 8
    assert load_dataset(tmp_path, "maron", split="test").names == ["test/shrec/b"]
    names = tmp_path / "names.txt"
    names.write_text("\n".join("abcdefgh") + "\n")
    assert load_dataset(tmp_path, "maron", names_file=names).part_names == tuple("abcdefgh")
    zero = read_labeled_mesh(tmp_path / "meshes" / "train" / "a.off", tmp_path / "labels" / "train" / "a.txt",
                             format="maron", label_base=0)
    assert zero.face_labels.tolist() == (LAB8 + 1).tolist()


def test_maron_errors(tmp_path):
    _maron_set(tmp_path, LAB8 + 1, [1] * 7)
    with pytest.raises(MeshParseError, match="b.txt: expected 8 lines, one label per face .*\\(got 7\\)"):
        load_dataset(tmp_path, "maron")
    ds = load_dataset(tmp_path, "maron", skip_bad=True)
    assert ds.names == ["train/a"] and ds.skipped[0][0].endswith("b.txt")
    (tmp_path / "segs" / "other" / "b.txt").write_text("1\n" * 7 + "0\n")
    with pytest.raises(MeshParseError, match="b.txt: line 8: expected a face label >= 1 \\(label_base=1\\) \\(got 0\\)"):
        load_dataset(tmp_path, "maron")
    (tmp_path / "segs" / "other" / "b.txt").write_text("1\n" * 7 + "5\n")
    names = tmp_path / "names.json"
    names.write_text(json.dumps({"part_names": ["x", "y", "z"]}))
    with pytest.raises(MeshParseError, match="b.txt: line 8: expected a label in \\[1, 3\\] for 3 part names "
                                             "\\(.*names.json\\) \\(got 5\\)"):
        load_dataset(tmp_path, "maron", names_file=names)


# ---------------------------------------------------------------------------------------------
# MeshCNN


def _meshcnn_set(tmp_path):
    V, F = grid(5)
    lab = (V[F].mean(axis=1)[:, 0] > 0.5).astype(int)  # border on a grid line: exact round trip
    e = face_to_edge_labels(V, F, lab)
    for d in ("train", "seg", "sseg"):
        (tmp_path / d).mkdir()
    write_mesh(tmp_path / "train" / "g.obj", V, F)
    (tmp_path / "seg" / "g.eseg").write_text("\n".join(str(v + 1) for v in e) + "\n")
    soft = np.eye(2)[e]
    (tmp_path / "sseg" / "g.seseg").write_text("\n".join(" ".join(f"{x:.6f}" for x in r) for r in soft) + "\n")
    return V, F, lab, e


def test_meshcnn_round_trip_hard_and_soft(tmp_path):
    V, F, lab, e = _meshcnn_set(tmp_path)
    ds = load_dataset(tmp_path, "meshcnn")
    m = ds[0]
    assert ds.part_names == ("part_1", "part_2") and m.meta["split"] == "train"
    assert np.array_equal(m.meta["edge_labels"], e) and np.array_equal(m.face_labels, lab)
    soft = load_dataset(tmp_path, "meshcnn", soft=True)[0]
    assert np.array_equal(soft.face_labels, lab) and soft.meta["edge_scores"].shape == (len(e), 2)
    one = read_labeled_mesh(tmp_path / "train" / "g.obj", tmp_path / "seg" / "g.eseg")
    assert np.array_equal(one.face_labels, lab)


def test_meshcnn_edge_count_and_label_errors(tmp_path):
    V, F, lab, e = _meshcnn_set(tmp_path)
    nE = len(mesh_edges(F)[0])
    (tmp_path / "seg" / "g.eseg").write_text("1\n" * (nE - 1))
    with pytest.raises(MeshParseError, match=f"g.eseg: expected {nE} lines, one label per edge \\(got {nE - 1}\\).*clean mesh"):
        load_dataset(tmp_path, "meshcnn")
    (tmp_path / "seg" / "g.eseg").write_text("1\n" * 3 + "0\n" + "1\n" * (nE - 4))
    with pytest.raises(MeshParseError, match="g.eseg: line 4: expected an edge label >= 1"):
        load_dataset(tmp_path, "meshcnn")
    (tmp_path / "sseg" / "g.seseg").write_text("1 0\n0 1 0\n")
    with pytest.raises(MeshParseError, match="g.seseg: line 2: expected 2 soft labels as on line 1 \\(got 3\\)"):
        load_dataset(tmp_path, "meshcnn", soft=True)
    write_mesh(tmp_path / "train" / "g.obj", V, np.concatenate([F, F[3:4]]))  # a duplicate face
    with pytest.raises(MeshError, match=f"g.obj: face {len(F)}: expected a clean mesh .*repeats the directed edge"):
        load_dataset(tmp_path, "meshcnn")
    (tmp_path / "seg" / "g.eseg").unlink()
    with pytest.raises(MeshFileNotFoundError, match="g.obj: expected its edge labels in .*g.eseg"):
        load_dataset(tmp_path, "meshcnn")


# ---------------------------------------------------------------------------------------------
# generic folder


def test_folder_sidecars_embedded_and_names(tmp_path):
    vlab = np.array([0, 1, 1, 2, 2, 0])
    write_mesh(tmp_path / "a.off", V8, F8)
    (tmp_path / "a.labels.txt").write_text("\n".join(map(str, LAB8)) + "\n")  # 8 = nF: faces
    write_mesh(tmp_path / "b.obj", V8, F8)
    (tmp_path / "b_labels.txt").write_text("\n".join(map(str, vlab)))  # 6 = nV: vertices
    write_mesh(tmp_path / "c.ply", V8, F8)
    np.save(tmp_path / "c.npy", LAB8[::-1].copy())
    write_mesh(tmp_path / "d.ply", V8, F8, face_data={"label": LAB8}, vertex_data={"label": vlab})
    write_mesh(tmp_path / "e.ply", V8, F8, vertex_data={"label": vlab})
    ds = load_dataset(tmp_path, "folder")
    assert ds.names == ["a", "b", "c", "d", "e"] and ds.part_names == ("part_0", "part_1", "part_2")
    by_v = vertex_to_face_labels(F8, vlab)
    assert [m.face_labels.tolist() for m in ds] == [LAB8.tolist(), by_v.tolist(), LAB8[::-1].tolist(),
                                                   LAB8.tolist(), by_v.tolist()]
    assert [m.meta["labels_on"] for m in ds] == ["faces", "vertices", "faces", "faces", "vertices"]
    assert ds[1].meta["vertex_labels"].tolist() == vlab.tolist()
    # names: per-mesh JSON as `segment predict` writes it, then a data-set part_names.json
    for s in "abcde":
        (tmp_path / f"{s}.json").write_text(json.dumps({"part_names": ["x", "y", "z"],
                                                        "labels": {"0": "x", "1": "y", "2": "z"}}))
    assert load_dataset(tmp_path, "folder").part_names == ("x", "y", "z")
    (tmp_path / "part_names.json").write_text(json.dumps({"labels": {"1": "y", "0": "z", "2": "x", "3": "w"}}))
    ds = load_dataset(tmp_path, "folder")
    assert ds.part_names == ("z", "y", "x", "w")
    assert ds[0].face_labels.tolist() == [2, 2, 1, 1, 0, 0, 0, 2]  # mapped by name from a.json
    assert read_labeled_mesh(tmp_path / "c.ply").face_labels.tolist() == LAB8[::-1].tolist()


def test_folder_per_mesh_json_names_are_mapped_by_name(tmp_path):
    write_mesh(tmp_path / "a.off", V8, F8)
    (tmp_path / "a.labels.txt").write_text("0\n1\n2\n0\n1\n2\n0\n1\n")
    (tmp_path / "a.json").write_text(json.dumps({"part_names": ["x", "y", "z"]}))
    write_mesh(tmp_path / "b.off", V8, F8)
    (tmp_path / "b.labels.txt").write_text("0\n1\n0\n1\n0\n1\n-1\n1\n")
    (tmp_path / "b.json").write_text(json.dumps({"labels": {"0": "z", "1": "x"}}))
    ds = load_dataset(tmp_path, "folder")
    assert ds.part_names == ("x", "y", "z")
    assert ds[1].face_labels.tolist() == [2, 0, 2, 0, 2, 0, -1, 0]  # z -> 2, x -> 0
    assert load_dataset(tmp_path, "folder", labels=["z", "y", "x"])[0].face_labels.tolist() == [2, 1, 0, 2, 1, 0, 2, 1]
    with pytest.raises(MeshParseError, match="a.json: expected part names among \\['x', 'y'\\] \\(got 'z', label 2"):
        load_dataset(tmp_path, "folder", labels=["x", "y"])
    (tmp_path / "b.labels.txt").write_text("0\n1\n0\n1\n0\n2\n0\n1\n")
    with pytest.raises(MeshParseError, match="b.labels.txt: line 6: expected a label in \\[0, 1\\] for 2 part names "
                                             "\\(.*b.json\\) \\(got 2\\)"):
        load_dataset(tmp_path, "folder")


def test_folder_vtk_cell_labels(tmp_path):
    meshio = pytest.importorskip("meshio")
    meshio.Mesh(V8, [("triangle", F8)], cell_data={"label": [LAB8]}).write(tmp_path / "v.vtk")
    vlab = np.array([0, 1, 1, 2, 2, 0])
    meshio.Mesh(V8, [("triangle", F8)], point_data={"label": vlab}).write(tmp_path / "w.vtk")
    ds = load_dataset(tmp_path, "folder")
    assert ds[0].face_labels.tolist() == LAB8.tolist() and ds[0].meta["labels_on"] == "faces"
    assert ds[1].face_labels.tolist() == vertex_to_face_labels(F8, vlab).tolist()
    assert ds[1].meta["labels_on"] == "vertices"


def test_folder_count_ambiguity_and_errors(tmp_path):
    V4, F4 = tetrahedron()  # nV == nF == 4
    write_mesh(tmp_path / "t.off", V4, F4)
    (tmp_path / "t.labels.txt").write_text("0\n1\n1\n0\n")
    with pytest.raises(MeshParseError, match="t.labels.txt: .*4 matches both the face and the vertex count; .*labels_on="):
        load_dataset(tmp_path, "folder")
    assert load_dataset(tmp_path, "folder", labels_on="faces")[0].face_labels.tolist() == [0, 1, 1, 0]
    assert load_dataset(tmp_path, "folder", labels_on="vertices")[0].meta["labels_on"] == "vertices"
    (tmp_path / "t.labels.txt").write_text("0\n1\n1\n")
    with pytest.raises(MeshParseError, match="t.labels.txt: expected 4 labels \\(one per face\\) or 4 \\(one per vertex\\) \\(got 3\\)"):
        load_dataset(tmp_path, "folder")
    (tmp_path / "t.labels.txt").write_text("0\n1\n-3\n0\n")
    with pytest.raises(MeshParseError, match="t.labels.txt: line 3: expected a 0-based label >= 0 or -1"):
        load_dataset(tmp_path, "folder", labels_on="faces")
    (tmp_path / "t.labels.txt").write_text("0\n1\n3\n0\n")
    with pytest.raises(MeshParseError, match="t.labels.txt: line 3: expected a label in \\[0, 1\\] for 2 part names \\(part names\\) \\(got 3\\)"):
        load_dataset(tmp_path, "folder", labels_on="faces", labels=["a", "b"])
    write_mesh(tmp_path / "u.off", V8, F8)  # no labels at all
    with pytest.raises(MeshFileNotFoundError, match="u.off: expected labels in u.labels.txt"):
        load_dataset(tmp_path, "folder", labels_on="faces")
    ds = load_dataset(tmp_path, "folder", labels_on="faces", skip_bad=True)
    assert ds.names == ["t"] and ds.skipped[0][0].endswith("u.off")


# ---------------------------------------------------------------------------------------------
# entry points


def test_load_dataset_rejects_unknown_format_and_options(tmp_path):
    assert set(FORMATS) == {"labeled-psb", "psb-seg", "maron", "meshcnn", "folder"}
    with pytest.raises(MeshError, match="format: expected one of labeled-psb, .* \\(got 'psb'\\)"):
        load_dataset(tmp_path, "psb")
    with pytest.raises(MeshError, match="expected options among split, soft, label_base \\(got labels_on\\)"):
        load_dataset(tmp_path, "meshcnn", labels_on="faces")
    _psb_folder(tmp_path, {"1": GOOD})
    assert len(load_dataset(tmp_path, "labeled-psb", category="Cat", label_base=None, split=None)) == 1
    with pytest.raises(MeshFileNotFoundError, match="no such folder"):
        load_dataset(tmp_path / "nope", "folder")


def test_read_labeled_mesh_psb_auto_and_part_names(tmp_path):
    d = _psb_folder(tmp_path, {"1": GOOD})
    m = read_labeled_mesh(d / "1.off", d / "1_labels.txt")
    assert m.part_names == ("arm", "head", "leg") and m.meta["format"] == "labeled-psb"
    assert m.face_labels.tolist() == [2, 2, 0, 0, 1, 1, 1, 2]
    with pytest.raises(MeshParseError, match="1_labels.txt: line 5: expected a part name among \\['leg', 'arm'\\] \\(got 'head'\\)"):
        read_labeled_mesh(d / "1.off", d / "1_labels.txt", part_names=["leg", "arm"])


def test_transforms_and_cache_dir_reach_the_dataset(tmp_path):
    _psb_folder(tmp_path, {"1": GOOD})
    ds = load_dataset(tmp_path, "labeled-psb", category="Cat", cache_dir=tmp_path / "c",
                      pre_transform=lambda m: m.replace(V=m.V * 2), transform=lambda m: m.replace(V=m.V + 1))
    assert ds.cache_dir == tmp_path / "c" and np.allclose(ds[0].V, V8 * 2 + 1)


def test_a_triangle_soup_in_a_data_set_is_read_with_a_warning(tmp_path):
    """Labels on a soup (every face with vertices of its own, as STL files store meshes) are read
    as given, with a MeshWarning naming the file; a connected mesh reads without one."""
    import warnings

    from manifold_nets.errors import MeshWarning

    soup_V = V8[F8.ravel()]
    write_mesh(tmp_path / "soup.ply", soup_V, np.arange(24).reshape(8, 3), face_data={"label": LAB8})
    with pytest.warns(MeshWarning, match=r"soup\.ply: 8 of 8 faces share no vertex with another face"):
        ds = load_dataset(tmp_path, "folder")
    assert ds[0].face_labels.tolist() == LAB8.tolist()
    (tmp_path / "soup.ply").unlink()
    write_mesh(tmp_path / "whole.ply", V8, F8, face_data={"label": LAB8})
    with warnings.catch_warnings():
        warnings.simplefilter("error", MeshWarning)
        load_dataset(tmp_path, "folder")
