"""Geodesic-patch family: convolutions on geodesic polar charts ``(r, θ)`` around every vertex.

Every layer reads the flat patch arrays of a :class:`~manifold_nets.nn.MeshBatch`
(``edges (E, 2)`` = (centre i, neighbour j), ``pair_r``, ``pair_theta`` in ``i``'s gauge) and
the radius ``patch_radius`` per mesh, which normalises ``ρ = r / radius ∈ [0, 1]``.

The angular origin of a patch (the vertex gauge) is arbitrary: it follows from the face order and
the corner order of the mesh file.  By default every layer here is therefore exactly independent
of it (see :mod:`manifold_nets.nn.symmetries`):

* :class:`GCNNConv` — radial rings ``a`` and, per ring, the angular Fourier coefficients of the
  patch ``Â_{a,m} = Σ_j w_a(ρ_ij) e^{−i m θ_ij} x_j`` (``m = 0..max_frequency``).  A gauge change
  by ``g`` multiplies ``Â_{a,m}`` by ``e^{i m g}``, so the response
  ``Σ Â_{·,0} W_0 + Σ_{m≥1} |Σ Â_{·,m} W_m|`` (complex ``W_m``) is exactly gauge invariant — the
  continuous-angle limit of Masci et al.'s max over kernel rotations.  ``angular="bins"`` keeps
  the original polar bins with a max over the ``n_theta`` discrete rotations (exact only for
  rotations by multiples of ``2π / n_theta``, i.e. gauge dependent) or an explicit orientation.
* :class:`ACNNConv` — anisotropic Gaussian kernels at several scales and orientations, measured
  from the first principal curvature direction (a line field, defined mod π; the kernels are
  π-periodic in θ, so the sign ambiguity of the direction does not matter).
* :class:`MoNetConv` — learnable Gaussian kernels in ``ρ``; by default (``angular="fourier"``)
  each kernel's angular Fourier coefficients enter through their magnitudes, as in GCNN, so the
  layer is exactly gauge invariant.  ``angular="von_mises"`` keeps Monti et al.'s mixture over
  ``(ρ, θ)`` (von Mises in ``θ``), which is gauge dependent.

The fixed (parameter-free) patch weights of GCNN and ACNN are made once per batch and cached on
the batch: GCNN's as a sparse operator, so a layer is one sparse product and a few dense ones;
ACNN's as kernel values on the patch pairs (:class:`~manifold_nets.nn._sparse.PairKernels`),
applied together with its weights in chunks of vertices of equal degree
(:func:`~manifold_nets.nn._sparse.pair_linear`), so its ``(N, n_kernels · C)`` intermediate is
never formed whole.
MoNet's weights depend on its parameters, so its values are refilled every layer into a CSR
pattern that, with the edge phases, is cached on the batch (:func:`_edge_pattern`); its patch
coefficients and their magnitudes are one autograd function (:class:`_FourierEdgeResponse`) whose
backward writes the coefficients' gradient over the coefficients, in a buffer the layer keeps
from one training step to the next (:class:`_Workspace`).  The magnitudes of GCNN and MoNet use
three real matrix products per complex product instead of four (:class:`_FourierMagnitude`),
forward and backward.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import nn

from ..errors import MeshShapeError
from ._config import configurable
from ._sparse import (
    PairKernels,
    SparseOperator,
    csr_times_dense,
    pair_linear,
    scipy_csr,
    sparse_from_coo,
    use_scipy_kernel,
)
from .batch import MeshBatch

__all__ = ["GCNNConv", "ACNNConv", "MoNetConv", "patch_coordinates", "angular_fourier_operator"]


def _require_patches(batch: MeshBatch, who: str) -> None:
    if not batch.has_patches:
        raise MeshShapeError(f"{who}: expected a MeshBatch with geodesic patches (got patches=None); "
                             "build it with MeshBatch.from_meshes(..., patches=True)")


def patch_coordinates(batch: MeshBatch, orientation=None):
    """Normalised polar coordinates of every patch edge.

    Parameters
    ----------
    batch : MeshBatch
    orientation : None, "gauge", "principal" or tensor ``(N,)``
        Angle (in each vertex's gauge) of the direction that becomes ``θ = 0``.

    Returns
    -------
    rho, theta : ``(E,)`` tensors; ``rho = r / patch_radius`` and ``theta`` in ``[0, 2π)``.
    """
    rho = batch.pair_r / batch.patch_radius[batch.pair_batch]
    theta = batch.pair_theta
    if orientation is None or (isinstance(orientation, str) and orientation == "gauge"):
        pass
    elif isinstance(orientation, str) and orientation == "principal":
        if batch.principal_angle is None:
            raise MeshShapeError("orientation='principal': the batch has no principal curvature directions "
                                 "(build it with curvature=True)")
        theta = theta - batch.principal_angle[batch.patch_pairs[:, 0]]
    elif isinstance(orientation, torch.Tensor):
        theta = theta - orientation.to(theta.dtype)[batch.patch_pairs[:, 0]]
    else:
        raise MeshShapeError(f"orientation: expected None, 'gauge', 'principal' or an (N,) tensor (got {orientation!r})")
    return rho, torch.remainder(theta, 2 * math.pi)


def _row_normalised_operator(rows, cols, vals, n_rows, n_cols) -> SparseOperator:
    rowsum = vals.new_zeros(n_rows).index_add_(0, rows, vals)
    vals = vals / rowsum[rows].clamp_min(torch.finfo(vals.dtype).tiny)
    return sparse_from_coo(rows, cols, vals, (n_rows, n_cols))


def _cache(batch: MeshBatch) -> dict:
    c = batch.__dict__.get("_cache")
    if c is None:
        c = batch.__dict__["_cache"] = {}
    return c


def polar_bin_operator(batch: MeshBatch, n_rho: int, n_theta: int, orientation=None) -> SparseOperator:
    """Sparse ``(N · n_rho · n_theta, N)`` operator: row ``(i, a, b)`` averages ``x_j`` over bin ``(a, b)``.

    Radial bin centres are ``ρ_a = (a + 1) / n_rho`` (clamped at both ends), angular bin centres
    ``θ_b = 2π b / n_theta`` (periodic); each edge is spread bilinearly over ≤ 4 bins, and each
    bin is divided by its total weight (an empty bin gives 0).
    """
    key = ("polar", n_rho, n_theta, orientation if not isinstance(orientation, torch.Tensor) else id(orientation))
    cache = _cache(batch)
    if key in cache and not isinstance(orientation, torch.Tensor):
        return cache[key]
    rho, theta = patch_coordinates(batch, orientation)
    i, j = batch.patch_pairs[:, 0], batch.patch_pairs[:, 1]
    u = (rho * n_rho - 1.0).clamp(0.0, float(n_rho - 1))
    r_lo = torch.clamp(torch.floor(u), max=max(n_rho - 2, 0)).long()
    fr = (u - r_lo.to(u.dtype)) if n_rho > 1 else torch.zeros_like(u)
    r_hi = torch.clamp(r_lo + 1, max=n_rho - 1)
    v = theta / (2 * math.pi / n_theta)
    t_fl = torch.floor(v)
    ft = v - t_fl
    t_lo = torch.remainder(t_fl.long(), n_theta)
    t_hi = torch.remainder(t_lo + 1, n_theta)
    nb = n_rho * n_theta
    rows, vals = [], []
    for rb, wr in ((r_lo, 1 - fr), (r_hi, fr)):
        for tb, wt in ((t_lo, 1 - ft), (t_hi, ft)):
            rows.append(i * nb + rb * n_theta + tb)
            vals.append(wr * wt)
    rows, vals = torch.cat(rows), torch.cat(vals)
    keep = vals > 0
    op = _row_normalised_operator(rows[keep], torch.cat([j] * 4)[keep], vals[keep], batch.num_vertices * nb,
                                  batch.num_vertices)
    if not isinstance(orientation, torch.Tensor):
        cache[key] = op
    return op


def _radial_hat(rho: torch.Tensor, n_rho: int):
    """Linear interpolation weights between ring centres ``(a + 1) / n_rho`` (clamped at both ends).

    Returns ``[(ring index (E,), weight (E,)), …]`` (two entries; weights sum to 1 per edge).
    """
    u = (rho * n_rho - 1.0).clamp(0.0, float(n_rho - 1))
    r_lo = torch.clamp(torch.floor(u), max=max(n_rho - 2, 0)).long()
    fr = (u - r_lo.to(u.dtype)) if n_rho > 1 else torch.zeros_like(u)
    r_hi = torch.clamp(r_lo + 1, max=n_rho - 1)
    return [(r_lo, 1 - fr), (r_hi, fr)]


def angular_fourier_operator(batch: MeshBatch, n_rho: int, max_frequency: int) -> SparseOperator:
    r"""Sparse ``((2M + 1) · N · n_rho, N)`` operator of the ring-wise angular Fourier coefficients.

    Row ``(k, i, a)`` (order-major, so the product reshapes to ``(2M + 1, N, n_rho · C)`` without a
    copy) with ``k = 0`` holds ``Σ_j w_a(ρ_ij) x_j / Σ_j w_a(ρ_ij)`` and, for ``m = 1..M``,
    ``k = m`` / ``M + m`` the real / imaginary part of
    ``Σ_j w_a(ρ_ij) e^{−i m θ_ij} x_j / Σ_j w_a(ρ_ij)`` (``w_a`` linear interpolation between the
    ring centres ``(a + 1) / n_rho``).  A gauge change ``θ ← θ − g_i`` multiplies the order-``m``
    coefficient by ``e^{i m g_i}``; the normalisation does not depend on ``θ``.  Cached on the batch.
    """
    key = ("fourier", n_rho, max_frequency)
    cache = _cache(batch)
    if key in cache:
        return cache[key]
    rho, theta = patch_coordinates(batch)
    i, j = batch.patch_pairs[:, 0], batch.patch_pairs[:, 1]
    nk = 2 * max_frequency + 1
    N = batch.num_vertices
    # per-ring normalisation (independent of θ)
    ringsum = rho.new_zeros(batch.num_vertices * n_rho)
    for rb, wr in _radial_hat(rho, n_rho):
        ringsum.index_add_(0, i * n_rho + rb, wr)
    ringsum = ringsum.clamp_min(torch.finfo(rho.dtype).tiny)
    rows, cols, vals = [], [], []
    for rb, wr in _radial_hat(rho, n_rho):
        w = wr / ringsum[i * n_rho + rb]
        keep = wr > 0
        phases = [(0, w)]
        for m in range(1, max_frequency + 1):
            phases += [(m, w * torch.cos(m * theta)), (max_frequency + m, -w * torch.sin(m * theta))]
        for k, v in phases:
            rows.append(((k * N + i) * n_rho + rb)[keep])
            cols.append(j[keep])
            vals.append(v[keep])
    op = sparse_from_coo(torch.cat(rows), torch.cat(cols), torch.cat(vals), (nk * N * n_rho, N))
    cache[key] = op
    return op


def _magnitude_forward(A, s, w0, c, d, eps, out=None):
    """Forward of :class:`_FourierMagnitude` with ``s (M, N, K)`` given (written here): ``(y, re, im, mag)``.

    ``out``: optional ``(re, im, mag)`` ``(M, N, O)`` buffers to write them in.
    """
    M = (A.shape[0] - 1) // 2
    a0, a, b = A[0], A[1:M + 1], A[M + 1:]
    torch.add(a, b, out=s)
    if out is None:
        out = (A.new_empty(M, A.shape[1], w0.shape[1]) for _ in range(3))
    re, im, mag = out
    torch.bmm(s, c, out=im)  # k1 = (a + b) c
    torch.baddbmm(im, b, c + d, alpha=-1.0, out=re)
    im.baddbmm_(a, d - c)
    torch.mul(re, re, out=mag).addcmul_(im, im).add_(eps).sqrt_()  # in place: no (M, N, O) temporaries
    return torch.addmm(mag.sum(0), a0, w0), re, im, mag


def _magnitude_output_grads(gy, re, im, mag):
    """``(gre, gim, gk1)``: gradients w.r.t. the real and imaginary parts and the shared product ``k1``."""
    inv = gy.unsqueeze(0) / mag
    gre, gim = re * inv, im * inv
    return gre, gim, gre + gim  # k1 enters re and im; k2 only im; k3 only re (with a minus sign)


def _magnitude_weight_grads(A, s, gre, gim, gk1):
    """``(gc, gd)`` ``(M, K, O)`` of :class:`_FourierMagnitude`: per order with mm on transposed views
    (BLAS reads them in place; bmm would copy them)."""
    M = (A.shape[0] - 1) // 2
    a, b = A[1:M + 1], A[M + 1:]
    K, O = A.shape[2], gre.shape[2]
    gc, gd = A.new_empty(M, K, O), A.new_empty(M, K, O)
    for m in range(M):
        p2 = a[m].T @ gim[m]
        p3 = b[m].T @ gre[m]  # bᵀ (∂/∂k3) = −p3 with ∂/∂k3 = −gre
        torch.mm(s[m].T, gk1[m], out=gc[m])
        gc[m].sub_(p2).sub_(p3)
        torch.sub(p2, p3, out=gd[m])
    return gc, gd


def _magnitude_input_grad(gA, t, gy, w0, c, d, gre, gim, gk1):
    """Writes the gradient w.r.t. ``A`` into ``gA (2M + 1, N, K)``, using ``t (M, N, K)`` as scratch.

    ``gA`` and ``t`` may be the memory of ``A`` and ``s`` themselves once nothing else reads them.
    """
    M = (gA.shape[0] - 1) // 2
    torch.mm(gy, w0.T, out=gA[0])
    torch.bmm(gk1, c.transpose(1, 2), out=t)  # ∂/∂s, shared by a and b (s = a + b)
    torch.baddbmm(t, gim, (d - c).transpose(1, 2), out=gA[1:M + 1])
    torch.baddbmm(t, gre, (c + d).transpose(1, 2), alpha=-1.0, out=gA[M + 1:])


class _FourierMagnitude(torch.autograd.Function):
    r"""``y = A_0 w0 + Σ_m sqrt(|A_m W_m|² + eps)`` with the complex products done by Gauss's trick.

    ``A (2M + 1, N, K)`` holds order 0, the real parts ``a`` of orders ``1..M`` and their
    imaginary parts ``b``; ``W_m = c + i d``.  ``(a + ib)(c + id)`` is formed from three real
    products, ``k1 = (a + b) c``, ``k2 = a (d − c)``, ``k3 = b (c + d)``:
    ``re = k1 − k3``, ``im = k1 + k2`` (algebraically identical to ``ac − bd``, ``ad + bc``),
    so the forward and the backward each do 3/4 of the batched matrix products of the plain
    complex product.
    """

    @staticmethod
    def forward(ctx, A, w0, c, d, eps):
        M = (A.shape[0] - 1) // 2
        s = A.new_empty((M,) + tuple(A.shape[1:]))
        y, re, im, mag = _magnitude_forward(A, s, w0, c, d, eps)
        ctx.save_for_backward(A, s, w0, c, d, re, im, mag)
        return y

    @staticmethod
    def backward(ctx, gy):
        A, s, w0, c, d, re, im, mag = ctx.saved_tensors
        gy = gy.contiguous()
        gre, gim, gk1 = _magnitude_output_grads(gy, re, im, mag)
        gA = gw0 = gc = gd = None
        if ctx.needs_input_grad[0]:
            gA = torch.empty_like(A)
            _magnitude_input_grad(gA, torch.empty_like(s), gy, w0, c, d, gre, gim, gk1)
        if ctx.needs_input_grad[1]:
            gw0 = A[0].T @ gy
        if ctx.needs_input_grad[2] or ctx.needs_input_grad[3]:
            gc, gd = _magnitude_weight_grads(A, s, gre, gim, gk1)
        return gA, gw0, gc, gd, None


def _fourier_magnitude_response(A: torch.Tensor, w0: torch.Tensor, w_re: torch.Tensor, w_im: torch.Tensor,
                                eps: float) -> torch.Tensor:
    r"""Gauge-invariant response of angular Fourier coefficients.

    ``A (2M + 1, N, K)`` (order 0, the real parts of orders ``1..M``, then their imaginary parts),
    ``w0 (K, O)``, ``w_re, w_im (M, K, O)`` ->
    ``A_0 w0 + Σ_m sqrt(|Σ_k A_{m,k} W_{m,k}|² + eps)`` ``(N, O)`` (see :class:`_FourierMagnitude`).
    """
    nk, N, K = A.shape
    M = (nk - 1) // 2
    w0 = w0.to(A.dtype)
    if M == 0:
        return A[0] @ w0
    return _FourierMagnitude.apply(A.contiguous(), w0, w_re.to(A.dtype), w_im.to(A.dtype), float(eps))


@configurable
class GCNNConv(nn.Module):
    r"""Geodesic CNN convolution (Masci et al. 2015 style), gauge invariant by default.

    ``angular="fourier"`` (default):
    ``y_i = Σ_{a,c} Â_{i,a,0,c} W⁰_{a,c} + Σ_{m=1}^{M} |Σ_{a,c} Â_{i,a,m,c} W^m_{a,c}| + x_i W_self + b``
    with ``Â`` the ring-wise angular Fourier coefficients of the patch
    (:func:`angular_fourier_operator`) and complex ``W^m``.  The magnitude is taken per output
    channel and smoothed (``sqrt(|z|² + eps)``).  Exactly invariant to any rotation of the patch
    origin (the continuous limit of the max over kernel rotations), so the output does not depend
    on the gauge, hence not on the face or corner order of the mesh.

    ``angular="bins"`` (explicit choice; gauge dependent): the original polar bins
    (``n_rho × n_theta``, bilinear, each bin normalised by its total weight, see
    :func:`polar_bin_operator`) and ``y_i = max_s Σ_{a,b} (P x)_{i,a,b} W_{a,b+s} + …`` over the
    ``n_theta`` discrete kernel rotations (exact only for rotations of the origin by multiples
    of ``2π / n_theta``), or ``s = 0`` with ``max_over_rotations=False`` and an ``orientation``.

    Parameters
    ----------
    in_channels, out_channels : int
    n_rho : int
        Radial rings / bins.
    max_frequency : int
        Highest angular frequency ``M`` (``angular="fourier"``).
    angular : {"fourier", "bins"}
    n_theta : int
        Angular bins (``angular="bins"``).
    max_over_rotations : bool
        ``angular="bins"`` only.
    orientation : None, "gauge", "principal"
        Angular origin of the bins (``angular="bins"`` only; a tensor may also be passed to
        :meth:`forward`).
    bias : bool
    eps : float
        Smoothing of the magnitudes.

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``; uses the batch's patches.
    """

    def __init__(self, in_channels: int, out_channels: int, *, n_rho: int = 2, max_frequency: int = 3,
                 angular: str = "fourier", n_theta: int = 8, max_over_rotations: bool = True, orientation=None,
                 bias: bool = True, eps: float = 1e-12):
        super().__init__()
        if angular not in ("fourier", "bins"):
            raise MeshShapeError(f"angular: expected 'fourier' or 'bins' (got {angular!r})")
        if angular == "fourier" and orientation is not None:
            raise MeshShapeError("orientation: expected None with angular='fourier' (the response is gauge invariant; "
                                 f"use angular='bins' for oriented patches) (got {orientation!r})")
        if n_rho < 1 or max_frequency < 0 or n_theta < 1:
            raise MeshShapeError(f"n_rho, n_theta, max_frequency: expected n_rho >= 1, n_theta >= 1, max_frequency >= 0 "
                                 f"(got {n_rho}, {n_theta}, {max_frequency})")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.angular, self.n_rho, self.eps = angular, n_rho, float(eps)
        self.n_theta, self.max_over_rotations, self.orientation = n_theta, max_over_rotations, orientation
        self.max_frequency = max_frequency
        if angular == "fourier":
            K = n_rho * in_channels
            self.weight = nn.Parameter(torch.empty(K, out_channels))  # order 0
            self.weight_re = nn.Parameter(torch.empty(max_frequency, K, out_channels))
            self.weight_im = nn.Parameter(torch.empty(max_frequency, K, out_channels))
        else:
            self.weight = nn.Parameter(torch.empty(n_rho, n_theta, in_channels, out_channels))
            self.weight_re = self.weight_im = None
        self.self_weight = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.angular == "fourier":
            fan = self.in_channels * (self.n_rho * (2 * self.max_frequency + 1) + 1)
            for w in (self.weight, self.weight_re, self.weight_im):
                nn.init.normal_(w, std=math.sqrt(2.0 / fan))
        else:
            fan = self.in_channels * (self.n_rho * self.n_theta + 1)
            nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan))
        nn.init.normal_(self.self_weight, std=math.sqrt(2.0 / fan))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        if self.angular == "fourier":
            return (f"{self.in_channels}, {self.out_channels}, n_rho={self.n_rho}, "
                    f"max_frequency={self.max_frequency}, angular='fourier'")
        return (f"{self.in_channels}, {self.out_channels}, n_rho={self.n_rho}, n_theta={self.n_theta}, "
                f"angular='bins', max_over_rotations={self.max_over_rotations}, orientation={self.orientation!r}")

    def _all_rotations(self, A: torch.Tensor) -> torch.Tensor:
        """``y[:, s] = Σ_{a,b,c} A[:, a, b, c] W[a, b − s, c]`` for every rotation ``s``: ``(N, n_theta, out)``."""
        N = A.shape[0]
        Ws = torch.stack([torch.roll(self.weight.to(A.dtype), s, dims=1) for s in range(self.n_theta)], dim=-2)
        y = A.reshape(N, -1) @ Ws.reshape(-1, self.n_theta * self.out_channels)
        return y.reshape(N, self.n_theta, self.out_channels)

    def forward(self, batch: MeshBatch, x: torch.Tensor, orientation=None) -> torch.Tensor:
        _require_patches(batch, "GCNNConv")
        N, C = x.shape
        if self.angular == "fourier":
            if orientation is not None:
                raise MeshShapeError("orientation: expected None with angular='fourier' "
                                     f"(got {type(orientation).__name__}); use angular='bins' for oriented patches")
            P = angular_fourier_operator(batch, self.n_rho, self.max_frequency)
            if P.dtype != x.dtype:
                P = P.to(dtype=x.dtype)
            A = (P @ x).reshape(2 * self.max_frequency + 1, N, self.n_rho * C)
            y = _fourier_magnitude_response(A, self.weight, self.weight_re, self.weight_im, self.eps)
        else:
            orientation = self.orientation if orientation is None else orientation
            P = polar_bin_operator(batch, self.n_rho, self.n_theta, orientation)
            if P.dtype != x.dtype:
                P = P.to(dtype=x.dtype)
            A = (P @ x).reshape(N, self.n_rho * self.n_theta * C)
            if self.max_over_rotations:
                y = self._all_rotations(A.reshape(N, self.n_rho, self.n_theta, C)).max(dim=1).values
            else:
                y = A @ self.weight.reshape(-1, self.out_channels)
        y = y + x @ self.self_weight
        if self.bias is not None:
            y = y + self.bias
        return y


def anisotropic_operator(batch: MeshBatch, scales, n_orientations: int, anisotropy: float,
                         orientation="principal") -> SparseOperator:
    """Sparse ``(N · n_kernels, N)`` operator of normalised anisotropic Gaussian patch kernels.

    Kernel ``(s, l)``: ``exp(−(u²/α + v²) / (2 σ_s²))`` with ``(u, v)`` the patch point
    ``ρ (cos θ', sin θ')`` in axes rotated by ``φ_l = π l / n_orientations`` from the orientation
    field (``α = anisotropy`` elongates the kernel along ``φ_l``); rows sum to 1.  Row
    ``i · n_kernels + k`` is row ``i`` of kernel ``k``.
    """
    return _anisotropic_kernels(batch, scales, n_orientations, anisotropy, orientation).ops()[0]


def _anisotropic_kernels(batch: MeshBatch, scales, n_orientations: int, anisotropy: float,
                         orientation) -> PairKernels:
    """The kernels of :func:`anisotropic_operator` on the patch pairs (values ``(E, n_kernels)``),
    cached on the batch; their layouts (CSR stacks, degree groups) are made on first use."""
    key = ("aniso", tuple(scales), n_orientations, float(anisotropy), orientation)
    cache = _cache(batch)
    if key in cache:
        return cache[key]
    rho, theta = patch_coordinates(batch, orientation)
    i, j = batch.patch_pairs[:, 0], batch.patch_pairs[:, 1]
    nk = len(scales) * n_orientations
    phi = torch.tensor([math.pi * l / n_orientations for l in range(n_orientations)], dtype=rho.dtype,
                       device=rho.device)
    sig2 = torch.tensor([2 * s * s for s in scales], dtype=rho.dtype, device=rho.device)
    d = theta.unsqueeze(1) - phi  # (E, n_orientations)
    u, v = rho.unsqueeze(1) * torch.cos(d), rho.unsqueeze(1) * torch.sin(d)
    q = u * u / anisotropy + v * v
    # (E, nk), kernel k = (s, l): one division by a scalar per scale (the same values as
    # −q / σ², the sign being exact); the broadcast (E, 1, L) / (1, S, 1) took 5 ms of the 15 ms
    # here on the benchmark's batch (131,766 pairs, one thread), these two 0.5 ms
    vals = torch.cat([q / -s2 for s2 in sig2], 1).exp_()
    rowsum = vals.new_zeros(batch.num_vertices, nk).index_add_(0, i, vals)
    vals = vals / rowsum.clamp_min_(torch.finfo(vals.dtype).tiny).index_select(0, i)
    cache[key] = PairKernels(i, j, vals, batch.num_vertices)
    return cache[key]


@configurable
class ACNNConv(nn.Module):
    r"""Anisotropic convolution (Boscaini et al. 2016 style) aligned with principal curvature directions.

    ``y_i = Σ_{s,l} (K_{s,l} x)_i W_{s,l} + x_i W_self + b`` with ``K_{s,l}`` the normalised
    anisotropic Gaussian patch kernels of :func:`anisotropic_operator`, oriented at angle
    ``π l / n_orientations`` from the first principal curvature direction.

    Parameters
    ----------
    in_channels, out_channels : int
    scales : sequence of float
        Kernel widths relative to the patch radius.
    n_orientations : int
        Orientations in ``[0, π)``.
    anisotropy : float
        Elongation ``α ≥ 1`` along the kernel direction.
    orientation : "principal", "gauge" or None
    bias : bool

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``; uses the batch's patches and
    ``principal_angle``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, scales=(0.5, 1.0), n_orientations: int = 4,
                 anisotropy: float = 4.0, orientation="principal", bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.scales, self.n_orientations, self.anisotropy = tuple(float(s) for s in scales), n_orientations, anisotropy
        self.orientation = orientation
        self.n_kernels = len(self.scales) * n_orientations
        self.weight = nn.Parameter(torch.empty(self.n_kernels, in_channels, out_channels))
        self.self_weight = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan = self.in_channels * (self.n_kernels + 1)
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan))
        nn.init.normal_(self.self_weight, std=math.sqrt(2.0 / fan))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, scales={self.scales}, "
                f"n_orientations={self.n_orientations}, anisotropy={self.anisotropy}")

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        _require_patches(batch, "ACNNConv")
        K = _anisotropic_kernels(batch, self.scales, self.n_orientations, self.anisotropy, self.orientation)
        return pair_linear(K.to(dtype=x.dtype), x, self.weight, self.self_weight, self.bias)


