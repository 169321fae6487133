"""MoNet's Fourier response (``patch._FourierEdgeResponse``: patch coefficients and magnitudes in one
autograd function, with a reusable workspace) against its formula evaluated edge by edge in
numpy, on both sparse kernels (scipy with one thread, torch's otherwise), with gradients checked
numerically, across workspace reuse, ``retain_graph`` and copies of the layer."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import MeshBatch  # noqa: E402
from tests.nn.conftest import bumpy_sphere, bumpy_torus  # noqa: E402


@pytest.fixture(scope="module")
def batch():
    return MeshBatch.from_meshes([bumpy_sphere(2, seed=3), bumpy_torus(14, 9)], k=12, dtype=torch.float64)


@pytest.fixture(params=[1, 2], ids=["scipy-kernel", "torch-kernel"])
def threads(request):
    n = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(n)


def _reference(conv, b, x):
    """y_i = Σ_{k,c} Â_{i,k,0,c} G⁰ + Σ_m |Σ_{k,c} Â_{i,k,m,c} G^m| + x_i W_self + bias, edge by edge."""
    rho, theta = (t.numpy() for t in mnn.patch_coordinates(b))
    E = b.patch_pairs.numpy()
    X = x.detach().numpy()
    N, C = X.shape
    K, M = conv.n_kernels, conv.max_frequency
    mu, sr = conv.mu_rho.detach().numpy(), np.exp(conv.log_sigma_rho.detach().numpy())
    deg = np.maximum(np.bincount(E[:, 0], minlength=N), 1)
    Ahat = np.zeros((M + 1, N, K, C), dtype=complex)
    for e, (i, j) in enumerate(E):
        w = np.exp(-0.5 * ((rho[e] - mu) / sr) ** 2) / deg[i]
        for m in range(M + 1):
            Ahat[m, i] += np.exp(-1j * m * theta[e]) * np.outer(w, X[j])
    G0 = conv.weight.detach().numpy()
    G = conv.weight_re.detach().numpy() + 1j * conv.weight_im.detach().numpy()
    y = Ahat[0].real.reshape(N, K * C) @ G0
    for m in range(1, M + 1):
        y = y + np.sqrt(np.abs(Ahat[m].reshape(N, K * C) @ G[m - 1]) ** 2 + conv.eps)
    return y + X @ conv.self_weight.detach().numpy() + conv.bias.detach().numpy()


@pytest.mark.parametrize("max_frequency", [0, 1, 2])
def test_fourier_monet_matches_its_formula(batch, threads, max_frequency):
    torch.manual_seed(0)
    conv = mnn.MoNetConv(3, 4, n_kernels=3, max_frequency=max_frequency).double()
    with torch.no_grad():
        conv.bias.normal_()
        conv.mu_rho.add_(0.1 * torch.randn(3))
    x = torch.randn(batch.num_vertices, 3, dtype=torch.float64, requires_grad=True)
    y = conv(batch, x)  # a training forward (x requires grad): takes the workspace path
    np.testing.assert_allclose(y.detach().numpy(), _reference(conv, batch, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("max_frequency", [0, 2])
def test_fourier_monet_gradients(batch, threads, max_frequency):
    """Numerical gradients w.r.t. the input, the radial kernels and all three weights."""
    b = MeshBatch.from_meshes([bumpy_sphere(1, seed=5)], k=8, dtype=torch.float64)
    torch.manual_seed(1)
    fm = mnn.MoNetConv(2, 3, n_kernels=2, max_frequency=max_frequency).double()
    names = ["mu_rho", "log_sigma_rho", "weight"] + (["weight_re", "weight_im"] if max_frequency else [])
    params = [getattr(fm, n).detach().clone().requires_grad_() for n in names]
    for n in names:
        del fm._parameters[n]
    x = torch.randn(b.num_vertices, 2, dtype=torch.float64, requires_grad=True)

    def f(x, *ps):
        for n, p in zip(names, ps):
            setattr(fm, n, p)
        return fm(b, x)

    assert torch.autograd.gradcheck(f, (x, *params))


def _grads(conv, b, x, retain=1):
    x = x.detach().clone().requires_grad_()
    conv.zero_grad(set_to_none=True)
    y = conv(b, x)
    loss = (y.square() * torch.linspace(0.5, 1.5, y.shape[1], dtype=y.dtype)).sum()
    for r in range(retain):
        loss.backward(retain_graph=r < retain - 1)
    return y.detach(), [x.grad] + [p.grad.clone() for p in conv.parameters()]


def test_workspace_reuse_retain_graph_and_copies(batch):
    torch.manual_seed(2)
    conv = mnn.MoNetConv(3, 5).double()
    x = torch.randn(batch.num_vertices, 3, dtype=torch.float64)
    with torch.no_grad():
        conv(batch, x)
    assert conv._workspace.buf is None  # inference keeps no buffer
    y0, g0 = _grads(copy.deepcopy(conv), batch, x)
    y1, g1 = _grads(conv, batch, x)
    kept = conv._workspace.buf
    assert kept is not None  # the backward gave its buffer to the layer
    with torch.no_grad():  # inference between training steps leaves the kept buffer alone
        conv(batch, x)
    assert conv._workspace.buf is kept
    y2, g2 = _grads(conv, batch, 1.0 * x)  # takes the same buffer again
    assert conv._workspace.buf is kept
    for a, b_ in zip([y1, y2] + g1 + g2, [y0, y0] + g0 + g0):
        torch.testing.assert_close(a, b_, rtol=1e-12, atol=1e-12)
    # a second backward through the same graph recomputes what the first one overwrote
    y3, g3 = _grads(conv, batch, x, retain=2)
    for a, b_ in zip(g3, g0):
        torch.testing.assert_close(a, 2 * b_, rtol=1e-12, atol=1e-12)
    # two forwards before one backward: the second finds no free buffer and allocates its own
    xs = x.detach().clone().requires_grad_()
    (conv(batch, xs).sum() + conv(batch, 2 * xs).sum()).backward()
    gx = xs.grad.clone()
    xs.grad = None
    conv(batch, xs).sum().backward()
    conv(batch, 2 * xs).sum().backward()
    torch.testing.assert_close(gx, xs.grad, rtol=1e-12, atol=1e-12)
    # copies and pickles start without the buffer and compute the same
    for c in (copy.deepcopy(conv), pickle.loads(pickle.dumps(conv))):
        assert c._workspace.buf is None
        torch.testing.assert_close(c(batch, x), conv(batch, x), rtol=0, atol=0)
    assert "_workspace" not in "".join(conv.state_dict())
    # leaving training mode frees it (a model used for prediction after training keeps no buffer)
    model = torch.nn.Sequential(conv)
    _grads(conv, batch, x)
    assert conv._workspace.buf is not None
    model.eval()
    assert conv._workspace.buf is None and not conv.training
    model.train()
    assert conv.training


def test_workspace_follows_the_batch_size(batch):
    """A buffer from a larger batch is not kept forever: one more than twice the need is replaced."""
    conv = mnn.MoNetConv(3, 2).double()
    small = MeshBatch.from_meshes([bumpy_sphere(1, seed=0)], k=8, dtype=torch.float64)
    for b in (batch, small):
        x = torch.randn(b.num_vertices, 3, dtype=torch.float64, requires_grad=True)
        conv(b, x).sum().backward()
        n = conv._workspace.buf.numel()
        P, M, KC, O = 5, 2, conv.n_kernels * 3, 2
        assert n == (P + M) * b.num_vertices * KC + 4 * M * b.num_vertices * O
