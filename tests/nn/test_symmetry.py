"""The symmetries each family claims: gauge equivariance, rotation invariance, permutation
equivariance, and the flat-grid case where a patch convolution is an ordinary 2D convolution."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import Irreps, MeshBatch  # noqa: E402
from manifold_nets.testing import (  # noqa: E402
    assert_gauge_equivariant,
    assert_permutation_equivariant,
    assert_rotation_invariant,
    tolerance,
)

IR_IN = Irreps([(3, 0), (2, 1), (2, 2)])
IR = Irreps.regular(3, 2)


def _gem_stack(nonlin):
    torch.manual_seed(0)
    c1, c2 = mnn.GEMConv(IR_IN, IR).double(), mnn.GEMConv(IR, IR).double()
    with torch.no_grad():
        if isinstance(nonlin, mnn.NormNonlinearity):
            nonlin.bias.normal_()
    return lambda b, x: c2(b, nonlin(c1(b, x)))


def test_gem_conv_with_norm_nonlinearity_is_exactly_gauge_equivariant(batch64):
    f = _gem_stack(mnn.NormNonlinearity(IR).double())
    x = torch.randn(batch64.num_vertices, IR_IN.dim, dtype=torch.float64)
    for seed in range(3):
        err = assert_gauge_equivariant(f, batch64, x, IR_IN, IR, seed=seed, rtol=1e-10, atol=1e-10)
        assert err < 1e-10


def test_gauge_check_detects_a_non_equivariant_layer(batch64):
    """A bias on an order-1 channel (the GEM-CNN bug) is caught by the assertion."""
    conv = mnn.GEMConv(IR_IN, IR).double()
    x = torch.randn(batch64.num_vertices, IR_IN.dim, dtype=torch.float64)
    bad_bias = torch.zeros(IR.dim, dtype=torch.float64)
    bad_bias[3] = 0.5  # first column of the order-1 block

    def f(b, v):
        return conv(b, v) + bad_bias

    with pytest.raises(AssertionError, match="gauge-changed"):
        assert_gauge_equivariant(f, batch64, x, IR_IN, IR)


def test_regular_nonlinearity_error_shrinks_with_samples(batch64):
    x = torch.randn(batch64.num_vertices, IR_IN.dim, dtype=torch.float64)
    errs = []
    for n in (8, 16, 32, 64):
        f = _gem_stack(mnn.RegularNonlinearity(IR, n_samples=n).double())
        with pytest.raises(AssertionError) as exc:  # only approximately equivariant
            assert_gauge_equivariant(f, batch64, x, IR_IN, IR, rtol=0, atol=1e-10)
        errs.append(float(str(exc.value).split("got ")[1].split(";")[0]))
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < errs[0] / 8
    # exact for gauge changes by multiples of 2π / n_samples
    n = 16
    g = 2 * np.pi / n * np.random.default_rng(0).integers(0, n, batch64.num_vertices)
    f = _gem_stack(mnn.RegularNonlinearity(IR, n_samples=n).double())
    assert_gauge_equivariant(f, batch64, x, IR_IN, IR, gauge=g, rtol=1e-10, atol=1e-10)


def test_transport_pooling_and_readout_equivariance(batch64):
    pool = mnn.TransportPooling(IR)
    x = torch.randn(batch64.num_vertices, IR.dim, dtype=torch.float64)
    assert_gauge_equivariant(pool, batch64, x, IR, IR)
    ro = mnn.InvariantReadout(IR, 4).double()
    assert_gauge_equivariant(lambda b, v: ro(v), batch64, x, IR, 0)


@pytest.mark.parametrize("nonlinearity", ["norm", "regular"])
def test_gem_model_output_is_gauge_invariant(batch64, nonlinearity):
    torch.manual_seed(0)
    net = mnn.SegmentationNet(4, 3, family="gem", width=9, n_blocks=2, nonlinearity=nonlinearity,
                              n_samples=16, transport_pooling=True).double()
    x = torch.randn(batch64.num_vertices, 4, dtype=torch.float64)
    # scalar inputs, invariant outputs: exact for the norm nonlinearity; the regular one is exact
    # for gauge changes by multiples of 2π / n_samples
    g = 2 * np.pi / 16 * np.random.default_rng(1).integers(0, 16, batch64.num_vertices)
    assert_gauge_equivariant(net, batch64, x, Irreps.scalar(4), 0, gauge=g, rtol=1e-10, atol=1e-10)


def test_diffusionnet_is_gauge_invariant(batch64):
    torch.manual_seed(0)
    net = mnn.DiffusionNet(4, 3, width=8, n_blocks=2).double()
    x = torch.randn(batch64.num_vertices, 4, dtype=torch.float64)
    assert_gauge_equivariant(net, batch64, x, Irreps.scalar(4), 0, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family", mnn.FAMILIES)
def test_models_are_rotation_invariant_with_intrinsic_inputs(family, meshes):
    torch.manual_seed(0)
    net = mnn.SegmentationNet(8, 3, family=family, width=8, n_blocks=2).double().eval()
    # operators are recomputed for the rotated meshes: agreement up to the eigen-solver accuracy
    assert_rotation_invariant(lambda b, x: net(b, x), meshes[:2],
                              features=lambda b: mnn.input_features(b, "hks", 8),
                              batch_kwargs=dict(k=16), rtol=1e-6, atol=1e-7)


def test_rotation_check_detects_extrinsic_inputs(meshes):
    torch.manual_seed(0)
    net = mnn.SegmentationNet(3, 2, family="spectral", width=8, n_blocks=1).double()
    with pytest.raises(AssertionError):
        assert_rotation_invariant(lambda b, x: net(b, x), meshes[:1], features=lambda b: mnn.input_features(b, "xyz"),
                                  batch_kwargs=dict(k=16))


@pytest.mark.parametrize("family", mnn.FAMILIES)
@pytest.mark.parametrize("outputs", ["vertices", "global"])
def test_models_are_permutation_equivariant(family, outputs, meshes):
    torch.manual_seed(0)
    net = mnn.SegmentationNet(8, 3, family=family, outputs=outputs, width=8, n_blocks=2).double().eval()
    assert_permutation_equivariant(lambda b, x: net(b, x), meshes[:2], features=lambda b: mnn.input_features(b, "hks", 8),
                                   batch_kwargs=dict(k=16), rtol=1e-6, atol=1e-7)


def test_tolerance_table():
    assert tolerance(torch.float64) == (1e-10, 1e-10)
    assert tolerance("float32")[0] == 1e-4
    assert tolerance(np.float64, atol=1.0) == (1e-10, 1.0)


# ----------------------------------------------------------------------------- flat grid = 2D conv
def _global_x_angle(batch):
    """Angle of the global x direction in every vertex's gauge."""
    ex = torch.tensor([1.0, 0.0, 0.0], dtype=batch.pos.dtype)
    return torch.atan2(batch.y_axes @ ex, batch.x_axes @ ex)


