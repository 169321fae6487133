"""The ``correspond`` batch task: a vertex map to one target per input, equal to ``correspond``."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets import read_mesh, shapes, write_mesh
from manifold_nets.batch import make_task, map_meshes
from manifold_nets.data.maps import read_map
from manifold_nets.errors import MeshError, MeshFileNotFoundError
from manifold_nets.tasks.correspondence import correspond


def _bumpy(seed: int):
    V, F = shapes.icosphere(3)
    rng = np.random.default_rng(seed)
    return V * np.array([1.6, 1.0, 0.7]) * (1 + 0.02 * rng.standard_normal((len(V), 1))), F


def test_correspond_matches_the_library_call_and_maps_a_copy_to_itself(tmp_path):
    V, F = _bumpy(0)
    write_mesh(tmp_path / "target.ply", V, F)
    perm = np.random.default_rng(1).permutation(len(V))
    inv = np.argsort(perm)
    write_mesh(tmp_path / "in" / "copy.ply", V[perm], inv[F])  # the target renumbered
    rep = map_meshes(make_task("correspond", target=str(tmp_path / "target.ply"), k=30),
                     [tmp_path / "in" / "copy.ply"], tmp_path / "out", workers=1)
    assert rep.n_ok == 1, rep.failed
    got = read_map(tmp_path / "out" / "copy.ply.map.txt", n_source=len(V), n_target=len(V))
    m = read_mesh(tmp_path / "in" / "copy.ply")
    np.testing.assert_array_equal(got, correspond(m.V, m.F, V, F, k=30))
    assert (got == perm).mean() > 0.95  # copy vertex i is target vertex perm[i]


def test_correspond_checks_its_target_before_any_work(tmp_path):
    with pytest.raises(MeshError, match="expected a target mesh"):
        make_task("correspond")
    with pytest.raises(MeshFileNotFoundError, match="expected a target mesh file"):
        make_task("correspond", target=str(tmp_path / "nope.ply"))
    write_mesh(tmp_path / "t.ply", *shapes.icosphere(1))
    with pytest.raises(MeshError, match="expected refine"):
        make_task("correspond", target=str(tmp_path / "t.ply"), refine="best")
    a = make_task("correspond", target=str(tmp_path / "t.ply"))
    write_mesh(tmp_path / "t.ply", *shapes.icosphere(2))  # a changed target makes old maps stale
    assert make_task("correspond", target=str(tmp_path / "t.ply")).fingerprint != a.fingerprint
