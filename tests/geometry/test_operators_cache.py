"""Operator bundle and its disk cache: contents, cache hits, corruption, atomic writes, workers."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from manifold_nets.errors import MeshError, MeshFileError, MeshShapeError
from manifold_nets.geometry import (
    OperatorBundle,
    cotan_laplacian,
    load_operators,
    mass_matrix,
    operators,
    operators_cache_key,
    save_operators,
    tangent_frames,
)
from manifold_nets.geometry.cache import CacheWarning, algorithm_version, backend_versions
from manifold_nets.geometry.spectral import EigenbasisWarning
from manifold_nets.shapes import icosphere, torus
from tests.conftest import data_path
from tests.geometry._ops_helpers import load_shared

_DENSE = ("V", "F", "mass", "evals", "evecs", "normals", "x_axes", "y_axes")
_SPARSE = ("L", "M", "grad_x", "grad_y")


def _assert_identical(a: OperatorBundle, b: OperatorBundle):
    for name in _DENSE:
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(x, y)
    for name in _SPARSE:
        x, y = getattr(a, name), getattr(b, name)
        assert isinstance(y, sp.csr_matrix) and x.shape == y.shape
        np.testing.assert_array_equal(x.indptr, y.indptr)
        np.testing.assert_array_equal(x.indices, y.indices)
        np.testing.assert_array_equal(x.data, y.data)


def test_bundle_contents():
    V, F = torus(16, 8)
    ops = operators(V, F, k=10)
    assert ops.k == 10 and ops.evecs.shape == (len(V), 10)
    assert abs(ops.L - cotan_laplacian(V, F)).max() == 0
    assert abs(ops.M - mass_matrix(V, F)).max() == 0
    np.testing.assert_array_equal(ops.mass, mass_matrix(V, F).diagonal())
    n, x, y = tangent_frames(V, F)
    np.testing.assert_array_equal(ops.x_axes, x)
    for name in _DENSE + _SPARSE:
        a = getattr(ops, name)
        assert a.dtype in (np.float64, np.int64), name
    assert isinstance(ops.gradient, sp.csr_matrix) and ops.gradient.dtype == np.complex128
    np.testing.assert_allclose(ops.evecs.T @ ops.M @ ops.evecs, np.eye(10), atol=1e-10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ops.L = None


def test_small_mesh_reduces_k_and_k_zero():
    V, F = icosphere(1)
    with pytest.warns(EigenbasisWarning, match="k reduced from 128 to 42"):
        assert operators(V, F, k=128).k == 42
    ops = operators(V, F, k=0)
    assert ops.evals.shape == (0,) and ops.evecs.shape == (42, 0)


def test_cache_hit_identical(tmp_path):
    V, F = icosphere(3)
    a = operators(V, F, k=16, cache_dir=tmp_path)
    assert not a.from_cache and Path(a.cache_path).exists()
    b = operators(V, F, k=16, cache_dir=tmp_path)
    assert b.from_cache and b.cache_path == a.cache_path
    _assert_identical(a, b)
    assert b.params == a.params
    # Different parameters or a different mesh: another key.
    c = operators(V, F, k=8, cache_dir=tmp_path)
    assert not c.from_cache and c.cache_path != a.cache_path
    V2 = V.copy()
    V2[0, 0] += 1e-9
    assert operators_cache_key(V2, F, k=16) != operators_cache_key(V, F, k=16)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "empty"])
def test_corrupted_cache_is_detected_and_recomputed(tmp_path, damage):
    V, F = icosphere(2)
    a = operators(V, F, k=8, cache_dir=tmp_path)
    p = Path(a.cache_path)
    raw = bytearray(p.read_bytes())
    if damage == "truncate":
        p.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "flip_byte":
        # Flip a byte inside the stored eigenvectors (npz is uncompressed, so the zip still opens).
        i = raw.find(b"evecs.npy")
        raw[i + 400] ^= 0xFF
        p.write_bytes(bytes(raw))
    elif damage == "garbage":
        p.write_bytes(b"not a zip file at all")
    else:
        p.write_bytes(b"")
    with pytest.raises(MeshFileError):
        load_operators(p)
    with pytest.warns(CacheWarning, match="corrupt"):
        b = operators(V, F, k=8, cache_dir=tmp_path)
    assert not b.from_cache
    _assert_identical(a, b)
    c = operators(V, F, k=8, cache_dir=tmp_path)  # rewritten: a hit again
    assert c.from_cache
    _assert_identical(a, c)


def test_save_load_roundtrip_and_key_check(tmp_path):
    V, F = icosphere(2)
    a = operators(V, F, k=6)
    p = save_operators(a, tmp_path / "x.npz", key="abc")
    b = load_operators(p)
    _assert_identical(a, b)
    with pytest.raises(MeshFileError, match="key"):
        load_operators(p, expect_key="other")


def _worker(args):
    cache, seed = args
    V, F = icosphere(3)
    ops = operators(V, F, k=12, cache_dir=cache)
    return ops.evals.tolist(), ops.cache_path


def test_parallel_workers_share_cache(tmp_path):
    with ProcessPoolExecutor(max_workers=2) as ex:
        res = list(ex.map(_worker, [(str(tmp_path), i) for i in range(4)]))
    assert len({r[1] for r in res}) == 1
    assert all(np.allclose(r[0], res[0][0], rtol=0, atol=0) for r in res)
    files = os.listdir(tmp_path)
    assert [f for f in files if f.endswith(".npz")] == [Path(res[0][1]).name]
    assert not [f for f in files if f.endswith(".tmp")]
    assert load_operators(res[0][1]).k == 12


@pytest.mark.data
def test_robust_bundle_on_dirty_mesh(tmp_path):
    V, F = load_shared(data_path("meshes", "dirty", "dragon_vrip_res4.ply.gz"))
    ops = operators(V, F, k=16, laplacian="robust", cache_dir=tmp_path)
    assert np.isfinite(ops.evecs).all() and np.isfinite(ops.grad_x.data).all()
    np.testing.assert_allclose(ops.evecs.T @ ops.M @ ops.evecs, np.eye(16), atol=1e-9)
    assert operators(V, F, k=16, laplacian="robust", cache_dir=tmp_path).from_cache


def test_bad_parameters():
    V, F = icosphere(1)
    with pytest.raises(MeshShapeError, match="k"):
        operators(V, F, k=-1)
    with pytest.raises(MeshShapeError, match="laplacian"):
        operators(V, F, laplacian="spectral")
    with pytest.raises(MeshShapeError, match="mass"):
        operators(V, F, mass="full")
    with pytest.raises(MeshError):
        operators(V[:, :2], F)


def test_auto_laplacian_is_robust_only_on_defective_meshes():
    from manifold_nets.geometry import choose_laplacian, operators
    from manifold_nets.shapes import icosphere, tetrahedron

    V, F = icosphere(2)
    assert choose_laplacian(V, F) == "cotan"
    assert operators(V, F, k=4).params["laplacian"] == "cotan"
    Vt, Ft = tetrahedron()
    fin = np.vstack([Ft, [[0, 1, 4]]])  # a fin: edge (0, 1) gets three faces
    Vf = np.vstack([Vt, [[0.0, 0.0, 3.0]]])
    assert choose_laplacian(Vf, fin) == "robust"
    assert operators(Vf, fin, k=3).params["laplacian"] == "robust"
    sliver = np.vstack([V, V[F[0, 0]]])  # a degenerate (zero-area) face
    assert choose_laplacian(sliver, np.vstack([F, [[F[0, 0], F[0, 1], len(V)]]])) == "robust"
    assert choose_laplacian(V, F, "robust") == "robust"


def test_cache_key_covers_algorithm_and_backend_versions(monkeypatch):
    """An algorithm change (any edit of the geometry sources) or a backend upgrade changes the key."""
    import manifold_nets.geometry.cache as C

    V, F = icosphere(1)
    k0 = operators_cache_key(V, F, k=4)
    assert len(algorithm_version()) == 16 and "numpy" in backend_versions() and "scipy" in backend_versions()
    monkeypatch.setattr(C, "algorithm_version", lambda: "0" * 16)
    k1 = operators_cache_key(V, F, k=4)
    assert k1 != k0
    monkeypatch.setattr(C, "backend_versions", lambda: {**dict(C._backend_versions()), "scipy": "0.0"})
    assert operators_cache_key(V, F, k=4) not in (k0, k1)
