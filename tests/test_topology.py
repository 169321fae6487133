"""Topology on hand-built meshes with known answers."""

import numpy as np
import pytest

from manifold_nets import shapes
from manifold_nets import topology as T
from tests.test_validation import _moebius


def test_halfedges_and_edges_of_two_triangles():
    F = np.array([[0, 1, 2], [0, 2, 3]])
    assert T.halfedges(F).tolist() == [[0, 1], [1, 2], [2, 0], [0, 2], [2, 3], [3, 0]]
    E, counts = T.edge_face_counts(F)
    assert E.tolist() == [[0, 1], [0, 2], [0, 3], [1, 2], [2, 3]]
    assert counts.tolist() == [1, 2, 1, 1, 1]
    assert T.boundary_edges(F).tolist() == [[0, 1], [1, 2], [2, 3], [3, 0]]
    loops = T.boundary_loops(F)
    assert len(loops) == 1 and loops[0].tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "make, chi, genus, nE",
    [
        (shapes.tetrahedron, 2, 0, 6),
        (shapes.octahedron, 2, 0, 12),
        (lambda: shapes.icosphere(2), 2, 0, 480),
        (lambda: shapes.torus(10, 7), 0, 1, 210),
    ],
)
def test_closed_surfaces(make, chi, genus, nE):
    V, F = make()
    r = T.mesh_report(V, F)
    assert r["euler_characteristic"] == chi and r["genus"] == genus and r["n_edges"] == nE
    assert r["closed"] and r["edge_manifold"] and r["vertex_manifold"] and r["consistently_oriented"]
    assert r["boundary_loops"] == 0 and r["components"] == 1
    assert T.genus(F) == genus
    assert len(V) - nE + len(F) == chi


def test_grid_has_one_boundary_loop_of_the_right_length():
    V, F = shapes.grid(5, 4)
    r = T.mesh_report(V, F)
    assert r["boundary_edges"] == 2 * (4 + 3) and r["boundary_loops"] == 1
    # genus of a surface with boundary: χ = 2 − 2g − b, here 1 = 2 − 0 − 1 (was None before)
    assert r["euler_characteristic"] == 1 and r["genus"] == 0 and r["genus_per_component"] == [0]
    assert not r["closed"] and r["closed_reason"] == "14 boundary edges"
    assert T.genus(F) == 0
    assert np.isclose(r["total_area"], 1.0 * 0.75)
    assert r["bbox_min"] == [0, 0, 0] and np.allclose(r["bbox_max"], [1, 0.75, 0])


def test_moebius_band_is_not_orientable():
    F = _moebius(10)
    r = T.orientation_report(F)
    assert not r["orientable"]
    assert T.euler_characteristic(F) == 0
    assert len(T.boundary_loops(F)) == 1  # a Möbius band has a single boundary curve
    assert T.genus(F) is None


def test_flipped_face_is_orientable_but_inconsistent():
    V, F = shapes.icosphere(1)
    G = F.copy()
    G[7] = G[7, ::-1]
    r = T.orientation_report(G)
    assert r["orientable"] and not r["consistent"]
    assert np.flatnonzero(r["flip"]).tolist() == [7]
    assert len(r["inconsistent_edges"]) == 3


def test_components_bowtie_and_unreferenced():
    V = np.random.default_rng(1).normal(size=(8, 3))
    F = np.array([[0, 1, 2], [0, 3, 4], [5, 6, 7]])  # bow-tie at 0 plus a separate triangle
    r = T.mesh_report(V, F)
    assert r["components"] == 2  # vertex-connected
    assert r["edge_components"] == 3
    assert r["nonmanifold_vertices"] == 1 and T.nonmanifold_vertices(F).tolist() == [0]
    V2 = np.vstack([V, [[9, 9, 9]]])
    r2 = T.mesh_report(V2, F)
    assert r2["unreferenced_vertices"] == 1
    assert r2["euler_characteristic"] == r["euler_characteristic"]  # unreferenced not counted


def test_nonmanifold_edges_and_duplicates_counted():
    V, F = shapes.tetrahedron()
    G = np.vstack([F, F[:1]])
    r = T.mesh_report(V, G)
    assert r["duplicate_faces"] == 1 and T.duplicate_faces(G).tolist() == [4]
    assert r["nonmanifold_edges"] == 3  # the duplicated face's edges now have 3 sides
    fin = np.vstack([F, [[0, 1, 3]]])
    assert T.nonmanifold_edges(fin).tolist() == [[0, 1, 3], [0, 3, 3], [1, 3, 3]]


def test_degenerate_faces():
    V = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0.0]])
    F = np.array([[0, 1, 3], [0, 1, 2], [3, 3, 1]])
    assert T.degenerate_faces(V, F).tolist() == [1, 2]


def test_boundary_loops_of_two_holes():
    V, F = shapes.grid(6, 6)
    # remove two interior faces far apart -> two extra boundary loops
    keep = np.ones(len(F), bool)
    keep[[12, 36]] = False
    loops = T.boundary_loops(F[keep])
    assert sorted(len(lp) for lp in loops) == [3, 3, 20]


def test_genus_with_boundary_from_chi_components_and_loops():
    V, F = shapes.torus(10, 7)
    holed = F[1:]  # one face removed: a torus with one boundary loop
    r = T.mesh_report(V, holed)
    assert r["boundary_loops"] == 1 and r["euler_characteristic"] == -1
    assert r["genus"] == 1 and T.genus(holed) == 1
    Vs, Fs = shapes.icosphere(1)
    G = np.vstack([Fs, F + len(Vs)])  # a sphere and a torus: per component, none overall
    r2 = T.mesh_report(np.vstack([Vs, V]), G)
    assert r2["genus_per_component"] == [0, 1] and r2["genus"] is None
    assert T.genus(_moebius(10)) is None  # non-orientable: no (orientable) genus


