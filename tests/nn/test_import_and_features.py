"""Import hygiene (torch only in manifold_nets.nn) and the input-feature helpers."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.errors import MeshShapeError, NonFiniteError  # noqa: E402


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_core_and_testing_packages_do_not_import_torch():
    r = _run("import sys, manifold_nets, manifold_nets.testing, manifold_nets.geometry; "
             "print('torch' in sys.modules)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_missing_torch_gives_an_actionable_import_error():
    r = _run("import sys; sys.modules['torch'] = None\n"
             "try:\n    import manifold_nets.nn\nexcept ImportError as e:\n    print(type(e).__name__, e)")
    assert r.returncode == 0, r.stderr
    assert "MissingDependencyError" in r.stdout and "pip install 'manifold-nets[nn]'" in r.stdout


def test_hks_matches_the_direct_formula(batch64):
    h = mnn.heat_kernel_signature(batch64, 6, normalize=False).numpy()
    for b, d in enumerate(batch64.data):
        lam, phi = d.evals, d.evecs
        pos = lam[lam > 1e-8 * lam.max()]
        t = np.geomspace(4 * np.log(10) / pos.max(), 4 * np.log(10) / pos.min(), 6)
        ref = (phi[:, :, None] ** 2 * np.exp(-lam[None, :, None].clip(0) * t[None, None])).sum(1)
        s, e = int(batch64.ptr[b]), int(batch64.ptr[b + 1])
        np.testing.assert_allclose(h[s:e], ref, rtol=1e-10)


def _two_spheres():
    """Two disjoint spheres (2 components): with k = 1 no eigenvalue is positive (Weyl fallback)."""
    from manifold_nets.shapes import icosphere

    V, F = icosphere(1)
    return np.concatenate([V, V + 3.0]), np.concatenate([F, F + len(V)])


def _shared(*parts):
    from tests.conftest import data_path

    return data_path(*parts)


@pytest.mark.parametrize("source", ["bunny", "ogre", "two_spheres", "two_spheres_k1"])
def test_torch_and_numpy_descriptors_are_one_definition(source):
    """HKS / WKS of nn (torch, float64) equal geometry.hks / geometry.wks with the same defaults,
    on a real mesh, a dirty multi-component mesh and a mesh with more components than eigenpairs."""
    from manifold_nets import geometry as G
    from manifold_nets import read_mesh

    k = 24
    if source == "bunny":
        meshes = [read_mesh(_shared("meshes", "clean", "bunny_small.ply"))]
    elif source == "ogre":
        meshes = [read_mesh(_shared("meshes", "dirty", "ogre.obj"))]
    else:
        meshes = [_two_spheres()]
        k = 1 if source == "two_spheres_k1" else k
    batch = mnn.MeshBatch.from_meshes(meshes, k=k, patches=False, curvature=False, dtype=torch.float64)
    d = batch.data[0]
    H = mnn.heat_kernel_signature(batch).numpy()
    W = mnn.wave_kernel_signature(batch).numpy()
    np.testing.assert_allclose(H, G.hks(d.evals, d.evecs, mass=d.mass), rtol=1e-12, atol=1e-12 * abs(H).max())
    np.testing.assert_allclose(W, G.wks(d.evals, d.evecs, mass=d.mass), rtol=1e-12, atol=1e-12 * abs(W).max(initial=1))
    np.testing.assert_allclose(mnn.heat_kernel_signature(batch, 5, normalize=False).numpy(),
                               G.hks(d.evals, d.evecs, 5, mass=d.mass, normalize=False), rtol=1e-12)
    assert np.isfinite(H).all() and np.isfinite(W).all()
    if source == "two_spheres_k1":  # constant on each component
        n = len(H) // 2
        assert np.ptp(H[:n], axis=0).max() < 1e-9 and np.ptp(H[n:], axis=0).max() < 1e-9
        assert np.abs(W).max() == 0


def test_feature_kinds(batch64):
    for kind in ("hks", "wks", "xyz"):
        f = mnn.input_features(batch64, kind, 5)
        assert f.shape[0] == batch64.num_vertices and torch.isfinite(f).all()
    # the WKS is a weighted average of φ² with non-negative weights
    assert (mnn.input_features(batch64, "wks", 5) >= 0).all()
    # xyz: centred per mesh (mass-weighted)
    xyz = mnn.input_features(batch64, "xyz")
    assert float(batch64.global_mean(xyz).abs().max()) < 1e-12
    arr = mnn.input_features(batch64, "array", values=[np.ones(d.n_vertices) for d in batch64.data])
    assert arr.shape == (batch64.num_vertices, 1)
    with pytest.raises(MeshShapeError, match=r"kind: expected one of \('xyz', 'hks', 'wks', 'array'\) \(got 'shot'\)"):
        mnn.input_features(batch64, "shot")


def test_array_features_are_checked_against_the_batch(batch64):
    sizes, N = batch64.sizes, batch64.num_vertices
    rng = np.random.default_rng(0)
    per_mesh = [rng.standard_normal((n, 2)) for n in sizes]
    x = mnn.input_features(batch64, "array", values=per_mesh)
    assert x.shape == (N, 2) and x.dtype == batch64.dtype
    np.testing.assert_array_equal(x.numpy(), np.concatenate(per_mesh))
    # one stacked (N, C) array is the same thing; a 1-D array is one channel
    assert torch.equal(mnn.input_features(batch64, "array", values=torch.as_tensor(np.concatenate(per_mesh))), x)
    assert mnn.input_features(batch64, "array", values=np.ones(N)).shape == (N, 1)
    # tensors keep their graph
    t = torch.ones(N, 3, dtype=torch.float64, requires_grad=True)
    mnn.input_features(batch64, "array", values=t).sum().backward()
    assert t.grad is not None
    bad = [
        (torch.ones(sizes[0], 2), rf"values: expected {N} rows, one per vertex of the batch"),
        ([torch.ones(3, 2)] * 3, rf"values\[0\]: expected {sizes[0]} rows, one per vertex of mesh 0 \(got shape \(3, 2\)\)"),
        (per_mesh[:2], r"values: expected 3 per-mesh arrays, one per mesh of the batch \(got 2\)"),
        ([per_mesh[0], per_mesh[1], np.ones((sizes[2], 3))], r"values\[2\]: expected 2 channels like values\[0\]"),
        ([np.ones((n, 2, 2)) for n in sizes], r"values\[0\]: expected a 1-D or 2-D array \(got shape"),
        ([np.ones(n, dtype=complex) for n in sizes], r"values\[0\]: expected an array of real numbers \(got dtype"),
        ([["a"] * n for n in sizes], r"values\[0\]: expected an array of real numbers"),
        ("values", r"values: expected a list of per-mesh arrays or one \(N, C\) tensor / numpy array \(got str\)"),
        (None, r"values: expected, with kind='array', .* \(got None\)"),
    ]
    for values, msg in bad:
        with pytest.raises(MeshShapeError, match=msg):
            mnn.input_features(batch64, "array", values=values)
    nan = [a.copy() for a in per_mesh]
    nan[1][5, 1] = np.nan
    with pytest.raises(NonFiniteError, match=r"^values\[1\]: expected finite values \(got NaN/inf.* in row 5\)$"):
        mnn.input_features(batch64, "array", values=nan)
    r = sizes[0] + 5
    with pytest.raises(NonFiniteError, match=rf"^values: expected finite values \(got NaN/inf.* in row {r}: vertex 5 of mesh 1\)$"):
        mnn.input_features(batch64, "array", values=np.concatenate(nan))
    with pytest.raises(NonFiniteError, match=r"beyond the range of torch.float32"):
        mnn.input_features(batch64.to(dtype=torch.float32), "array", values=[a * 1e300 for a in per_mesh])


@pytest.mark.parametrize("kind", ["hks", "wks", "xyz"])
def test_values_with_another_kind_are_refused(kind, batch64):
    values = [np.ones(n) for n in batch64.sizes]
    with pytest.raises(MeshShapeError, match=rf"values: expected None with kind='{kind}' .*\(got list\)"):
        mnn.input_features(batch64, kind, values=values)


@pytest.mark.parametrize("n", [0, -1, 2.5, "8", None, True])
def test_n_must_be_a_positive_integer(n, batch64):
    """n=2.5 was truncated to 2 and n=0 was reported as 'n_times'."""
    for kind in ("hks", "wks", "xyz"):
        with pytest.raises(MeshShapeError, match=rf"^n: expected a positive integer \(got {re.escape(repr(n))}\)$"):
            mnn.input_features(batch64, kind, n)
    with pytest.raises(MeshShapeError, match=r"n_times: expected a positive integer"):
        mnn.heat_kernel_signature(batch64, n)
    with pytest.raises(MeshShapeError, match=r"n_energies: expected a positive integer"):
        mnn.wave_kernel_signature(batch64, n)
    assert mnn.input_features(batch64, "hks", np.int64(3)).shape == (batch64.num_vertices, 3)


def test_batch_must_be_a_mesh_batch(batch64):
    with pytest.raises(MeshShapeError, match=r"batch: expected a MeshBatch \(got tuple\)"):
        mnn.input_features((batch64.pos, batch64.faces), "hks")
