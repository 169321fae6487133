"""The learning cache of MeshData / MeshBatch: hits, misses on changed content or parameters or
algorithm version, corrupt and stale entries recomputed with a warning, atomic files."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets.geometry.cache import CacheWarning  # noqa: E402
from manifold_nets.nn import MeshBatch, MeshData  # noqa: E402


def _npz(folder):
    return sorted(p for p in folder.iterdir() if p.suffix == ".mnc")


def _assert_same(a: MeshData, b: MeshData):
    for name in ("V", "F", "mass", "evals", "evecs", "normals", "x_axes", "y_axes", "patch_pairs", "pair_r",
                 "pair_theta", "pair_transport", "principal_angle"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name
    for name in ("L", "grad_x", "grad_y"):
        assert (getattr(a, name) != getattr(b, name)).nnz == 0, name
    assert a.patch_radius == b.patch_radius and a.lambda_max == b.lambda_max
    assert a.normalization == b.normalization


def test_hit_returns_everything_without_recomputing(tmp_path, meshes, monkeypatch):
    V, F = meshes[1]
    a = MeshData.from_mesh(V, F, k=8, cache_dir=tmp_path)
    assert not a.from_cache and len(_npz(tmp_path)) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    # a hit computes nothing: the geometry layer is not called at all
    import manifold_nets.geometry as G

    def boom(*args, **kwargs):
        raise AssertionError("recomputed on a cache hit")

    for fn in ("operators", "geodesic_patches", "principal_curvatures"):
        monkeypatch.setattr(G, fn, boom)
    monkeypatch.setattr("manifold_nets.nn.batch.estimate_lambda_max", boom)
    b = MeshData.from_mesh(V, F, k=8, cache_dir=tmp_path)
    assert b.from_cache
    _assert_same(a, b)
    assert np.array_equal(b.V_original, V) and b.params["k"] == 8
    from manifold_nets.geometry import choose_laplacian

    assert b.params["operators"]["laplacian"] == choose_laplacian(V, F)  # "auto", resolved and recorded


def test_misses_on_changed_content_or_parameters(tmp_path, meshes):
    V, F = meshes[0]
    MeshData.from_mesh(V, F, k=8, cache_dir=tmp_path)
    V2 = V.copy()
    V2[3, 0] += 1e-9  # one coordinate, one ulp-scale change
    for kw in ({"k": 6}, {"patch_radius": 1.0}, {"curvature": False}, {"normalize": False},
               {"laplacian": "robust"}):
        d = MeshData.from_mesh(V, F, **{"k": 8, **kw}, cache_dir=tmp_path)
        assert not d.from_cache, kw
    assert not MeshData.from_mesh(V2, F, k=8, cache_dir=tmp_path).from_cache
    assert len(_npz(tmp_path)) == 7
    # and every one of them is a hit now
    assert MeshData.from_mesh(V, F, k=6, cache_dir=tmp_path).from_cache
    assert MeshData.from_mesh(V2, F, k=8, cache_dir=tmp_path).from_cache


def test_an_algorithm_change_invalidates_the_cache(tmp_path, meshes, monkeypatch):
    import manifold_nets.geometry.cache as C

    V, F = meshes[0]
    MeshData.from_mesh(V, F, k=8, cache_dir=tmp_path)
    monkeypatch.setattr(C, "algorithm_version", lambda: "f" * 16)
    assert not MeshData.from_mesh(V, F, k=8, cache_dir=tmp_path).from_cache
    assert len(_npz(tmp_path)) == 2


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "garbage", "empty", "stale"])
def test_corrupt_or_stale_entries_are_recomputed_with_a_warning(tmp_path, meshes, damage):
    V, F = meshes[0]
    a = MeshData.from_mesh(V, F, k=8, cache_dir=tmp_path)
    (p,) = _npz(tmp_path)
    raw = bytearray(p.read_bytes())
    if damage == "truncate":
        p.write_bytes(bytes(raw[: len(raw) // 2]))
    elif damage == "flip_byte":  # one byte of the arrays (the header still reads)
        raw[len(raw) * 3 // 4] ^= 0xFF
        p.write_bytes(bytes(raw))
    elif damage == "garbage":
        p.write_bytes(b"not a zip file at all")
    elif damage == "empty":
        p.write_bytes(b"")
    else:  # a valid entry of another mesh renamed onto this key
        other = tmp_path / "other"
        MeshData.from_mesh(meshes[1][0], meshes[1][1], k=8, cache_dir=other)
        p.write_bytes(_npz(other)[0].read_bytes())
    with pytest.warns(CacheWarning, match="recomputing"):
        b = MeshData.from_mesh(V, F, k=8, cache_dir=tmp_path)
    assert not b.from_cache
    _assert_same(a, b)
    c = MeshData.from_mesh(V, F, k=8, cache_dir=tmp_path)  # rewritten: a hit again
    assert c.from_cache
    _assert_same(a, c)


def test_batch_from_cache_equals_batch_computed(tmp_path, meshes):
    b1 = MeshBatch.from_meshes(meshes, k=12, cache_dir=tmp_path, dtype=torch.float64)
    b2 = MeshBatch.from_meshes(meshes, k=12, cache_dir=tmp_path, dtype=torch.float64)
    assert all(d.from_cache for d in b2.data) and not any(d.from_cache for d in b1.data)
    for name in ("pos", "mass", "evals", "evecs", "pair_r", "pair_theta", "pair_transport", "patch_radius",
                 "lambda_max", "principal_angle", "scale", "center"):
        assert torch.equal(getattr(b1, name), getattr(b2, name)), name
    assert torch.equal(b1.L.to_dense(), b2.L.to_dense())


def test_files_hit_without_parsing_and_miss_when_their_bytes_change(tmp_path, meshes, monkeypatch):
    from manifold_nets import write_mesh

    V, F = meshes[0]
    f = tmp_path / "m.obj"
    write_mesh(f, V, F)
    cache = tmp_path / "cache"
    b1 = MeshBatch.from_meshes([f], k=8, cache_dir=cache, dtype=torch.float64)
    assert not b1.data[0].from_cache

    def boom(*args, **kwargs):
        raise AssertionError("the file was parsed on a cache hit")

    with monkeypatch.context() as m:
        m.setattr("manifold_nets.read_mesh", boom)
        b2 = MeshBatch.from_meshes([str(f)], k=8, cache_dir=cache, dtype=torch.float64)
    assert b2.data[0].from_cache and torch.equal(b1.pos, b2.pos) and torch.equal(b1.evecs, b2.evecs)
    assert np.array_equal(b2.data[0].V_original, b1.data[0].V_original)
    # the same mesh given as arrays shares the entry
    assert MeshData.from_mesh(b1.data[0].V_original, F, k=8, cache_dir=cache).from_cache
    # new bytes: a miss
    V2 = V.copy()
    V2[0] *= 1.1
    write_mesh(f, V2, F)
    b3 = MeshBatch.from_meshes([f], k=8, cache_dir=cache, dtype=torch.float64)
    assert not b3.data[0].from_cache and not torch.equal(b3.pos, b1.pos)
