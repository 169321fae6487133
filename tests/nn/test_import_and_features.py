"""Import hygiene (torch only in manifold_nets.nn) and the input-feature helpers."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402


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
    with pytest.raises(ValueError, match="kind"):
        mnn.input_features(batch64, "shot")
