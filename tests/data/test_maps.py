"""Vertex-map files (.vts 1-based, text, .npy), their errors, coloured export, and the ground
truth carried through remeshing."""

from __future__ import annotations

import numpy as np
import pytest

from manifold_nets.data.maps import check_map, map_colors, read_map, write_colored_pair, write_map
from manifold_nets.errors import MeshFileNotFoundError, MeshParseError, MeshShapeError


def test_round_trips(tmp_path):
    m = np.array([3, 0, 2, 2, 1])
    for name in ("m.txt", "m.npy", "m.vts", "m.map"):
        write_map(tmp_path / name, m)
        got = read_map(tmp_path / name, n_source=5, n_target=4)
        assert got.dtype == np.int64 and got.tolist() == m.tolist()
    assert (tmp_path / "m.vts").read_text().split() == ["4", "1", "3", "3", "2"]
    assert (tmp_path / "m.txt").read_text().split() == ["3", "0", "2", "2", "1"]


def test_vts_reads_first_column_and_whole_floats(tmp_path):
    p = tmp_path / "gt.vts"
    p.write_text("1 0.5 0.5\n3.0\n2\n\n")
    assert read_map(p).tolist() == [0, 2, 1]


@pytest.mark.parametrize("name,text,match", [
    ("a.vts", "1\n0\n2\n", r"a\.vts: line 2: expected a 1-based vertex index >= 1 \(got 0\)"),
    ("b.vts", "1\nx\n", r"b\.vts: line 2: expected a 1-based vertex index \(got 'x'\)"),
    ("c.vts", "1\n\n2\n", r"c\.vts: line 2: expected a 1-based vertex index \(got an empty line\)"),
    ("d.txt", "0\n1.5\n", r"d\.txt: line 2: expected an integer vertex index \(got '1.5'\)"),
    ("e.txt", "0\n-1\n", r"e\.txt: line 2: expected a 0-based vertex index >= 0 \(got -1\)"),
    ("f.txt", "0 1\n", r"f\.txt: line 1: expected one integer vertex index per line"),
])
def test_malformed_text_files_name_the_line(tmp_path, name, text, match):
    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(MeshParseError, match=match):
        read_map(p)