def _fourier_phases(batch: MeshBatch, max_frequency: int, dtype):
    """``(ρ (E,), phases (E, 2M + 1), 1 / deg_i (E, 1))`` of the patch edges, cached on the batch.

    ``phases`` = ``[1, cos θ, …, cos Mθ, −sin θ, …, −sin Mθ]`` (order 0, real parts, imaginary
    parts of ``e^{−i m θ}``), shared by every :class:`MoNetConv` layer of a forward pass.
    """
    key = ("fourier_phases", max_frequency, dtype)
    cache = _cache(batch)
    if key not in cache:
        rho, theta = patch_coordinates(batch)
        rho, theta = rho.to(dtype), theta.to(dtype)
        i = batch.patch_pairs[:, 0]
        deg = rho.new_zeros(batch.num_vertices).index_add_(0, i, torch.ones_like(rho)).clamp_min(1.0)
        phase = [torch.ones_like(theta)] + [torch.cos(m * theta) for m in range(1, max_frequency + 1)] \
            + [-torch.sin(m * theta) for m in range(1, max_frequency + 1)]
        cache[key] = (rho, torch.stack(phase, 1), (1.0 / deg)[i].unsqueeze(-1))
    return cache[key]


def _centre_groups(batch: MeshBatch):
    """``(deg (N,), start (N,), within (E,))``: patch edges grouped by centre vertex ``i``.

    ``deg[i]`` edges have centre ``i``; in centre order they start at ``start[i]``; edge ``e`` is
    number ``within[e]`` among its centre's edges (in edge order).  Cached on the batch; shared
    by every operator built in CSR order (:func:`_edge_pattern`, the GEM operators).
    """
    cache = _cache(batch)
    if "centre_groups" in cache:
        return cache["centre_groups"]
    i = batch.patch_pairs[:, 0]
    E, N = i.shape[0], batch.num_vertices
    order = torch.argsort(i, stable=True)
    deg = torch.bincount(i, minlength=N)
    start = torch.cumsum(deg, 0) - deg
    rank = torch.empty_like(order)
    rank[order] = torch.arange(E, device=i.device)
    cache["centre_groups"] = (deg, start, rank - start[i])
    return cache["centre_groups"]


