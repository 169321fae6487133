"""Mistakes at the torch API boundary give one-line typed errors, not raw torch errors (issue 13)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from manifold_nets.errors import MeshError  # noqa: E402
from manifold_nets.nn import FeatureNet, SegmentationNet  # noqa: E402


@pytest.mark.parametrize("family", ["diffusion", "gcnn", "gem"])
def test_wrong_inputs_are_named(family, batch32):
    net = SegmentationNet(4, 3, family=family, width=8, n_blocks=1)
    n = batch32.num_vertices
    with pytest.raises(MeshError, match=rf"x: expected shape \({n}, 4\).*\(got \({n}, 5\)\)"):
        net(batch32, torch.zeros(n, 5))
    with pytest.raises(MeshError, match=rf"x: expected shape \({n}, 4\).*\(got \({n - 1}, 4\)\)"):
        net(batch32, torch.zeros(n - 1, 4))
    with pytest.raises(TypeError, match=r"x: expected the model's dtype torch.float32 \(got torch.float64\)"):
        net(batch32, torch.zeros(n, 4, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"x: expected a torch.Tensor \(got list\)"):
        net(batch32, [[0.0] * 4] * n)
    with pytest.raises(TypeError, match=r"batch: expected a MeshBatch"):
        net((batch32.pos, batch32.faces), torch.zeros(n, 4))
    assert net(batch32, torch.zeros(n, 4)).shape == (n, 3)  # and the right call works


def test_feature_net_checks_too(batch32):
    net = FeatureNet(6, 8, family="spectral", width=8, n_blocks=1)
    with pytest.raises(MeshError, match="in_channels=6"):
        net(batch32, torch.zeros(batch32.num_vertices, 3))
