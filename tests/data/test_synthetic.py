"""Synthetic articulated shapes: determinism, topology, parts, transforms and the samples."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("skimage")

from manifold_nets import read_mesh  # noqa: E402
from manifold_nets.data.readers_folder import load_folder  # noqa: E402
from manifold_nets.data.synthetic import (  # noqa: E402
    KINDS,
    PART_NAMES,
    POSE_RANGES,
    make_segmentation_set,
    synthetic_shape,
)
from manifold_nets.data.transforms import RandomRemesh, remesh  # noqa: E402
from manifold_nets.errors import MeshError  # noqa: E402
from manifold_nets.topology import mesh_report  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "meshes" / "segmentation"


@pytest.fixture(scope="module", params=KINDS)
def small_set(request):
    return make_segmentation_set(4, kind=request.param, seed=11, resolution=(500, 700))


def _part_areas(m) -> np.ndarray:
    a = m.face_areas
    return np.bincount(m.face_labels, a, minlength=len(m.part_names)) / a.sum()


def test_every_mesh_is_a_clean_closed_surface_with_every_part(small_set):
    kind = small_set.name.split("-")[1]
    assert small_set.part_names == PART_NAMES[kind]
    assert 5 <= len(small_set.part_names) <= 8
    for m in small_set:
        r = mesh_report(m.V, m.F)
        assert r["closed"] and r["edge_manifold"] and r["vertex_manifold"], m.name
        assert r["components"] == 1 and r["genus"] == 0, m.name
        assert r["degenerate_faces"] == 0 and r["duplicate_faces"] == 0, m.name
        assert r["unreferenced_vertices"] == 0 and r["consistently_oriented"], m.name
        assert 500 <= m.n_vertices <= 700
        assert m.V.dtype == np.float64 and m.F.dtype == np.int64
        counts = np.bincount(m.face_labels, minlength=len(m.part_names))
        assert (counts > 0).all(), (m.name, counts)
        assert (_part_areas(m) > 0.01).all(), m.name


def test_meshes_differ_in_triangulation_pose_scale_and_placement(small_set):
    ms = list(small_set)
    assert len({m.n_vertices for m in ms}) > 1
    assert len({round(m.meta["scale"], 6) for m in ms}) == len(ms)
    poses = np.array([list(m.meta["pose"].values()) for m in ms])
    assert (poses.std(axis=0) > 0).all()
    centres = np.array([m.V.mean(0) for m in ms])
    assert np.linalg.norm(centres - centres[0], axis=1)[1:].min() > 1e-3
    for m in ms:
        assert 0.5 <= m.meta["scale"] <= 2.0
        R = np.array(m.meta["rotation"])
        np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)


def test_same_seed_same_arrays_other_seed_other_triangulation():
    a = make_segmentation_set(2, seed=5, resolution=(400, 500))
    b = make_segmentation_set(2, seed=5, resolution=(400, 500))
    c = make_segmentation_set(2, seed=6, resolution=(400, 500))
    for x, y in zip(a, b):
        assert np.array_equal(x.V, y.V) and np.array_equal(x.F, y.F)
        assert np.array_equal(x.face_labels, y.face_labels)
    for x, z in zip(a, c):
        assert x.V.shape != z.V.shape or not np.allclose(x.V, z.V)
    s1 = synthetic_shape("creature", seed=3, n_vertices=400)
    s2 = synthetic_shape("creature", seed=3, n_vertices=400)
    assert np.array_equal(s1.V, s2.V) and np.array_equal(s1.F, s2.F)


def test_same_pose_other_grid_gives_another_triangulation():
    pose = {"l_elbow": 90.0, "r_knee": 60.0}
    a = synthetic_shape("figure", pose=pose, seed=1, n_vertices=600)
    b = synthetic_shape("figure", pose=pose, seed=2, n_vertices=600)
    assert a.meta["pose"] == b.meta["pose"]
    assert a.n_vertices == b.n_vertices == 600
    assert not np.array_equal(a.F, b.F) or not np.allclose(a.V, b.V)


def test_rest_figure_has_its_parts_where_a_body_has_them():
    m = synthetic_shape("figure", pose="rest", seed=0, n_vertices=800)
    names = m.part_names
    c = m.V[m.F].mean(axis=1)
    z = {p: c[m.face_labels == names.index(p), 2].mean() for p in names}
    assert z["head"] > z["torso"] > z["upper_leg"] > z["lower_leg"]
    assert z["upper_arm"] > z["lower_arm"]
    # the one "upper_arm" name covers both arms (mirror images share a name)
    x = c[m.face_labels == names.index("upper_arm"), 0]
    assert (x > 0.1).any() and (x < -0.1).any()
    # arms are thinner than legs: less area per part
    area = _part_areas(m)
    assert area[names.index("upper_arm")] < area[names.index("upper_leg")]


def test_remesh_and_random_remesh_keep_label_areas(small_set):
    m = small_set[0]
    r = remesh(m, target_vertices=int(0.6 * m.n_vertices), seed=0)
    assert (r.face_labels >= 0).all()
    np.testing.assert_allclose(_part_areas(r), _part_areas(m), atol=0.03)
    rr = RandomRemesh(0.5, 1.0, p=1.0, seed=1)(m)
    assert set(np.unique(rr.face_labels)) == set(range(len(m.part_names)))
    np.testing.assert_allclose(_part_areas(rr), _part_areas(m), atol=0.03)
    rep = mesh_report(rr.V, rr.F)
    assert rep["closed"] and rep["edge_manifold"] and rep["genus"] == 0


@pytest.mark.parametrize("call, match", [
    (lambda: synthetic_shape("robot"), "kind"),
    (lambda: synthetic_shape("figure", pose={"tail": 3.0}), "joint names"),
    (lambda: synthetic_shape("figure", pose=7), "pose"),
    (lambda: synthetic_shape("figure", n_vertices=50), "n_vertices"),
    (lambda: make_segmentation_set(0), "n_meshes"),
    (lambda: make_segmentation_set(1, resolution=(900, 800)), "resolution"),
    (lambda: make_segmentation_set(1, scale=(0.0, 1.0)), "scale"),
])
def test_bad_arguments_are_mesh_errors(call, match):
    with pytest.raises(MeshError, match=match):
        call()


def test_pose_ranges_contain_their_rest_pose():
    for kind in KINDS:
        for joint, (rest, lo, hi) in POSE_RANGES[kind].items():
            assert lo <= rest <= hi, (kind, joint)


def test_committed_samples_read_back_labelled_and_clean():
    files = sorted(SAMPLES.glob("*.ply"))
    assert len(files) == 6
    assert sum(p.stat().st_size for p in SAMPLES.iterdir()) < 1.5e6
    ds = load_folder(SAMPLES)
    assert ds.part_names == PART_NAMES["figure"]
    for m in ds:
        r = mesh_report(m.V, m.F)
        assert r["closed"] and r["edge_manifold"] and r["components"] == 1
        assert set(np.unique(m.face_labels)) == set(range(len(ds.part_names)))
    assert read_mesh(files[0]).V.shape[0] == ds[0].n_vertices


@pytest.mark.slow
def test_forty_meshes_of_1500_vertices_in_well_under_a_minute():
    t = time.process_time()
    ds = make_segmentation_set(40, seed=0, resolution=(1400, 1600))
    assert len(ds) == 40
    assert time.process_time() - t < 45.0
