"""Repairs return the new mesh and index maps; labels follow through the maps."""

import numpy as np
import pytest

from manifold_nets import Mesh, shapes
from manifold_nets import repair as R
from manifold_nets import topology as T
from manifold_nets.errors import MeshError, NonOrientableError
from tests.test_validation import _moebius


def _check_maps(old: Mesh, res: R.RepairResult):
    """new = old[source]; old -> new maps are consistent with new -> old sources."""
    new = res.mesh
    assert res.vertex_source.shape == (new.n_vertices,) and res.face_source.shape == (new.n_faces,)
    np.testing.assert_array_equal(new.V, old.V[res.vertex_source])
    np.testing.assert_array_equal(new.V[new.F], old.V[old.F[res.face_source]])
    kept = np.flatnonzero(res.vertex_map >= 0)
    np.testing.assert_array_equal(new.V[res.vertex_map[kept]], old.V[kept])


def test_merge_duplicate_vertices_soup_back_to_mesh():
    V, F = shapes.icosphere(1)
    soup_V = V[F].reshape(-1, 3)
    soup = Mesh(soup_V, np.arange(len(soup_V)).reshape(-1, 3), vertex_data={"lab": np.arange(len(soup_V)) % 7})
    res = R.merge_duplicate_vertices(soup)
    assert res.mesh.n_vertices == len(V)
    assert T.mesh_report(res.mesh.V, res.mesh.F)["components"] == 1
    np.testing.assert_array_equal(res.mesh.V[res.vertex_map], soup_V)  # old -> new lands on the same point
    np.testing.assert_array_equal(res.mesh.vertex_data["lab"], soup.vertex_data["lab"][res.vertex_source])
    # first copies are kept, in their original order
    assert (np.diff(res.vertex_source) > 0).all()
    _check_maps(soup, res)
    for fix in (R.remove_unreferenced_vertices, R.split_nonmanifold, R.keep_largest_component, R.orient_faces):
        _check_maps(soup, fix(soup))


def test_merge_with_tolerance():
    V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1e-9, 0, 0], [1, 1e-9, 0], [1, 1, 0]])
    m = Mesh(V, [[0, 1, 2], [3, 5, 4]])
    assert R.merge_duplicate_vertices(m).mesh.n_vertices == 6
    assert R.merge_duplicate_vertices(m, tol=1e-6).mesh.n_vertices == 4


def test_remove_unreferenced_vertices_keeps_order():
    V = np.arange(15, dtype=float).reshape(5, 3)
    m = Mesh(V, [[0, 2, 4]], vertex_data={"id": np.arange(5)})
    res = R.remove_unreferenced_vertices(m)
    assert res.mesh.vertex_data["id"].tolist() == [0, 2, 4]
    assert res.vertex_map.tolist() == [0, -1, 1, -1, 2]
    assert res.mesh.F.tolist() == [[0, 1, 2]]


def test_remove_degenerate_and_duplicate_faces():
    V, F = shapes.tetrahedron()
    G = np.vstack([F, [[0, 0, 1]], F[2:3]])
    m = Mesh(V, G, face_data={"lab": np.arange(6)})
    r1 = R.remove_degenerate_faces(m)
    assert r1.mesh.n_faces == 5 and r1.face_map.tolist() == [0, 1, 2, 3, -1, 4]
    r2 = R.remove_duplicate_faces(r1.mesh)
    assert r2.mesh.n_faces == 4
    assert r2.mesh.face_data["lab"].tolist() == [0, 1, 2, 3]
    with pytest.raises(MeshError, match="at least one face to remain"):
        R.remove_degenerate_faces(Mesh(V, [[0, 0, 1]]))


def test_keep_largest_component():
    V1, F1 = shapes.icosphere(1)
    V2, F2 = shapes.tetrahedron()
    m = Mesh(np.vstack([V2 + 5, V1]), np.vstack([F2, F1 + len(V2)]))
    res = R.keep_largest_component(m)
    assert res.mesh.n_vertices == len(V1) and res.mesh.n_faces == len(F1)
    np.testing.assert_array_equal(res.mesh.V, V1)
    assert (res.vertex_map[:4] == -1).all()


def test_split_nonmanifold_makes_manifold_without_dropping_faces():
    V = np.random.default_rng(0).normal(size=(7, 3))
    # bow-tie at 0 and a fin: three faces on edge (1, 2)
    F = np.array([[0, 1, 2], [0, 3, 4], [1, 2, 5], [2, 1, 6]])
    m = Mesh(V, F, vertex_data={"lab": np.arange(7)})
    assert T.nonmanifold_edges(F).size and T.nonmanifold_vertices(F).size
    res = R.split_nonmanifold(m)
    G = res.mesh.F
    assert len(G) == len(F)
    assert T.nonmanifold_edges(G).size == 0 and T.nonmanifold_vertices(G).size == 0
    np.testing.assert_array_equal(res.mesh.V[G], V[F])  # same triangles in space
    np.testing.assert_array_equal(res.mesh.vertex_data["lab"], res.vertex_source)
    np.testing.assert_array_equal(res.vertex_source[:7], np.arange(7))  # originals keep their index


