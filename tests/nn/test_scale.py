"""Uniform scale: every family's output is unchanged when the meshes are scaled by 1e-3 or 1e3
(the layers measure diffusion times, spectral filters, patch radii and gradient features relative
to each mesh), as :data:`manifold_nets.nn.symmetries.FAMILY_SYMMETRIES` claims."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn.symmetries import FAMILY_SYMMETRIES  # noqa: E402
from manifold_nets.testing import assert_scale_invariant  # noqa: E402

SCALE_FAMILIES = [f for f, c in FAMILY_SYMMETRIES.items() if c["uniform_scale"].kind == "invariant"]


def _hks(b):
    return mnn.input_features(b, "hks", 8)


@pytest.mark.parametrize("normalize", [False, True], ids=["layers-alone", "normalised-pipeline"])
@pytest.mark.parametrize("family", SCALE_FAMILIES)
def test_families_are_scale_invariant(family, normalize, meshes):
    """``normalize=False``: the layers alone (no centring / unit-area step in the batch) must be
    scale invariant; ``normalize=True``: the default pipeline."""
    torch.manual_seed(0)
    net = mnn.SegmentationNet(8, 3, family=family, width=8, n_blocks=2).double().eval()
    err = assert_scale_invariant(net, meshes[:2], scales=(1e-3, 1e3), features=_hks,
                                 batch_kwargs=dict(k=16, normalize=normalize), rtol=1e-6, atol=1e-7)
    assert err < 1e-6


@pytest.mark.parametrize("make, c", [
    (lambda: mnn.LearnedDiffusion(3, method="spectral", init_time=0.05), 3),
    (lambda: mnn.LearnedDiffusion(3, method="implicit", init_time=0.05), 3),
    (lambda: mnn.SpatialGradientFeatures(3), 3),
    (lambda: mnn.SpectralConv(3, 2), 3),
    (lambda: mnn.ChebConv(3, 2), 3),
    (lambda: mnn.ChebConv(3, 2, normalization="degree"), 3),
    (lambda: mnn.DiffusionNet(3, 2, width=6, n_blocks=1, method="implicit"), 3),
], ids=["diffusion-spectral", "diffusion-implicit", "gradient-features", "spectral", "cheb", "cheb-degree",
        "diffusionnet-implicit"])
def test_layers_are_scale_invariant_with_fixed_inputs(make, c, meshes):
    """The same per-vertex values on the scaled mesh give the same output (no normalisation anywhere)."""
    torch.manual_seed(0)
    layer = make().double().eval()
    rng = np.random.default_rng(0)
    vals = [rng.standard_normal((len(V), c)) for V, _ in meshes[:2]]
    assert_scale_invariant(layer, meshes[:2], scales=(1e-3, 1e3), features=vals,
                           batch_kwargs=dict(k=16, normalize=False), rtol=1e-6, atol=1e-7)


def test_scale_check_detects_an_absolute_quantity(meshes):
    """Absolute diffusion times (what the layers used before) are caught."""
    def absolute(b, x):
        lam = b.evals.unsqueeze(-1)  # not multiplied by the area
        c = mnn.to_spectral(b, x)
        return mnn.from_spectral(b, torch.exp(-0.05 * lam) * c)

    vals = [np.random.default_rng(1).standard_normal((len(V), 2)) for V, _ in meshes[:1]]
    with pytest.raises(AssertionError, match="scaled by"):
        assert_scale_invariant(absolute, meshes[:1], features=vals, dtype=torch.float64,
                               batch_kwargs=dict(k=16, normalize=False), rtol=1e-6, atol=1e-7)


def test_diffusion_times_are_relative_to_the_area(batch64):
    d = mnn.LearnedDiffusion(2, init_time=0.1).double()
    areas = torch.tensor([m.mass.sum() for m in batch64.data], dtype=torch.float64)
    t = d.times(batch64)
    assert t.shape == (batch64.num_meshes, 2)
    np.testing.assert_allclose(t.detach().numpy(), (areas[:, None] * d.times()).detach().numpy(), rtol=1e-14)


@pytest.mark.parametrize("scale", [1e20, 1e-20])
def test_a_mesh_beyond_float32_is_refused_not_nan(scale):
    """normalize=False keeps the input units: a float32 batch of a mesh of size 1e20 had areas above
    3.4e38 (inf) and NaN features; it is refused, naming the mesh, the field and the dtype's range."""
    from manifold_nets.errors import NonFiniteError
    from manifold_nets.shapes import icosphere

    V, F = icosphere(1)
    with pytest.raises(NonFiniteError, match=r"meshes\[1\] \(\(V, F\) #1\): \w+: expected magnitudes in "
                                             r"\[.*\] for torch.float32 .*\(got .*normalize=True"):
        mnn.MeshBatch.from_meshes([(V, F), (V * scale, F)], k=8, normalize=False)
    # the same mesh is fine normalised, or in float64
    for kw in (dict(normalize=True), dict(normalize=False, dtype=torch.float64)):
        b = mnn.MeshBatch.from_meshes([(V * scale, F)], k=8, **kw)
        x = mnn.input_features(b, "hks", 4)
        y = mnn.SegmentationNet(4, 3, width=8, n_blocks=1).to(b.dtype).eval()(b, x)
        assert torch.isfinite(x).all() and torch.isfinite(y).all()
    b = mnn.MeshBatch.from_meshes([(V * scale, F)], k=8, normalize=False, dtype=torch.float64)
    with pytest.raises(NonFiniteError, match="torch.float32"):
        b.to(dtype=torch.float32)


@pytest.mark.parametrize("scale", [1e17, 1e-16])
def test_large_and_small_meshes_inside_float32_stay_finite(scale):
    """Inside the accepted range every feature kind and every family is finite (the mass-weighted
    mean divides the weights first: x · mass of a mesh of size 1e13 overflowed float32)."""
    from manifold_nets.shapes import icosphere

    V, F = icosphere(1)
    b = mnn.MeshBatch.from_meshes([(V * scale, F)], k=8, normalize=False)
    for kind in ("hks", "wks", "xyz"):
        assert torch.isfinite(mnn.input_features(b, kind, 4)).all(), kind
    x = mnn.input_features(b, "hks", 4)
    for family in mnn.FAMILIES:
        torch.manual_seed(0)
        y = mnn.SegmentationNet(4, 3, family=family, width=8, n_blocks=1).eval()(b, x)
        assert torch.isfinite(y).all(), family
