"""Spectral family: filters that are functions of the Laplace–Beltrami operator.

* :class:`SpectralConv` — convolution in the truncated eigenbasis with filters that are smooth
  functions of the scale-free eigenvalue ``λ · A`` (``A`` the area of the mesh: a learned
  combination of heat kernels ``exp(−τ A λ)``), so the same filter applies to any mesh, at any
  scale.
* :class:`ChebConv` — Chebyshev polynomial filters of the mass-normalised cotan Laplacian
  ``M⁻¹L`` rescaled to ``[−1, 1]`` by a per-mesh estimate of its largest eigenvalue, or of the
  degree-normalised ``D⁻¹L`` (spectrum in ``[0, 2]``); both scale free by construction.

Scale: scaling a mesh by ``s`` multiplies its eigenvalues by ``s⁻²`` and its area by ``s²``, so
every filter here is a function of scale-free quantities and a layer's output does not change
when the mesh is scaled (see :mod:`manifold_nets.nn.symmetries`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..errors import MeshShapeError, MeshTypeError
from ._config import configurable
from ._sparse import offdiag_abs_rowsum
from .batch import MeshBatch

__all__ = ["SpectralConv", "ChebConv", "to_spectral", "from_spectral", "heat_kernel_basis", "mesh_areas",
           "check_input_dtype"]


def check_input_dtype(batch: MeshBatch, x: torch.Tensor, who: str) -> None:
    """Raise a clear :class:`TypeError` when ``x`` and the batch's operators differ in dtype."""
    dt = getattr(batch, "dtype", None)
    if dt is None:
        dt = batch.mass.dtype
    if x.dtype != dt:
        raise MeshTypeError(f"{who}: expected x of the batch's dtype {dt} (got {x.dtype}); "
                        "convert the batch with batch.to(dtype=...) or the input with x.to(...)")


def mesh_areas(batch: MeshBatch, dtype=None) -> torch.Tensor:
    """Total area (sum of the lumped mass) of every mesh: ``(B,)``, floored at the smallest normal."""
    m = batch.mass if dtype is None else batch.mass.to(dtype)
    a = m.new_zeros(batch.num_meshes).index_add_(0, batch.batch, m)
    return a.clamp_min(torch.finfo(a.dtype).tiny)


