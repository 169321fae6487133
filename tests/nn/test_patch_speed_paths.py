"""ACNN's degree-group product (``_sparse.pair_linear`` on ``PairKernels``) against the previous
formulation (``grouped_linear`` on the CSR stacks of ``pair_kernels_csr``) and the dense
expression, in values and gradients (float64 to 1e-12), for any chunk size, pair order, isolated
vertex and dtype; and the anisotropic kernel values against their previous formula."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import MeshBatch, _sparse  # noqa: E402
from manifold_nets.nn.patch import _anisotropic_kernels, anisotropic_operator, patch_coordinates  # noqa: E402
from tests.nn.conftest import bumpy_sphere, bumpy_torus  # noqa: E402


def _pairs(n, E, seed, sort):
    g = torch.Generator().manual_seed(seed)
    i, j = torch.randint(0, n - 3, (E,), generator=g), torch.randint(0, n, (E,), generator=g)
    if sort:  # grouped by centre, as patch pairs come (the fast path of the degree groups)
        o = torch.argsort(i, stable=True)
        i, j = i[o], j[o]
    return i, j  # repeated pairs; vertices n-3..n-1 have no pair as a centre


def _close(a, b, dtype):
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    a, b = a.detach(), b.detach()
    scale = max(float(b.abs().max()), 1.0)
    assert float((a - b).abs().max()) <= tol * scale, (float((a - b).abs().max()), scale)


@pytest.mark.parametrize("block", [1, 5, 512])
@pytest.mark.parametrize("sort", [False, True])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_pair_linear_equals_the_previous_product(one_thread, monkeypatch, block, sort, dtype):
    monkeypatch.setattr(_sparse, "PAIR_BLOCK", block)
    n, E, R, C, O = 47, 260, 3, 4, 5
    i, j = _pairs(n, E, 0, sort)
    g = torch.Generator().manual_seed(1)
    vals = torch.rand(E, R, generator=g, dtype=dtype)
    K = _sparse.PairKernels(i, j, vals, n)
    op, op_t = K.ops()  # the previous formulation
    Kd = torch.zeros(R, n, n, dtype=dtype)
    for r in range(R):
        Kd[r].index_put_((i, j), vals[:, r], accumulate=True)
    x = torch.randn(n, C, dtype=dtype, generator=g, requires_grad=True)
    W = torch.randn(R, C, O, dtype=dtype, generator=g, requires_grad=True)
    Ws = torch.randn(C, O, dtype=dtype, generator=g, requires_grad=True)
    bias = torch.randn(O, dtype=dtype, generator=g, requires_grad=True)
    gy = torch.randn(n, O, dtype=dtype, generator=g)
    for args in ((), (Ws,), (Ws, bias), (None, bias)):
        y = _sparse.pair_linear(K, x, W, *args)
        prev = _sparse.grouped_linear(op, op_t, x, W, *args)
        ref = torch.einsum("rij,jc,rco->io", Kd, x, W)
        if args and args[0] is not None:
            ref = ref + x @ args[0]
        if len(args) > 1:
            ref = ref + args[1]
        _close(y, prev, dtype)
        _close(y, ref, dtype)
        ins = (x, W) + tuple(a for a in args if a is not None)
        for a, b, c in zip(torch.autograd.grad(y, ins, gy), torch.autograd.grad(prev, ins, gy),
                           torch.autograd.grad(ref, ins, gy)):
            _close(a, b, dtype)
            _close(a, c, dtype)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(lambda *a: _sparse.pair_linear(K, *a), (x, W, Ws, bias))
        assert torch.autograd.gradgradcheck(lambda *a: _sparse.pair_linear(K, *a), (x, W, Ws, bias))


def test_pair_linear_without_pairs_and_input_gradient_only(one_thread):
    n, C, O, R = 6, 3, 2, 4
    empty = torch.zeros(0, dtype=torch.long)
    K = _sparse.PairKernels(empty, empty, torch.zeros(0, R, dtype=torch.float64), n)
    x = torch.randn(n, C, dtype=torch.float64, requires_grad=True)
    W = torch.randn(R, C, O, dtype=torch.float64, requires_grad=True)
    Ws, bias = torch.randn(C, O, dtype=torch.float64), torch.randn(O, dtype=torch.float64)
    y = _sparse.pair_linear(K, x, W, Ws, bias)
    torch.testing.assert_close(y, x @ Ws + bias, atol=1e-14, rtol=0)
    gx, gw = torch.autograd.grad(y.sum(), (x, W))
    torch.testing.assert_close(gx, torch.ones(n, O, dtype=torch.float64) @ Ws.T, atol=1e-14, rtol=0)
    assert gw.shape == W.shape and float(gw.abs().max()) == 0.0
    # only the input needs a gradient (a frozen layer): no weight gradient is formed
    i, j = _pairs(n + 3, 20, 2, True)
    K = _sparse.PairKernels(i, j, torch.rand(20, R, dtype=torch.float64), n + 3)
    x = torch.randn(n + 3, C, dtype=torch.float64, requires_grad=True)
    Wf = W.detach()
    gx = torch.autograd.grad(_sparse.pair_linear(K, x, Wf).sum(), x)[0]
    op, op_t = K.ops()
    gx_prev = torch.autograd.grad(_sparse.grouped_linear(op, op_t, x, Wf).sum(), x)[0]
    torch.testing.assert_close(gx, gx_prev, atol=1e-12, rtol=0)


def _previous_anisotropic_values(batch, scales, n_orientations, anisotropy, orientation):
    """The kernel values ``(E, n_kernels)`` as the previous code computed them."""
    rho, theta = patch_coordinates(batch, orientation)
    i = batch.patch_pairs[:, 0]
    nk = len(scales) * n_orientations
    phi = torch.tensor([math.pi * l / n_orientations for l in range(n_orientations)], dtype=rho.dtype)
    sig2 = torch.tensor([2 * s * s for s in scales], dtype=rho.dtype)
    d = theta.unsqueeze(1) - phi
    u, v = rho.unsqueeze(1) * torch.cos(d), rho.unsqueeze(1) * torch.sin(d)
    q = u * u / anisotropy + v * v
    vals = torch.exp(-q.unsqueeze(1) / sig2.view(1, -1, 1)).reshape(-1, nk)
    rowsum = vals.new_zeros(batch.num_vertices, nk).index_add_(0, i, vals)
    return vals / rowsum.clamp_min_(torch.finfo(vals.dtype).tiny).index_select(0, i)


@pytest.mark.parametrize("scales", [(0.5, 1.0), (0.3, 0.7, 1.1)])
def test_anisotropic_kernel_values_equal_the_previous_formula(batch64, scales):
    K = _anisotropic_kernels(batch64, scales, 4, 4.0, "principal")
    ref = _previous_anisotropic_values(batch64, scales, 4, 4.0, "principal")
    np.testing.assert_allclose(K.vals.numpy(), ref.numpy(), rtol=1e-12, atol=0)


def test_acnn_layer_equals_the_previous_formulation(one_thread):
    """ACNNConv (degree groups) against the CSR stacks of the previous code, values and gradients."""
    b = MeshBatch.from_meshes([bumpy_sphere(3, seed=0), bumpy_torus(24, 12)], k=16, dtype=torch.float64)
    torch.manual_seed(0)
    conv = mnn.ACNNConv(5, 7).double()
    x = torch.randn(b.num_vertices, 5, dtype=torch.float64, requires_grad=True)
    op = anisotropic_operator(b, conv.scales, conv.n_orientations, conv.anisotropy, conv.orientation)
    K = _anisotropic_kernels(b, conv.scales, conv.n_orientations, conv.anisotropy, conv.orientation)
    assert K.ops()[0] is op
    y = conv(b, x)
    prev = _sparse.grouped_linear(*K.ops(), x, conv.weight, conv.self_weight, conv.bias)
    _close(y, prev, torch.float64)
    gy = torch.randn_like(y)
    params = (x, conv.weight, conv.self_weight, conv.bias)
    for a, r in zip(torch.autograd.grad(y, params, gy), torch.autograd.grad(prev, params, gy)):
        _close(a, r, torch.float64)
    # a float32 layer on the float64 batch converts the kernels once (memoised on the kernels)
    c32 = mnn.ACNNConv(5, 7)
    y32 = c32(b, x.detach().float())
    assert K.to(torch.float32) is K.to(torch.float32)
    prev32 = _sparse.grouped_linear(*K.to(torch.float32).ops(), x.detach().float(), c32.weight, c32.self_weight,
                                    c32.bias)
    _close(y32, prev32, torch.float32)
