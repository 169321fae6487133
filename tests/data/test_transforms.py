"""Mesh transforms: closest points, label transfer, simplification, remeshing, augmentation."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from scipy.spatial import cKDTree

from manifold_nets import shapes
from manifold_nets.data import LabeledMesh, MeshDataset
from manifold_nets.data.transforms import (
    Compose,
    RandomRemesh,
    RandomRotation,
    RandomScale,
    closest_points,
    remesh,
    simplify,
    transfer_face_labels,
    transfer_vertex_values,
)
from manifold_nets.errors import MeshError
from manifold_nets.topology import mesh_report


def _edge_lengths(V, F):
    return np.linalg.norm(V[F] - V[np.roll(F, 1, axis=1)], axis=2)


def _clean(V, F) -> bool:
    r = mesh_report(V, F)
    return (r["closed"] and r["edge_manifold"] and r["vertex_manifold"] and r["components"] == 1
            and r["degenerate_faces"] == 0 and r["duplicate_faces"] == 0 and r["genus"] == 0)


@pytest.fixture(scope="module")
def sphere():
    """An icosphere (2562 vertices) with three parts: two caps and the band between them."""
    V, F = shapes.icosphere(4)
    z = V[F].mean(axis=1)[:, 2]
    lab = np.where(z > 0.5, 0, np.where(z < -0.3, 2, 1))
    return LabeledMesh(V, F, lab, ["top", "band", "bottom"], name="sphere")


def _part_areas(m: LabeledMesh) -> np.ndarray:
    a = m.face_areas
    return np.bincount(m.face_labels, a, minlength=len(m.part_names)) / a.sum()


# ----------------------------------------------------------------------------- closest points
def test_closest_points_on_one_triangle_hand_computed():
    V, F = shapes.triangle()  # (0,0,0), (1,0,0), (0,1,0)
    P = [[0.25, 0.25, 1.0],   # above the interior
         [0.5, -1.0, 0.0],    # beyond the edge y = 0 -> (0.5, 0, 0)
         [2.0, 0.0, 0.0],     # beyond the corner (1, 0, 0)
         [1.0, 1.0, 0.0],     # beyond the hypotenuse -> (0.5, 0.5, 0)
         [0.0, 0.0, 0.0]]     # a corner itself
    face, bary, d2 = closest_points(V, F, P)
    assert face.dtype == np.int64 and bary.dtype == np.float64 and d2.dtype == np.float64
    assert face.tolist() == [0] * 5
    np.testing.assert_allclose(bary, [[0.5, 0.25, 0.25], [0.5, 0.5, 0.0], [0.0, 1.0, 0.0],
                                      [0.0, 0.5, 0.5], [1.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(d2, [1.0, 1.0, 1.0, 0.5, 0.0], atol=1e-12)


def test_closest_points_picks_the_nearest_face_and_reconstructs_the_point():
    V, F = shapes.icosphere(2)
    rng = np.random.default_rng(0)
    P = rng.normal(size=(200, 3))
    face, bary, d2 = closest_points(V, F, P)
    C = np.einsum("nk,nkc->nc", bary, V[F[face]])
    np.testing.assert_allclose(((C - P) ** 2).sum(1), d2, rtol=1e-9, atol=1e-12)
    assert (bary >= 0).all() and np.allclose(bary.sum(1), 1.0)
    # brute force over all faces: no face is closer (sampled on a dense barycentric grid)
    t = np.linspace(0, 1, 11)
    a, b = np.meshgrid(t, t)
    keep = a + b <= 1
    w = np.stack([1 - a[keep] - b[keep], a[keep], b[keep]], 1)
    S = np.einsum("sk,fkc->fsc", w, V[F]).reshape(-1, 3)
    best = cKDTree(S).query(P)[0] ** 2
    assert (d2 <= best + 1e-12).all()


def test_closest_points_degenerate_triangle_and_empty_queries():
    V = np.array([[0.0, 0, 0], [1, 0, 0], [2, 0, 0]])  # collinear: a segment from 0 to 2
    F = np.array([[0, 1, 2]])
    face, bary, d2 = closest_points(V, F, [[1.5, 1.0, 0.0]])
    assert np.isfinite(bary).all() and np.isclose(bary.sum(), 1.0) and (bary >= 0).all()
    np.testing.assert_allclose(bary @ V, [[1.5, 0, 0]], atol=1e-12)
    np.testing.assert_allclose(d2, [1.0])
    face, bary, d2 = closest_points(V, F, np.zeros((0, 3)))
    assert face.shape == (0,) and bary.shape == (0, 3) and d2.shape == (0,)


def test_closest_points_has_no_dense_matrix():
    V, F = shapes.icosphere(4)  # 5120 faces
    P = np.random.default_rng(1).normal(size=(100_000, 3))  # a dense n x nF matrix: 4 GB
    tracemalloc.start()
    closest_points(V, F, P)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100e6


@pytest.mark.parametrize("points", [np.zeros((4, 2)), [[np.nan, 0, 0]]])
def test_closest_points_rejects_bad_points(points):
    V, F = shapes.triangle()
    with pytest.raises(MeshError, match="points"):
        closest_points(V, F, points)


# ----------------------------------------------------------------------------- label transfer
def test_transfer_face_labels_is_the_identity_on_the_same_mesh():
    V, F = shapes.icosphere(3)
    lab = np.random.default_rng(2).integers(0, 5, len(F))
    out = transfer_face_labels(V, F, lab, V, F)
    assert out.dtype == np.int64 and np.array_equal(out, lab)


def test_transfer_face_labels_skips_unlabelled_source_faces():
    V, F = shapes.icosphere(2)
    lab = np.full(len(F), -1)
    lab[:10] = 3
    out = transfer_face_labels(V, F, lab, V, F)
    assert (out == 3).all()  # every face labelled, by the only labelled source faces
    assert (transfer_face_labels(V, F, np.full(len(F), -1), V, F) == -1).all()


def test_transfer_face_labels_rejects_a_wrong_label_count():
    V, F = shapes.icosphere(1)
    with pytest.raises(MeshError, match="one label per source face"):
        transfer_face_labels(V, F, np.zeros(len(F) - 1, int), V, F)


def test_transfer_vertex_values_interpolates_linear_fields_exactly():
    V, F = shapes.icosphere(2)
    A = np.array([[1.0, 2.0], [-1.0, 0.5], [3.0, 0.0]])
    rng = np.random.default_rng(3)
    f = rng.integers(0, len(F), 50)
    w = rng.dirichlet(np.ones(3), 50)
    P = np.einsum("nk,nkc->nc", w, V[F[f]])  # points on the surface
    out = transfer_vertex_values(V, F, V @ A, P)
    assert out.shape == (50, 2)
    np.testing.assert_allclose(out, P @ A, atol=1e-12)
    flat = transfer_vertex_values(V, F, V[:, 0], P)
    assert flat.shape == (50,)
    np.testing.assert_allclose(flat, P[:, 0], atol=1e-12)
    with pytest.raises(MeshError, match="values_src"):
        transfer_vertex_values(V, F, V[:-1], P)


# ----------------------------------------------------------------------------- simplify / remesh
def test_simplify_meets_the_budget_keeps_labels_and_is_deterministic(sphere):
    s = simplify(sphere, 500)
    assert s.n_vertices <= 500 and s.n_vertices >= 450
    assert s.meta["simplified_from"] == (sphere.n_vertices, sphere.n_faces)
    assert (s.face_labels >= 0).all() and s.part_names == sphere.part_names
    assert _clean(s.V, s.F)
    np.testing.assert_allclose(_part_areas(s), _part_areas(sphere), atol=0.03)
    t = simplify(sphere, 500)
    assert np.array_equal(s.V, t.V) and np.array_equal(s.F, t.F)


@pytest.mark.parametrize("scale", [1e-3, 1000.0])
def test_simplify_is_equivariant_to_units_and_translation(sphere, scale):
    # fast-simplification's absolute error thresholds once decimated a mesh in millimetres
    # differently from the same mesh in metres (a model's accuracy on it fell from 98.6 to 75.4 %)
    shift = np.array([3.0, -2.0, 0.5])
    a = simplify(sphere, 500)
    b = simplify(sphere.replace(V=sphere.V * scale + shift), 500)
    assert np.array_equal(a.F, b.F) and np.array_equal(a.face_labels, b.face_labels)
    np.testing.assert_allclose((b.V - shift) / scale, a.V, rtol=0, atol=1e-9)


def test_simplify_returns_a_copy_when_small_enough(sphere):
    s = simplify(sphere, sphere.n_vertices)
    assert s is not sphere
    assert np.array_equal(s.V, sphere.V) and np.array_equal(s.F, sphere.F)
    assert np.array_equal(s.face_labels, sphere.face_labels) and "simplified_from" not in s.meta
    with pytest.raises(MeshError, match="max_vertices"):
        simplify(sphere, 2)


@pytest.mark.parametrize("target", [400, 1200, 4000])
def test_remesh_is_a_new_clean_triangulation_of_the_same_surface(sphere, target):
    r = remesh(sphere, target_vertices=target, seed=0)
    assert abs(r.n_vertices - target) <= 0.02 * target
    assert _clean(r.V, r.F)
    assert (r.face_labels >= 0).all()
    assert r.meta["remeshed_from"] == (sphere.n_vertices, sphere.n_faces)
    # same surface: every new vertex on the unit sphere's polyhedral approximation
    _, _, d2 = closest_points(sphere.V, sphere.F, r.V)
    assert d2.max() < 1e-20
    # not a subset of the input's vertices
    dist = cKDTree(sphere.V).query(r.V)[0]
    h = np.median(_edge_lengths(sphere.V, sphere.F))
    assert (dist < 1e-6 * h).mean() < 0.05
    # label areas carried over within a few percent
    np.testing.assert_allclose(_part_areas(r), _part_areas(sphere), atol=0.03)


def test_remesh_depends_on_its_seed_only(sphere):
    a = remesh(sphere, target_vertices=800, seed=1)
    b = remesh(sphere, target_vertices=800, seed=1)
    c = remesh(sphere, target_vertices=800, seed=2)
    assert np.array_equal(a.V, b.V) and np.array_equal(a.F, b.F)
    assert not np.allclose(a.V, c.V)
    with pytest.raises(MeshError, match="target_vertices"):
        remesh(sphere, target_vertices=0, seed=0)


# ----------------------------------------------------------------------------- random transforms
def test_random_rotation_keeps_lengths_and_is_reproducible(sphere):
    r = RandomRotation(seed=5)(sphere)
    np.testing.assert_allclose(_edge_lengths(r.V, r.F), _edge_lengths(sphere.V, sphere.F), atol=1e-12)
    R = np.array(r.meta["rotation"])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.isclose(np.linalg.det(R), 1.0)
    np.testing.assert_allclose(r.V, sphere.V @ R.T)
    assert np.array_equal(RandomRotation(seed=5)(sphere).V, r.V)
    t = RandomRotation(seed=5)
    assert not np.allclose(t(sphere).V, t(sphere).V)  # the generator advances
    assert np.array_equal(r.face_labels, sphere.face_labels) and np.array_equal(r.F, sphere.F)


def test_random_rotation_about_an_axis_keeps_that_coordinate(sphere):
    r = RandomRotation(seed=0, axis="z")(sphere)
    np.testing.assert_allclose(r.V[:, 2], sphere.V[:, 2], atol=1e-12)
    assert not np.allclose(r.V, sphere.V)
    with pytest.raises(MeshError, match="axis"):
        RandomRotation(axis="w")
    with pytest.raises(MeshError, match="axis"):
        RandomRotation(axis=[0, 0, 0])


def test_random_scale_scales_areas_by_s_squared(sphere):
    t = RandomScale(0.5, 2.0, seed=3)
    for _ in range(5):
        r = t(sphere)
        s = r.meta["scale"]
        assert 0.5 <= s <= 2.0
        np.testing.assert_allclose(r.face_areas, s**2 * sphere.face_areas, rtol=1e-12)
    draws = [RandomScale(0.5, 2.0, seed=i)(sphere).meta["scale"] for i in range(200)]
    # log-uniform: as many draws below 1 as above
    assert 70 < sum(d < 1 for d in draws) < 130
    with pytest.raises(MeshError, match="low <= high"):
        RandomScale(2.0, 1.0)


def test_random_remesh_probability_and_range(sphere):
    assert RandomRemesh(p=0.0, seed=0)(sphere) is sphere
    t = RandomRemesh(0.3, 0.5, p=1.0, seed=0)
    r = t(sphere)
    assert 0.28 * sphere.n_vertices <= r.n_vertices <= 0.52 * sphere.n_vertices
    assert "remeshed_from" in r.meta
    assert np.array_equal(RandomRemesh(0.3, 0.5, p=1.0, seed=0)(sphere).V, r.V)
    with pytest.raises(MeshError, match="p in"):
        RandomRemesh(p=1.5)


def test_compose_applies_in_order_inside_a_dataset(sphere):
    calls = []

    def tag(name):
        def f(m):
            calls.append(name)
            return m
        return f

    Compose([tag("a"), tag("b")])(sphere)
    assert calls == ["a", "b"]
    ds = MeshDataset([sphere], transform=Compose([RandomScale(2.0, 2.0), RandomRotation(seed=0)]))
    m = ds[0]
    np.testing.assert_allclose(m.face_areas.sum(), 4 * sphere.face_areas.sum())
    with pytest.raises(MeshError, match="callables"):
        Compose([1])
