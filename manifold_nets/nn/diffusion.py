"""Learned diffusion, spatial gradient features and the DiffusionNet block / network.

The diffusion of a per-vertex signal ``u`` for a time ``t`` is the heat flow
``∂u/∂t = −M⁻¹L u`` (PSD Laplacian).  Times are learned relative to the mesh: channel ``c`` of
mesh ``b`` diffuses for ``t_c · A_b`` with ``A_b`` the mesh's area (the sum of its lumped mass),
so a layer gives the same output when the mesh is scaled (eigenvalues scale as ``s⁻²``, areas as
``s²``).  Two discretisations, with one learned time per channel:

* ``method="spectral"``: ``Φ exp(−λ t) Φᵀ M u`` in the truncated eigenbasis;
* ``method="implicit"``: one backward-Euler step, the sparse solve ``(M + t L) v = M u``, done
  by preconditioned conjugate gradients on the whole block-diagonal batch at once (every channel
  and mesh together).  The backward pass solves the adjoint system with the same solver (implicit
  differentiation), so no CG iterate is kept for autograd.  Vertices without mass and without
  Laplacian entries (unreferenced by any face) are left out of the solve and keep their input
  value (heat does not flow to or from them).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from ..errors import MeshShapeError
from ._checks import check_model_args
from ._config import configurable
from .batch import MeshBatch
from .spectral import check_input_dtype, from_spectral, mesh_areas, to_spectral

__all__ = ["LearnedDiffusion", "SpatialGradientFeatures", "DiffusionNetBlock", "DiffusionNet", "cg_solve"]


def cg_solve(apply_A, b: torch.Tensor, diag: torch.Tensor, *, tol: float, max_iter: int) -> torch.Tensor:
    """Jacobi-preconditioned conjugate gradients for SPD ``A``, all columns of ``b (N, C)`` at once.

    Stops when every column's residual is below ``tol · ‖b_c‖`` (columns with ``b_c = 0`` give 0).
    Rows whose diagonal ``diag`` is not positive (e.g. vertices unreferenced by any face, which
    have neither mass nor Laplacian entries) are left out: their right-hand side is ignored and
    their solution is 0.  Warns (:class:`RuntimeWarning`, with the iterations and the largest
    relative residual) when the tolerance is not reached in ``max_iter`` iterations, and stops at
    once, with a warning, when the residual becomes non-finite.
    """
    active = diag > 0
    if not bool(active.all()):
        b = torch.where(active, b, torch.zeros_like(b))
        diag = torch.where(active, diag, torch.ones_like(diag))
        apply_user = apply_A

        def apply_A(v):  # noqa: F811 - the operator restricted to the active rows
            return torch.where(active, apply_user(torch.where(active, v, torch.zeros_like(v))), torch.zeros_like(v))
    x = b / diag
    r = b - apply_A(x)
    z = r / diag
    p = z
    rz = (r * z).sum(0)
    bnorm = b.norm(dim=0)
    thresh = tol * bnorm
    check_every = 1 if b.device.type == "cpu" else 8
    converged = False
    it = 0
    for it in range(max_iter + 1):
        if it % check_every == 0 or it == max_iter:
            rn = r.norm(dim=0)
            if not bool(torch.isfinite(rn).all()):
                warnings.warn(f"cg_solve: non-finite residual after {it} iterations (check the operator and the "
                              "right-hand side for NaN / inf)", RuntimeWarning, stacklevel=3)
                return x
            if bool((rn <= thresh).all()):
                converged = True
                break
        if it == max_iter:
            break
        Ap = apply_A(p)
        den = (p * Ap).sum(0)
        alpha = torch.where(den > 0, rz / torch.where(den > 0, den, torch.ones_like(den)), torch.zeros_like(den))
        x = x + alpha * p
        r = r - alpha * Ap
        z = r / diag
        rz_new = (r * z).sum(0)
        beta = torch.where(rz > 0, rz_new / torch.where(rz > 0, rz, torch.ones_like(rz)), torch.zeros_like(rz))
        p = z + beta * p
        rz = rz_new
    if not converged:
        rel = float((r.norm(dim=0) / bnorm.clamp_min(torch.finfo(b.dtype).tiny)).max())
        warnings.warn(f"cg_solve: expected a relative residual <= {tol:g} (got {rel:.3g} after {it} iterations); "
                      "raise max_iter or tol", RuntimeWarning, stacklevel=3)
    return x


class _ImplicitDiffusion(torch.autograd.Function):
    """``v = (M + s t L)⁻¹ M x`` per channel (``s (N, 1)`` the per-vertex time scale, ``t (C,)``);
    rows without mass or Laplacian entries keep ``v = x``."""

    @staticmethod
    def forward(ctx, x, t, s, L, L_diag, mass, tol, max_iter):
        m = mass.unsqueeze(-1)
        ts = s * t  # (N, C)

        def A(v):
            return m * v + ts * (L @ v)

        diag = m + ts * L_diag.unsqueeze(-1)
        v = cg_solve(A, m * x, diag, tol=tol, max_iter=max_iter)
        v = torch.where(diag > 0, v, x)
        ctx.save_for_backward(v, t, s, L_diag, mass)
        ctx.L, ctx.tol, ctx.max_iter = L, tol, max_iter
        return v

    @staticmethod
    def backward(ctx, g):
        v, t, s, L_diag, mass = ctx.saved_tensors
        L = ctx.L
        m = mass.unsqueeze(-1)
        ts = s * t

        def A(w):
            return m * w + ts * (L @ w)

        diag = m + ts * L_diag.unsqueeze(-1)
        lam = cg_solve(A, g, diag, tol=ctx.tol, max_iter=ctx.max_iter)  # A symmetric; 0 on inactive rows
        gx = torch.where(diag > 0, m * lam, g) if ctx.needs_input_grad[0] else None
        gt = -(lam * s * (L @ v)).sum(0) if ctx.needs_input_grad[1] else None
        return gx, gt, None, None, None, None, None, None


@configurable
class LearnedDiffusion(nn.Module):
    r"""Heat diffusion with one learned, non-negative time per channel.

    Parameters
    ----------
    in_channels, out_channels : int
        Must be equal (diffusion acts channel-wise).
    method : {"spectral", "implicit"}
        Truncated-eigenbasis exponential or backward-Euler sparse solve (see module docstring).
    init_time : float
        Initial diffusion time relative to the mesh area (the absolute time of mesh ``b`` is
        ``t · A_b``); times start log-spaced in ``[init_time/10, init_time]``.
    tol, max_iter : float, int
        Conjugate-gradient tolerance (relative residual) and iteration cap for ``"implicit"``.
        ``tol=None`` picks ``1e-6`` for float32 and ``1e-12`` for float64.

    Shapes
    ------
    x ``(N, C)`` -> ``(N, C)``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, method: str = "spectral",
                 init_time: float = 0.01, tol: float | None = None, max_iter: int = 2000):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if out_channels != in_channels:
            raise MeshShapeError(f"out_channels: expected {in_channels} (diffusion is channel-wise; got {out_channels})")
        if method not in ("spectral", "implicit"):
            raise MeshShapeError(f"method: expected 'spectral' or 'implicit' (got {method!r})")
        self.in_channels = self.out_channels = in_channels
        self.method, self.init_time, self.tol, self.max_iter = method, float(init_time), tol, max_iter
        self.time = nn.Parameter(torch.empty(in_channels))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.time.copy_(torch.logspace(math.log10(self.init_time / 10), math.log10(self.init_time),
                                           self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, method={self.method!r}"

    def times(self, batch: MeshBatch | None = None) -> torch.Tensor:
        """Current (non-negative) diffusion times: relative ``(C,)``, or absolute ``(B, C)`` for ``batch``."""
        t = self.time.abs()
        if batch is None:
            return t
        return mesh_areas(batch, t.dtype).unsqueeze(-1) * t

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        check_input_dtype(batch, x, "LearnedDiffusion")
        t = self.times().to(x.dtype)
        area = mesh_areas(batch, x.dtype)  # (B,)
        if self.method == "spectral":
            c = to_spectral(batch, x)
            lam = batch.evals.to(x.dtype) * area.unsqueeze(-1)  # scale free
            c = torch.exp(-lam.unsqueeze(-1) * t) * c
            return from_spectral(batch, c)
        tol = self.tol if self.tol is not None else (1e-12 if x.dtype == torch.float64 else 1e-6)
        return _ImplicitDiffusion.apply(x, t, area[batch.batch].unsqueeze(-1), batch.L, batch.L_diag.to(x.dtype),
                                        batch.mass.to(x.dtype), tol, self.max_iter)


@configurable
class SpatialGradientFeatures(nn.Module):
    r"""Gauge-invariant features from the tangent gradients of each channel.

    With ``g = G_x x + i G_y x`` (the gradient of every channel as a complex number in the vertex
    gauge) and a learned complex matrix ``A = A_re + i A_im``, the feature is
    ``tanh(A_b · Re(conj(g) ⊙ (A g)))`` with ``A_b`` the area of the mesh: a learned inner product
    between gradients, unchanged by a rotation of the vertex frame and, through ``A_b`` (squared
    gradients scale as ``s⁻²``), by a uniform scaling of the mesh.

    Parameters
    ----------
    in_channels, out_channels : int
        Must be equal.
    with_rotation : bool
        Learn the imaginary part ``A_im`` (lets the feature see the orientation between channels).

    Shapes
    ------
    x ``(N, C)`` -> ``(N, C)``; uses ``batch.grad_x``, ``batch.grad_y``.
    """

    def __init__(self, in_channels: int, out_channels: int | None = None, *, with_rotation: bool = True):
        super().__init__()
        out_channels = in_channels if out_channels is None else out_channels
        if out_channels != in_channels:
            raise MeshShapeError(f"out_channels: expected {in_channels} (got {out_channels})")
        self.in_channels = self.out_channels = in_channels
        self.A_re = nn.Parameter(torch.empty(in_channels, in_channels))
        self.A_im = nn.Parameter(torch.empty(in_channels, in_channels)) if with_rotation else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.in_channels)
        nn.init.uniform_(self.A_re, -bound, bound)
        if self.A_im is not None:
            nn.init.uniform_(self.A_im, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, with_rotation={self.A_im is not None}"

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        check_input_dtype(batch, x, "SpatialGradientFeatures")
        gx = batch.grad_x @ x
        gy = batch.grad_y @ x
        bre = gx @ self.A_re.T
        bim = gy @ self.A_re.T
        if self.A_im is not None:
            bre = bre - gy @ self.A_im.T
            bim = bim + gx @ self.A_im.T
        area = mesh_areas(batch, x.dtype)[batch.batch].unsqueeze(-1)
        return torch.tanh(area * (gx * bre + gy * bim))


@configurable
class DiffusionNetBlock(nn.Module):
    r"""One DiffusionNet block: diffuse, gradient features, per-vertex MLP, residual.

    ``h = MLP([x, D_t x, S(D_t x)])``, ``y = skip(x) + h`` where ``D_t`` is
    :class:`LearnedDiffusion` and ``S`` :class:`SpatialGradientFeatures`.

    Parameters
    ----------
    in_channels, out_channels : int
    hidden : int, optional
        MLP hidden width (default ``out_channels``).
    method : {"spectral", "implicit"}
    gradient_features : bool
    dropout : float
    init_time : float
        Initial diffusion time relative to the mesh area (see :class:`LearnedDiffusion`).

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out_channels)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, hidden: int | None = None,
                 method: str = "spectral", gradient_features: bool = True, dropout: float = 0.0,
                 init_time: float = 0.01):
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        hidden = out_channels if hidden is None else hidden
        self.diffusion = LearnedDiffusion(in_channels, method=method, init_time=init_time)
        self.gradient = SpatialGradientFeatures(in_channels) if gradient_features else None
        n_in = in_channels * (3 if gradient_features else 2)
        self.mlp = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, out_channels))
        self.skip = nn.Identity() if in_channels == out_channels else nn.Linear(in_channels, out_channels, bias=False)

    def reset_parameters(self) -> None:
        self.diffusion.reset_parameters()
        if self.gradient is not None:
            self.gradient.reset_parameters()
        for m in self.mlp:
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
        if isinstance(self.skip, nn.Linear):
            self.skip.reset_parameters()

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        xd = self.diffusion(batch, x)
        feats = [x, xd]
        if self.gradient is not None:
            feats.append(self.gradient(batch, xd))
        return self.skip(x) + self.mlp(torch.cat(feats, dim=-1))


@configurable
class DiffusionNet(nn.Module):
    r"""DiffusionNet: a linear lift, ``n_blocks`` :class:`DiffusionNetBlock` and a linear head.

    Works on a whole :class:`MeshBatch` at once (the block-diagonal operators make every mesh
    independent), which is the batching DiffusionNet itself does not offer.

    Parameters
    ----------
    in_channels, out_channels : int
    width : int
    n_blocks : int
    method : {"spectral", "implicit"}
    outputs : {"vertices", "faces", "global"}
        Per-vertex output, per-face (mean of the corners before the head) or per-mesh
        (mass-weighted mean).
    dropout : float

    Shapes
    ------
    x ``(N, in_channels)`` -> ``(N, out)``, ``(F_total, out)`` or ``(B, out)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, width: int = 64, n_blocks: int = 4,
                 method: str = "spectral", outputs: str = "vertices", dropout: float = 0.0,
                 gradient_features: bool = True):
        super().__init__()
        if outputs not in ("vertices", "faces", "global"):
            raise MeshShapeError(f"outputs: expected 'vertices', 'faces' or 'global' (got {outputs!r})")
        check_model_args(in_channels=in_channels, out_channels=out_channels, width=width, n_blocks=n_blocks,
                         dropout=dropout)
        self.in_channels, self.out_channels, self.outputs = in_channels, out_channels, outputs
        self.lift = nn.Linear(in_channels, width)
        self.blocks = nn.ModuleList([
            DiffusionNetBlock(width, width, method=method, dropout=dropout, gradient_features=gradient_features)
            for _ in range(n_blocks)])
        self.head = nn.Linear(width, out_channels)

    def reset_parameters(self) -> None:
        self.lift.reset_parameters()
        for b in self.blocks:
            b.reset_parameters()
        self.head.reset_parameters()

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, outputs={self.outputs!r}"

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        check_input_dtype(batch, x, "DiffusionNet")
        h = self.lift(x)
        for b in self.blocks:
            h = b(batch, h)
        if self.outputs == "faces":
            h = batch.vertex_to_face(h)
        elif self.outputs == "global":
            h = batch.global_mean(h)
        return self.head(h)
