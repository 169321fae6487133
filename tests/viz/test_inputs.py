"""Label, scalar, map and vector-field files checked against a mesh."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("pyvista")

from manifold_nets import Mesh, read_mesh, write_mesh  # noqa: E402
from manifold_nets.errors import (  # noqa: E402
    FaceIndexError,
    MeshError,
    MeshFileNotFoundError,
    MeshParseError,
    MeshShapeError,
)
from manifold_nets.shapes import icosphere  # noqa: E402
from manifold_nets.viz import read_field, read_labels, read_map, read_scalars  # noqa: E402


def _lines(path, values):
    path.write_text("\n".join(str(v) for v in values) + "\n")
    return path


def test_labels_per_face_and_per_vertex_by_count(sphere, tmp_path):
    lf = read_labels(_lines(tmp_path / "f.txt", np.arange(80) % 4), sphere)
    assert lf.where == "face" and lf.values.dtype == np.int64 and lf.n_parts == 4
    lv = read_labels(_lines(tmp_path / "v.txt", [-1] + [1] * 41), sphere)
    assert lv.where == "vertex" and lv.values[0] == -1 and lv.n_parts == 2


def test_label_names_from_json_beside_it(sphere, tmp_path):
    p = _lines(tmp_path / "seg.txt", np.arange(80) % 3)
    (tmp_path / "seg.json").write_text(json.dumps({"labels": {"0": "head", "2": "tail"}}))
    assert read_labels(p, sphere).part_names == ["head", "1", "tail"]
    (tmp_path / "seg.json").write_text(json.dumps({"part_names": ["a", "b", "c", "d"]}))
    ld = read_labels(p, sphere)
    assert ld.part_names == ["a", "b", "c", "d"] and ld.n_parts == 4


def test_labelled_ply(sphere, tmp_path):
    p = tmp_path / "pred.ply"
    lab = (np.arange(80) // 20).astype(np.int32)
    write_mesh(p, sphere.V, sphere.F, face_data={"label": lab},
               vertex_data={"label": np.zeros(42, dtype=np.int64)})
    (tmp_path / "pred.json").write_text(json.dumps({"part_names": ["w", "x", "y", "z"]}))
    ld = read_labels(p, read_mesh(p))
    assert ld.where == "face" and ld.values.tolist() == lab.tolist() and ld.part_names[3] == "z"


@pytest.mark.parametrize("content, error, words", [
    ("1\n2\n3\n", MeshShapeError, "expected 80 face or 42 vertex labels (got 3)"),
    ("1\nhead\n", MeshParseError, "line 2: expected an integer (got 'head')"),
    ("1.5\n", MeshParseError, "line 1: expected an integer (got '1.5')"),
    ("", MeshParseError, "expected at least one row"),
])
def test_bad_label_files(sphere, tmp_path, content, error, words):
    p = tmp_path / "bad.txt"
    p.write_text(content)
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")) as ei:
        read_labels(p, sphere)
    assert str(p) in str(ei.value) and "\n" not in str(ei.value)


def test_labels_below_minus_one_and_missing_file(sphere, tmp_path):
    with pytest.raises(MeshShapeError, match="got -2 at face 5"):
        read_labels(_lines(tmp_path / "l.txt", [0] * 5 + [-2] + [0] * 74), sphere)
    with pytest.raises(MeshFileNotFoundError):
        read_labels(tmp_path / "nope.txt", sphere)


def test_labelled_mesh_of_another_size(sphere, tmp_path):
    V, F = icosphere(0)
    p = tmp_path / "small.ply"
    write_mesh(p, V, F, face_data={"label": np.zeros(len(F), dtype=np.int64)})
    with pytest.raises(MeshShapeError, match="42 vertices and 80 faces"):
        read_labels(p, sphere)


def test_map_length_and_range(tmp_path):
    good = _lines(tmp_path / "m.txt", [0, 4, 2])
    assert read_map(good, 3, 5).tolist() == [0, 4, 2]
    np.save(tmp_path / "m.npy", np.array([1, 1, 1]))
    assert read_map(tmp_path / "m.npy", 3, 2).tolist() == [1, 1, 1]
    with pytest.raises(MeshShapeError, match=r"expected 4 indices, one per source vertex \(got 3\)"):
        read_map(good, 4, 5)
    with pytest.raises(FaceIndexError, match=r"line 2: expected a target vertex index in \[0, 3\] \(got 4"):
        read_map(good, 3, 4)
    with pytest.raises(FaceIndexError, match="got -1"):
        read_map(_lines(tmp_path / "n.txt", [-1, 0, 0]), 3, 4)


def test_scalars_file_name_and_builtin(sphere, tmp_path):
    cols = np.column_stack([np.arange(42.0), -np.arange(42.0)])
    np.savetxt(tmp_path / "s.txt", cols)
    sd = read_scalars(tmp_path / "s.txt", sphere)
    assert sd.where == "vertex" and sd.values.shape == (42, 2) and sd.names == ["s[0]", "s[1]"]
    np.testing.assert_allclose(sd.values, cols)
    z = read_scalars("z", sphere)
    np.testing.assert_array_equal(z.values[:, 0], sphere.V[:, 2])
    m = Mesh(sphere.V, sphere.F, face_data={"quality": np.ones(80)})
    assert read_scalars("quality", m).where == "face"
    with pytest.raises(MeshFileNotFoundError, match="expected an existing file or one of quality, x"):
        read_scalars("nonsense", m)
    np.savetxt(tmp_path / "short.txt", np.ones(7))
    with pytest.raises(MeshShapeError, match=r"expected 80 face or 42 vertex values \(got 7\)"):
        read_scalars(tmp_path / "short.txt", sphere)


def test_field_world_and_tangent(sphere, tmp_path):
    from manifold_nets.geometry import tangent_frames

    np.savetxt(tmp_path / "w.txt", np.tile([1.0, 0, 0], (80, 1)))
    vec, where = read_field(tmp_path / "w.txt", sphere)
    assert where == "face" and vec.shape == (80, 3)
    np.savetxt(tmp_path / "t.txt", np.tile([1.0, 0.0], (42, 1)))
    vec, where = read_field(tmp_path / "t.txt", sphere)
    _, x, _ = tangent_frames(sphere.V, sphere.F)
    assert where == "vertex"
    np.testing.assert_allclose(vec, x, atol=1e-12)  # (1, 0) in the gauge is the x axis
    np.savetxt(tmp_path / "b.txt", np.ones((42, 4)))
    with pytest.raises(MeshShapeError, match="3 world or 2 tangent coordinates per row"):
        read_field(tmp_path / "b.txt", sphere)
    np.savetxt(tmp_path / "t80.txt", np.ones((80, 2)))
    with pytest.raises(MeshError, match="one per vertex"):
        read_field(tmp_path / "t80.txt", sphere)
