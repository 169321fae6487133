"""Stable part colours and the Mesh -> PolyData conversion (no rendering)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pyvista")

from manifold_nets import Mesh  # noqa: E402
from manifold_nets.shapes import icosphere  # noqa: E402
from manifold_nets.viz import UNLABELLED_COLOR, label_colors, labels_to_rgb, to_polydata  # noqa: E402
from manifold_nets.viz.colors import PALETTE  # noqa: E402


def test_palette_is_a_stable_prefix_and_distinct():
    a, b = label_colors(5), label_colors(40)
    assert (a == b[:5]).all()
    assert a[0].tolist() == [31, 119, 180]          # tab10 blue, hand-copied
    assert len({tuple(c) for c in b.tolist()}) == 40  # 40 distinct colours
    assert not any((c == UNLABELLED_COLOR).all() for c in b)


def test_labels_to_rgb_maps_each_label_and_unlabelled():
    rgb = labels_to_rgb(np.array([2, 0, -1, 2]))
    assert rgb.dtype == np.uint8 and rgb.shape == (4, 3)
    assert rgb[0].tolist() == PALETTE[2].tolist() == rgb[3].tolist()
    assert rgb[1].tolist() == PALETTE[0].tolist()
    assert rgb[2].tolist() == UNLABELLED_COLOR.tolist()
    # a label beyond n_parts still gets its own colour (no IndexError)
    assert labels_to_rgb([7], n_parts=3)[0].tolist() == label_colors(8)[7].tolist()


def test_to_polydata_keeps_order_and_data():
    V, F = icosphere(1)
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(V))
    inv = np.argsort(perm)
    V2, F2 = V[perm], inv[F][rng.permutation(len(F))]  # renumbered vertices, shuffled faces
    m = Mesh(V2, F2, vertex_data={"h": V2[:, 2]}, face_data={"label": np.arange(len(F2)) % 3})
    pd = to_polydata(m)
    assert pd.n_points == len(V2) and pd.n_cells == len(F2)
    np.testing.assert_array_equal(pd.points, V2)
    np.testing.assert_array_equal(pd.regular_faces, F2)
    np.testing.assert_array_equal(pd.point_data["h"], V2[:, 2])
    np.testing.assert_array_equal(pd.cell_data["label"], np.arange(len(F2)) % 3)


def test_to_polydata_keeps_unreferenced_vertices():
    V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5.0]])
    pd = to_polydata(V, np.array([[0, 1, 2]]))
    assert pd.n_points == 4 and pd.points[3].tolist() == [5, 5, 5]
