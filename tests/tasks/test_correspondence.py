"""The correspondence pipeline and its evaluation: geodesic error on analytic shapes, the error
curve, mirror-image detection, input checks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from manifold_nets.errors import MeshError, MeshShapeError
from manifold_nets.shapes import uv_sphere
from manifold_nets.tasks.correspondence import (
    correspond,
    error_curve,
    geodesic_error,
    is_mirrored,
    orientation_score,
)
from tests.geometry.test_fmaps import ASYM, MIRROR, bumpy, renumbered_moved

R = 2.0


def rotated_sphere_map(m: int, n_lon: int = 32):
    """A UV sphere and the vertex map of a rotation by ``a = 2π m / n_lon`` about z (exact on
    the vertices); returns ``V, F, pred, a``."""
    V, F = uv_sphere(n_lon // 2, n_lon, radius=R)
    a = 2 * np.pi * m / n_lon
    c, s = np.cos(a), np.sin(a)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    d, pred = cKDTree(V).query(V @ rot.T)
    assert d.max() < 1e-12
    return V, F, pred, a


@pytest.mark.parametrize("m", [2, 4])
def test_geodesic_error_of_a_sphere_rotation(m):
    V, F, pred, a = rotated_sphere_map(m)
    # per vertex: the great-circle distance between x and its rotated copy, over √(4πR²)
    cos = np.clip(np.einsum("ij,ij->i", V, V[pred]) / R**2, -1.0, 1.0)
    expect = R * np.arccos(cos) / np.sqrt(4 * np.pi * R**2)
    equator = np.abs(V[:, 2]) < 1e-9
    assert equator.sum() == 32
    scored = equator | (np.arange(len(V)) % 9 == 0)  # exact distances from these sources only
    err = geodesic_error(V, F, pred, np.arange(len(V)), exact=True, sources=scored)
    assert np.isnan(err[~scored]).all()
    np.testing.assert_allclose(err[equator], a * R / np.sqrt(4 * np.pi * R**2), rtol=0.01)
    assert np.abs(err - expect)[scored].max() < 0.01 * a * R / np.sqrt(4 * np.pi * R**2)
    heat = geodesic_error(V, F, pred, np.arange(len(V)))
    assert np.abs(heat - expect).mean() < 0.15 * expect.mean()  # the heat method's accuracy here
    # only the needed sources, or the dense matrix: the same numbers
    np.testing.assert_allclose(geodesic_error(V, F, pred, np.arange(len(V)), dense=True, chunk=100), heat)


def test_geodesic_error_sampled_sources_and_no_normalisation():
    V, F, pred, a = rotated_sphere_map(4)
    full = geodesic_error(V, F, pred, np.arange(len(V)), normalize="none")
    sel = np.arange(0, len(V), 5)
    part = geodesic_error(V, F, pred, np.arange(len(V)), normalize="none", sources=sel)
    np.testing.assert_allclose(part[sel], full[sel])
    assert np.isnan(np.delete(part, sel)).all()
    assert geodesic_error(V, F, np.arange(len(V)), np.arange(len(V))).max() == 0.0


def test_geodesic_error_rejects_bad_maps():
    V, F, pred, _ = rotated_sphere_map(1)
    with pytest.raises(MeshShapeError, match=r"pred_map: expected one target vertex per source vertex"):
        geodesic_error(V, F, pred[:-1], np.arange(len(V)))
    bad = pred.copy()
    bad[7] = len(V)
    with pytest.raises(MeshShapeError, match=rf"got {len(V)} at source vertex 7"):
        geodesic_error(V, F, bad, np.arange(len(V)))


def test_error_curve():
    th, frac = error_curve([0.0, 0.1, 0.2, np.nan], thresholds=[0.0, 0.05, 0.1, 0.3])
    assert th.tolist() == [0.0, 0.05, 0.1, 0.3]
    np.testing.assert_allclose(frac, [1 / 3, 1 / 3, 2 / 3, 1.0])


def test_mirror_detection_by_orientation():
    V, F = bumpy(MIRROR)
    mirror = cKDTree(V).query(V * [-1.0, 1.0, 1.0])[1]
    ident = np.arange(len(V))
    assert orientation_score(V, F, V, F, ident) == 1.0
    assert orientation_score(V, F, V, F, mirror) == 0.0
    assert is_mirrored(V, F, V, F, mirror) and not is_mirrored(V, F, V, F, ident)
    # the faces' winding does not matter for closed meshes (read with outward normals)
    assert not is_mirrored(V, F[:, ::-1], V, F, ident)


def test_correspond_on_an_isometric_pair_both_ways():
    Va, Fa = bumpy(ASYM)
    Vb, Fb, true = renumbered_moved(Va, Fa, seed=11)
    p, back, info = correspond(Va, Fa, Vb * 3.0, Fb, k=40, both=True, return_info=True)  # units do not matter
    assert p.dtype == np.int64 and p.shape == (len(Va),)
    assert (p == true).mean() > 0.99
    assert (back[true] == np.arange(len(Va))).mean() > 0.95
    assert info["k"] == 40 and not info["source_flipped"]
    for key in ("seconds_eigenbasis", "seconds_descriptors", "seconds_operators", "seconds_solve",
                "seconds_zoomout_sampling", "seconds_zoomout_init", "seconds_zoomout_steps",
                "seconds_zoomout_final"):
        assert info[key] >= 0.0
    for refine in ("none", "icp"):
        q = correspond(Va, Fa, Vb, Fb, k=40, refine=refine)
        assert (q == true).mean() > 0.9


def test_correspond_rejects_bad_options():
    Va, Fa = bumpy(ASYM, subdivisions=1)
    with pytest.raises(MeshShapeError, match="refine"):
        correspond(Va, Fa, Va, Fa, refine="magic")
    with pytest.raises(MeshShapeError, match="k_init"):
        correspond(Va, Fa, Va, Fa, k=10, k_init=20)
    with pytest.raises(MeshError, match="target: F"):
        correspond(Va, Fa, Va, Fa + len(Va))


@pytest.mark.slow
@pytest.mark.data
def test_cat_poses_are_mapped_without_mirroring():
    from manifold_nets.io import read_triangles
    from tests.conftest import data_path

    d = data_path("datasets", "deformation-poses", "cat-poses")
    s, t = read_triangles(d / "cat-02.obj"), read_triangles(d / "cat-07.obj")
    p = correspond(s.V, s.F, t.V, t.F)
    sel = np.arange(0, len(s.V), 10)
    err = geodesic_error(t.V, t.F, p, np.arange(len(s.V)), sources=sel)  # identity ground truth
    assert np.nanmean(err) < 0.03  # measured 0.019 (pyFM's quickstart: 0.021)
    assert not is_mirrored(s.V, s.F, t.V, t.F, p)
