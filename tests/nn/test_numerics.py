"""Numerical robustness: implicit diffusion on meshes with unreferenced vertices, conjugate-gradient
non-convergence reports, and the smooth norm nonlinearity at z = 0."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from manifold_nets import nn as mnn  # noqa: E402
from manifold_nets.nn import Irreps  # noqa: E402
from manifold_nets.nn.diffusion import cg_solve  # noqa: E402
from manifold_nets.testing import assert_close  # noqa: E402


@pytest.fixture(scope="module")
def stray_batch(meshes):
    """A mesh with one extra vertex that no face uses (no mass, empty Laplacian row)."""
    V, F = meshes[0]
    V2 = np.vstack([V, [[3.0, 3.0, 3.0]]])
    return mnn.MeshBatch.from_meshes([(V2, F), meshes[1]], k=12, dtype=torch.float64)


def test_implicit_diffusion_is_finite_and_fast_with_an_unreferenced_vertex(stray_batch):
    b = stray_batch
    stray = b.sizes[0] - 1
    assert float(b.mass[stray]) == 0.0 and float(b.L_diag[stray]) == 0.0
    d = mnn.LearnedDiffusion(3, method="implicit", init_time=0.05).double()
    x = torch.randn(b.num_vertices, 3, dtype=torch.float64, requires_grad=True)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # converges: no warning
        y = d(b, x)
        y.square().sum().backward()
    elapsed = time.perf_counter() - t0
    assert torch.isfinite(y).all() and torch.isfinite(x.grad).all() and torch.isfinite(d.time.grad).all()
    assert elapsed < 2.0, elapsed  # was 2000 CG iterations of NaN (~14 s) before
    # heat neither reaches nor leaves a vertex without area: it keeps its value (and gradient 2y)
    assert_close(y[stray], x[stray], rtol=0, atol=0)
    assert_close(x.grad[stray], 2 * y[stray].detach(), rtol=0, atol=1e-15)
    # the other vertices are unaffected by the stray one: same as the mesh without it
    ref_batch = b.mesh(1)
    s = b.sizes[0]
    assert_close(y[s:], d(ref_batch, x[s:].detach()), rtol=1e-9, atol=1e-9)


def test_implicit_diffusion_gradcheck_with_an_unreferenced_vertex(stray_batch):
    b = stray_batch.mesh(0)
    d = mnn.LearnedDiffusion(2, method="implicit", init_time=0.1).double()
    x = torch.randn(b.num_vertices, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: d(b, v), (x,), atol=1e-6)


@pytest.mark.parametrize("family", ["diffusion", "spectral", "cheb", "gcnn", "monet", "gem"])
def test_models_are_finite_with_an_unreferenced_vertex(family, stray_batch):
    torch.manual_seed(0)
    kw = dict(method="implicit") if family == "diffusion" else {}
    net = mnn.SegmentationNet(4, 2, family=family, width=6, n_blocks=1, **kw).double()
    x = torch.randn(stray_batch.num_vertices, 4, dtype=torch.float64)
    y = net(stray_batch, x)
    y.sum().backward()
    assert torch.isfinite(y).all()
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


def _laplacian_system(n=60):
    """A 1D Dirichlet Laplacian (SPD, condition number ~ n²)."""
    main = 2 * torch.ones(n, dtype=torch.float64)
    A = torch.diag(main) - torch.diag(torch.ones(n - 1, dtype=torch.float64), 1) \
        - torch.diag(torch.ones(n - 1, dtype=torch.float64), -1)
    return A, main.unsqueeze(-1)


def test_cg_solves_and_skips_zero_diagonal_rows():
    A, diag = _laplacian_system()
    n = A.shape[0]
    Az = torch.zeros(n + 1, n + 1, dtype=torch.float64)
    Az[:n, :n] = A  # last row / column empty: a vertex without mass
    dz = torch.cat([diag, torch.zeros(1, 1, dtype=torch.float64)])
    b = torch.randn(n + 1, 2, dtype=torch.float64)
    calls = []

    def apply(v):
        calls.append(1)
        return Az @ v

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        x = cg_solve(apply, b, dz, tol=1e-12, max_iter=500)
    assert torch.isfinite(x).all() and float(x[n].abs().max()) == 0.0
    assert_close(x[:n], torch.linalg.solve(A, b[:n]), rtol=1e-9, atol=1e-9)
    assert len(calls) <= n + 5  # CG on n unknowns: at most ~n iterations in exact arithmetic


def test_cg_warns_when_it_does_not_converge():
    A, diag = _laplacian_system(200)
    b = torch.randn(200, 1, dtype=torch.float64)
    with pytest.warns(RuntimeWarning, match=r"expected a relative residual <= 1e-12 \(got .* after 5 iterations\)"):
        x = cg_solve(lambda v: A @ v, b, diag, tol=1e-12, max_iter=5)
    assert torch.isfinite(x).all()


def test_cg_stops_at_once_on_a_non_finite_residual():
    A, diag = _laplacian_system(50)
    b = torch.randn(50, 1, dtype=torch.float64)
    b[3] = float("nan")
    calls = []

    def apply(v):
        calls.append(1)
        return A @ v

    with pytest.warns(RuntimeWarning, match="non-finite residual"):
        cg_solve(apply, b, diag, tol=1e-12, max_iter=2000)
    assert len(calls) <= 2


# ----------------------------------------------------------------------------- norm nonlinearity
IR = Irreps([(2, 0), (3, 1), (2, 2)])


def _pair_columns(irreps):
    return [s for s, e, m, n in irreps.slices() if n > 0 for s in range(s, e)]


def test_norm_nonlinearity_gradient_is_bounded_at_zero():
    nl = mnn.NormNonlinearity(IR).double()
    with torch.no_grad():
        nl.bias.fill_(2.0)  # the case that used to give gradients of 1e5 and a jump at 0
    cols = _pair_columns(IR)
    x = torch.zeros(1, IR.dim, dtype=torch.float64, requires_grad=True)
    J = torch.autograd.functional.jacobian(lambda v: nl(v), x)[0, :, 0, :]  # (dim, dim)
    assert torch.isfinite(J).all()
    Jp = J[cols][:, cols]
    assert float(Jp.abs().max()) <= 1.0
    assert_close(Jp, torch.sigmoid(torch.tensor(2.0, dtype=torch.float64)) * torch.eye(len(cols), dtype=torch.float64),
                 atol=1e-6)
    # continuous at 0: tiny inputs give tiny outputs, from every direction
    for seed in range(3):
        d = torch.randn(1, IR.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        for r in (1e-3, 1e-6, 1e-9):
            y = nl(r * d).detach()
            assert float(y[0, cols].abs().max()) <= 2 * r * float(d.abs().max())


def test_relu_gate_is_still_available_and_is_the_discontinuous_one():
    nl = mnn.NormNonlinearity(IR, gate="relu").double()
    with torch.no_grad():
        nl.bias.fill_(2.0)
    cols = _pair_columns(IR)
    d = torch.randn(1, IR.dim, dtype=torch.float64)
    y = nl(1e-4 * d / d.norm()).detach()
    assert float(y[0, cols].abs().max()) > 0.1  # a jump: |f(z)| ≈ b for small z (down to sqrt(eps))
    with pytest.raises(ValueError, match="gate"):
        mnn.NormNonlinearity(IR, gate="tanh")


@pytest.mark.parametrize("gate", ["sigmoid", "relu"])
def test_norm_nonlinearity_is_exactly_equivariant(gate):
    torch.manual_seed(0)
    nl = mnn.NormNonlinearity(IR, gate=gate).double()
    with torch.no_grad():
        nl.bias.normal_()
    x = torch.randn(50, IR.dim, dtype=torch.float64)
    x[:5] = 0.0  # including exact zeros
    g = torch.rand(50, dtype=torch.float64) * 2 * np.pi
    lhs = nl(mnn.rotate_irreps(x, IR, g))
    rhs = mnn.rotate_irreps(nl(x), IR, g)
    assert_close(lhs, rhs, rtol=1e-10, atol=1e-10)


def _random_grouped(E=40, N=9, R=3, H=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    i = torch.randint(0, N, (E,), generator=g)
    j = torch.randint(0, N, (E,), generator=g)
    deg = torch.bincount(i, minlength=N)
    start = torch.cumsum(deg, 0) - deg
    order = torch.argsort(i, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(E)
    vals = torch.randn(E, R, H, dtype=torch.float64, generator=g)
    cols = torch.stack([j + h * N for h in range(H)], 1)
    dense = torch.zeros(N * R, H * N, dtype=torch.float64)
    for e in range(E):
        for r in range(R):
            for h in range(H):
                dense[i[e] * R + r, cols[e, h]] += vals[e, r, h]
    return (deg, start, i, rank - start[i], cols, vals, H * N), dense


@pytest.mark.parametrize("threads", [1, 2])
def test_sparse_operators_match_dense_on_both_kernels(threads):
    """The CSR-order builder and the COO builder give the dense matrix, through scipy's kernel
    (one thread) and torch's (more), forward and transpose (backward)."""
    from manifold_nets.nn._sparse import grouped_csr, sparse_from_coo

    args, dense = _random_grouped()
    nz = dense.nonzero()
    ops = [grouped_csr(*args),
           sparse_from_coo(nz[:, 0], nz[:, 1], dense[nz[:, 0], nz[:, 1]], tuple(dense.shape))]
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for op in ops:
            x = torch.randn(dense.shape[1], 5, dtype=torch.float64, requires_grad=True)
            y = op @ x
            assert_close(y, dense @ x, rtol=1e-12, atol=1e-12)
            g = torch.randn_like(y)
            (gx,) = torch.autograd.grad(y, x, g)
            assert_close(gx, dense.T @ g, rtol=1e-12, atol=1e-12)
            assert_close(op.T @ g, dense.T @ g, rtol=1e-12, atol=1e-12)
            assert_close(op.to_dense(), dense, rtol=0, atol=0)
            assert op.to(dtype=torch.float32).dtype == torch.float32
    finally:
        torch.set_num_threads(old)


def test_fourier_magnitude_matches_the_complex_product_and_gradchecks():
    """Gauss's three-product form equals ``|Σ A_m W_m|`` of the plain complex product."""
    from manifold_nets.nn.patch import _fourier_magnitude_response

    torch.manual_seed(0)
    M, N, K, O = 3, 11, 6, 4
    A = torch.randn(2 * M + 1, N, K, dtype=torch.float64, requires_grad=True)
    w0 = torch.randn(K, O, dtype=torch.float64, requires_grad=True)
    wr = torch.randn(M, K, O, dtype=torch.float64, requires_grad=True)
    wi = torch.randn(M, K, O, dtype=torch.float64, requires_grad=True)
    y = _fourier_magnitude_response(A, w0, wr, wi, 1e-12)
    Z = torch.complex(A[1:M + 1], A[M + 1:]) @ torch.complex(wr, wi)
    ref = A[0] @ w0 + torch.sqrt(Z.real.square() + Z.imag.square() + 1e-12).sum(0)
    assert_close(y, ref, rtol=1e-12, atol=1e-12)
    assert torch.autograd.gradcheck(lambda *t: _fourier_magnitude_response(*t, 1e-12), (A, w0, wr, wi))
