"""Every validator with a good case and bad-input cases (tiny arrays written here)."""

import numpy as np
import pytest

from manifold_nets import Mesh, shapes
from manifold_nets.errors import (
    DegenerateFaceError,
    DuplicateFaceError,
    EmptyMeshError,
    FaceIndexError,
    MeshError,
    MeshShapeError,
    NonFiniteError,
    NonManifoldError,
    NonOrientableError,
    NonTriangleError,
)
from manifold_nets.validation import (
    as_faces,
    as_vertices,
    check_edge_manifold,
    check_manifold,
    check_mesh_arrays,
    check_no_degenerate_faces,
    check_no_duplicate_faces,
    check_orientable,
    check_vertex_manifold,
)

TRI_V = [[0, 0, 0], [1, 0, 0], [0, 1, 0]]


def test_all_errors_are_value_errors():
    for cls in (DegenerateFaceError, DuplicateFaceError, EmptyMeshError, FaceIndexError,
                MeshShapeError, NonFiniteError, NonManifoldError, NonOrientableError, NonTriangleError):
        assert issubclass(cls, MeshError) and issubclass(cls, ValueError)


def test_vertices_good_and_canonical():
    V = as_vertices(np.array(TRI_V, dtype=np.float32))
    assert V.dtype == np.float64 and V.flags.c_contiguous and V.shape == (3, 3)


@pytest.mark.parametrize(
    "bad, err, fragment",
    [
        (np.zeros((3, 2)), MeshShapeError, "expected shape (nV, 3) (got (3, 2))"),
        (np.zeros(9), MeshShapeError, "(got (9,))"),
        (np.zeros((0, 3)), EmptyMeshError, "expected at least one vertex (got 0)"),
        (np.array([["a", "b", "c"]]), MeshShapeError, "real numeric"),
        (np.zeros((2, 3), complex), MeshShapeError, "real coordinates"),
        ([[0, 0], [1, 2, 3]], MeshShapeError, "expected"),
    ],
)
def test_vertices_bad(bad, err, fragment):
    with pytest.raises(err) as ei:
        as_vertices(bad)
    assert fragment in str(ei.value)


def test_vertices_nonfinite_names_first_bad_vertex():
    V = np.zeros((5, 3))
    V[3, 1] = np.nan
    V[4, 0] = np.inf
    with pytest.raises(NonFiniteError, match=r"at vertex 3; 2 non-finite"):
        as_vertices(V)


def test_vertices_too_large_for_float64_areas_are_refused():
    """At the bound, areas and the operators are finite; above it a coordinate is refused (areas
    take fourth powers of coordinate differences, which overflow near 1e77)."""
    from manifold_nets import shapes
    from manifold_nets.geometry import operators
    from manifold_nets.validation import MAX_ABS_COORDINATE

    V, F = shapes.icosphere(1)
    Vb = V / np.abs(V).max() * MAX_ABS_COORDINATE
    ops = operators(as_vertices(Vb), F, k=8)
    assert np.isfinite(ops.mass).all() and np.isfinite(ops.evals).all() and ops.mass.sum() > 0
    Vb[5, 2] = -1.01 * MAX_ABS_COORDINATE
    Vb[7, 0] = 1e200
    with pytest.raises(NonFiniteError, match=r"at most 1e\+60, .* at vertex 5; 2 such vertices in all\); rescale"):
        as_vertices(Vb)


def test_vertices_too_close_for_float64_areas_are_refused():
    """Spread over 1e-60 the areas are exact to rounding; below it (where they underflow into
    subnormals near 1e-77 and to zero near 1e-81) the mesh is refused; coincident vertices are
    not a scale problem and pass (the faces are degenerate, reported as such elsewhere)."""
    from manifold_nets import shapes
    from manifold_nets.geometry import face_areas
    from manifold_nets.validation import MIN_EXTENT

    V, F = shapes.icosphere(1)
    a = face_areas(V, F)
    s = MIN_EXTENT / 2.0  # the icosphere's box has side 2
    np.testing.assert_allclose(face_areas(as_vertices(V * s), F), a * s * s, rtol=1e-12)
    with pytest.raises(NonFiniteError, match=r"at least 1e-60, .* \(got a bounding box of 1e-80\); rescale"):
        as_vertices(V * 0.5e-80)
    assert as_vertices(np.zeros((3, 3))).shape == (3, 3)


