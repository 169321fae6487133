"""Validate once at the boundary (issue 8, item 9): one public call checks its arrays once.

A public geometry function validates ``(V, F)`` with
:func:`manifold_nets.geometry._checked.check_mesh`: arrays that are already canonical pass its
exact fast check, anything else goes through :func:`manifold_nets.validation.check_mesh_arrays`
(whose O(n) work is :func:`~manifold_nets.validation.as_vertices` and
:func:`~manifold_nets.validation.as_faces`).  The ``validator_calls`` fixture wraps each of
these with a counter **wherever it is bound** (in its own module and in every
``manifold_nets`` module that imported it by name), so a step that re-validates, by any route,
is counted.  Composite functions (``operators``, the heat solvers, ``log_map``,
``geodesic_patches``, ...) must validate exactly once: they pass a
:class:`~manifold_nets.geometry._checked.CheckedMesh` to private kernels.  Every count test
runs on canonical arrays (fast check once, full validator never) and on int32 faces (fast check
once, full validator once).
"""

from __future__ import annotations

import collections
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import manifold_nets.geometry._checked as checked_module
import manifold_nets.validation as validation
from manifold_nets import geometry as G
from manifold_nets.errors import (
    EmptyMeshError,
    FaceIndexError,
    MeshShapeError,
    NonFiniteError,
    NonTriangleError,
)
from manifold_nets.geometry._checked import CheckedMesh, check_mesh, require_checked
from manifold_nets.shapes import grid, icosphere

_FULL = ("check_mesh_arrays", "as_vertices", "as_faces")


@pytest.fixture
def validator_calls(monkeypatch):
    """Counter of validator calls; every binding of the validators in ``manifold_nets.*`` is wrapped."""
    counts: collections.Counter = collections.Counter()
    originals = {name: getattr(validation, name) for name in _FULL}
    originals["check_mesh"] = checked_module.check_mesh
    wrappers = {}
    for name, fn in originals.items():
        def counted(*args, _name=name, _fn=fn, **kwargs):
            counts[_name] += 1
            return _fn(*args, **kwargs)

        wrappers[id(fn)] = counted
    for modname, mod in list(sys.modules.items()):
        if mod is None or not (modname == "manifold_nets" or modname.startswith("manifold_nets.")):
            continue
        for attr, value in list(vars(mod).items()):
            if callable(value) and id(value) in wrappers:
                monkeypatch.setattr(mod, attr, wrappers[id(value)])
    return counts


@pytest.fixture(params=["canonical", "int32 faces"])
def as_given(request):
    """Pass the mesh as canonical arrays (fast check) or with int32 faces (full validator)."""
    full = 0 if request.param == "canonical" else 1

    def convert(V, F):
        return (V, F) if full == 0 else (V, F.astype(np.int32))

    convert.full = full
    return convert


def _once(counts, what, full=1):
    got = {name: counts[name] for name in ("check_mesh",) + _FULL}
    want = {"check_mesh": 1, "check_mesh_arrays": full, "as_vertices": full, "as_faces": full}
    assert got == want, f"{what}: expected the mesh validated once, {want} (got {got})"


@pytest.fixture(scope="module")
def sphere():
    return icosphere(2)


@pytest.fixture(scope="module")
def square():
    return grid(9)


def test_the_counter_sees_a_validation_by_any_route(validator_calls, sphere):
    # the fixture must count both the module-level call and a direct call of a primitive,
    # otherwise the "exactly once" assertions below could not fail
    V, F = sphere
    validation.check_mesh_arrays(V, F)
    validation.as_faces(F, len(V))
    assert validator_calls["check_mesh_arrays"] == 1
    assert validator_calls["as_vertices"] == 1
    assert validator_calls["as_faces"] == 2
    G.cotan_laplacian(V, F.astype(np.int32))  # through the geometry module's own binding
    assert validator_calls["check_mesh"] == 1 and validator_calls["check_mesh_arrays"] == 2


@pytest.mark.parametrize("laplacian", ["auto", "cotan", "robust"])
def test_operators_validates_once(validator_calls, as_given, sphere, laplacian):
    if laplacian == "robust":
        pytest.importorskip("robust_laplacian")
    G.operators(*as_given(*sphere), k=16, laplacian=laplacian)
    _once(validator_calls, f"operators(laplacian={laplacian!r})", as_given.full)


def test_operators_with_a_cache_validates_once_on_miss_and_hit(validator_calls, as_given, sphere, tmp_path):
    G.operators(*as_given(*sphere), k=8, cache_dir=tmp_path)
    _once(validator_calls, "operators (cache miss)", as_given.full)
    validator_calls.clear()
    assert G.operators(*as_given(*sphere), k=8, cache_dir=tmp_path).from_cache
    _once(validator_calls, "operators (cache hit)", as_given.full)


@pytest.mark.parametrize("method", ["heat", "exact", "graph"])
def test_geodesic_distance_validates_once(validator_calls, as_given, square, method):
    if method == "exact":
        pytest.importorskip("igl")
    G.geodesic_distance(*as_given(*square), 0, method=method)
    _once(validator_calls, f"geodesic_distance(method={method!r})", as_given.full)


