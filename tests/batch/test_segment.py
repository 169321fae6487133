"""The ``segment`` batch task: labels from a saved model, equal to ``predict`` in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import read_mesh, shapes, write_mesh  # noqa: E402
from manifold_nets.batch import make_task, map_meshes  # noqa: E402
from manifold_nets.errors import MeshFileNotFoundError  # noqa: E402

PARTS = ("tip", "mid")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """An untrained two-part model: its labels are arbitrary but must equal ``predict``'s."""
    from manifold_nets.nn import SegmentationNet, save

    torch.manual_seed(0)
    d = tmp_path_factory.mktemp("run")
    net = SegmentationNet(in_channels=8, out_channels=2, family="diffusion", width=8, n_blocks=1)
    save(net.eval(), d / "model.pt", features={"kind": "hks", "n": 8},
         operators={"k": 16, "patches": False, "curvature": False}, labels=list(PARTS))
    (d / "config.json").write_text("{}")
    return d


def test_segment_matches_predict(tmp_path, model):
    from manifold_nets.tasks.predict import predict

    V, F = shapes.icosphere(2)
    write_mesh(tmp_path / "in" / "egg.off", V * np.array([2.0, 1, 1]), F)
    write_mesh(tmp_path / "in" / "t.ply", *shapes.torus(12, 8))
    rep = map_meshes(make_task("segment", model=str(model)), sorted((tmp_path / "in").iterdir()), tmp_path / "out",
                     workers=1)
    assert rep.n_ok == 2, rep.failed
    for name in ("egg.off", "t.ply"):
        m = read_mesh(tmp_path / "in" / name)
        ref = predict(model, m.V, m.F)
        out = read_mesh(tmp_path / "out" / f"{name}.segment.ply")
        np.testing.assert_array_equal(out.F, m.F)
        np.testing.assert_array_equal(out.face_data["label"], ref.face_labels)
        np.testing.assert_array_equal(out.vertex_data["label"], ref.vertex_labels)
        js = json.loads((tmp_path / "out" / f"{name}.segment.json").read_text())
        assert js["part_names"] == list(PARTS) and sum(js["part_faces"].values()) == len(m.F)
        assert js["part_faces"] == {p: int((ref.face_labels == i).sum()) for i, p in enumerate(PARTS)}


def test_segment_needs_an_existing_model(tmp_path, model):
    with pytest.raises(MeshFileNotFoundError, match="expected a run folder holding model.pt"):
        make_task("segment", model=str(tmp_path / "nope"))
    a = make_task("segment", model=str(model))
    (model / "config.json").write_text('{"preprocess": {}}')  # another run config: old labels are stale
    assert make_task("segment", model=str(model)).fingerprint != a.fingerprint


def test_a_remote_cluster_checks_the_device_on_its_workers(tmp_path, model):
    """With ``remote=True`` (``batch --scheduler``) a device this machine lacks is not refused up
    front (a Dask worker may have it); the name is still checked, and a worker without the device
    records a failure per file naming it, without stopping the other files."""
    from manifold_nets.errors import MeshError

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(MeshError, match="CUDA is not available"):
        make_task("segment", model=str(model), device="cuda")
    with pytest.raises(MeshError, match="expected a torch device"):
        make_task("segment", model=str(model), device="warp9", remote=True)
    task = make_task("segment", model=str(model), device="cuda", remote=True)
    write_mesh(tmp_path / "in" / "a.ply", *shapes.icosphere(1))
    write_mesh(tmp_path / "in" / "b.ply", *shapes.icosphere(2))
    rep = map_meshes(task, sorted((tmp_path / "in").iterdir()), tmp_path / "out", workers=1)
    assert rep.n_ok == 0 and len(rep.failed) == 2
    assert all("CUDA is not available" in str(f) for f in rep.failed), rep.failed
