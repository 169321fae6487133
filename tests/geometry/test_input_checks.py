"""Bad input at the geometry boundary raises one typed, one-line error naming the parameter
(rows of the public-API robustness sweep; each test names its row)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import manifold_nets.geometry as g
import manifold_nets.geometry.fmaps as fm
from manifold_nets.errors import (
    FaceIndexError,
    MeshError,
    MeshFileNotFoundError,
    MeshShapeError,
    MeshWarning,
    NonFiniteError,
)
from manifold_nets.geometry.logmap import MIN_T_FACTOR
from manifold_nets.geometry.quality import MAX_ABS_COT
from manifold_nets.shapes import icosphere


@pytest.fixture(scope="module")
def ico():
    return icosphere(1)


@pytest.fixture(scope="module")
def basis(ico):
    V, F = ico
    M = g.mass_matrix(V, F)
    ev, ph = g.eigenbasis(g.cotan_laplacian(V, F), M, 10)
    return ev, ph, M


def _raises(exc, match, f):
    with pytest.raises(exc, match=match) as info:
        f()
    assert "\n" not in str(info.value)
    return info.value


# row 1: one stray index must not size the arrays ----------------------------------------------
def test_graph_laplacian_refuses_a_stray_huge_index(ico):
    V, F = ico
    Fb = np.vstack([F, [[0, 1, 200_000_000]]])
    e = _raises(FaceIndexError, r"^F: expected vertex indices below 3·nF = 243 .*face 80", lambda: g.graph_laplacian(Fb))
    assert "200000000" in str(e)
    _raises(FaceIndexError, "F: expected vertex indices below", lambda: g.cotan_laplacian_from_lengths(np.ones((81, 3)), Fb))
    _raises(MeshShapeError, "n_vertices: expected a non-negative integer", lambda: g.graph_laplacian(F, 2.5))
    # an explicit count keeps unreferenced vertices (the documented way to have many of them)
    assert g.graph_laplacian(F, 500).shape == (500, 500)
    assert g.graph_laplacian(F).shape == (42, 42)


# row 3: a source on no face --------------------------------------------------------------------
def test_vector_heat_refuses_an_unreferenced_source():
    V = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5.0]])
    F = np.array([[0, 1, 2]])
    msg = r"expected a vertex used by some face \(got unreferenced vertex 3\)"
    _raises(MeshShapeError, "source: " + msg, lambda: g.log_map(V, F, 3))
    _raises(MeshShapeError, "sources: " + msg, lambda: g.parallel_transport(V, F, [3], [1 + 0j]))
    s = g.VectorHeatSolver(V, F)
    _raises(MeshShapeError, "sources: " + msg, lambda: s.log_maps([0, 3]))
    _raises(MeshShapeError, "sources: " + msg, lambda: s.transports([3]))
    r, th = s.log_map(0)
    assert np.isfinite(r[:3]).all() and np.isfinite(th[:3]).all()


# row 4: a diffusion time so small that the heat underflows --------------------------------------
def test_log_map_refuses_a_time_below_the_documented_bound(ico):
    V, F = ico
    for t in (1e-50, 1e-300):
        _raises(MeshShapeError, r"^t: expected a diffusion time of at least 1e-06·h²", lambda t=t: g.log_map(V, F, 0, t=t))
    _raises(MeshShapeError, r"^t_factor: expected a diffusion time", lambda: g.VectorHeatSolver(V, F, t_factor=1e-9))
    # at the bound itself everything is finite on this mesh
    r, th = g.VectorHeatSolver(V, F, t_factor=MIN_T_FACTOR).log_map(0)
    assert np.isfinite(r).all() and np.isfinite(th).all()


# row 5: finite but huge coordinates on the array path -------------------------------------------
@pytest.mark.parametrize("scale", [1e300, 1e61])
def test_array_entry_points_refuse_coordinates_above_the_cap(ico, scale):
    V, F = ico
    V = V * scale
    calls = [g.cotan_laplacian, g.mass_matrix, g.face_areas, g.edge_lengths, g.tangent_frames,
             g.gaussian_curvature, g.connection_laplacian, g.geodesic_patches, g.intrinsic_delaunay,
             g.vertex_gradient, g.total_area, g.robust_edge_length, g.canonical_mesh_order,
             lambda V, F: g.geodesic_distance(V, F, 0), lambda V, F: g.log_map(V, F, 0)]
    for f in calls:
        _raises(NonFiniteError, r"^V: expected coordinates of magnitude at most 1e\+60", lambda f=f: f(V, F))


# row 9: descriptors of an empty eigenbasis ------------------------------------------------------
def test_hks_and_wks_refuse_an_empty_eigenbasis(ico):
    V, F = ico
    ops = g.operators(V, F, k=0)
    _raises(MeshShapeError, "evals, evecs: expected at least one eigenpair", lambda: g.hks(ops.evals, ops.evecs, 4, mass=ops.mass))
    _raises(MeshShapeError, "evals, evecs: expected at least one eigenpair", lambda: g.wks(ops.evals, ops.evecs, 4, mass=ops.mass))


# row 12: normalize / hierarchy helpers --------------------------------------------------------
def test_normalize_and_hierarchy_helpers_validate(ico):
    V, F = ico
    Vn = V.copy()
    Vn[3] = np.nan
    _raises(NonFiniteError, "V: expected finite coordinates", lambda: g.total_area(Vn, F))
    Fb = np.vstack([F, [[0, 1, 42]]])
    for f in (g.total_area, g.robust_edge_length, g.canonical_mesh_order):
        _raises(FaceIndexError, r"F: expected vertex indices in \[0, 42\)", lambda f=f: f(V, Fb))
        _raises(MeshShapeError, r"V: expected shape \(nV, 3\)", lambda f=f: f(V[:, :2], F))
    for bad in (0.0, 0.5, np.nan, -1, "a"):
        _raises(MeshShapeError, "outlier_factor: expected a number >= 1", lambda b=bad: g.robust_edge_length(V, F, outlier_factor=b))
    assert np.isfinite(g.robust_edge_length(V, F, outlier_factor=1.0))


# row 14: frames and vectors must correspond row by row -----------------------------------------
def test_world_and_tangent_conversions_check_rows(ico):
    V, F = ico
    _, x, y = g.tangent_frames(V, F)
    for rows in (3, 100):
        _raises(MeshShapeError, r"^vec: expected one row per frame/vertex \(42\)", lambda r=rows: g.world_to_tangent(np.ones((r, 3)), x, y))
        _raises(MeshShapeError, r"^z: expected one row per frame/vertex \(42\)", lambda r=rows: g.tangent_to_world(np.ones(r), x, y))
    _raises(MeshShapeError, r"vertices: expected vertex indices in \[0, 42\) \(got 100", lambda: g.world_to_tangent(np.ones((1, 3)), x, y, vertices=[100]))
    z = g.world_to_tangent(np.ones((2, 3)), x, y, vertices=[4, 5])
    np.testing.assert_allclose(z, g.world_to_tangent(np.ones((42, 3)), x, y)[[4, 5]])


# row 15: parameters that were ignored or truncated ----------------------------------------------
def test_parameters_are_refused_not_ignored(ico, basis):
    V, F = ico
    ev, ph, M = basis
    L = g.cotan_laplacian(V, F)
    _raises(MeshShapeError, "^backend: expected 'auto', 'cholmod' or 'superlu'", lambda: g.eigenbasis(L, M, 5, backend="bogus"))
    _raises(MeshShapeError, "^eig_backend: expected", lambda: g.operators(V, F, k=5, eig_backend="bogus"))
    for n in (0, -1, 2.5, 43):
        _raises(MeshShapeError, r"^n: expected an integer number of samples in \[1, 42\]", lambda n=n: fm.farthest_point_sampling(V, n))
    _raises(MeshShapeError, "^n_energies: expected a positive integer", lambda: g.wks(ev, ph, 2.5))
    _raises(MeshShapeError, "^n_vertices: expected a non-negative integer", lambda: g.random_gauge(2.5))
    _raises(MeshShapeError, "^what: expected 'scales', 'times' or 'energies'", lambda: g.spectral_range(ev, what="bogus"))
    for bad in (np.nan, -1.0, np.inf):
        _raises(MeshShapeError, "^degenerate_tol: expected a finite number >= 0", lambda b=bad: g.cotan_laplacian(V, F, degenerate_tol=b))
        _raises(MeshShapeError, "^mollify_factor: expected a finite number >= 0", lambda b=bad: g.robust_laplacian(V, F, mollify_factor=b))
        _raises(MeshShapeError, "^mollify_factor: expected", lambda b=bad: g.operators(V, F, k=4, mollify_factor=b))
        _raises(MeshShapeError, "^mollify_factor: expected", lambda b=bad: g.intrinsic_delaunay(V, F, mollify_factor=b))
    _raises(MeshShapeError, "^n_samples: expected a positive integer or None",
            lambda: fm.zoomout(np.arange(42), ph, ph, M.diagonal(), n_samples=-5, V_a=V, V_b=V, mass_a=M.diagonal()))
    _raises(MeshShapeError, "^n_final: expected a non-negative integer", lambda: fm.zoomout(np.arange(42), ph, ph, M.diagonal(), n_final=-1))
    # the defaults are unchanged
    assert g.cotan_laplacian(V, F, degenerate_tol=1e-12).nnz == g.cotan_laplacian(V, F).nnz


# row 18: point clouds the backend cannot triangulate ------------------------------------------
def test_point_cloud_laplacian_refuses_coincident_and_collinear_points():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # n_neighbors reduced
        _raises(MeshShapeError, r"^P: expected points sampling a surface \(got all 20 points at", lambda: g.point_cloud_laplacian(np.zeros((20, 3))))
        line = np.c_[np.arange(20.0), np.zeros(20), np.zeros(20)]
        _raises(MeshShapeError, r"^P: expected points sampling a surface \(got all 20 points on one line", lambda: g.point_cloud_laplacian(line))
        # nearly collinear (thicker than the global bound): the backend's assertion, named and typed
        noisy = line + 1e-6 * np.random.default_rng(0).normal(size=line.shape) * [0, 1, 1]
        _raises(MeshShapeError, r"^P: expected points sampling a surface \(got point \d+", lambda: g.point_cloud_laplacian(noisy))


# row 19: rank-deficient descriptors ----------------------------------------------------------
def test_solve_fmap_with_rank_deficient_descriptors_is_a_warned_least_squares_map():
    ev = np.linspace(0, 5, 6)
    with pytest.warns(MeshWarning, match="functional-map system is singular"):
        C = fm.solve_fmap(np.zeros((6, 3)), np.zeros((6, 3)), ev, ev)
    assert C.shape == (6, 6) and np.isfinite(C).all()
    _raises(MeshShapeError, "^w_lap: expected a finite weight >= 0", lambda: fm.solve_fmap(np.ones((6, 3)), np.ones((6, 3)), ev, ev, w_lap=np.nan))


# row 20: raw numpy/Python errors from helpers --------------------------------------------------
def test_helpers_raise_typed_errors_naming_the_parameter(ico, basis):
    V, F = ico
    ev, ph, M = basis
    L = g.cotan_laplacian(V, F)
    cases = [
        ("^n_times: expected a positive integer", lambda: g.hks(ev, ph, None, mass=M.diagonal())),
        ("^evecs: expected an \\(nV, k\\) float array", lambda: g.fix_eigenvector_signs(ph[:, 0].copy())),
        ("^alpha: expected shape \\(80, 3\\)", lambda: g.vertex_normals(V, F, alpha=np.ones(3))),
        ("^L: expected an \\(42, 42\\) matrix", lambda: g.mean_curvature(V, F, L=L[:5, :5])),
        ("^normals: expected finite \\(42, 3\\)", lambda: g.mean_curvature(V, F, normals=np.ones(3))),
        ("^vectors: expected one row per frame/vertex \\(3\\)", lambda: g.change_gauge(np.zeros(3), vectors=np.zeros(42, complex))),
        ("^M: expected shape \\(42, 42\\) like L", lambda: g.active_vertices(L, M[:5, :5])),
        ("^k: expected a positive integer number of coarse neighbours", lambda: g.pool_unpool_maps(V, F, V[:10], k=0)),
        ("^n_vertices: expected a non-negative integer", lambda: g.random_gauge(-1)),
        ("^radius: expected a positive finite number or None \\(got 'one-ring'\\)", lambda: g.geodesic_patches(V, F, radius="one-ring")),
        ("^clamp_cot: expected a positive number or None", lambda: g.cotan_laplacian(V, F, clamp_cot="a")),
        ("^vectors: expected complex tangent vectors", lambda: g.parallel_transport(V, F, [0], "a")),
        ("^start: expected a vertex index in \\[0, 42\\)", lambda: fm.farthest_point_sampling(V, 3, start=10**6)),
    ]
    for match, f in cases:
        _raises(MeshError, match, f)
    # a diagonal mass matrix is read as its diagonal; a full one is refused
    np.testing.assert_array_equal(g.hks(ev, ph, 4, mass=M), g.hks(ev, ph, 4, mass=M.diagonal()))
    full = sp.csr_matrix(M + 0.01 * abs(L))
    _raises(MeshShapeError, "^mass: expected the \\(42,\\) lumped masses or a diagonal", lambda: g.hks(ev, ph, 4, mass=full))


# row 22: bad user input reported as a solver failure -------------------------------------------
def test_bad_input_is_not_reported_as_a_solver_failure(ico):
    V, F = ico
    _raises(MeshShapeError, r"^vectors: expected finite tangent vectors \(got \(nan\+0j\) at position 0\)",
            lambda: g.parallel_transport(V, F, [0], [complex(np.nan, 0)]))
    _raises(MeshShapeError, "^mollify_factor: expected a finite number >= 0 \\(got inf\\)",
            lambda: g.robust_laplacian(V, F, mollify_factor=np.inf))


def test_correspond_names_its_bad_weight():
    from manifold_nets.tasks.correspondence import correspond

    V, F = icosphere(1)
    for name, bad in (("w_lap", np.nan), ("w_orient", np.inf), ("w_descr", -1.0)):
        _raises(MeshShapeError, f"^{name}: expected a finite weight >= 0",
                lambda n=name, b=bad: correspond(V, F, V, F, k=10, k_init=6, n_descr=8, n_orient=4, **{n: b}))


# row 23: a missing operator file ---------------------------------------------------------------
def test_load_operators_missing_file_is_a_file_not_found_error(tmp_path):
    e = _raises(MeshFileNotFoundError, "expected an operator file \\(got no such file\\)", lambda: g.load_operators(tmp_path / "nope.npz"))
    assert isinstance(e, FileNotFoundError)


# row 24: needles make the automatic choice robust ---------------------------------------------
def test_needle_strip_gets_the_robust_laplacian_and_heat_geodesics_work():
    V = np.array([[i, 0, 0] for i in range(10)] + [[i + 0.5, 1e-9, 0] for i in range(10)], float)
    F = np.array([[i, i + 1, 10 + i] for i in range(9)] + [[i + 1, 11 + i, 10 + i] for i in range(9)])
    kind, reason = g.laplacian_choice(V, F)
    assert kind == "robust" and "|cot|" in reason and g.triangle_quality(V, F).max_abs_cot > MAX_ABS_COT
    d = g.geodesic_distance(V, F, 0)
    np.testing.assert_allclose(d, g.geodesic_distance(V, F, 0, laplacian="robust"))
    assert np.isfinite(d).all() and abs(d[9] - 9.0) < 0.1 * 9.0  # heat method on a 1-D strip: ~6 %
    assert g.laplacian_choice(*icosphere(2))[0] == "cotan"
