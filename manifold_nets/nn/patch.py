"""Geodesic-patch family: convolutions on geodesic polar charts ``(r, θ)`` around every vertex.

Every layer reads the flat patch arrays of a :class:`~manifold_nets.nn.MeshBatch`
(``edges (E, 2)`` = (centre i, neighbour j), ``edge_r``, ``edge_theta`` in ``i``'s gauge) and
the radius ``patch_radius`` per mesh, which normalises ``ρ = r / radius ∈ [0, 1]``.

* :class:`GCNNConv` — polar bins (``n_rho × n_theta``, bilinear interpolation, each bin
  normalised by its total weight), a learnable kernel per bin and, by default, the maximum over
  the ``n_theta`` rotations of the kernel (the angular origin of a patch is arbitrary).
* :class:`ACNNConv` — anisotropic Gaussian kernels at several scales and orientations, measured
  from the first principal curvature direction (a line field, so the kernels are π-symmetric).
* :class:`MoNetConv` — a learnable mixture of kernels over pseudo-coordinates ``(ρ, θ)``: Gaussian
  in ``ρ``, von Mises (the periodic Gaussian) in ``θ``.

The fixed (parameter-free) patch weights of GCNN and ACNN are assembled once per batch into a
sparse operator and cached on the batch, so a layer is one sparse product and one dense product.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._sparse import SparseOperator, sparse_from_coo
from .batch import MeshBatch

__all__ = ["GCNNConv", "ACNNConv", "MoNetConv", "patch_coordinates"]


def _require_patches(batch: MeshBatch, who: str) -> None:
    if not batch.has_patches:
        raise ValueError(f"{who}: expected a MeshBatch with geodesic patches (got patches=None); "
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
    rho = batch.edge_r / batch.patch_radius[batch.edge_batch]
    theta = batch.edge_theta
    if orientation is None or (isinstance(orientation, str) and orientation == "gauge"):
        pass
    elif isinstance(orientation, str) and orientation == "principal":
        if batch.principal_angle is None:
            raise ValueError("orientation='principal': the batch has no principal curvature directions "
                             "(build it with curvature=True)")
        theta = theta - batch.principal_angle[batch.edges[:, 0]]
    elif isinstance(orientation, torch.Tensor):
        theta = theta - orientation.to(theta.dtype)[batch.edges[:, 0]]
    else:
        raise ValueError(f"orientation: expected None, 'gauge', 'principal' or an (N,) tensor (got {orientation!r})")
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
    i, j = batch.edges[:, 0], batch.edges[:, 1]
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


class GCNNConv(nn.Module):
    r"""Geodesic CNN convolution on polar bins (Masci et al. 2015 style).

    ``y_i = max_s Σ_{a,b} (P x)_{i,a,b} W_{a, b+s} + x_i W_self + b`` where ``(P x)_{i,a,b}`` is the
    bin-averaged patch (see :func:`polar_bin_operator`) and ``s`` runs over the ``n_theta``
    rotations of the kernel (``max_over_rotations=False`` uses ``s = 0`` only: an oriented
    convolution, e.g. with ``orientation`` a direction field).

    Parameters
    ----------
    in_channels, out_channels : int
    n_rho, n_theta : int
        Radial and angular bins.
    max_over_rotations : bool
    orientation : None, "gauge" or "principal"
        Angular origin of the patches (a tensor may also be passed to :meth:`forward`).
    bias : bool

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``; uses the batch's patches.
    """

    def __init__(self, in_channels: int, out_channels: int, *, n_rho: int = 2, n_theta: int = 8,
                 max_over_rotations: bool = True, orientation=None, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.n_rho, self.n_theta, self.max_over_rotations = n_rho, n_theta, max_over_rotations
        self.orientation = orientation
        self.weight = nn.Parameter(torch.empty(n_rho, n_theta, in_channels, out_channels))
        self.self_weight = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        fan = self.in_channels * (self.n_rho * self.n_theta + 1)
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan))
        nn.init.normal_(self.self_weight, std=math.sqrt(2.0 / fan))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, n_rho={self.n_rho}, n_theta={self.n_theta}, "
                f"max_over_rotations={self.max_over_rotations}, orientation={self.orientation!r}")

    def _all_rotations(self, A: torch.Tensor) -> torch.Tensor:
        """``y[:, s] = Σ_{a,b,c} A[:, a, b, c] W[a, b − s, c]`` for every rotation ``s``: ``(N, n_theta, out)``.

        One product with the stacked rotated kernels.  (A Fourier-domain version has ~3x fewer
        flops but measured slower on CPU for forward + backward at these sizes.)
        """
        N = A.shape[0]
        Ws = torch.stack([torch.roll(self.weight.to(A.dtype), s, dims=1) for s in range(self.n_theta)], dim=-2)
        y = A.reshape(N, -1) @ Ws.reshape(-1, self.n_theta * self.out_channels)
        return y.reshape(N, self.n_theta, self.out_channels)

    def forward(self, batch: MeshBatch, x: torch.Tensor, orientation=None) -> torch.Tensor:
        _require_patches(batch, "GCNNConv")
        orientation = self.orientation if orientation is None else orientation
        P = polar_bin_operator(batch, self.n_rho, self.n_theta, orientation)
        if P.dtype != x.dtype:
            P = P.to(dtype=x.dtype)
        N, C = x.shape
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
    field (``α = anisotropy`` elongates the kernel along ``φ_l``); rows sum to 1.
    """
    key = ("aniso", tuple(scales), n_orientations, float(anisotropy), orientation)
    cache = _cache(batch)
    if key in cache:
        return cache[key]
    rho, theta = patch_coordinates(batch, orientation)
    i, j = batch.edges[:, 0], batch.edges[:, 1]
    nk = len(scales) * n_orientations
    rows, vals = [], []
    k = 0
    for s in scales:
        for l in range(n_orientations):
            phi = math.pi * l / n_orientations
            u = rho * torch.cos(theta - phi)
            v = rho * torch.sin(theta - phi)
            rows.append(i * nk + k)
            vals.append(torch.exp(-(u * u / anisotropy + v * v) / (2 * s * s)))
            k += 1
    op = _row_normalised_operator(torch.cat(rows), torch.cat([j] * nk), torch.cat(vals),
                                  batch.num_vertices * nk, batch.num_vertices)
    cache[key] = op
    return op


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
        K = anisotropic_operator(batch, self.scales, self.n_orientations, self.anisotropy, self.orientation)
        if K.dtype != x.dtype:
            K = K.to(dtype=x.dtype)
        N, C = x.shape
        y = (K @ x).reshape(N, self.n_kernels * C) @ self.weight.reshape(-1, self.out_channels)
        y = y + x @ self.self_weight
        if self.bias is not None:
            y = y + self.bias
        return y


