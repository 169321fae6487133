"""Warnings of the correspondence pipeline: a degenerate (collapsed) map, and warnings of a pair
raised again by ``evaluate_pairs`` with the pair's files in front."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from manifold_nets import shapes
from manifold_nets.errors import MeshWarning
from manifold_nets.io import write_mesh
from manifold_nets.tasks.correspondence import (
    DEGENERATE_FRACTION,
    _warn_if_degenerate,
    correspond,
    evaluate_pairs,
)
from tests.geometry.test_fmaps import ASYM, bumpy, renumbered_moved, rotation


def _mesh_warnings(record) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, MeshWarning)]


def test_a_regular_tetrahedron_onto_itself_warns_that_the_map_collapsed():
    V, F = shapes.tetrahedron()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        p2p, info = correspond(V, F, V, F, return_info=True)
    n_hit = len(np.unique(p2p))
    assert n_hit == info["n_target_hit"]
    assert n_hit == 1  # repeated eigenvalues: every vertex lands on one target vertex
    msgs = _mesh_warnings(rec)
    assert len(msgs) == 1
    assert msgs[0].startswith("degenerate map: ")
    assert f"the {len(V)} source vertices map onto only {n_hit} of the {len(V)} target vertices" in msgs[0]
    assert "symmetric" in msgs[0] and "eigenvalues" in msgs[0] and "too few vertices" in msgs[0]


@pytest.mark.parametrize("case", ["icosphere3_rotated", "bumpy_renumbered"])
def test_normal_maps_do_not_warn(case):
    if case == "icosphere3_rotated":
        V, F = shapes.icosphere(3)
        Vb, Fb = V @ rotation(3).T, F
    else:
        V, F = bumpy(ASYM, 2)
        Vb, Fb, _ = renumbered_moved(V, F, seed=2)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        p2p = correspond(V, F, Vb, Fb, k=60)
    assert _mesh_warnings(rec) == []
    assert len(np.unique(p2p)) >= DEGENERATE_FRACTION * len(V)


def test_the_threshold_is_the_documented_fraction():
    n = 100
    edge = int(np.ceil(DEGENERATE_FRACTION * n))  # the fewest hits that do not warn
    for hits, warns in ((edge - 1, True), (edge, False), (1, True), (n, False)):
        p2p = np.arange(n) % hits
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            assert _warn_if_degenerate(p2p, n, n) == hits
        assert bool(_mesh_warnings(rec)) is warns, hits
    # all onto one vertex warns even when one vertex is more than the fraction (two vertices)
    with pytest.warns(MeshWarning, match="onto only 1 of the 2 target"):
        _warn_if_degenerate(np.zeros(2, dtype=np.int64), 2, 2)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        _warn_if_degenerate(np.zeros(1, dtype=np.int64), 1, 5)  # one source vertex: nothing to say
    assert _mesh_warnings(rec) == []


def test_evaluate_pairs_names_the_pair_in_a_warning(tmp_path):
    from manifold_nets.data.remeshed_pairs import Pair

    V, F = shapes.tetrahedron()
    write_mesh(tmp_path / "tet.ply", V, F)
    np.savetxt(tmp_path / "gt.txt", np.arange(len(V)), fmt="%d")
    pr = Pair(tmp_path / "tet.ply", tmp_path / "tet.ply", tmp_path / "gt.txt", "")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        res = evaluate_pairs([pr])
    msgs = _mesh_warnings(rec)
    assert len(msgs) == 1 and msgs[0].startswith(f"{pr.source} -> {pr.target}: degenerate map: ")
    assert res["summary"]["n_pairs"] == 1 and res["failures"] == []


def test_evaluate_pairs_records_failures_with_skip_failed_and_raises_without(tmp_path):
    from manifold_nets.data.remeshed_pairs import Pair
    from manifold_nets.errors import MeshFileNotFoundError

    V, F = bumpy(ASYM, 1)
    write_mesh(tmp_path / "a.ply", V, F)
    np.savetxt(tmp_path / "gt.txt", np.arange(len(V)), fmt="%d")
    np.savetxt(tmp_path / "short.txt", np.arange(len(V) - 1), fmt="%d")
    good = Pair(tmp_path / "a.ply", tmp_path / "a.ply", tmp_path / "gt.txt", "g")
    missing = Pair(tmp_path / "a.ply", tmp_path / "nope.ply", tmp_path / "gt.txt", "g")
    short = Pair(tmp_path / "a.ply", tmp_path / "a.ply", tmp_path / "short.txt", "g")
    with pytest.raises(MeshFileNotFoundError, match="nope.ply"):
        evaluate_pairs([good, missing], k=20, k_init=10)
    res = evaluate_pairs([missing, good, short], k=20, k_init=10, skip_failed=True)
    assert res["summary"]["n_pairs"] == 1 and res["summary"]["n_failed"] == 2
    assert [r["source"] for r in res["pairs"]] == [str(good.source)]
    f0, f1 = res["failures"]
    assert (f0["index"], f0["file"], f0["error"]) == (0, str(missing.target), "MeshFileNotFoundError")
    assert f0["message"].startswith(f"{missing.target}: expected")
    assert (f1["index"], f1["file"], f1["error"]) == (2, str(short.ground_truth), "MeshShapeError")
    assert f1["message"].startswith(f"{short.ground_truth}: expected one entry per source vertex, {len(V)} "
                                    f"(got {len(V) - 1})")


def test_spectral_shape_and_correspond_name_bad_arguments():
    """From the API sweep: spectral_shape(k=0) was silently ignored (the descriptor basis size
    took over), and one set of given descriptors gave a message without its '(got ...)'."""
    import pytest

    from manifold_nets.errors import MeshShapeError
    from manifold_nets.shapes import icosphere
    from manifold_nets.tasks.correspondence import correspond, spectral_shape

    V, F = icosphere(2)
    for kw in ({"k": 0}, {"k_descr": -1}, {"n_descr": 2.5}, {"k": True}):
        with pytest.raises(MeshShapeError, match=f"{next(iter(kw))}: expected a positive integer"):
            spectral_shape(V, F, **kw)
    with pytest.raises(MeshShapeError, match=r"expected both or neither \(got only descriptors_src\)"):
        correspond(V, F, V, F, descriptors_src=np.ones((len(V), 4)))
