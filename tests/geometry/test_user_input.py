"""User input at the geometry boundary (issue 13): a ``Mesh`` wherever ``(V, F)`` is accepted,
one typed error for all-degenerate meshes across the solvers, and warnings (not silence) when
``k`` or another parameter is changed or a solve falls back to something else."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

import manifold_nets.geometry as geometry
import manifold_nets.geometry.spectral as spectral
from manifold_nets import Mesh
from manifold_nets.errors import DegenerateFaceError, MeshShapeError
from manifold_nets.geometry import (
    HeatGeodesicSolver,
    VectorHeatSolver,
    cotan_laplacian,
    distance_matrix,
    eigenbasis,
    exact_geodesic_distance,
    geodesic_distance,
    geodesic_patches,
    log_map,
    mass_matrix,
    operators,
    parallel_transport,
    point_cloud_laplacian,
)
from manifold_nets.geometry.cache import CacheWarning
from manifold_nets.geometry.spectral import EigenbasisWarning
from manifold_nets.shapes import icosphere

# the package re-exports the function operators under the submodule's name
operators_module = importlib.import_module("manifold_nets.geometry.operators")

# ---------------------------------------------------------------------------------------------
# 1. A Mesh in place of (V, F)
# ---------------------------------------------------------------------------------------------

#: Public names of manifold_nets.geometry with (V, F) parameters that are not converted here,
#: with the reason.  Each must still exist and still take (V, F) (checked below).
EXEMPT = {
    # a record of precomputed arrays (it *is* mesh-like: it can be passed as a mesh itself)
    "OperatorBundle": "record",
}

_V, _F = icosphere(1)
_LOOP = [int(x) for x in _F[0]]

#: name -> (positional args after V, F; keyword args; what to do with a returned object).
#: Positional arguments are used where the signature allows, to check that they shift correctly.
CALLS = {
    "canonical_mesh_order": ((), {}, None),
    "mesh_hierarchy": ((), {"levels": 1}, lambda levels: [(l.V, l.F, l.pool.toarray()) for l in levels]),
    "HeatGeodesicSolver": ((None, "cotan"), {}, lambda s: s.distance(0)),
    "VectorHeatSolver": ((), {"laplacian": "cotan"}, lambda s: s.log_map(3)),
    "angle_defect": ((), {}, None),
    "choose_laplacian": (("auto",), {}, None),
    "connection_laplacian": ((), {"weights": "cotan"}, None),
    "cotan_laplacian": ((), {}, None),
    "distance_matrix": (([0, 5],), {"method": "heat"}, None),
    "divergence": ((), {}, None),
    "edge_lengths": ((), {}, None),
    "exact_geodesic_distance": ((2,), {}, None),
    "face_angle_excess": ((), {}, None),
    "face_areas": ((), {}, None),
    "face_gradient": ((), {"return_areas": True}, None),
    "face_holonomy": ((), {}, None),
    "gaussian_curvature": ((), {}, None),
    "geodesic_distance": ((0, None, "heat"), {}, None),
    "geodesic_patches": ((0.6,), {}, None),
    "graph_distance": (([1, 2],), {}, None),
    "halfedge_angles": ((), {}, None),
    "holonomy": ((_LOOP,), {}, None),
    "intrinsic_delaunay": ((), {}, None),
    "laplacian_choice": ((), {}, None),
    "log_map": ((4,), {}, None),
    "mass_matrix": (("voronoi",), {}, None),
    "mean_curvature": ((), {}, None),
    "normalize_for_learning": ((), {"area": 2.0}, None),
    "operators": ((8,), {"laplacian": "cotan"}, None),
    "operators_cache_key": ((), {"k": 8}, None),
    "parallel_transport": ((0, 1j), {}, None),
    "principal_curvatures": ((), {}, None),
    "robust_edge_length": ((), {}, None),
    "robust_laplacian": ((), {}, None),
    "tangent_frames": ((), {}, None),
    "total_area": ((), {}, None),
    "transport_angles": ((), {}, None),
    "transport_vector": ((_LOOP[:2], 1 + 0j), {}, None),
    "triangle_quality": ((), {}, None),
    "vertex_areas": (("barycentric",), {}, None),
    "vertex_gradient": ((), {}, None),
    "vertex_gradient_xy": ((), {}, None),
    "vertex_normals": ((), {}, None),
}


def _vf_names():
    """Public callables of manifold_nets.geometry whose first two parameters are V, F."""
    out = set()
    for name in geometry.__all__:
        obj = getattr(geometry, name)
        if inspect.isclass(obj):
            params = list(inspect.signature(obj.__init__).parameters)[1:]
        elif callable(obj):
            params = list(inspect.signature(obj).parameters)
        else:
            continue
        if params[:2] == ["V", "F"]:
            out.add(name)
    return out


def _same(a, b, path="result"):
    """Exact equality of nested results (arrays, sparse matrices, records, numbers)."""
    assert type(a) is type(b), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif sp.issparse(a):
        assert a.shape == b.shape and (a != b).nnz == 0, path
    elif isinstance(a, (tuple, list)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (float, complex, np.floating, np.complexfloating)):
        assert a == b or (np.isnan(a) and np.isnan(b)), f"{path}: {a} != {b}"
    elif isinstance(a, (int, str, bool, np.integer, type(None))):
        assert a == b, f"{path}: {a} != {b}"
    elif dataclasses.is_dataclass(a) or hasattr(a, "__dict__"):
        _same(vars(a), vars(b), path)
    else:  # pragma: no cover - a new result type: extend _same
        raise AssertionError(f"{path}: cannot compare {type(a).__name__}")


def test_call_table_covers_every_vf_function():
    found = _vf_names()
    assert set(EXEMPT) <= found, f"stale exemptions: {set(EXEMPT) - found}"
    assert found - set(EXEMPT) == set(CALLS), (
        f"missing calls: {found - set(EXEMPT) - set(CALLS)}; extra: {set(CALLS) - found}"
    )


@pytest.mark.parametrize("name", sorted(CALLS))
def test_mesh_in_place_of_v_f(name):
    fn = getattr(geometry, name)
    args, kwargs, then = CALLS[name]
    mesh = Mesh(_V, _F)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. the k-reduction warning: the same for both calls
        a = fn(_V, _F, *args, **kwargs)
        b = fn(mesh, *args, **kwargs)
    if then is not None:
        a, b = then(a), then(b)
    _same(a, b, name)


def test_mesh_by_keyword_and_mesh_like_objects():
    mesh = Mesh(_V, _F)
    d = geodesic_distance(_V, _F, 3, method="graph")
    np.testing.assert_array_equal(geodesic_distance(V=mesh, sources=3, method="graph"), d)
    # anything with .V and .F counts, e.g. an OperatorBundle
    ops = operators(mesh, k=4)
    np.testing.assert_array_equal(geodesic_distance(ops, 3, method="graph"), d)
    np.testing.assert_array_equal(mass_matrix(ops).toarray(), mass_matrix(_V, _F).toarray())


def test_mesh_and_faces_together_refused():
    mesh = Mesh(_V, _F)
    with pytest.raises(MeshShapeError, match=r"geodesic_distance: expected either a mesh or \(V, F\)"):
        geodesic_distance(mesh, mesh.F, 0)  # F would otherwise be read as the sources
    with pytest.raises(MeshShapeError, match="expected either a mesh or"):
        cotan_laplacian(mesh, F=_F)
    with pytest.raises(MeshShapeError, match="HeatGeodesicSolver: expected either a mesh or"):
        HeatGeodesicSolver(mesh, _F.copy())


def test_signature_still_documents_v_f():
    assert list(inspect.signature(geodesic_distance).parameters)[:3] == ["V", "F", "sources"]
    assert list(inspect.signature(HeatGeodesicSolver).parameters)[:2] == ["V", "F"]


# ---------------------------------------------------------------------------------------------
# 2. One typed error for an all-degenerate mesh, at the entry of every solver
# ---------------------------------------------------------------------------------------------

# four collinear points along a skew direction (areas are rounding noise, not exactly 0)
_VD = np.outer(np.arange(4.0), [0.3, 0.5, 0.7]) + np.array([0.1, -0.2, 0.05])
_FD = np.array([[0, 1, 2], [1, 2, 3], [0, 2, 3]])
_DEGENERATE = r"expected at least one face with positive area \(got 3 degenerate faces\)"

SOLVERS = {
    "geodesic_distance": lambda *m: geodesic_distance(*m, 0),
    "geodesic_distance_exact": lambda *m: geodesic_distance(*m, 0, method="exact"),
    "exact_geodesic_distance": lambda *m: exact_geodesic_distance(*m, 0),
    "HeatGeodesicSolver": lambda *m: HeatGeodesicSolver(*m).distance(0),
    "distance_matrix": lambda *m: distance_matrix(*m, [0, 1]),
    "log_map": lambda *m: log_map(*m, 0),
    "parallel_transport": lambda *m: parallel_transport(*m, 0, 1j),
    "VectorHeatSolver": lambda *m: VectorHeatSolver(*m).log_map(0),
    "operators": lambda *m: operators(*m, k=2),
    "operators_robust": lambda *m: operators(*m, k=2, laplacian="robust"),
    "geodesic_patches": lambda *m: geodesic_patches(*m),
    "geodesic_patches_radius": lambda *m: geodesic_patches(*m, radius=1.0),
}


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_all_degenerate_mesh_one_error(name):
    with pytest.raises(DegenerateFaceError, match=_DEGENERATE) as info:
        SOLVERS[name](_VD, _FD)
    assert "\n" not in str(info.value)
    # the same through a Mesh
    with pytest.raises(DegenerateFaceError, match=_DEGENERATE):
        SOLVERS[name](Mesh(_VD, _FD))


def test_exactly_zero_area_mesh_too():
    V = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]])
    for fn in (lambda: geodesic_distance(V, _FD, 0), lambda: log_map(V, _FD, 0),
               lambda: operators(V, _FD, k=2), lambda: geodesic_patches(V, _FD)):
        with pytest.raises(DegenerateFaceError, match=_DEGENERATE):
            fn()


def test_eigenbasis_of_a_degenerate_mesh():
    L, M = cotan_laplacian(_VD, _FD), mass_matrix(_VD, _FD)
    with pytest.raises(DegenerateFaceError, match=r"L: expected a Laplacian with some non-zero entry"):
        eigenbasis(L, M, 2)


def test_some_degenerate_faces_are_fine():
    # 100 degenerate faces (a repeated vertex) first, so the check has to look past its first chunk
    V, F = icosphere(2)
    F = np.concatenate([np.tile([[0, 0, 1]], (100, 1)), F])
    d = geodesic_distance(V, F, 0)
    assert np.isfinite(d).all() and d.max() > 3.0
    ops = operators(V, F, k=4)
    assert ops.evals.shape == (4,) and np.isfinite(ops.evals).all()
    assert len(geodesic_patches(V, F)) > 0


# ---------------------------------------------------------------------------------------------
# 3./4. k = 0, reduced k, dense fallbacks and retries are visible
# ---------------------------------------------------------------------------------------------


def test_eigenbasis_k_zero_matches_operators():
    V, F = icosphere(1)
    L, M = cotan_laplacian(V, F), mass_matrix(V, F)
    evals, evecs = eigenbasis(L, M, 0)
    ops = operators(V, F, k=0)
    _same((evals, evecs), (ops.evals, ops.evecs))
    assert evals.shape == (0,) and evecs.shape == (42, 0)
    e, v, info = eigenbasis(L, M, 0, return_info=True)
    assert e.shape == (0,) and v.shape == (42, 0) and info["solves"] == 0


def test_operators_warns_when_k_is_reduced():
    V, F = icosphere(1)
    with pytest.warns(EigenbasisWarning, match=r"operators: k reduced from 100 to 42: .*42 referenced vertices") as rec:
        ops = operators(V, F, k=100)
    assert ops.k == 42
    assert rec[0].filename == __file__  # attributed to the caller, not to a wrapper
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        operators(V, F, k=42)  # exactly the number of vertices: nothing to say


def test_eigenbasis_dense_instead_of_iterative_is_said(monkeypatch):
    V, F = icosphere(1)
    L, M = cotan_laplacian(V, F), mass_matrix(V, F)
    monkeypatch.setattr(spectral, "DENSE_MAX", 20)  # so that 42 vertices count as "large"
    with pytest.warns(EigenbasisWarning, match=r"k=30 is more than half of the 42 active vertices.*dense"):
        eigenbasis(L, M, 30)
    with pytest.warns(EigenbasisWarning, match=r"method='arpack' cannot compute k=41 of 42.*dense"):
        e, v, info = eigenbasis(L, M, 41, method="arpack", return_info=True)
    assert info["method"] == "dense"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        eigenbasis(L, M, 8)  # an ordinary solve stays silent


def test_eigenbasis_regularised_mass_is_said():
    V, F = icosphere(1)
    L = cotan_laplacian(V, F)
    m = mass_matrix(V, F).diagonal().copy()
    m[5] = 0.0
    with pytest.warns(EigenbasisWarning, match=r"1 vertices with zero mass .* regularising mass"):
        evals, _ = eigenbasis(L, sp.diags(m).tocsr(), 4)
    assert evals.shape == (4,)


def test_eigenbasis_retry_is_said(monkeypatch):
    V, F = icosphere(2)
    L, M = cotan_laplacian(V, F), mass_matrix(V, F)
    real = spectral._solve_arpack
    calls = []

    def flaky(*args):
        calls.append(args[3])
        if len(calls) == 1:
            raise np.linalg.LinAlgError("made up")
        return real(*args)

    monkeypatch.setattr(spectral, "_solve_arpack", flaky)
    with pytest.warns(EigenbasisWarning, match=r"1 attempt\(s\) failed .*made up.*shift") as rec:
        eigenbasis(L, M, 6, method="arpack")
    assert f"{calls[1]:.3g}" in str(rec[0].message)


def test_operator_cache_write_failure_is_said(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(operators_module, "save_operators", fail)
    V, F = icosphere(1)
    with pytest.warns(CacheWarning, match="could not write the operator cache .*disk full"):
        ops = operators(V, F, k=4, cache_dir=tmp_path)
    assert ops.evals.shape == (4,)


def test_point_cloud_neighbours_reduction_is_said():
    P = icosphere(0)[0]  # 12 points
    with pytest.warns(RuntimeWarning, match="n_neighbors reduced from 30 to 11"):
        L, M = point_cloud_laplacian(P, n_neighbors=30)
    assert L.shape == (12, 12)


# ---------------------------------------------------------------------------------------------
# Other caps that used to stop or clamp silently
# ---------------------------------------------------------------------------------------------


def test_patch_relaxation_cap_is_said():
    V, F = icosphere(2)
    with pytest.warns(RuntimeWarning, match=r"max_iter=1 sweeps with \d+ \(centre, vertex\) pairs still changing"):
        geodesic_patches(V, F, radius=0.5, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        geodesic_patches(V, F, radius=0.5)  # converges: nothing to say
    with pytest.raises(MeshShapeError, match=r"max_iter: expected a non-negative integer or None \(got -1\)"):
        geodesic_patches(V, F, radius=0.5, max_iter=-1)


def test_intrinsic_delaunay_flip_cap_is_said():
    from manifold_nets.geometry import intrinsic_delaunay
    from manifold_nets.shapes import grid

    V, F = grid(6)
    V = V.copy()
    V[:, 0] += 3.0 * V[:, 1]  # sheared: many non-Delaunay edges
    assert intrinsic_delaunay(V, F).n_flips > 10
    with pytest.warns(RuntimeWarning, match="stopped at max_flips=1 flips .* may not be Delaunay"):
        T = intrinsic_delaunay(V, F, max_flips=1)
    assert T.n_flips == 1


def test_heat_batch_below_one_is_an_error():
    V, F = icosphere(1)
    solver = HeatGeodesicSolver(V, F)
    with pytest.raises(MeshShapeError, match=r"batch: expected a positive integer or None \(got 0\)"):
        solver.distances([0, 1], batch=0)
    np.testing.assert_allclose(solver.distances([0, 1], batch=1), solver.distances([0, 1]))