@pytest.mark.parametrize("laplacian", ["auto", "cotan", "robust"])
def test_heat_solver_validates_once(validator_calls, as_given, square, laplacian):
    G.HeatGeodesicSolver(*as_given(*square), laplacian=laplacian).distance(0)
    _once(validator_calls, f"HeatGeodesicSolver(laplacian={laplacian!r})", as_given.full)


@pytest.mark.parametrize("method", ["heat", "exact", "graph"])
def test_distance_matrix_validates_once_for_all_rows(validator_calls, as_given, square, method):
    if method == "exact":
        pytest.importorskip("igl")
    D = G.distance_matrix(*as_given(*square), [0, 40, 80], method=method, chunk=2)
    assert D.shape == (3, 81)
    _once(validator_calls, f"distance_matrix(method={method!r})", as_given.full)


@pytest.mark.parametrize("laplacian", ["auto", "cotan", "robust"])
def test_log_map_and_transport_validate_once(validator_calls, as_given, square, laplacian):
    G.log_map(*as_given(*square), 40, laplacian=laplacian)
    _once(validator_calls, f"log_map(laplacian={laplacian!r})", as_given.full)
    validator_calls.clear()
    G.parallel_transport(*as_given(*square), 40, 1.0 + 0j, laplacian=laplacian)
    _once(validator_calls, f"parallel_transport(laplacian={laplacian!r})", as_given.full)
    validator_calls.clear()
    G.VectorHeatSolver(*as_given(*square), laplacian=laplacian).log_maps([0, 40])
    _once(validator_calls, f"VectorHeatSolver(laplacian={laplacian!r})", as_given.full)


@pytest.mark.parametrize("radius", [None, 0.3])
def test_geodesic_patches_validates_once(validator_calls, as_given, square, radius):
    G.geodesic_patches(*as_given(*square), radius, include_self=True)
    _once(validator_calls, f"geodesic_patches(radius={radius})", as_given.full)


@pytest.mark.parametrize("call", [
    lambda V, F: G.tangent_frames(V, F),
    lambda V, F: G.vertex_gradient(V, F),
    lambda V, F: G.vertex_gradient_xy(V, F),
    lambda V, F: G.gaussian_curvature(V, F),
    lambda V, F: G.mean_curvature(V, F),
    lambda V, F: G.laplacian_choice(V, F),
    lambda V, F: G.choose_laplacian(V, F),
    lambda V, F: G.intrinsic_delaunay(V, F),
    lambda V, F: G.face_holonomy(V, F),
    lambda V, F: G.holonomy(V, F, F[0]),
    lambda V, F: G.transport_vector(V, F, F[0], 1j),
    lambda V, F: G.cotan_laplacian(V, F),
    lambda V, F: G.mass_matrix(V, F),
], ids=["tangent_frames", "vertex_gradient", "vertex_gradient_xy", "gaussian_curvature",
        "mean_curvature", "laplacian_choice", "choose_laplacian", "intrinsic_delaunay",
        "face_holonomy", "holonomy", "transport_vector", "cotan_laplacian", "mass_matrix"])
def test_other_composites_validate_once(validator_calls, as_given, sphere, call):
    call(*as_given(*sphere))
    _once(validator_calls, "the call", as_given.full)


def test_noncanonical_input_is_canonicalised_once_and_gives_the_same_operators(validator_calls, sphere):
    V, F = sphere
    ref = G.operators(V, F, k=8)
    validator_calls.clear()
    ops = G.operators(V.tolist(), np.asfortranarray(F.astype(np.int32)), k=8)
    _once(validator_calls, "operators on lists / int32 Fortran faces")
    assert ops.V.dtype == np.float64 and ops.F.dtype == np.int64 and ops.F.flags.c_contiguous
    assert abs(ops.L - ref.L).max() == 0 and abs(ops.grad_x - ref.grad_x).max() == 0
    np.testing.assert_array_equal(ops.x_axes, ref.x_axes)
    np.testing.assert_allclose(ops.evals, ref.evals, rtol=1e-9, atol=1e-9)


_BAD = {
    "non-finite V": (lambda V, F: (np.where(np.arange(len(V))[:, None] == 3, np.nan, V), F), NonFiniteError),
    "index out of range": (lambda V, F: (V, np.where(F == F.max(), len(V), F)), FaceIndexError),
    "V not (nV, 3)": (lambda V, F: (V[:, :2], F), MeshShapeError),
    "quads": (lambda V, F: (V, np.c_[F, F[:, :1]]), NonTriangleError),
    "no faces": (lambda V, F: (V, np.zeros((0, 3), dtype=np.int64)), EmptyMeshError),
}