class MoNetConv(nn.Module):
    r"""MoNet convolution (Monti et al. 2017 style) on intrinsic pseudo-coordinates ``(ρ, θ)``.

    ``y_i = mean_j Σ_k w_k(ρ_ij, θ_ij) x_j G_k + x_i W_self + b`` with learnable kernels
    ``w_k = exp(−(ρ − μ_k)² / (2 σ_k²) + κ_k (cos(θ − ν_k) − 1))``.

    Parameters
    ----------
    in_channels, out_channels : int
    n_kernels : int
    orientation : None, "gauge" or "principal"
    bias : bool

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``; uses the batch's patches.
    """

    def __init__(self, in_channels: int, out_channels: int, *, n_kernels: int = 8, orientation=None,
                 bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels, self.n_kernels = in_channels, out_channels, n_kernels
        self.orientation = orientation
        self.mu_rho = nn.Parameter(torch.empty(n_kernels))
        self.mu_theta = nn.Parameter(torch.empty(n_kernels))
        self.log_sigma_rho = nn.Parameter(torch.empty(n_kernels))
        self.log_kappa = nn.Parameter(torch.empty(n_kernels))
        self.weight = nn.Parameter(torch.empty(in_channels, n_kernels * out_channels))
        self.self_weight = nn.Parameter(torch.empty(in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            k = self.n_kernels
            self.mu_rho.copy_(torch.linspace(0.5, 1.0, k))
            self.mu_theta.copy_(torch.arange(k) * (2 * math.pi / k))
            self.log_sigma_rho.fill_(math.log(0.5))
            self.log_kappa.fill_(math.log(2.0))
        fan = self.in_channels * (self.n_kernels + 1)
        nn.init.normal_(self.weight, std=math.sqrt(2.0 / fan))
        nn.init.normal_(self.self_weight, std=math.sqrt(2.0 / fan))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, n_kernels={self.n_kernels}, orientation={self.orientation!r}"

    def _kernel_major_weight(self) -> torch.Tensor:
        """``weight`` ``(in, K·out)`` rearranged to ``(K·in, out)``."""
        return self.weight.reshape(self.in_channels, self.n_kernels, self.out_channels).transpose(0, 1).reshape(
            self.n_kernels * self.in_channels, self.out_channels)

    def kernel_weights(self, rho: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Mixture weights ``(E, n_kernels)`` at the pseudo-coordinates."""
        sr = torch.exp(self.log_sigma_rho).to(rho.dtype)
        kap = torch.exp(self.log_kappa).to(rho.dtype)
        d = (rho.unsqueeze(-1) - self.mu_rho.to(rho.dtype)) / sr
        return torch.exp(-0.5 * d * d + kap * (torch.cos(theta.unsqueeze(-1) - self.mu_theta.to(rho.dtype)) - 1))

    def forward(self, batch: MeshBatch, x: torch.Tensor, orientation=None) -> torch.Tensor:
        _require_patches(batch, "MoNetConv")
        orientation = self.orientation if orientation is None else orientation
        rho, theta = patch_coordinates(batch, orientation)
        rho, theta = rho.to(x.dtype), theta.to(x.dtype)
        w = self.kernel_weights(rho, theta)  # (E, K)
        i, j = batch.edges[:, 0], batch.edges[:, 1]
        N, C = x.shape
        deg = x.new_zeros(N).index_add_(0, i, torch.ones_like(rho)).clamp_min(1.0)
        w = w / deg[i].unsqueeze(-1)
        # aggregate the inputs per kernel (E × C memory, not E × K × out), then one dense product
        xj = x[j]
        A = torch.stack([x.new_zeros(N, C).index_add_(0, i, w[:, k:k + 1] * xj) for k in range(self.n_kernels)], 1)
        y = A.reshape(N, self.n_kernels * C) @ self._kernel_major_weight() + x @ self.self_weight
        if self.bias is not None:
            y = y + self.bias
        return y