def to_spectral(batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
    """Spectral coefficients ``Φᵀ M x`` per mesh: ``(N, C)`` -> ``(B, K, C)``."""
    xm = x * batch.mass.to(x.dtype).unsqueeze(-1)
    if batch.num_meshes == 1:
        return (batch.evecs.T @ xm).unsqueeze(0)
    parts = torch.split(xm, batch.sizes, dim=0)
    return torch.stack([P.T @ xp for P, xp in zip(batch.evecs_split(), parts)])


def from_spectral(batch: MeshBatch, c: torch.Tensor) -> torch.Tensor:
    """Synthesis ``Φ c`` per mesh: ``(B, K, C)`` -> ``(N, C)``."""
    if batch.num_meshes == 1:
        return batch.evecs @ c[0]
    return torch.cat([P @ cb for P, cb in zip(batch.evecs_split(), c)], dim=0)


def heat_kernel_basis(evals: torch.Tensor, taus: torch.Tensor) -> torch.Tensor:
    """Smooth spectral basis ``exp(−τ_b λ)``: evals ``(B, K)``, taus ``(n,)`` -> ``(B, K, n)``."""
    return torch.exp(-evals.unsqueeze(-1) * taus)


@configurable
class SpectralConv(nn.Module):
    r"""Spectral convolution with filters smooth in the eigenvalue.

    ``y_o = Σ_c Φ diag(g_{oc}(λ)) Φᵀ M x_c + x W_self + b`` with
    ``g_{oc}(λ) = Σ_b w_{boc} exp(−τ_b A λ)``, ``A`` the area of the mesh and ``τ_b`` log-spaced in
    ``[tau_min, tau_max]`` (plus ``τ = 0``, the constant).  Because ``g`` depends only on the
    scale-free ``A λ`` the filter is the same operator on any mesh and at any scale, and is
    independent of the basis chosen inside a (complete) eigenspace.

    Parameters
    ----------
    in_channels, out_channels : int
    n_basis : int
        Number of heat-kernel basis functions (including the constant).
    tau_min, tau_max : float
        Range of the diffusion times relative to the mesh area (``τ A`` is the absolute time, so
        ``τ = 1`` diffuses over a length of about the mesh's size).
    self_loop : bool
        Add the pointwise linear term ``x W_self`` (keeps the frequencies beyond the truncation).
    bias : bool

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``; uses ``batch.evals``, ``batch.evecs``,
    ``batch.mass``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, n_basis: int = 8, tau_min: float = 1e-3,
                 tau_max: float = 1.0, self_loop: bool = True, bias: bool = True):
        super().__init__()
        self.in_channels, self.out_channels, self.n_basis = in_channels, out_channels, n_basis
        taus = torch.cat([torch.zeros(1), torch.logspace(math.log10(tau_min), math.log10(tau_max), n_basis - 1)])
        self.register_buffer("taus", taus)
        self.weight = nn.Parameter(torch.empty(n_basis, in_channels, out_channels))
        self.self_weight = nn.Parameter(torch.empty(in_channels, out_channels)) if self_loop else None
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        std = 1.0 / math.sqrt(self.in_channels * self.n_basis)
        nn.init.normal_(self.weight, std=std)
        if self.self_weight is not None:
            nn.init.normal_(self.self_weight, std=1.0 / math.sqrt(self.in_channels))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, n_basis={self.n_basis}, "
                f"self_loop={self.self_weight is not None}, bias={self.bias is not None}")

    def filters(self, evals: torch.Tensor, areas: torch.Tensor | None = None) -> torch.Tensor:
        """Filter responses ``g(λ)``: evals ``(B, K)`` (and areas ``(B,)``, default 1) -> ``(B, K, in, out)``."""
        if areas is not None:
            evals = evals * areas.to(evals.dtype).unsqueeze(-1)
        basis = heat_kernel_basis(evals, self.taus.to(evals.dtype))
        return torch.einsum("bkn,nio->bkio", basis, self.weight.to(evals.dtype))

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        check_input_dtype(batch, x, "SpectralConv")
        c = to_spectral(batch, x)  # (B, K, Cin)
        B, K, C = c.shape
        lam = batch.evals.to(x.dtype) * mesh_areas(batch, x.dtype).unsqueeze(-1)  # scale free
        basis = heat_kernel_basis(lam, self.taus.to(x.dtype))  # (B, K, nb)
        cb = (basis.unsqueeze(-1) * c.unsqueeze(2)).reshape(B, K, self.n_basis * C)
        out = cb @ self.weight.reshape(self.n_basis * C, self.out_channels)
        y = from_spectral(batch, out)
        if self.self_weight is not None:
            y = y + x @ self.self_weight
        if self.bias is not None:
            y = y + self.bias
        return y


@configurable
class ChebConv(nn.Module):
    r"""Chebyshev filter of the cotan Laplacian, mass- or degree-normalised.

    ``y = Σ_{k<K} T_k(L̃) x W_k + b``, a polynomial of degree ``K − 1`` in the operator (it reaches
    the ``(K − 1)``-ring), with per mesh

    * ``normalization="mass"`` (default): ``L̃ = 2 M⁻¹L / λ_max − I``, ``λ_max`` the largest
      eigenvalue of ``M⁻¹L`` (:attr:`MeshBatch.lambda_max`): the intrinsic operator.
    * ``normalization="degree"``: ``L̃ = D⁻¹L − I`` with ``D_ii = Σ_{j≠i} |L_ij|`` (the diagonal of
      ``L`` where the weights are non-negative): the random-walk normalisation of the cotan-weighted
      graph, whose spectrum (that of ``D^{-1/2} L D^{-1/2}``, PyG's ``normalization="sym"``) lies in
      ``[0, 2]`` by Gershgorin's theorem, so ``λ_max = 2`` needs no estimate.  It does not depend
      on vertex areas.  On meshes with small triangles ``M⁻¹L``'s largest eigenvalue is thousands
      of times its low spectrum (cow, 2.9k vertices: ``λ_max / λ_10 ≈ 8000``), so a polynomial of
      moderate degree cannot tell smooth signals apart; ``D⁻¹L``'s spectrum is bounded.  The U-Net
      (:class:`~manifold_nets.nn.MeshBackbone` with ``levels > 0``) uses it by default.

    Both are invariant to uniform scaling (cotan weights are scale free) and to face order.

    Parameters
    ----------
    in_channels, out_channels : int
    K : int
        Number of Chebyshev terms (polynomial degree + 1).
    normalization : {"mass", "degree"}
    bias : bool

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``; uses ``batch.L`` and, for ``"mass"``,
    ``batch.mass`` and ``batch.lambda_max``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, K: int = 3, normalization: str = "mass",
                 bias: bool = True):
        super().__init__()
        if K < 1:
            raise MeshShapeError(f"K: expected at least 1 (got {K})")
        if normalization not in ("mass", "degree"):
            raise MeshShapeError(f"normalization: expected 'mass' or 'degree' (got {normalization!r})")
        self.in_channels, self.out_channels, self.K = in_channels, out_channels, K
        self.normalization = normalization
        self.weight = nn.Parameter(torch.empty(K, in_channels, out_channels))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, std=1.0 / math.sqrt(self.in_channels * self.K))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        norm = f", normalization={self.normalization!r}" if self.normalization != "mass" else ""
        return f"{self.in_channels}, {self.out_channels}, K={self.K}{norm}, bias={self.bias is not None}"

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        check_input_dtype(batch, x, "ChebConv")
        if self.normalization == "degree":
            d = offdiag_abs_rowsum(batch.L).to(x.dtype)  # 2 / (λ_max = 2 · D)
            scale = torch.where(d > 0, 1.0 / torch.where(d > 0, d, torch.ones_like(d)), torch.zeros_like(d))
        else:
            mass = batch.mass.to(x.dtype)
            # vertices without mass (unreferenced) have empty rows of L: give them scale 0
            safe = torch.where(mass > 0, mass, torch.ones_like(mass))
            scale = torch.where(mass > 0, (2.0 / batch.lambda_max.to(x.dtype))[batch.batch] / safe,
                                torch.zeros_like(mass))
        scale = scale.unsqueeze(-1)

        def Lt(v):
            return scale * (batch.L @ v) - v

        Ts = [x]
        if self.K > 1:
            Ts.append(Lt(x))
        for _ in range(2, self.K):
            Ts.append(2.0 * Lt(Ts[-1]) - Ts[-2])
        y = torch.cat(Ts, dim=-1) @ self.weight.reshape(self.K * self.in_channels, self.out_channels)
        if self.bias is not None:
            y = y + self.bias
        return y
