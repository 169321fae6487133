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
        ref = (phi[:, :, None] ** 2 * np.exp(-lam[None, :, None] * t[None, None])).sum(1)
        s, e = int(batch64.ptr[b]), int(batch64.ptr[b + 1])
        np.testing.assert_allclose(h[s:e], ref, rtol=1e-10)


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
