"""``LabeledMesh`` validation and ``MeshDataset`` (transforms, subset, cached learning data)."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.data import LabeledMesh, MeshDataset
from manifold_nets.errors import MeshError
from manifold_nets.shapes import icosphere, tetrahedron

V4, F4 = tetrahedron()
NAMES = ("a", "b")


def _mesh(name="m", labels=(0, 0, 1, 1), V=V4, F=F4):
    return LabeledMesh(V, F, np.asarray(labels), NAMES, name=name)


def test_labeled_mesh_normalises_and_freezes():
    m = _mesh()
    assert m.V.dtype == np.float64 and m.F.dtype == np.int64 and m.face_labels.dtype == np.int64
    assert m.part_names == ("a", "b") and m.n_faces == 4 and m.n_vertices == 4
    with pytest.raises(ValueError):
        m.face_labels[0] = 1
    assert m.vertex_labels.shape == (4,)
    assert np.allclose(m.face_areas, m.face_areas[0])  # regular tetrahedron


@pytest.mark.parametrize("kwargs, match", [
    (dict(V=np.zeros((4, 2))), "expected V of shape \\(nV, 3\\)"),
    (dict(F=np.zeros((4, 4), int)), "expected F of shape \\(nF, 3\\)"),
    (dict(labels=(0, 1, 1)), "expected one label per face, shape \\(4,\\) \\(got \\(3,\\)\\)"),
    (dict(labels=(0, 2, 1, 1)), "expected face labels in \\[-1, 2\\) \\(got 2 on face 1\\)"),
    (dict(labels=(0, -2, 1, 1)), "got -2 on face 1"),
])
def test_labeled_mesh_validation_errors(kwargs, match):
    with pytest.raises(MeshError, match="^bad: .*" + match):
        _mesh(name="bad", **kwargs)


def test_dataset_part_names_must_agree():
    other = LabeledMesh(V4, F4, np.zeros(4, int), ("a", "c"), name="other")
    with pytest.raises(MeshError, match="other: expected the data set's part names"):
        MeshDataset([_mesh(), other])
    with pytest.raises(MeshError, match="at least one mesh or part_names"):
        MeshDataset([])
    assert len(MeshDataset([], NAMES)) == 0


def test_pre_transform_once_transform_every_access():
    calls = {"pre": 0, "tf": 0}

    def pre(m):
        calls["pre"] += 1
        return m.replace(V=m.V * 2)

    def tf(m):
        calls["tf"] += 1
        return m.replace(V=m.V + 1)

    ds = MeshDataset([_mesh("x"), _mesh("y")], transform=tf, pre_transform=pre)
    for _ in range(3):
        got = ds[0]
    assert calls == {"pre": 1, "tf": 3}
    assert np.allclose(got.V, V4 * 2 + 1)
    assert np.allclose(ds.processed(0).V, V4 * 2) and np.allclose(ds.raw(0).V, V4)
    ds[1]
    assert calls == {"pre": 2, "tf": 4}


def test_subset_and_slice_keep_names_transforms_and_processed():
    n = {"pre": 0}

    def pre(m):
        n["pre"] += 1
        return m

    ds = MeshDataset([_mesh(str(i)) for i in range(4)], pre_transform=pre, name="d")
    ds[2]
    sub = ds.subset([2, 0])
    assert sub.names == ["2", "0"] and sub.part_names == NAMES and sub.pre_transform is pre
    sub[0]
    assert n["pre"] == 1  # mesh 2 was processed already: kept across subset
    assert ds[1:3].names == ["1", "2"]
    assert ds.label_counts().tolist() == [8, 8] and ds.num_classes == 2


def test_data_uses_cache_on_second_call(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from manifold_nets.nn import batch as nn_batch

    V, F = icosphere(1)
    m = LabeledMesh(V, F, np.zeros(len(F), int), ("s",), name="sphere")
    ds = MeshDataset([m], cache_dir=tmp_path)
    real = nn_batch._compute_data
    calls = []

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(nn_batch, "_compute_data", counting)
    d1 = ds.data(0, k=8, patches=False)
    assert len(calls) == 1 and any(tmp_path.iterdir())
    d2 = ds.data(0, k=8, patches=False)
    assert len(calls) == 1  # second call read the cache
    assert np.allclose(np.asarray(d1.V_original), np.asarray(d2.V_original))
