"""Laplacians: hand-computed values, structure on every clean mesh, isometry and scale invariance,
the robust Laplacian on every dirty mesh, and typed errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from manifold_nets.errors import (
    DegenerateFaceError,
    EmptyMeshError,
    FaceIndexError,
    MeshShapeError,
    NonFiniteError,
    NonTriangleError,
)
from manifold_nets.geometry import (
    cotan_laplacian,
    cotan_laplacian_from_lengths,
    edge_lengths,
    graph_laplacian,
    mass_matrix,
    point_cloud_laplacian,
    robust_laplacian,
)
from manifold_nets.geometry.quality import triangle_quality
from manifold_nets.shapes import (
    cylinder_strip,
    flat_torus_lengths,
    grid,
    icosphere,
    tetrahedron,
    torus,
    triangle,
)
from tests.conftest import data_path, ids, manifest, shared_mesh_paths
from tests.geometry._ops_helpers import is_psd, load_shared, n_edges, random_rotation

CLEAN = shared_mesh_paths("clean")
DIRTY = shared_mesh_paths("dirty")


def test_one_triangle_by_hand():
    # Right isosceles triangle: angles 90° at vertex 0 and 45° at vertices 1, 2.
    # Edge (1,2) is opposite the right angle: weight cot(90°)/2 = 0.
    # Edges (0,1), (0,2) are opposite 45° angles: weight cot(45°)/2 = 1/2.
    L = cotan_laplacian(*triangle()).toarray()
    expected = np.array([[1.0, -0.5, -0.5], [-0.5, 0.5, 0.0], [-0.5, 0.0, 0.5]])
    np.testing.assert_allclose(L, expected, atol=1e-15)


def test_scaled_triangle_by_hand():
    # Triangle with angles 30°, 60°, 90°: legs 1 and √3.
    V = np.array([[0.0, 0, 0], [np.sqrt(3), 0, 0], [0, 1, 0]])
    L = cotan_laplacian(V, np.array([[0, 1, 2]])).toarray()
    c30, c60 = np.sqrt(3), 1 / np.sqrt(3)
    # angle at 1 is 30° (opposite edge 0-2), at 2 is 60° (opposite edge 0-1), at 0 is 90°.
    np.testing.assert_allclose(L[0, 2], -c30 / 2, rtol=1e-14)
    np.testing.assert_allclose(L[0, 1], -c60 / 2, rtol=1e-14)
    assert abs(L[1, 2]) < 1e-15


def test_regular_tetrahedron_by_hand():
    # All angles 60°, two faces per edge: weight 2 · cot(60°)/2 = 1/√3, degree 3.
    V, F = tetrahedron()
    L = cotan_laplacian(V, F).toarray()
    w = 1 / np.sqrt(3)
    expected = w * (4 * np.eye(4) - np.ones((4, 4)))
    np.testing.assert_allclose(L, expected, atol=1e-14)


def test_from_lengths_matches_embedded_and_flat_torus():
    V, F = icosphere(2)
    a = cotan_laplacian(V, F)
    b = cotan_laplacian_from_lengths(edge_lengths(V, F), F, len(V))
    assert abs(a - b).max() <= 1e-13 * abs(a).max()  # vectors vs Heron: rounding only
    # Flat torus (not embeddable): L·1 = 0, symmetric, PSD, one-dimensional kernel.
    l, F = flat_torus_lengths(8, 6, 1.0, 0.75)
    L = cotan_laplacian_from_lengths(l, F).toarray()
    np.testing.assert_allclose(L @ np.ones(48), 0, atol=1e-13)
    ev = np.linalg.eigvalsh(L)
    assert ev[0] > -1e-12 and ev[1] > 1e-3


@pytest.mark.parametrize("mesh", [icosphere(3), torus(20, 10), grid(7)], ids=["sphere", "torus", "grid"])
def test_matches_libigl(mesh):
    igl = pytest.importorskip("igl")
    V, F = mesh
    L = cotan_laplacian(V, F)
    Li = igl.cotmatrix(V, F)
    assert abs(L + Li).max() <= 1e-12 * abs(L).max()


@pytest.mark.data
@pytest.mark.parametrize("path", CLEAN, ids=ids(CLEAN))
def test_structure_on_clean_meshes(path):
    V, F = load_shared(path)
    L = cotan_laplacian(V, F)
    assert isinstance(L, sp.csr_matrix) and L.dtype == np.float64
    nV = len(V)
    scale = abs(L).max()
    assert abs(L @ np.ones(nV)).max() <= 1e-12 * scale * 10
    assert abs(L - L.T).max() <= 1e-14 * scale
    row = manifest().get(f"clean/{path.name}")
    nE = n_edges(F)
    if row and row.get("euler_characteristic"):
        # Euler's formula gives the edge count independently of any edge extraction.
        assert nE == nV + len(F) - int(row["euler_characteristic"])
    assert L.nnz == nV + 2 * nE
    assert is_psd(L)


def test_explicit_zeros_keep_pattern():
    # On the regular grid every diagonal edge is opposite two right angles: weight exactly 0,
    # but the entry stays in the pattern so nnz = nV + 2 nE.
    V, F = grid(5, diagonal="regular")
    L = cotan_laplacian(V, F)
    assert L.nnz == len(V) + 2 * n_edges(F)
    assert np.abs(L.data).min() < 1e-12  # the (numerically) zero weights are stored


def test_rigid_motion_invariance(rng):
    V, F = torus(16, 8)
    R = random_rotation(rng)
    V2 = V @ R.T + rng.standard_normal(3)
    L1, L2 = cotan_laplacian(V, F), cotan_laplacian(V2, F)
    assert abs(L1 - L2).max() <= 1e-12 * abs(L1).max()
    M1, M2 = mass_matrix(V, F), mass_matrix(V2, F)
    assert abs(M1 - M2).max() <= 1e-12 * M1.max()


def _fold(V, x0, angle):
    """Fold the z=0 sheet along the line x = x0 (a discrete isometry when that line is made of edges)."""
    W = V.copy()
    right = V[:, 0] > x0 + 1e-12
    d = V[right, 0] - x0
    W[right, 0] = x0 + d * np.cos(angle)
    W[right, 2] = d * np.sin(angle)
    return W


def test_bending_invariance_exact_fold():
    V, F = cylinder_strip(n=11, m=5, length=2.0, width=0.5)
    x0 = V[5 * 5, 0]  # grid line x = x0 is a column of mesh edges
    Vb = _fold(V, x0, 1.1)
    assert abs(edge_lengths(V, F) - edge_lengths(Vb, F)).max() < 1e-14
    L0, Lb = cotan_laplacian(V, F), cotan_laplacian(Vb, F)
    assert abs(L0 - Lb).max() <= 1e-12 * abs(L0).max()
    for kind in ("barycentric", "voronoi", "full"):
        assert abs(mass_matrix(V, F, kind) - mass_matrix(Vb, F, kind)).max() <= 1e-14


def test_bending_invariance_rolled_strip_converges():
    # Rolling the strip keeps arc lengths; the chords differ by O(h²), so L differs by O(h²).
    errs = []
    for r in (1, 2, 4):  # uniform refinement: spacing 0.25 / r in both directions
        V0, F = cylinder_strip(n=8 * r + 1, m=2 * r + 1, bend=0.0)
        V1, _ = cylinder_strip(n=8 * r + 1, m=2 * r + 1, bend=1.0)
        L0, L1 = cotan_laplacian(V0, F), cotan_laplacian(V1, F)
        errs.append(abs(L0 - L1).max() / abs(L0).max())
    assert errs[0] < 1e-2
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(rates > 1.8), rates


def test_scale_behaviour():
    V, F = icosphere(2)
    s = 3.7
    L1, L2 = cotan_laplacian(V, F), cotan_laplacian(s * V, F)
    assert abs(L1 - L2).max() <= 1e-12 * abs(L1).max()  # cotangents are scale free
    np.testing.assert_allclose(mass_matrix(s * V, F).diagonal(), s**2 * mass_matrix(V, F).diagonal(), rtol=1e-12)


def test_degenerate_guard():
    # A zero-area face (three collinear vertices) on top of a good one contributes nothing.
    V = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [2, 0, 0]])
    F = np.array([[0, 1, 2], [0, 1, 3]])
    L = cotan_laplacian(V, F)
    assert np.isfinite(L.data).all()
    np.testing.assert_allclose(L.toarray()[:3, :3], cotan_laplacian(*triangle()).toarray(), atol=1e-15)
    assert abs(L[3]).sum() == 0
    # A face of relative area 1e-13 (< 1e-12) is degenerate too; 1e-11 is not.
    for h, zero in ((1e-13, True), (1e-11, False)):
        Vh = np.array([[0.0, 0, 0], [1, 0, 0], [0.5, h, 0]])
        Lh = cotan_laplacian(Vh, np.array([[0, 1, 2]]))
        assert (abs(Lh).max() == 0) == zero


def _cap(h):
    """A cap triangle: base (0,0)–(1,0), apex (½, h).  Its cotangents, by hand: ½/h at the two
    base corners and (h² − ¼)/h at the apex (vectors (∓½, −h): dot h² − ¼, cross h)."""
    return np.array([[0.0, 0, 0], [1, 0, 0], [0.5, h, 0]]), np.array([[0, 1, 2]])


def test_cap_triangle_by_hand_and_clamp_scales_the_face():
    h = 1e-6
    V, F = _cap(h)
    c_base, c_apex = 0.5 / h, (h * h - 0.25) / h
    L = cotan_laplacian(V, F).toarray()
    # edge 1–2 is opposite corner 0 (base), 0–2 opposite corner 1 (base), 0–1 opposite the apex
    np.testing.assert_allclose([L[1, 2], L[0, 2], L[0, 1]], [-c_base / 2, -c_base / 2, -c_apex / 2], rtol=1e-9)
    # clamp_cot = 10: the three cotangents are scaled together by 10 / (½/h) = 2e-5, giving
    # (10, 10, −5 + 2e-11): weights 5, 5, −2.5 (per-corner clipping would give −5 for the apex).
    Lc = cotan_laplacian(V, F, clamp_cot=10.0).toarray()
    s = 10.0 / c_base
    expected = -0.5 * s * np.array([[0, c_apex, c_base], [c_apex, 0, c_base], [c_base, c_base, 0]])
    expected -= np.diag(expected.sum(1))
    np.testing.assert_allclose(Lc, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(Lc[0, 1], 2.5, rtol=1e-9)
    lam = np.linalg.eigvalsh(Lc)
    # per-corner clipping gave (10, 10, −10), weights (5, 5, −5): eigenvalues 0, 15 and −5
    assert lam.min() >= -1e-12 * lam.max(), lam


@pytest.mark.parametrize("h", [1e-3, 1e-6, 1e-9])
@pytest.mark.parametrize("clamp", [None, 1.0, 10.0, 1e4])
def test_clamp_cot_keeps_L_psd_on_needles_and_caps(h, clamp):
    # A strip of caps (apex height h) glued to needles (the same vertices, fanned the other
    # way) and a collinear face: every weight bounded by clamp, L PSD with L·1 = 0.
    x = np.linspace(0.0, 1.0, 6)
    top = np.stack([x, np.zeros(6), np.zeros(6)], 1)
    mid = np.stack([x[:-1] + 0.1, np.full(5, h), np.zeros(5)], 1)
    far = np.array([[0.5, 1.0, 0.0], [0.5, -1.0, 0.0], [2.0, 0.0, 0.0]])
    V = np.vstack([top, mid, far])  # 0..5 base, 6..10 apexes, 11, 12, 13
    F = [[k, k + 1, 6 + k] for k in range(5)]             # caps / needles (apex near the base)
    F += [[6 + k, k + 1, 11] for k in range(5)]           # long thin triangles up to vertex 11
    F += [[k + 1, k, 12] for k in range(5)]               # the other side of the base line
    F += [[0, 5, 13]]                                     # collinear (0, 5, 13 on y = 0)
    F = np.array(F)
    L = cotan_laplacian(V, F, clamp_cot=clamp)
    A = L.toarray()
    scale = np.abs(A).max()
    assert abs(A.sum(1)).max() <= 1e-12 * scale
    lam = np.linalg.eigvalsh(A)
    assert lam.min() >= -1e-12 * scale, (lam.min(), scale)
    if clamp is not None:
        # each face adds at most clamp/2 to an edge weight; every edge here has <= 3 faces
        off = A - np.diag(np.diag(A))
        assert np.abs(off).max() <= 1.5 * clamp * (1 + 1e-12)


@pytest.mark.data
@pytest.mark.parametrize("name", ["shark.ply", "ogre.obj", "truck.obj"])
def test_clamp_cot_keeps_L_psd_on_degenerate_shared_meshes(name):
    # shark: slivers of relative area 1.6e-4; ogre: 4 collinear faces; truck: non-manifold
    # edges and thin faces.  Per-corner clipping made L indefinite on all three (Cholesky of
    # L + 1e-12·max|diag|·I failed; ogre at clamp 10: smallest eigenvalue −2.7e-4·max|diag|).
    V, F = load_shared(data_path("meshes", "dirty", name))
    for clamp in (None, 100.0, 10.0):
        L = cotan_laplacian(V, F, clamp_cot=clamp)
        assert np.isfinite(L.data).all()
        assert is_psd(L, rel=1e-12), clamp
    with pytest.raises(MeshShapeError, match="clamp_cot"):
        cotan_laplacian(V, F, clamp_cot=0.0)


def test_clamp_cot_from_lengths_matches_embedded():
    V, F = _cap(1e-5)
    a = cotan_laplacian(V, F, clamp_cot=3.0)
    b = cotan_laplacian_from_lengths(edge_lengths(V, F), F, clamp_cot=3.0)
    assert abs(a - b).max() <= 1e-6 * abs(a).max()  # Heron vs cross product on a sliver


@pytest.mark.data
@pytest.mark.parametrize("path", DIRTY, ids=ids(DIRTY))
def test_robust_laplacian_on_dirty_meshes(path):
    V, F = load_shared(path)
    L, M = robust_laplacian(V, F)
    assert isinstance(L, sp.csr_matrix) and isinstance(M, sp.csr_matrix)
    assert np.isfinite(L.data).all() and np.isfinite(M.data).all()
    scale = abs(L).max()
    assert abs(L - L.T).max() <= 1e-12 * scale
    assert abs(L @ np.ones(len(V))).max() <= 1e-10 * scale
    assert M.diagonal().min() >= 0
    off = L - sp.diags(L.diagonal())
    assert off.max() <= 1e-6 * scale  # intrinsic Delaunay: non-negative weights (up to flip tolerance)
    unref = np.bincount(F.ravel(), minlength=len(V)) == 0
    assert abs(L[unref]).sum() == 0 and (M.diagonal()[unref] == 0).all()
    assert is_psd(L)


def test_robust_equals_cotan_on_delaunay_mesh():
    # An icosphere is already Delaunay: without mollification the two Laplacians coincide.
    V, F = icosphere(2)
    L, M = robust_laplacian(V, F, mollify_factor=0.0)
    assert abs(L - cotan_laplacian(V, F)).max() <= 1e-10 * abs(L).max()
    np.testing.assert_allclose(M.sum(), mass_matrix(V, F).sum(), rtol=1e-10)


def test_point_cloud_laplacian():
    P = icosphere(3)[0]
    L, M = point_cloud_laplacian(P, n_neighbors=12)
    assert abs(L - L.T).max() < 1e-10 and abs(L @ np.ones(len(P))).max() < 1e-10
    ev = np.sort(np.linalg.eigvals(np.linalg.solve(M.toarray(), L.toarray())).real)[:4]
    np.testing.assert_allclose(ev[1:], 2.0, rtol=0.05)  # l(l+1) with l = 1 on the unit sphere


def test_graph_laplacian():
    V, F = icosphere(1)
    L = graph_laplacian(F)
    deg = np.bincount(np.unique(np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), 1), axis=0).ravel())
    np.testing.assert_array_equal(L.diagonal(), deg)
    assert abs(L @ np.ones(len(V))).max() == 0
    Ln = graph_laplacian(F, normalized=True)
    np.testing.assert_allclose(Ln.diagonal(), 1.0)
    assert np.linalg.eigvalsh(Ln.toarray()).max() <= 2 + 1e-12


def test_unreferenced_vertex_gets_empty_row():
    V, F = triangle()
    V = np.vstack([V, [5.0, 5, 5]])
    L = cotan_laplacian(V, F)
    assert L.shape == (4, 4) and L.nnz == 4 + 2 * 3
    assert abs(L[3]).sum() == 0


@pytest.mark.parametrize(
    "V, F, err",
    [
        (np.zeros((3, 2)), [[0, 1, 2]], MeshShapeError),
        ([[0, 0, 0], [1, 0, 0], [0, np.nan, 0]], [[0, 1, 2]], NonFiniteError),
        (np.eye(3), [[0, 1, 3]], FaceIndexError),
        (np.eye(3), [[0, 1, -1]], FaceIndexError),
        (np.zeros((0, 3)), np.zeros((0, 3), int), EmptyMeshError),
        (np.eye(3), [[0, 1]], NonTriangleError),
    ],
)
def test_bad_input(V, F, err):
    with pytest.raises(err):
        cotan_laplacian(V, F)
    with pytest.raises(err):
        robust_laplacian(V, F)
    with pytest.raises(err):
        triangle_quality(V, F)


def test_bad_lengths():
    F = np.array([[0, 1, 2]])
    with pytest.raises(DegenerateFaceError, match="face 0"):
        cotan_laplacian_from_lengths([[1.0, 1.0, 3.0]], F)
    with pytest.raises(MeshShapeError):
        cotan_laplacian_from_lengths([[1.0, -1.0, 1.0]], F)
    with pytest.raises(MeshShapeError):
        cotan_laplacian_from_lengths([[1.0, 1.0]], F)
    with pytest.raises(NonFiniteError):
        cotan_laplacian_from_lengths([[1.0, np.inf, 1.0]], F)