_PUBLIC = {
    "operators": lambda V, F: G.operators(V, F, k=4),
    "geodesic_distance": lambda V, F: G.geodesic_distance(V, F, 0),
    "HeatGeodesicSolver": lambda V, F: G.HeatGeodesicSolver(V, F),
    "log_map": lambda V, F: G.log_map(V, F, 0),
    "VectorHeatSolver": lambda V, F: G.VectorHeatSolver(V, F),
    "geodesic_patches": lambda V, F: G.geodesic_patches(V, F),
    "tangent_frames": lambda V, F: G.tangent_frames(V, F),
    "distance_matrix": lambda V, F: G.distance_matrix(V, F, [0]),
    "mean_curvature": lambda V, F: G.mean_curvature(V, F),
    "face_holonomy": lambda V, F: G.face_holonomy(V, F),
}


@pytest.mark.parametrize("bad", list(_BAD))
@pytest.mark.parametrize("fn", list(_PUBLIC))
def test_bad_input_still_raises_the_typed_error_at_the_boundary(sphere, fn, bad):
    make, err = _BAD[bad]
    V, F = make(*sphere)
    with pytest.raises(err, match="expected"):
        _PUBLIC[fn](V, F)


def test_checked_mesh_is_made_only_by_the_validator(sphere):
    V, F = sphere
    with pytest.raises(TypeError, match="check_mesh"):
        CheckedMesh(V, F)
    mesh = check_mesh(V.tolist(), F)
    assert mesh.V.dtype == np.float64 and mesh.n_vertices == len(V) and mesh.n_faces == len(F)
    V2, F2 = mesh
    assert V2 is mesh.V and F2 is mesh.F
    with pytest.raises(AttributeError, match="immutable"):
        mesh.V = V
    assert require_checked(mesh) is mesh
    with pytest.raises(NonFiniteError):
        check_mesh(np.full_like(V, np.inf), F)


def test_kernels_refuse_unchecked_arrays_and_match_the_public_functions(sphere):
    from manifold_nets.geometry.frames import _tangent_frames
    from manifold_nets.geometry.laplacian import _cotan_laplacian
    from manifold_nets.geometry.mass import _mass_matrix

    V, F = sphere
    with pytest.raises(TypeError, match="CheckedMesh"):
        _cotan_laplacian((V, F))
    with pytest.raises(TypeError, match="CheckedMesh"):
        _tangent_frames(V)
    mesh = check_mesh(V, F)
    assert abs(_cotan_laplacian(mesh) - G.cotan_laplacian(V, F)).max() == 0
    assert abs(_mass_matrix(mesh, "voronoi") - G.mass_matrix(V, F, "voronoi")).max() == 0
    for a, b in zip(_tangent_frames(mesh), G.tangent_frames(V, F)):
        np.testing.assert_array_equal(a, b)
    assert sp.issparse(_cotan_laplacian(mesh))


@pytest.mark.parametrize("case", ["nan", "inf", "negative index", "index == nV", "no faces", "no vertices",
                                  "huge", "tiny extent", "tiny extent on one axis"])
def test_the_fast_check_accepts_nothing_the_validator_refuses(sphere, case):
    # canonical dtypes and layout, so only the content decides: check_mesh must raise exactly
    # what check_mesh_arrays raises
    V, F = (a.copy() for a in sphere)
    if case == "nan":
        V[7, 1] = np.nan
    elif case == "inf":
        V[7, 2] = -np.inf
    elif case == "negative index":
        F[5, 0] = -1
    elif case == "index == nV":
        F[5, 2] = len(V)
    elif case == "no faces":
        F = F[:0]
    elif case == "huge":  # finite, but squared lengths overflow (row 5 of the API sweep)
        V = V * 1e300
    elif case == "tiny extent":
        V = V * 1e-80
    elif case == "tiny extent on one axis":  # x, y constant far from 0, z spread over 1e-70
        V = np.c_[np.full(len(V), 5.0), np.full(len(V), 7.0), 1e-70 * V[:, 2]]
    else:
        V, F = V[:0], F[:0]
    with pytest.raises(Exception) as expected:
        validation.check_mesh_arrays(V, F)
    with pytest.raises(type(expected.value)) as got:
        check_mesh(V, F)
    assert str(got.value) == str(expected.value)


@pytest.mark.filterwarnings("error")
def test_the_fast_check_returns_exactly_what_the_validator_returns(validator_calls, sphere):
    V, F = sphere
    mesh = check_mesh(V, F)
    assert validator_calls["check_mesh_arrays"] == 0  # canonical: the fast check alone
    assert mesh.V is V and mesh.F is F
    # coordinates near the cap stay on the fast route; a subclass of ndarray takes the full one
    big = np.array([[0.0, 0, 0], [1e60, 0, 0], [0, 1e60, 0], [0, 0, -1e60]])
    tet = np.array([[0, 1, 2], [0, 3, 1]])
    assert check_mesh(big, tet).V is big
    assert validator_calls["check_mesh_arrays"] == 0
    assert check_mesh(big.tolist(), tet).V.tolist() == big.tolist()
    assert validator_calls["check_mesh_arrays"] == 1
    mm = V.view(type("Sub", (np.ndarray,), {}))
    assert type(check_mesh(mm, F).V) is np.ndarray
    assert validator_calls["check_mesh_arrays"] == 2