def test_faces_good():
    F = as_faces([[0, 1, 2]], 3)
    assert F.dtype == np.int64 and F.shape == (1, 3)
    assert as_faces(np.array([[0.0, 1.0, 2.0]]), 3).dtype == np.int64  # integral floats accepted


@pytest.mark.parametrize(
    "bad, n, err, fragment",
    [
        ([[0, 1, 3]], 3, FaceIndexError, "expected vertex indices in [0, 3) (got [0, 1, 3] in face 0)"),
        ([[0, 1, 2], [0, -1, 2]], 3, FaceIndexError, "non-negative vertex indices (got [0, -1, 2] in face 1)"),
        ([[0, 1, 2, 3]], 4, NonTriangleError, "expected triangles"),
        ([[0, 1, 2], [0, 1, 2, 3]], 4, NonTriangleError, "got 4 vertices in face 1"),
        (np.zeros((0, 3), int), 3, EmptyMeshError, "at least one face"),
        ([[0.5, 1, 2]], 3, MeshShapeError, "non-integer values in face 0"),
        (np.zeros((2, 3, 1), int), 3, MeshShapeError, "expected shape (nF, 3)"),
        (np.array([[True, False, True]]), 3, MeshShapeError, "integer indices"),
    ],
)
def test_faces_bad(bad, n, err, fragment):
    with pytest.raises(err) as ei:
        as_faces(bad, n)
    assert fragment in str(ei.value)


def test_check_mesh_arrays_and_mesh_use_it():
    with pytest.raises(FaceIndexError, match="face 0"):
        check_mesh_arrays(TRI_V, [[0, 1, 5]])
    with pytest.raises(FaceIndexError):
        Mesh(TRI_V, [[0, 1, 5]])


def test_degenerate_faces_named():
    V = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0.0]])
    check_no_degenerate_faces(V, np.array([[0, 1, 3]]))
    with pytest.raises(DegenerateFaceError, match=r"face 1: .*area 0"):
        check_no_degenerate_faces(V, np.array([[0, 1, 3], [0, 1, 2]]))  # collinear
    with pytest.raises(DegenerateFaceError, match=r"face 0: .*\[0, 0, 3\]"):
        check_no_degenerate_faces(V, np.array([[0, 0, 3]]))  # repeated vertex


def test_duplicate_faces_named():
    F = np.array([[0, 1, 2], [1, 2, 3], [2, 0, 1]])
    with pytest.raises(DuplicateFaceError, match=r"face 2: .*same as face 0"):
        check_no_duplicate_faces(F)
    check_no_duplicate_faces(F[:2])


def test_nonmanifold_edge_named():
    F = np.array([[0, 1, 2], [1, 0, 3], [0, 1, 4]])  # three faces on edge (0, 1)
    with pytest.raises(NonManifoldError, match=r"edge \(0, 1\): expected at most 2 faces per edge \(got 3"):
        check_edge_manifold(F)
    check_edge_manifold(F[:2])


def test_nonmanifold_vertex_named():
    F = np.array([[0, 1, 2], [0, 3, 4]])  # bow-tie at vertex 0
    with pytest.raises(NonManifoldError, match=r"vertex 0: expected one fan"):
        check_vertex_manifold(F, 5)
    check_vertex_manifold(F[:1], 5)
    V = np.random.default_rng(0).normal(size=(5, 3))
    with pytest.raises(NonManifoldError):
        check_manifold(V, F)


def test_orientability_checks():
    V, F = shapes.torus(8, 6)
    check_orientable(F)
    G = F.copy()
    G[3] = G[3, ::-1]
    with pytest.raises(NonOrientableError, match=r"edge \(\d+, \d+\): expected its two faces"):
        check_orientable(G)
    with pytest.raises(NonOrientableError, match="non-orientable"):
        check_orientable(_moebius(12))


def _moebius(n):
    """A Möbius band: a strip of n quads whose ends are glued with a half twist."""
    top = np.arange(n)
    bot = np.arange(n, 2 * n)
    F = []
    for i in range(n - 1):
        F += [[top[i], top[i + 1], bot[i]], [top[i + 1], bot[i + 1], bot[i]]]
    # glue: top[n-1] -> bot[0], bot[n-1] -> top[0]
    F += [[top[n - 1], bot[0], bot[n - 1]], [bot[0], top[0], bot[n - 1]]]
    return np.array(F)
