"""Every layer: batch consistency, gradcheck, dimensions, reprs and argument errors."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import Irreps  # noqa: E402
from manifold_nets.testing import assert_batch_consistent, assert_close  # noqa: E402

IR_IN = Irreps([(2, 0), (1, 1), (1, 2)])
IR_OUT = Irreps([(2, 0), (2, 1)])

# name -> (factory, input dim)
LAYERS = {
    "spectral": (lambda: mnn.SpectralConv(3, 4), 3),
    "cheb": (lambda: mnn.ChebConv(3, 4, K=4), 3),
    "cheb_degree": (lambda: mnn.ChebConv(3, 4, K=4, normalization="degree"), 3),
    "diffusion_spectral": (lambda: mnn.LearnedDiffusion(3, 3, method="spectral", init_time=0.05), 3),
    "diffusion_implicit": (lambda: mnn.LearnedDiffusion(3, 3, method="implicit", init_time=0.05), 3),
    "gradient_features": (lambda: mnn.SpatialGradientFeatures(3, 3), 3),
    "diffusionnet_block": (lambda: mnn.DiffusionNetBlock(3, 4), 3),
    "diffusionnet": (lambda: mnn.DiffusionNet(3, 2, width=8, n_blocks=2), 3),
    "gcnn": (lambda: mnn.GCNNConv(3, 4), 3),
    "gcnn_bins": (lambda: mnn.GCNNConv(3, 4, angular="bins"), 3),
    "gcnn_oriented": (lambda: mnn.GCNNConv(3, 4, angular="bins", max_over_rotations=False,
                                           orientation="principal"), 3),
    "acnn": (lambda: mnn.ACNNConv(3, 4), 3),
    "monet": (lambda: mnn.MoNetConv(3, 4), 3),
    "monet_von_mises": (lambda: mnn.MoNetConv(3, 4, angular="von_mises"), 3),
    "gem": (lambda: mnn.GEMConv(IR_IN, IR_OUT), IR_IN.dim),
    "gem_edges": (lambda: mnn.GEMConv(IR_IN, IR_OUT, method="edges"), IR_IN.dim),
    "transport_smoothing": (lambda: mnn.TransportSmoothing(IR_IN), IR_IN.dim),
}


def _call(layer):
    return lambda b, x: layer(b, x)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_batch_consistency(name, batch64):
    torch.manual_seed(0)
    make, c = LAYERS[name]
    layer = make().double().eval()
    x = torch.randn(batch64.num_vertices, c, dtype=torch.float64)
    atol = 1e-9 if name == "diffusion_implicit" else 1e-11  # CG stops per system at tol=1e-12
    assert_batch_consistent(_call(layer), batch64, x, rtol=1e-10, atol=atol)


@pytest.mark.parametrize("family", mnn.FAMILIES)
@pytest.mark.parametrize("outputs", ["vertices", "faces", "global"])
def test_models_batch_consistent(family, outputs, batch64):
    torch.manual_seed(0)
    net = mnn.SegmentationNet(5, 3, family=family, outputs=outputs, width=8, n_blocks=1).double().eval()
    x = torch.randn(batch64.num_vertices, 5, dtype=torch.float64)
    y = net(batch64, x)
    n = {"vertices": batch64.num_vertices, "faces": batch64.num_faces, "global": 3}[outputs]
    assert y.shape == (n, 3)
    assert_batch_consistent(_call(net), batch64, x, rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradcheck(name, meshes):
    from manifold_nets.nn import MeshBatch

    b = MeshBatch.from_meshes(meshes[:2], k=12, dtype=torch.float64)
    torch.manual_seed(1)
    make, c = LAYERS[name]
    layer = make().double()
    x = torch.randn(b.num_vertices, c, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: layer(b, v), (x,), atol=1e-6)


def test_gradcheck_parameters(meshes):
    """Gradients w.r.t. the learnable kernel parameters (MoNet mixture, diffusion times, GEM weights)."""
    from manifold_nets.nn import MeshBatch

    b = MeshBatch.from_meshes(meshes[:1], k=12, dtype=torch.float64)
    x = torch.randn(b.num_vertices, 3, dtype=torch.float64)
    monet = mnn.MoNetConv(3, 2, angular="von_mises").double()

    def f_monet(mu, ls, kap):
        monet.mu_rho, monet.log_sigma_rho, monet.log_kappa = mu, ls, kap
        return monet(b, x)

    params = [p.detach().clone().requires_grad_() for p in (monet.mu_rho, monet.log_sigma_rho, monet.log_kappa)]
    for name in ("mu_rho", "log_sigma_rho", "log_kappa"):
        del monet._parameters[name]
    assert torch.autograd.gradcheck(f_monet, tuple(params))
    # the gauge-invariant default: gradients through the radial kernels and the complex weights
    fm = mnn.MoNetConv(3, 2).double()
    names = ("mu_rho", "log_sigma_rho", "weight_re", "weight_im")
    params = [getattr(fm, n).detach().clone().requires_grad_() for n in names]
    for n in names:
        del fm._parameters[n]

    def f_fourier(*ps):
        for n, p in zip(names, ps):
            setattr(fm, n, p)
        return fm(b, x)

    assert torch.autograd.gradcheck(f_fourier, tuple(params))
    for method in ("spectral", "implicit"):
        d = mnn.LearnedDiffusion(3, method=method, init_time=0.1).double()
        t = d.time.detach().clone().requires_grad_()
        del d._parameters["time"]

        def f_diff(tt, d=d):
            d.time = tt
            return d(b, x)

        assert torch.autograd.gradcheck(f_diff, (t,))
    gem = mnn.GEMConv(IR_IN, IR_OUT).double()
    xg = torch.randn(b.num_vertices, IR_IN.dim, dtype=torch.float64)
    w = gem.weight.detach().clone().requires_grad_()
    sw = gem.self_weight.detach().clone().requires_grad_()
    del gem._parameters["weight"], gem._parameters["self_weight"]

    def f_gem(w_, sw_):
        gem.weight, gem.self_weight = w_, sw_
        return gem(b, xg)

    assert torch.autograd.gradcheck(f_gem, (w, sw))


def test_implicit_diffusion_solves_the_backward_euler_system(batch64):
    import scipy.sparse as sp
    import scipy.sparse.linalg as sla

    d = mnn.LearnedDiffusion(2, method="implicit", init_time=0.3).double()
    x = torch.randn(batch64.num_vertices, 2, dtype=torch.float64)
    y = d(batch64, x).detach().numpy()
    t = d.times().detach().numpy()  # relative to the mesh area
    for b, m in enumerate(batch64.data):
        s, e = int(batch64.ptr[b]), int(batch64.ptr[b + 1])
        M = sp.diags(m.mass)
        area = m.mass.sum()
        for c in range(2):
            ref = sla.spsolve((M + t[c] * area * m.L).tocsc(), M @ x[s:e, c].numpy())
            np.testing.assert_allclose(y[s:e, c], ref, atol=1e-9)
    assert_close(d.times(batch64), torch.tensor([[m.mass.sum()] for m in batch64.data]) * d.times(), atol=1e-12)


def test_spectral_diffusion_is_the_heat_semigroup(batch64):
    """Diffusing an eigenvector multiplies it by exp(−λ A t) (A the mesh area); times add up (semigroup)."""
    d = mnn.LearnedDiffusion(1, method="spectral").double()
    with torch.no_grad():
        d.time.fill_(0.2)
    phi = batch64.evecs[:, 3:4]
    y = d(batch64, phi)
    area = torch.tensor([m.mass.sum() for m in batch64.data])[batch64.batch].unsqueeze(-1)
    lam = batch64.evals[:, 3][batch64.batch].unsqueeze(-1)
    assert_close(y, torch.exp(-0.2 * lam * area) * phi, atol=1e-12)
    x = torch.randn(batch64.num_vertices, 1, dtype=torch.float64)
    with torch.no_grad():
        d.time.fill_(0.1)
    yy = d(batch64, d(batch64, x))
    with torch.no_grad():
        d.time.fill_(0.2)
    assert_close(yy, d(batch64, x), atol=1e-12)


def test_spectral_conv_filter_is_a_function_of_lambda(batch64):
    """With the self term off, an eigenvector is mapped to g(λ) times itself."""
    conv = mnn.SpectralConv(1, 1, self_loop=False, bias=False).double()
    areas = torch.tensor([m.mass.sum() for m in batch64.data])
    for k in (1, 5):
        phi = batch64.evecs[:, k:k + 1]
        y = conv(batch64, phi)
        g = conv.filters(batch64.evals, areas)[:, k, 0, 0][batch64.batch].unsqueeze(-1)
        assert_close(y, g * phi, atol=1e-12)


def test_chebconv_matches_dense_polynomial(batch64):
    conv = mnn.ChebConv(1, 1, K=3, bias=False).double()
    x = torch.randn(batch64.num_vertices, 1, dtype=torch.float64)
    w = conv.weight.detach()[:, 0, 0]
    y = conv(batch64, x)
    for b, d in enumerate(batch64.data):
        s, e = int(batch64.ptr[b]), int(batch64.ptr[b + 1])
        Lt = 2 * d.L.toarray() / d.mass[:, None] / d.lambda_max - np.eye(d.n_vertices)
        xb = x[s:e, 0].numpy()
        ref = w[0].item() * xb + w[1].item() * Lt @ xb + w[2].item() * (2 * Lt @ Lt @ xb - xb)
        np.testing.assert_allclose(y[s:e, 0].detach().numpy(), ref, atol=1e-10)
        # λ_max is an upper bound of the spectrum of M⁻¹L, so L̃ has its spectrum in [−1, 1]
        ev = np.linalg.eigvals(Lt).real
        assert ev.max() <= 1 + 1e-9 and ev.min() >= -1 - 1e-9


def test_chebconv_degree_normalisation_matches_dense_polynomial(batch64):
    """``normalization="degree"``: ``L̃ = D⁻¹L − I`` with ``D`` the off-diagonal absolute row sums of
    ``L``, spectrum in ``[−1, 1]`` without any estimate, and independent of the vertex areas."""
    conv = mnn.ChebConv(1, 1, K=3, bias=False, normalization="degree").double()
    x = torch.randn(batch64.num_vertices, 1, dtype=torch.float64)
    w = conv.weight.detach()[:, 0, 0]
    y = conv(batch64, x)
    for b, d in enumerate(batch64.data):
        s, e = int(batch64.ptr[b]), int(batch64.ptr[b + 1])
        L = d.L.toarray()
        D = np.abs(L - np.diag(np.diag(L))).sum(1)
        Lt = L / D[:, None] - np.eye(d.n_vertices)
        xb = x[s:e, 0].numpy()
        ref = w[0].item() * xb + w[1].item() * Lt @ xb + w[2].item() * (2 * Lt @ Lt @ xb - xb)
        np.testing.assert_allclose(y[s:e, 0].detach().numpy(), ref, atol=1e-10)
        ev = np.linalg.eigvals(Lt).real
        assert ev.max() <= 1 + 1e-9 and ev.min() >= -1 - 1e-9
    with pytest.raises(ValueError, match="normalization: expected 'mass' or 'degree'"):
        mnn.ChebConv(1, 1, normalization="sym")
    # the torch path (other devices) gives the scipy path's degrees
    from manifold_nets.nn._sparse import (
        SparseOperator,
        _offdiag_abs_rowsum_scipy,
        _offdiag_abs_rowsum_torch,
    )

    op = SparseOperator(batch64.data[0].L, dtype=torch.float64)
    torch.testing.assert_close(_offdiag_abs_rowsum_torch(op), _offdiag_abs_rowsum_scipy(op), rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_repr_and_reset(name, batch64):
    """``reset_parameters`` restores the initial state: under the same seed it reproduces the initial
    values exactly (and hence the output), whatever the parameters were perturbed to."""
    make, c = LAYERS[name]
    torch.manual_seed(3)
    layer = make().double()
    r = repr(layer)
    assert type(layer).__name__ in r and len(r) < 2000
    assert type(layer).__doc__ and "Shapes" in type(layer).__doc__
    x = torch.randn(batch64.num_vertices, c, dtype=torch.float64)
    torch.manual_seed(11)
    layer.reset_parameters()
    before = [p.detach().clone() for p in layer.parameters()]
    y0 = layer(batch64, x).detach()
    if not before:  # parameter-free layers: reset is a no-op and the output is unchanged
        assert_close(layer(batch64, x), y0, atol=0, rtol=0)
        return
    with torch.no_grad():
        for p in layer.parameters():
            p.mul_(-3.0).add_(0.7)
    assert not all(torch.equal(p, q) for p, q in zip(before, layer.parameters()))
    assert float((layer(batch64, x) - y0).detach().abs().max()) > 1e-6  # the perturbation is visible
    torch.manual_seed(11)
    layer.reset_parameters()
    for p, q in zip(before, layer.parameters()):
        assert p.shape == q.shape
        assert torch.equal(p, q.detach())
    assert_close(layer(batch64, x), y0, atol=1e-13, rtol=0)


def test_argument_errors(batch64):
    with pytest.raises(ValueError, match="method"):
        mnn.LearnedDiffusion(3, method="explicit")
    with pytest.raises(ValueError, match="out_channels"):
        mnn.LearnedDiffusion(3, 4)
    with pytest.raises(ValueError, match="family"):
        mnn.SegmentationNet(3, 2, family="transformer")
    with pytest.raises(ValueError, match="outputs"):
        mnn.SegmentationNet(3, 2, outputs="edges")
    with pytest.raises(ValueError, match="regular"):
        mnn.RegularNonlinearity(Irreps([(2, 0), (1, 1)]))
    with pytest.raises(ValueError, match="n_samples"):
        mnn.RegularNonlinearity(Irreps.regular(2, 3), n_samples=6)
    nopatch = mnn.MeshBatch.from_data([batch64.data[0].__class__(**{**batch64.data[0].__dict__, "patch_pairs": None})])
    with pytest.raises(ValueError, match="patches"):
        mnn.GCNNConv(2, 2)(nopatch, torch.zeros(nopatch.num_vertices, 2))


def test_irreps_type():
    ir = Irreps.regular(3, 2)
    assert ir.dim == 15 and ir.max_order == 2 and ir.is_regular() and ir.num_invariants == 9
    assert Irreps(4) == Irreps.scalar(4) and repr(Irreps([(1, 0), (2, 1)])) == "Irreps(1x0 + 2x1)"
    x = torch.randn(5, ir.dim, dtype=torch.float64)
    a = torch.rand(5, dtype=torch.float64)
    back = mnn.rotate_irreps(mnn.rotate_irreps(x, ir, a), ir, -a)
    assert_close(back, x)
    # order n rotates by n·angle: rotating an order-2 pair by π is the identity
    x2 = torch.randn(5, Irreps([(1, 2)]).dim, dtype=torch.float64)
    assert_close(mnn.rotate_irreps(x2, Irreps([(1, 2)]), torch.full((5,), np.pi, dtype=torch.float64)), x2)


@pytest.mark.parametrize("irreps", [
    (Irreps([(2, 0), (1, 1), (1, 2)]), Irreps([(2, 0), (2, 1)])),
    (Irreps(4), Irreps.regular(2, 3)),
    (Irreps([(2, 1), (1, 0), (1, 1)]), Irreps([(1, 2), (3, 0)])),  # repeated orders, any block order
])
def test_gem_fourier_path_equals_the_edge_by_edge_kernel(irreps, batch64):
    ir_in, ir_out = irreps
    conv = mnn.GEMConv(ir_in, ir_out, n_radial=3).double()
    x = torch.randn(batch64.num_vertices, ir_in.dim, dtype=torch.float64)
    y_fast = conv(batch64, x)
    conv.method = "edges"
    assert_close(y_fast, conv(batch64, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("irreps", [
    (Irreps.regular(3, 2), Irreps.regular(3, 2)),  # what GEMBlock uses
    (Irreps(4), Irreps.regular(2, 3)),
    (Irreps([(2, 0), (2, 1), (1, 1), (1, 2)]), Irreps([(1, 0), (2, 1), (1, 1), (2, 2)])),  # adjacent same-order blocks
])
def test_gem_in_order_assembly_equals_the_general_one(irreps, batch64):
    """With one contiguous column range per output order the result is assembled in place (mixing
    columns permuted, self term and bias accumulated); it must equal the general gather, values and
    gradients of every parameter, with one thread (scipy's sparse kernels) and with two (torch's)."""
    ir_in, ir_out = irreps
    torch.manual_seed(0)
    conv = mnn.GEMConv(ir_in, ir_out, n_radial=2).double()
    with torch.no_grad():
        conv.bias.normal_()
    assert conv._out_ranges(torch.device("cpu")) is not None
    x = torch.randn(batch64.num_vertices, ir_in.dim, dtype=torch.float64, requires_grad=True)
    gy = torch.randn(batch64.num_vertices, ir_out.dim, dtype=torch.float64)
    params = [x, conv.weight, conv.self_weight, conv.bias]
    outs = []
    for threads in (1, 2):
        n0 = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            y = conv(batch64, x)
            outs.append((y, torch.autograd.grad(y, params, gy)))
        finally:
            torch.set_num_threads(n0)
    conv._cols_on[("ranges", "cpu")] = None  # force the general path
    y0 = conv(batch64, x)
    g0 = torch.autograd.grad(y0, params, gy)
    for y, g in outs:
        assert_close(y, y0, rtol=1e-12, atol=1e-12)
        for a, b in zip(g, g0):
            assert_close(a, b, rtol=1e-11, atol=1e-11)


def test_monet_matches_its_formula(batch64):
    """y_i = mean_j Σ_k w_k(ρ_ij, θ_ij) x_j G_k + x_i W_self + b, evaluated edge by edge in numpy."""
    conv = mnn.MoNetConv(3, 2, n_kernels=4, angular="von_mises").double()
    with torch.no_grad():
        conv.bias.normal_()
    x = torch.randn(batch64.num_vertices, 3, dtype=torch.float64)
    y = conv(batch64, x).detach().numpy()
    rho, theta = (t.numpy() for t in mnn.patch_coordinates(batch64))
    mu_r, mu_t = conv.mu_rho.detach().numpy(), conv.mu_theta.detach().numpy()
    sr, kap = np.exp(conv.log_sigma_rho.detach().numpy()), np.exp(conv.log_kappa.detach().numpy())
    G = conv.weight.detach().numpy().reshape(3, 4, 2)
    X = x.numpy()
    ref = X @ conv.self_weight.detach().numpy() + conv.bias.detach().numpy()
    E = batch64.patch_pairs.numpy()
    deg = np.bincount(E[:, 0], minlength=len(X))
    acc = np.zeros_like(ref)
    for e, (i, j) in enumerate(E):
        w = np.exp(-0.5 * ((rho[e] - mu_r) / sr) ** 2 + kap * (np.cos(theta[e] - mu_t) - 1))
        acc[i] += np.einsum("k,c,cko->o", w, X[j], G)
    ref += acc / deg[:, None]
    np.testing.assert_allclose(y, ref, atol=1e-12)


def test_implicit_diffusion_model_trains_its_times(batch64):
    torch.manual_seed(0)
    net = mnn.SegmentationNet(3, 2, family="diffusion", method="implicit", width=6, n_blocks=1).double()
    x = torch.randn(batch64.num_vertices, 3, dtype=torch.float64)
    assert_batch_consistent(lambda b, v: net(b, v), batch64, x, rtol=1e-9, atol=1e-9)
    net(batch64, x).square().sum().backward()
    t = net.backbone.blocks[0].diffusion.time
    assert t.grad is not None and float(t.grad.abs().max()) > 0


@pytest.mark.parametrize("name", ["cheb", "spectral", "diffusion_spectral", "diffusion_implicit",
                                  "gradient_features", "diffusionnet_block", "diffusionnet"])
def test_dtype_mismatch_is_a_clear_error(name, batch32):
    make, c = LAYERS[name]
    layer = make().double()
    with pytest.raises(TypeError, match=r"expected x of the batch's dtype torch.float32 \(got torch.float64\).*batch.to"):
        layer(batch32, torch.zeros(batch32.num_vertices, c, dtype=torch.float64))


@pytest.mark.parametrize("family", ["diffusion", "spectral", "cheb"])
def test_dtype_mismatch_in_models_is_a_clear_error(family, batch32):
    net = mnn.SegmentationNet(3, 2, family=family, width=4, n_blocks=1).double()
    with pytest.raises(TypeError, match="expected x of the batch's dtype"):
        net(batch32, torch.zeros(batch32.num_vertices, 3, dtype=torch.float64))
