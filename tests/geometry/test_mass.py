"""Mass matrices: hand-computed values, total area, lumping identities, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from manifold_nets.errors import MeshShapeError
from manifold_nets.geometry import edge_lengths, mass_matrix, mass_matrix_from_lengths, vertex_areas
from manifold_nets.shapes import flat_torus_lengths, grid, icosphere, tetrahedron, torus, triangle


def test_triangle_by_hand():
    V, F = triangle()  # area 1/2, right angle at vertex 0
    np.testing.assert_allclose(mass_matrix(V, F).diagonal(), [1 / 6] * 3, rtol=1e-14)
    # Non-obtuse: Voronoi areas. The circumcentre is the hypotenuse midpoint (1/2, 1/2):
    # vertex 0 owns the square [0, 1/2]², vertices 1 and 2 a triangle of area 1/8 each.
    np.testing.assert_allclose(mass_matrix(V, F, "voronoi").diagonal(), [0.25, 0.125, 0.125], rtol=1e-14)
    full = mass_matrix(V, F, "full").toarray()
    np.testing.assert_allclose(full, (0.5 / 12) * (np.ones((3, 3)) + np.eye(3)), rtol=1e-14)


def test_obtuse_triangle_mixed_areas():
    V = np.array([[0.0, 0, 0], [4, 0, 0], [2, 0.5, 0]])  # obtuse at vertex 2, area 1
    m = mass_matrix(V, np.array([[0, 1, 2]]), "voronoi").diagonal()
    np.testing.assert_allclose(m, [0.25, 0.25, 0.5], rtol=1e-14)


def test_tetrahedron_by_hand():
    V, F = tetrahedron()  # edge 2√2: face area (√3/4)·8 = 2√3, three faces per vertex
    A = 2 * np.sqrt(3)
    for kind in ("barycentric", "voronoi"):
        np.testing.assert_allclose(mass_matrix(V, F, kind).diagonal(), [A] * 4, rtol=1e-14)
    full = mass_matrix(V, F, "full").toarray()
    np.testing.assert_allclose(np.diag(full), 3 * A / 6, rtol=1e-14)
    np.testing.assert_allclose(full[0, 1], 2 * A / 12, rtol=1e-14)


@pytest.mark.parametrize("mesh", [icosphere(3), torus(20, 10), grid(6)], ids=["sphere", "torus", "grid"])
def test_total_area_and_lumping(mesh):
    V, F = mesh
    area = 0.5 * np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1).sum()
    for kind in ("barycentric", "voronoi", "full"):
        M = mass_matrix(V, F, kind)
        assert isinstance(M, sp.csr_matrix) and M.dtype == np.float64
        np.testing.assert_allclose(M.sum(), area, rtol=1e-12)
        assert abs(M - M.T).max() == 0
    # Row sums of the FEM mass are the barycentric lumped mass.
    np.testing.assert_allclose(np.asarray(mass_matrix(V, F, "full").sum(1)).ravel(),
                               mass_matrix(V, F).diagonal(), rtol=1e-12)
    assert (mass_matrix(V, F, "voronoi").diagonal() > 0).all()


def _voronoi_by_construction(V, F):
    """Mixed Voronoi areas built geometrically: circumcentre and edge midpoints (Meyer et al.)."""
    out = np.zeros(len(V))
    for f in F:
        p = V[f]
        area = 0.5 * np.linalg.norm(np.cross(p[1] - p[0], p[2] - p[0]))
        cosines = [np.dot(p[(k + 1) % 3] - p[k], p[(k + 2) % 3] - p[k]) for k in range(3)]
        if min(cosines) < 0:  # obtuse: ½ at the obtuse corner, ¼ at the others
            for k in range(3):
                out[f[k]] += area / 2 if cosines[k] < 0 else area / 4
            continue
        a, b = p[1] - p[0], p[2] - p[0]
        n = np.cross(a, b)
        c = p[0] + (np.dot(a, a) * np.cross(b, n) + np.dot(b, b) * np.cross(n, a)) / (2 * np.dot(n, n))
        for k in range(3):
            q, m1, m2 = p[k], 0.5 * (p[k] + p[(k + 1) % 3]), 0.5 * (p[k] + p[(k + 2) % 3])
            out[f[k]] += 0.5 * np.linalg.norm(np.cross(m1 - q, c - q)) + 0.5 * np.linalg.norm(np.cross(c - q, m2 - q))
    return out


def test_voronoi_matches_geometric_construction(rng):
    V, F = grid(6, 5)
    V = V + rng.uniform(-0.04, 0.04, V.shape)  # irregular, non-planar, some obtuse faces
    for mesh in ((V, F), torus(12, 8)):
        m = mass_matrix(*mesh, "voronoi").diagonal()
        np.testing.assert_allclose(m, _voronoi_by_construction(*mesh), rtol=1e-12)


def test_from_lengths_and_scale():
    # mass_matrix measures areas with the cross product, mass_matrix_from_lengths with Heron:
    # the two paths agree to rounding
    V, F = torus(12, 8)
    for kind in ("barycentric", "voronoi", "full"):
        a = mass_matrix(V, F, kind)
        b = mass_matrix_from_lengths(edge_lengths(V, F), F, len(V), kind=kind)
        assert abs(a - b).max() <= 1e-15
        np.testing.assert_allclose(mass_matrix(2.5 * V, F, kind).data, 6.25 * a.data, rtol=1e-12)
    l, F = flat_torus_lengths(6, 4, 2.0, 1.5)
    np.testing.assert_allclose(mass_matrix_from_lengths(l, F).sum(), 3.0, rtol=1e-12)


def test_vertex_areas_and_unreferenced():
    V, F = triangle()
    V = np.vstack([V, [1.0, 1, 1]])
    np.testing.assert_allclose(vertex_areas(V, F), [1 / 6, 1 / 6, 1 / 6, 0.0], rtol=1e-14)


def test_bad_kind():
    with pytest.raises(MeshShapeError, match="kind"):
        mass_matrix(*triangle(), kind="lumped")
    with pytest.raises(MeshShapeError):
        vertex_areas(*triangle(), kind="full")