def test_split_nonmanifold_is_identity_on_manifold_mesh():
    V, F = shapes.torus(8, 6)
    res = R.split_nonmanifold(Mesh(V, F))
    np.testing.assert_array_equal(res.mesh.F, F)
    np.testing.assert_array_equal(res.mesh.V, V)


def test_orient_faces():
    V, F = shapes.icosphere(1)
    G = F.copy()
    G[[3, 9]] = G[[3, 9], ::-1]
    res = R.orient_faces(Mesh(V, G))
    np.testing.assert_array_equal(res.mesh.F, F)
    with pytest.raises(NonOrientableError):
        R.orient_faces(Mesh(np.random.default_rng(0).normal(size=(20, 3)), _moebius(10)))


def test_triangulate_fan_and_ear():
    V = np.array([[0, 0, 0], [2, 0, 0], [2, 1, 0], [1, 1, 0], [1, 2, 0], [0, 2, 0.0]])
    faces = np.array([3, 4, 5, 0, 1, 2])
    F_fan, p = R.triangulate(V, faces, np.array([0, 6]), method="fan")
    assert F_fan.tolist() == [[3, 4, 5], [3, 5, 0], [3, 0, 1], [3, 1, 2]] and p.tolist() == [0] * 4
    F_ear, _ = R.triangulate(V, faces, np.array([0, 6]))
    assert np.isclose(T.face_areas(V, F_ear).sum(), 3.0)
    with pytest.raises(MeshError):
        R.triangulate(V, faces, np.array([0, 6]), method="magic")


def test_orient_faces_carries_per_corner_data(tmp_path):
    """Flipping a face reverses its corners: its texture coordinates must follow them."""
    from manifold_nets import read_mesh

    (tmp_path / "t.obj").write_text(
        "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
        "f 1/1 2/2 3/3\nf 1/1 4/4 3/3\n"  # the second face is flipped
    )
    m = read_mesh(tmp_path / "t.obj")
    res = R.orient_faces(m)
    new = res.mesh
    assert new.F.tolist() != m.F.tolist()  # a face was flipped
    uv_of_vertex = np.array([[0, 0], [1, 0], [1, 1], [0, 1.0]])
    np.testing.assert_array_equal(new.face_data["uv"], uv_of_vertex[new.F])
    assert (new.face_data["uv_index"] == new.F).all()


def test_repairs_take_a_mesh_or_a_pair_and_check_their_arguments():
    """Found by an API sweep: a (V, F) pair gave AttributeError, tol='a' a TypeError, steps=None
    'not iterable', a string of steps was split into characters, vertex_data=list an
    AttributeError."""
    from manifold_nets.errors import MeshShapeError

    V, F = shapes.grid(3)
    a, b = R.orient_faces((V, F)), R.orient_faces(Mesh(V, F))
    np.testing.assert_array_equal(a.mesh.F, b.mesh.F)
    with pytest.raises(MeshShapeError, match=r"mesh: expected a manifold_nets.Mesh or a \(V, F\) pair \(got tuple of length 3\)"):
        R.orient_faces((V, F, None))
    for tol in ("a", np.nan, -1.0):
        with pytest.raises(MeshShapeError, match="tol: expected a finite number >= 0"):
            R.merge_duplicate_vertices(Mesh(V, F), tol=tol)
    with pytest.raises(MeshShapeError, match="rel_tol: expected a finite number >= 0"):
        R.remove_degenerate_faces(Mesh(V, F), rel_tol=np.nan)
    with pytest.raises(MeshError, match="steps: expected a list of names"):
        R.apply_repairs(Mesh(V, F), None)
    with pytest.raises(MeshError, match=r"steps: expected names from .* \(got \[1\]\)"):
        R.apply_repairs(Mesh(V, F), [[1]])
    m, maps, counts = R.apply_repairs(Mesh(V, F), "merge-vertices, drop-degenerate")
    assert [c[0] for c in counts] == ["merge-vertices", "drop-degenerate"]
    with pytest.raises(MeshShapeError, match="vertex_data: expected a dict of arrays by name"):
        Mesh(V, F, vertex_data=[1, 2])
    with pytest.raises(MeshShapeError, match=r"polygons: expected a PolygonMesh .* \(got list of length 1\)"):
        R.triangulate_polygons([[0, 1, 2, 3]], V)
