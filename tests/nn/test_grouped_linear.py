"""The fused sparse-kernels-then-linear product of ACNN (``_sparse.grouped_linear``): equal to the
unfused expression in values and gradients, for any block size, pair order and dtype, on both of
its paths (scipy blocks with one torch thread; the plain torch product otherwise)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import MeshBatch, _sparse  # noqa: E402
from manifold_nets.nn.patch import _anisotropic_kernels, anisotropic_operator  # noqa: E402
from tests.nn.conftest import bumpy_sphere, bumpy_torus  # noqa: E402


def _pairs(n, E, seed):
    g = torch.Generator().manual_seed(seed)
    i, j = torch.randint(0, n, (E,), generator=g), torch.randint(0, n, (E,), generator=g)
    return i, j  # unsorted, with repeated pairs and vertices that have no pair


@pytest.mark.parametrize("block", [1, 7, 512])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_grouped_linear_equals_the_unfused_product(one_thread, monkeypatch, block, dtype):
    monkeypatch.setattr(_sparse, "GROUP_BLOCK", block)
    n, E, R, C, O = 53, 300, 3, 4, 5
    i, j = _pairs(n, E, 0)
    g = torch.Generator().manual_seed(1)
    vals = torch.rand(E, R, generator=g, dtype=dtype)
    op, op_t = _sparse.pair_kernels_csr(i, j, vals, n)
    # the kernels, densely: K[r][i, j] sums the values of every pair (i, j)
    K = torch.zeros(R, n, n, dtype=dtype)
    for r in range(R):
        K[r].index_put_((i, j), vals[:, r], accumulate=True)
    np.testing.assert_allclose(op.to_dense().reshape(n, R, n).permute(1, 0, 2).numpy(), K.numpy(), atol=0)
    np.testing.assert_allclose(op_t.to_dense().reshape(n, R, n).permute(1, 2, 0).numpy(), K.numpy(), atol=0)

    x = torch.randn(n, C, dtype=dtype, generator=g, requires_grad=True)
    W = torch.randn(R, C, O, dtype=dtype, generator=g, requires_grad=True)
    Ws = torch.randn(C, O, dtype=dtype, generator=g, requires_grad=True)
    bias = torch.randn(O, dtype=dtype, generator=g, requires_grad=True)
    y = _sparse.grouped_linear(op, op_t, x, W)
    ref = torch.einsum("rij,jc,rco->io", K, x, W)
    torch.testing.assert_close(y, ref, atol=1e-12 if dtype == torch.float64 else 1e-5, rtol=1e-5)
    y = _sparse.grouped_linear(op, op_t, x, W, Ws, bias)
    ref = torch.einsum("rij,jc,rco->io", K, x, W) + x @ Ws + bias
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    torch.testing.assert_close(y, ref, atol=tol, rtol=tol)
    gy = torch.randn(n, O, dtype=dtype, generator=g)
    for a, r in zip(torch.autograd.grad(y, (x, W, Ws, bias), gy), torch.autograd.grad(ref, (x, W, Ws, bias), gy)):
        torch.testing.assert_close(a, r, atol=tol, rtol=tol)
    if dtype == torch.float64:
        assert torch.autograd.gradcheck(lambda *a: _sparse.grouped_linear(op, op_t, *a), (x, W, Ws, bias))
        assert torch.autograd.gradgradcheck(lambda *a: _sparse.grouped_linear(op, op_t, *a), (x, W, Ws, bias))


def test_acnn_fused_and_unfused_paths_agree(one_thread):
    b = MeshBatch.from_meshes([bumpy_sphere(3, seed=0), bumpy_torus(24, 12)], k=16, dtype=torch.float64)
    torch.manual_seed(0)
    conv = mnn.ACNNConv(5, 7).double()
    x = torch.randn(b.num_vertices, 5, dtype=torch.float64, requires_grad=True)
    op, op_t = _anisotropic_kernels(b, conv.scales, conv.n_orientations, conv.anisotropy, conv.orientation).ops()
    assert op_t is not None and anisotropic_operator(b, conv.scales, 4, 4.0, "principal") is op
    y = conv(b, x)  # scipy blocks
    K = op.to_dense()  # rows i * n_kernels + k
    ref = (K @ x).reshape(b.num_vertices, -1) @ conv.weight.reshape(-1, 7) + x @ conv.self_weight + conv.bias
    torch.testing.assert_close(y, ref, atol=1e-12, rtol=0)
    torch.set_num_threads(2)  # torch's product on the same operator
    y2 = conv(b, x)
    torch.testing.assert_close(y2, ref, atol=1e-12, rtol=0)
    gy = torch.randn_like(y)
    for out in (y, y2):
        gx, gw = torch.autograd.grad(out, (x, conv.weight), gy)
        rx, rw = torch.autograd.grad(ref, (x, conv.weight), gy, retain_graph=True)
        torch.testing.assert_close(gx, rx, atol=1e-12, rtol=0)
        torch.testing.assert_close(gw, rw, atol=1e-12, rtol=0)
    # twice differentiable like the unfused product (a gradient penalty, say)
    torch.set_num_threads(1)
    b1 = b.mesh(1)  # the torus alone is too large for gradgradcheck; take a small mesh
    xs = torch.randn(b1.num_vertices, 2, dtype=torch.float64, requires_grad=True)
    c2 = mnn.ACNNConv(2, 2).double()
    assert torch.autograd.gradgradcheck(lambda v: c2(b1, v), (xs,))
