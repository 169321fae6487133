"""The immutable Mesh type."""

import numpy as np
import pytest

from manifold_nets import Mesh, shapes
from manifold_nets.errors import MeshShapeError
from manifold_nets.topology import face_areas, mesh_report


def test_arrays_are_readonly_copies():
    V, F = shapes.tetrahedron()
    m = Mesh(V, F)
    V[0, 0] = 123.0  # the caller's array is not aliased
    assert m.V[0, 0] == 1.0
    with pytest.raises(ValueError):
        m.V[0, 0] = 5.0
    with pytest.raises(ValueError):
        m.F[0, 0] = 1
    with pytest.raises(AttributeError, match="immutable"):
        m.name = "x"
    with pytest.raises(AttributeError, match="immutable"):
        m.V = V


def test_order_and_count_never_change():
    V = np.random.default_rng(0).normal(size=(6, 3))
    F = np.array([[0, 1, 2], [0, 1, 2], [3, 3, 4]])  # duplicate + degenerate + unreferenced vertex 5
    m = Mesh(V, F)
    np.testing.assert_array_equal(m.V, V)
    np.testing.assert_array_equal(m.F, F)


def test_cached_properties_delegate_to_free_functions():
    V, F = shapes.torus(8, 5)
    m = Mesh(V, F)
    np.testing.assert_array_equal(m.face_areas, face_areas(V, F))
    assert m.report == mesh_report(V, F)
    assert m.euler_characteristic == 0
    assert m.edges.shape == (120, 2) and not m.edges.flags.writeable
    assert m.boundary_loops == []


def test_equality_hash_and_repr():
    V, F = shapes.icosphere(1)
    a, b = Mesh(V, F, name="s"), Mesh(V.copy(), F.copy())
    assert a == b and hash(a) == hash(b) and a.content_hash == b.content_hash
    assert Mesh(V + 1e-12, F) != a
    assert repr(a) == "Mesh('s', n_vertices=42, n_faces=80)"


def test_vertex_and_face_data_shapes_checked():
    V, F = shapes.tetrahedron()
    Mesh(V, F, vertex_data={"l": np.zeros(4)}, face_data={"l": np.zeros((4, 2))})
    with pytest.raises(MeshShapeError, match=r"vertex_data\['l'\]: expected leading dimension 4 \(got shape \(3,\)\)"):
        Mesh(V, F, vertex_data={"l": np.zeros(3)})
    with pytest.raises(MeshShapeError, match="face_data"):
        Mesh(V, F, face_data={"l": np.zeros(5)})


def test_cached_geometry_delegates():
    from manifold_nets import geometry as G

    V, F = shapes.icosphere(2)
    m = Mesh(V, F)
    assert (m.cotan_laplacian != G.cotan_laplacian(V, F)).nnz == 0
    assert (m.mass_matrix != G.mass_matrix(V, F)).nnz == 0
    for a, b in zip(m.tangent_frames, G.tangent_frames(V, F)):
        np.testing.assert_array_equal(a, b)
    e, ang = m.transport_angles
    e2, ang2 = G.transport_angles(V, F)
    np.testing.assert_array_equal(e, e2)
    np.testing.assert_array_equal(ang, ang2)
    ops = m.operators(k=8)
    assert m.operators(k=8) is ops  # cached per argument set
    np.testing.assert_allclose(ops.evals, G.operators(V, F, k=8).evals)


def test_corner_data_of_a_textured_obj(tmp_path):
    from manifold_nets import read_mesh

    (tmp_path / "t.obj").write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0.5 0.25\nvt 1 0\nf 1/1 2/2 3\n")
    m = read_mesh(tmp_path / "t.obj")
    cd = m.corner_data
    assert sorted(cd) == ["uv", "uv_index"] and m.n_vertices == 3
    assert cd["uv_index"].tolist() == [[0, 1, -1]]
    np.testing.assert_array_equal(cd["uv"][0, :2], [[0.5, 0.25], [1, 0]])
    assert np.isnan(cd["uv"][0, 2]).all()  # the third corner has no texture coordinate
