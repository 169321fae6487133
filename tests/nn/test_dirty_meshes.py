"""Real-world defects must not turn into NaN: unreferenced vertices, more components than k,
nearly degenerate triangles."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import manifold_nets.nn as mnn  # noqa: E402
from manifold_nets.shapes import icosphere, tetrahedron  # noqa: E402


def _many_components(n: int):
    """``n`` disjoint tetrahedra: ``n`` zero eigenvalues."""
    V0, F0 = tetrahedron()
    V = np.concatenate([V0 + 5.0 * i for i in range(n)])
    F = np.concatenate([F0 + 4 * i for i in range(n)])
    return V, F


def _with_unreferenced_vertex():
    V, F = icosphere(2)
    return np.vstack([V, [[3.0, 3.0, 3.0]]]), F


def _with_sliver():
    V, F = icosphere(2)
    V = V.copy()
    # pull one vertex almost onto a neighbour: needle and sliver triangles
    V[0] = V[F[0, 1]] + 1e-9 * (V[0] - V[F[0, 1]])
    return V, F


@pytest.mark.parametrize("make", [lambda: _many_components(12), _with_unreferenced_vertex, _with_sliver],
                         ids=["more-components-than-k", "unreferenced-vertex", "sliver"])
@pytest.mark.parametrize("family", mnn.FAMILIES)
def test_every_family_stays_finite(make, family):
    torch.manual_seed(0)
    batch = mnn.MeshBatch.from_meshes([make(), icosphere(1)], k=8, dtype=torch.float64)
    for kind in ("hks", "wks"):
        x = mnn.input_features(batch, kind, 6)
        assert torch.isfinite(x).all(), kind
    assert torch.isfinite(batch.lambda_max).all()
    net = mnn.SegmentationNet(6, 3, family=family, width=8, n_blocks=1).double()
    y = net(batch, mnn.input_features(batch, "hks", 6))
    assert torch.isfinite(y).all()
    y.square().sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)