def test_malformed_npy_and_missing(tmp_path):
    np.save(tmp_path / "two.npy", np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(MeshParseError, match=r"two\.npy: expected a 1-D array"):
        read_map(tmp_path / "two.npy")
    np.save(tmp_path / "f.npy", np.array([0.5, 1.0]))
    with pytest.raises(MeshParseError, match=r"f\.npy: expected integer vertex indices"):
        read_map(tmp_path / "f.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(MeshParseError, match=r"junk\.npy: expected a NumPy"):
        read_map(tmp_path / "junk.npy")
    with pytest.raises(MeshFileNotFoundError):
        read_map(tmp_path / "none.txt")


def test_length_and_range_errors_name_the_file(tmp_path):
    p = tmp_path / "gt.vts"
    p.write_text("1\n2\n9\n")
    with pytest.raises(MeshShapeError, match=r"gt\.vts: expected one entry per source vertex, 4 \(got 3\)"):
        read_map(p, n_source=4)
    with pytest.raises(MeshShapeError, match=r"gt\.vts: line 3: expected a target vertex index in \[0, 5\) \(got 8"):
        read_map(p, n_source=3, n_target=5)
    with pytest.raises(MeshShapeError, match="integer"):
        check_map(np.array([0.0, 1.0]))


def test_colored_pair(tmp_path):
    from manifold_nets.io import read_triangles
    from manifold_nets.shapes import icosphere

    V, F = icosphere(1)
    p2p = np.arange(len(V))[::-1].copy()
    s, t = write_colored_pair(tmp_path / "src.ply", tmp_path / "tgt.ply", V, F, V, F, p2p)
    cs = read_triangles(s).vertex_data["color"]
    ct = read_triangles(t).vertex_data["color"]
    assert cs.dtype == np.uint8 and ct.shape == (len(V), 3)
    assert (cs == ct[p2p]).all() and (ct == map_colors(V)).all()
    with pytest.raises(MeshShapeError):
        write_colored_pair(tmp_path / "x.ply", tmp_path / "y.ply", V, F, V, F, p2p[:-1])


def test_ground_truth_survives_remeshing(tmp_path):
    """Two poses of one template, each remeshed on its own: the carried-over ground truth is
    within a fraction of an edge length of the true image."""
    from scipy.spatial import cKDTree

    from manifold_nets.data.remeshed_pairs import (
        read_pairs,
        remesh_with_reference,
        transfer_ground_truth,
    )
    from manifold_nets.geometry import edge_lengths
    from manifold_nets.shapes import icosphere
    from manifold_nets.tasks.correspondence import geodesic_error

    V0, F0 = icosphere(3)
    V0 = V0 * [1.0, 1.3, 1.7]
    V1 = V0 * [1.2, 0.9, 1.0] + 0.1 * np.sin(3 * V0[:, [1, 2, 0]])  # another "pose": same numbering
    a = remesh_with_reference(V0, F0, target_vertices=500, seed=1, name="a")
    b = remesh_with_reference(V1, F0, target_vertices=420, seed=2, name="b")
    assert len(a.V) != len(b.V) and not np.array_equal(a.F[:10], b.F[:10])
    gt = transfer_ground_truth(a, b, V1, F0)
    # the true image of a's vertex: its surface point placed on pose 1, then the closest vertex of b
    P1 = np.einsum("nk,nkc->nc", a.bary, V1[F0[a.face]])
    lengths = edge_lengths(b.V, b.F)
    d = np.linalg.norm(b.V[gt] - P1, axis=1)
    assert d.max() < lengths.max() and d.mean() < 0.5 * lengths.mean()
    # the same points sent through the original surface: the map from the original pose 0 to
    # pose 1 is the identity, so a's vertices land where a's surface points sit on pose 1
    err = geodesic_error(b.V, b.F, gt, cKDTree(b.V).query(P1)[1], normalize="none")
    assert np.nanmax(err) == 0.0
    assert np.abs(np.einsum("nk,nkc->nc", a.bary, V0[F0[a.face]]) - a.V).max() < 1e-9
    # a folder with pairs.tsv
    from manifold_nets.data.remeshed_pairs import build_remeshed_pairs
    from manifold_nets.io import write_mesh

    write_mesh(tmp_path / "p0.ply", V0, F0)
    write_mesh(tmp_path / "p1.ply", V1, F0)
    rows = build_remeshed_pairs({"blob": [tmp_path / "p0.ply", tmp_path / "p1.ply"]}, tmp_path / "pairs",
                                resolution=(0.5, 0.7))
    assert len(rows) == 2
    pairs = read_pairs(tmp_path / "pairs")
    assert [p.group for p in pairs] == ["blob", "blob"]
    from manifold_nets.io import read_triangles

    s, t = read_triangles(pairs[0].source), read_triangles(pairs[0].target)
    assert read_map(pairs[0].ground_truth, n_source=len(s.V), n_target=len(t.V)).shape == (len(s.V),)


def test_read_pairs_errors(tmp_path):
    from manifold_nets.data.remeshed_pairs import read_pairs

    with pytest.raises(MeshFileNotFoundError):
        read_pairs(tmp_path)
    (tmp_path / "pairs.tsv").write_text("src\ttgt\n")
    with pytest.raises(MeshParseError, match="line 1: expected the header"):
        read_pairs(tmp_path)
    (tmp_path / "pairs.tsv").write_text("source\ttarget\tground_truth\na.ply\tb.ply\n")
    with pytest.raises(MeshParseError, match="line 2: expected 3 or 4 tab-separated fields"):
        read_pairs(tmp_path)