def test_collapsed_face_is_not_a_closed_genus_0_surface():
    """`f 1 2 2` alone used to be reported closed with χ = 2 and genus 0."""
    V = np.eye(3)
    r = T.mesh_report(V, np.array([[0, 1, 1]]))
    assert not r["closed"] and r["closed_reason"] == "1 face repeats a vertex"
    assert r["euler_characteristic"] == 0 and r["genus"] is None and r["n_edges"] == 0
    assert r["collapsed_faces"] == 1 and r["degenerate_faces"] == 1
    assert T.euler_characteristic([[0, 1, 1]]) == 0 and T.genus([[0, 1, 1]]) is None
    # a closed tetrahedron plus a collapsed face: the surface is still a sphere, but the
    # mesh is not reported closed, and the collapsed face does not make edges non-manifold
    Vt, Ft = shapes.tetrahedron()
    r = T.mesh_report(Vt, np.vstack([Ft, [[0, 1, 1]]]))
    assert not r["closed"] and "repeats a vertex" in r["closed_reason"]
    assert r["edge_manifold"] and r["euler_characteristic"] == 2 and r["genus"] == 0


def test_genus_of_a_soup_of_many_components_is_fast():
    import time

    V, F = shapes.icosphere(4)
    S = V[F].reshape(-1, 3)
    t = time.perf_counter()
    r = T.mesh_report(S, np.arange(len(S)).reshape(-1, 3))
    assert time.perf_counter() - t < 20
    assert r["edge_components"] == len(F) and set(r["genus_per_component"]) == {0}


def test_soup_message_tells_a_soup_from_meshes_with_boundary_corners():
    from manifold_nets.shapes import grid, icosphere
    from manifold_nets.topology import soup_message

    V, F = icosphere(2)
    assert soup_message(F, len(V)) is None
    Vg, Fg = grid(5)  # an open square
    assert soup_message(Fg, len(Vg)) is None
    # a strip of two triangles: 2 of its 4 vertices lie in one face each, yet no face is isolated
    assert soup_message([[0, 1, 2], [2, 1, 3]]) is None
    # a bowtie (two faces meeting at one vertex) and three faces on one edge: most vertices in
    # one face only, no isolated face: connected meshes, not soups
    assert soup_message([[0, 1, 2], [0, 3, 4]]) is None
    assert soup_message([[0, 1, 2], [1, 0, 3], [0, 1, 4]]) is None
    soup = np.arange(3 * len(F)).reshape(-1, 3)  # every face its own three vertices
    msg = soup_message(soup, name="scan.stl")
    assert msg.startswith("scan.stl: 320 of 320 faces share no vertex with another face") and "merge-vertices" in msg
    # partly merged: 2 of 5 faces isolated is not a soup (not more than half), 3 of 5 is
    F5 = np.array([[0, 1, 2], [0, 2, 3], [0, 3, 1], [4, 5, 6], [7, 8, 9]])
    assert soup_message(F5) is None and soup_message(F5[:3]) is None
    F5b = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]])
    assert soup_message(F5b).startswith("mesh: 3 of 5 faces share no vertex")
    assert soup_message(np.zeros((0, 3), dtype=np.int64)) is None and soup_message([[0, 1, 2]]) is None
    # unreferenced vertices do not count
    assert soup_message(F, len(V) + 100) is None


def test_topology_functions_check_their_input():
    """Found by an API sweep: a transposed or non-integer F was silently reshaped or truncated into
    another mesh, NaN coordinates gave a NaN area, and one huge index made boundary_loops take
    memory in proportion to the index value."""
    import resource

    from manifold_nets.errors import (
        FaceIndexError,
        MeshShapeError,
        NonFiniteError,
        NonTriangleError,
    )
    from manifold_nets.shapes import grid, icosphere
    from manifold_nets.topology import MAX_FACE_INDEX, boundary_loops, edges, genus, mesh_report

    V, F = icosphere(1)
    with pytest.raises(NonTriangleError, match=r"got shape \(3, 80\)"):
        mesh_report(V, F.T)
    with pytest.raises(MeshShapeError, match="non-integer values in face 0"):
        mesh_report(V, F + 0.5)
    with pytest.raises(FaceIndexError, match=r"expected vertex indices in \[0, 42\) \(got \[0, 1, 42\] in face 80\)"):
        mesh_report(V, np.vstack([F, [[0, 1, 42]]]))
    V2 = V.copy()
    V2[3] = np.nan
    with pytest.raises(NonFiniteError, match="vertex 3"):
        mesh_report(V2, F)
    with pytest.raises(MeshShapeError, match=r"\(nV, 3\)"):
        mesh_report(V[:, :2], F)
    with pytest.raises(FaceIndexError, match="non-negative"):
        genus(F - 1)
    with pytest.raises(FaceIndexError, match=f"expected vertex indices in \\[0, {MAX_FACE_INDEX}\\]"):
        edges([[0, 1, 2**40]])
    # F alone: memory follows the boundary, not the largest index
    Vg, Fg = grid(4)
    loops = boundary_loops(Fg)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    far = boundary_loops(Fg + 200_000_000)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # kB: under 200 MB
    assert [lp.tolist() for lp in far] == [(lp + 200_000_000).tolist() for lp in loops]
    assert mesh_report(V.tolist(), F.astype(np.int32))["genus"] == 0  # lists and int32 are fine