def _edge_pattern(batch: MeshBatch, n_phase: int, n_kernels: int) -> dict:
    """CSR pattern of the ``(P · N · K, N)`` matrix with rows ``(p, i, k)`` and one entry per patch edge.

    ``Q = P · K`` values per edge, ``q = p · K + k``.  Returns a dict: ``crow``, ``col`` (the
    pattern), ``pos (E, Q)`` (where the value of edge ``e`` for ``q`` goes in the CSR value
    array), ``idx32`` (``(crow, col)`` as int32 when they fit, for scipy's CPU kernel) and, made
    on first use by :func:`_edge_pattern_transpose` (only torch's kernel needs it), the pattern
    of the transpose.  Cached on the batch.
    """
    key = ("edge_pattern", n_phase, n_kernels)
    cache = _cache(batch)
    if key in cache:
        return cache[key]
    i, j = batch.patch_pairs[:, 0], batch.patch_pairs[:, 1]
    dev = i.device
    N, E, K = batch.num_vertices, i.shape[0], n_kernels
    R = n_phase * N * K
    deg, _, within = _centre_groups(batch)
    row_center = (torch.arange(R, device=dev) // K) % N
    crow = torch.zeros(R + 1, dtype=torch.long, device=dev)
    crow[1:] = torch.cumsum(deg[row_center], 0)
    q = torch.arange(n_phase * K, device=dev)
    rows = ((q // K) * N).unsqueeze(0) * K + i.unsqueeze(1) * K + (q % K).unsqueeze(0)  # (E, Q)
    pos = crow[rows] + within.unsqueeze(1)
    col = torch.empty(E * n_phase * K, dtype=torch.long, device=dev)
    col[pos.reshape(-1)] = j.unsqueeze(1).expand_as(pos).reshape(-1)
    idx32 = (crow, col)
    if int(crow[-1]) < 2**31 - 1:  # int32 copies for scipy's kernel (it would convert on every call)
        idx32 = (crow.to(torch.int32), col.to(torch.int32))
    cache[key] = {"crow": crow, "col": col, "pos": pos, "idx32": idx32, "N": N}
    return cache[key]


def _edge_pattern_transpose(pattern: dict):
    """``(crow_t, col_t, perm_t)``: CSR pattern of the transpose (values ``values[perm_t]``); memoised."""
    if "t" not in pattern:
        crow, col, N = pattern["crow"], pattern["col"], pattern["N"]
        R = crow.shape[0] - 1
        rows_big = torch.repeat_interleave(torch.arange(R, device=crow.device), crow[1:] - crow[:-1])
        perm_t = torch.argsort(col * R + rows_big)
        crow_t = torch.zeros(N + 1, dtype=torch.long, device=crow.device)
        crow_t[1:] = torch.cumsum(torch.bincount(col, minlength=N), 0)
        pattern["t"] = (crow_t, rows_big[perm_t], perm_t)
    return pattern["t"]


try:  # scipy's CSR kernel that accumulates into a given output (private; S @ x is the fallback)
    from scipy.sparse._sparsetools import csr_matvecs as _csr_matvecs
except ImportError:  # pragma: no cover - depends on the scipy version
    _csr_matvecs = None


class _Workspace:
    """One reusable CPU buffer for :class:`_FourierEdgeResponse`, owned by a :class:`MoNetConv`.

    A training step allocates, per layer, the ``(3M + 1, N, K·C)`` coefficients of every patch, their
    magnitudes and the gradients of both (about 9 kB per vertex at width 64).  Fresh allocations
    that large are mapped from the kernel on every step and paid for in first-touch page faults
    (about 0.4 ms per MB on the benchmark machine); a layer therefore keeps the buffer of its last
    backward and takes it again in its next forward.  Only training forwards take it (not
    inference), ``module.eval()`` releases it, it is not part of the state dict, and copies or
    pickles of the layer start without one.
    """

    __slots__ = ("buf", "_lock")

    def __init__(self):
        self.buf = None
        self._lock = threading.Lock()

    def take(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """A flat buffer of at least ``n`` elements of ``like``'s dtype on the CPU (the kept one when it fits)."""
        with self._lock:
            buf, self.buf = self.buf, None
        if buf is not None and buf.dtype == like.dtype and n <= buf.numel() <= 2 * n:
            return buf
        return like.new_empty(n)

    def give(self, buf: torch.Tensor) -> None:
        with self._lock:
            self.buf = buf

    def release(self) -> None:
        with self._lock:
            self.buf = None

    def __reduce__(self):  # copies and pickles start empty
        return (_Workspace, ())


def _edge_aggregate_into(out: torch.Tensor, v: torch.Tensor, x: torch.Tensor, pattern: dict, S=None):
    """``out (R, C) = S x`` for the CSR matrix ``S`` with the pattern and CSR-ordered values ``v``;
    returns the scipy matrix when scipy's kernel did the product (reused by the backward)."""
    import warnings

    crow, col = pattern["crow"], pattern["col"]
    R, N = crow.shape[0] - 1, x.shape[0]
    if not x.numel():
        out.zero_()
        return None
    if use_scipy_kernel(x):
        if S is None:
            S = scipy_csr(*pattern["idx32"], v, (R, N))
        if _csr_matvecs is not None and out.is_contiguous() and x.is_contiguous():
            out.zero_()
            _csr_matvecs(R, N, x.shape[1], S.indptr, S.indices, S.data, x.detach().numpy().ravel(),
                         out.numpy().ravel())
        else:
            out.copy_(csr_times_dense(S, x))
        return S
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        St = torch.sparse_csr_tensor(crow, col, v, (R, N), check_invariants=False)
        out.copy_(torch.mm(St, x))
    return None


class _FourierEdgeResponse(torch.autograd.Function):
    r"""MoNet's Fourier response: the patch coefficients and their magnitudes in one function.

    ``A[p, i, k] = Σ_{e = (i, j)} vals[e, p·K + k] x_j`` ``(P, N, K·C)`` (``P = 2M + 1`` phases, a
    CSR product on the cached :func:`_edge_pattern`), then ``y = A_0 w0 + Σ_m sqrt(|A_m W_m|² +
    eps)`` as in :class:`_FourierMagnitude` ``(N, O)``.  Gradients w.r.t. ``vals (E, P·K)``, ``x (N,
    C)``, ``w0``, ``c``, ``d``.  No ``(E, P·K, C)`` tensor is formed: the value gradient is a
    sampled dense–dense product.  One buffer holds ``A``, ``s = a + b``, the real and imaginary
    parts and magnitudes and their gradients; the backward writes gradients over them once they
    have been read (the gradient of ``A`` over ``A``) and gives the buffer to ``workspace`` (see
    :class:`_Workspace`).  A second backward through the same graph (``retain_graph=True``)
    recomputes them.
    """

    @staticmethod
    def forward(ctx, vals, x, w0, c, d, pattern, n_phase, eps, workspace):
        N, C = x.shape
        P, M, O = n_phase, (n_phase - 1) // 2, w0.shape[1]
        KC = (vals.shape[1] // P) * C
        v = vals.new_empty(vals.numel())
        v[pattern["pos"].reshape(-1)] = vals.reshape(-1)
        n = (P + M) * N * KC + 4 * M * N * O
        train = any(ctx.needs_input_grad[:5])
        if workspace is not None and train and x.device.type == "cpu":
            base = workspace.take(n, x)
        else:
            base, workspace = x.new_empty(n), None
        A, s, scratch = _FourierEdgeResponse._views(base, N, C, P, M, O, KC)
        ctx.S = _edge_aggregate_into(A.view(-1, C), v, x, pattern)
        if M:
            y, re, im, mag = _magnitude_forward(A, s, w0, c, d, eps, scratch[:3])
        else:
            y = A[0] @ w0
        ctx.save_for_backward(v, x, w0, c, d)
        ctx.base, ctx.workspace, ctx.pattern, ctx.eps = base, workspace, pattern, eps
        ctx.dims = (N, C, P, M, O, KC, n)
        return y

    @staticmethod
    def _views(base, N, C, P, M, O, KC):
        """``A (P, N, KC)``, ``s (M, N, KC)`` and four ``(M, N, O)`` scratch arrays (``re``, ``im``,
        ``mag``, then their gradients) in one flat buffer."""
        nA, ns, no = P * N * KC, M * N * KC, M * N * O
        A = base[:nA].view(P, N, KC)
        s = base[nA:nA + ns].view(M, N, KC)
        scratch = [base[nA + ns + r * no:nA + ns + (r + 1) * no].view(M, N, O) for r in range(4)]
        return A, s, scratch

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, gy):
        import warnings

        v, x, w0, c, d = ctx.saved_tensors
        N, C, P, M, O, KC, n = ctx.dims
        pattern = ctx.pattern
        gy = gy.contiguous()
        base, fresh = ctx.base, ctx.base is None
        if fresh:  # an earlier backward through this graph wrote gradients over A: recompute it
            base = x.new_empty(n)
        A, s, scratch = _FourierEdgeResponse._views(base, N, C, P, M, O, KC)
        if fresh:
            ctx.S = _edge_aggregate_into(A.view(-1, C), v, x, pattern, ctx.S)
            if M:
                _magnitude_forward(A, s, w0, c, d, ctx.eps, scratch[:3])
        ctx.base = None  # the scratch (and below A) is overwritten by gradients
        gvals = gx = gw0 = gc = gd = None
        gre = gim = gk1 = None
        if M:  # in place over re, im, mag: inv = gy / mag, gre = re inv, gim = im inv, gk1 = gre + gim
            re, im, mag, gk1 = scratch
            inv = mag.reciprocal_().mul_(gy)
            gre, gim = re.mul_(inv), im.mul_(inv)
            torch.add(gre, gim, out=gk1)
        if ctx.needs_input_grad[2]:
            gw0 = A[0].T @ gy
        if M and (ctx.needs_input_grad[3] or ctx.needs_input_grad[4]):
            gc, gd = _magnitude_weight_grads(A, s, gre, gim, gk1)
        if ctx.needs_input_grad[0] or ctx.needs_input_grad[1]:
            gA = A  # A is overwritten by its gradient
            if M:
                _magnitude_input_grad(gA, s, gy, w0, c, d, gre, gim, gk1)
            else:
                torch.mm(gy, w0.T, out=gA[0])
            g = gA.view(-1, C)
            R = g.shape[0]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                if ctx.needs_input_grad[1]:
                    if ctx.S is not None and use_scipy_kernel(g):
                        gx = csr_times_dense(ctx.S.T, g)
                    else:
                        crow_t, col_t, perm_t = _edge_pattern_transpose(pattern)
                        St = torch.sparse_csr_tensor(crow_t, col_t, v[perm_t], (N, R), check_invariants=False)
                        gx = torch.mm(St, g)
                if ctx.needs_input_grad[0]:
                    Pm = torch.sparse_csr_tensor(pattern["crow"], pattern["col"], torch.zeros_like(v), (R, N),
                                                 check_invariants=False)
                    sd = torch.sparse.sampled_addmm(Pm, g, x.T.contiguous(), beta=0.0).values()  # <g_(i,q), x_j>
                    gvals = sd[pattern["pos"].reshape(-1)].reshape(-1, pattern["pos"].shape[1])
        if ctx.workspace is not None:
            ctx.workspace.give(base)
        return gvals, gx, gw0, gc, gd, None, None, None, None


@configurable
class MoNetConv(nn.Module):
    r"""MoNet convolution (Monti et al. 2017 style) on intrinsic pseudo-coordinates, gauge invariant by default.

    ``angular="fourier"`` (default): learnable radial Gaussians
    ``w_k(ρ) = exp(−(ρ − μ_k)² / (2 σ_k²))`` and the angular Fourier coefficients of every kernel's
    patch, ``Â_{i,k,m,c} = mean_j w_k(ρ_ij) e^{−i m θ_ij} x_{j,c}`` (``m = 0..max_frequency``),
    combined as in :class:`GCNNConv`:
    ``y_i = Σ_{k,c} Â_{i,k,0,c} G⁰_{k,c} + Σ_{m≥1} |Σ_{k,c} Â_{i,k,m,c} G^m_{k,c}| + x_i W_self + b``
    (complex ``G^m``, magnitudes per output channel).  Exactly invariant to the gauge, hence to
    the face and corner order.

    ``angular="von_mises"`` (explicit choice; gauge dependent): the original mixture
    ``y_i = mean_j Σ_k w_k(ρ_ij, θ_ij) x_j G_k + x_i W_self + b`` with
    ``w_k = exp(−(ρ − μ_k)² / (2 σ_k²) + κ_k (cos(θ − ν_k) − 1))``, ``θ`` measured from
    ``orientation``.

    Parameters
    ----------
    in_channels, out_channels : int
    n_kernels : int
        Learnable kernels (radial for ``"fourier"``; default 4 there, 8 for ``"von_mises"``).
    max_frequency : int
        Highest angular frequency (``angular="fourier"``).
    angular : {"fourier", "von_mises"}
    orientation : None, "gauge" or "principal"
        ``angular="von_mises"`` only.
    bias : bool
    eps : float
        Smoothing of the magnitudes.

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``; uses the batch's patches.
    """

    def __init__(self, in_channels: int, out_channels: int, *, n_kernels: int | None = None, max_frequency: int = 2,
                 angular: str = "fourier", orientation=None, bias: bool = True, eps: float = 1e-12):
        super().__init__()
        if angular not in ("fourier", "von_mises"):
            raise MeshShapeError(f"angular: expected 'fourier' or 'von_mises' (got {angular!r})")
        if angular == "fourier" and orientation is not None:
            raise MeshShapeError("orientation: expected None with angular='fourier' (the response is gauge invariant; "
                                 f"use angular='von_mises' for oriented kernels) (got {orientation!r})")
        n_kernels = (4 if angular == "fourier" else 8) if n_kernels is None else int(n_kernels)
        if n_kernels < 1 or max_frequency < 0:
            raise MeshShapeError(f"n_kernels, max_frequency: expected >= 1 and >= 0 (got {n_kernels}, {max_frequency})")
        self.in_channels, self.out_channels, self.n_kernels = in_channels, out_channels, n_kernels
        self.angular, self.max_frequency, self.eps = angular, max_frequency, float(eps)
        self.orientation = orientation
        self.mu_rho = nn.Parameter(torch.empty(n_kernels))
        self.log_sigma_rho = nn.Parameter(torch.empty(n_kernels))
        if angular == "von_mises":
            self.mu_theta = nn.Parameter(torch.empty(n_kernels))
            self.log_kappa = nn.Parameter(torch.empty(n_kernels))
            self.weight = nn.Parameter(torch.empty(in_channels, n_kernels * out_channels))
            self.weight_re = self.weight_im = None
        else:
            self.mu_theta = self.log_kappa = None
            K = n_kernels * in_channels
            self.weight = nn.Parameter(torch.empty(K, out_channels))
            self.weight_re = nn.Parameter(torch.empty(max_frequency, K, out_channels))
            self.weight_im = nn.Parameter(torch.empty(max_frequency, K, out_channels))
        self.self_weight = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._workspace = _Workspace()
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = self.n_kernels
        with torch.no_grad():
            self.log_sigma_rho.fill_(math.log(0.5))
            if self.angular == "von_mises":
                self.mu_rho.copy_(torch.linspace(0.5, 1.0, k))
                self.mu_theta.copy_(torch.arange(k) * (2 * math.pi / k))
                self.log_kappa.fill_(math.log(2.0))
            else:
                self.mu_rho.copy_(torch.linspace(0.0, 1.0, k) if k > 1 else torch.full((1,), 0.5))
                if k > 1:
                    self.log_sigma_rho.fill_(math.log(1.0 / (k - 1)))
        if self.angular == "von_mises":
            fan = self.in_channels * (self.n_kernels + 1)
            nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan))
        else:
            fan = self.in_channels * (self.n_kernels * (2 * self.max_frequency + 1) + 1)
            for w in (self.weight, self.weight_re, self.weight_im):
                nn.init.normal_(w, std=math.sqrt(2.0 / fan))
        nn.init.normal_(self.self_weight, std=math.sqrt(2.0 / fan))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        if self.angular == "fourier":
            return (f"{self.in_channels}, {self.out_channels}, n_kernels={self.n_kernels}, "
                    f"max_frequency={self.max_frequency}, angular='fourier'")
        return (f"{self.in_channels}, {self.out_channels}, n_kernels={self.n_kernels}, angular='von_mises', "
                f"orientation={self.orientation!r}")

    def train(self, mode: bool = True):
        """As :meth:`torch.nn.Module.train`; leaving training mode also frees the layer's workspace."""
        if not mode and getattr(self, "_workspace", None) is not None:
            self._workspace.release()
        return super().train(mode)

    def _kernel_major_weight(self) -> torch.Tensor:
        """``weight`` ``(in, K·out)`` rearranged to ``(K·in, out)`` (``angular="von_mises"``)."""
        return self.weight.reshape(self.in_channels, self.n_kernels, self.out_channels).transpose(0, 1).reshape(
            self.n_kernels * self.in_channels, self.out_channels)

    def radial_weights(self, rho: torch.Tensor) -> torch.Tensor:
        """Radial Gaussians ``(E, n_kernels)`` at ``ρ``."""
        sr = torch.exp(self.log_sigma_rho).to(rho.dtype)
        d = (rho.unsqueeze(-1) - self.mu_rho.to(rho.dtype)) / sr
        return torch.exp(-0.5 * d * d)

    def kernel_weights(self, rho: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Mixture weights ``(E, n_kernels)`` at the pseudo-coordinates (``angular="von_mises"``)."""
        if self.angular != "von_mises":
            raise MeshShapeError(f"kernel_weights: expected angular='von_mises' (got {self.angular!r})")
        kap = torch.exp(self.log_kappa).to(rho.dtype)
        return self.radial_weights(rho) * torch.exp(
            kap * (torch.cos(theta.unsqueeze(-1) - self.mu_theta.to(rho.dtype)) - 1))

    def forward(self, batch: MeshBatch, x: torch.Tensor, orientation=None) -> torch.Tensor:
        _require_patches(batch, "MoNetConv")
        i, j = batch.patch_pairs[:, 0], batch.patch_pairs[:, 1]
        N, C = x.shape
        if self.angular == "fourier":
            if orientation is not None:
                raise MeshShapeError("orientation: expected None with angular='fourier' "
                                     f"(got {type(orientation).__name__}); use angular='von_mises' for oriented kernels")
            M = self.max_frequency
            rho, ph, inv_deg = _fourier_phases(batch, M, x.dtype)
            w = self.radial_weights(rho) * inv_deg  # (E, K)
            vals = (ph.unsqueeze(-1) * w.unsqueeze(1)).reshape(-1, (2 * M + 1) * self.n_kernels)  # (E, (2M+1)·K)
            P = 2 * M + 1
            dt = x.dtype
            y = _FourierEdgeResponse.apply(vals, x.contiguous(), self.weight.to(dt), self.weight_re.to(dt),
                                           self.weight_im.to(dt), _edge_pattern(batch, P, self.n_kernels), P,
                                           self.eps, getattr(self, "_workspace", None) if torch.is_grad_enabled() else None)
            y = y + x @ self.self_weight
        else:
            orientation = self.orientation if orientation is None else orientation
            rho, theta = patch_coordinates(batch, orientation)
            rho, theta = rho.to(x.dtype), theta.to(x.dtype)
            w = self.kernel_weights(rho, theta)  # (E, K)
            deg = x.new_zeros(N).index_add_(0, i, torch.ones_like(rho)).clamp_min(1.0)
            w = w / deg[i].unsqueeze(-1)
            xj = x[j]
            A = torch.stack([x.new_zeros(N, C).index_add_(0, i, w[:, k:k + 1] * xj) for k in range(self.n_kernels)], 1)
            y = A.reshape(N, self.n_kernels * C) @ self._kernel_major_weight() + x @ self.self_weight
        if self.bias is not None:
            y = y + self.bias
        return y