def test_patch_convolution_on_a_flat_grid_is_a_2d_convolution():
    from scipy.signal import convolve2d

    from manifold_nets.shapes import grid

    n, m, h = 9, 7, 0.1
    V, F = grid(n, m, width=(n - 1) * h, diagonal="regular")
    b = MeshBatch.from_meshes([(V, F)], k=8, patch_radius=1.5 * h, dtype=torch.float64)
    rng = np.random.default_rng(0)
    K = rng.standard_normal((3, 3))  # stencil K[1 + dx, 1 + dy]
    conv = mnn.GCNNConv(1, 1, n_rho=1, n_theta=8, max_over_rotations=False, bias=False).double()
    with torch.no_grad():
        for s in range(8):  # bin s points at angle s·π/4 from the global x axis
            dx, dy = int(round(np.cos(s * np.pi / 4))), int(round(np.sin(s * np.pi / 4)))
            conv.weight[0, s, 0, 0] = K[1 + dx, 1 + dy]
        conv.self_weight[0, 0] = K[1, 1]
    X = rng.standard_normal((n, m))  # vertex i * m + j sits at (i h, j h)
    y = conv(b, torch.tensor(X.reshape(-1, 1)), orientation=_global_x_angle(b)).detach().numpy().reshape(n, m)
    ref = convolve2d(X, K[::-1, ::-1], mode="valid")  # correlation with K
    np.testing.assert_allclose(y[1:-1, 1:-1], ref, atol=1e-12)
    # and torch's conv2d (a correlation) agrees
    ref_t = torch.nn.functional.conv2d(torch.tensor(X)[None, None], torch.tensor(K)[None, None])[0, 0]
    np.testing.assert_allclose(y[1:-1, 1:-1], ref_t.numpy(), atol=1e-12)


def test_gcnn_rotation_max_is_invariant_to_the_patch_origin_on_the_grid():
    """Rotating every patch origin by a multiple of the bin angle does not change GCNN's output."""
    from manifold_nets.shapes import grid

    V, F = grid(8, 8, width=0.7, diagonal="regular")
    b = MeshBatch.from_meshes([(V, F)], k=8, patch_radius=0.15, dtype=torch.float64)
    conv = mnn.GCNNConv(2, 3, n_rho=1, n_theta=8).double()
    x = torch.randn(b.num_vertices, 2, dtype=torch.float64)
    base = _global_x_angle(b)
    y0 = conv(b, x, orientation=base)
    shift = torch.tensor(np.random.default_rng(0).integers(0, 8, b.num_vertices) * np.pi / 4)
    y1 = conv(b, x, orientation=base + shift)
    np.testing.assert_allclose(y1.detach().numpy(), y0.detach().numpy(), atol=1e-12)
