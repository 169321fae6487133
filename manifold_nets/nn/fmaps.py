"""Differentiable functional-map solve (torch twin of :mod:`manifold_nets.geometry.fmaps`).

The energy, its weights, the Laplacian mask and the row-major layout of the unknowns are those
of :func:`manifold_nets.geometry.fmaps.solve_fmap` (defaults imported from there), so that in
float64 both return the same map; here every step is a torch operation and gradients flow to
the descriptors (and operators), as learned-descriptor training needs (FMNet / DiffusionNet's
functional-map head).

Shapes: ``A (k_a, d)`` or batched ``(b, k_a, d)``; ``B (k_b, d)`` / ``(b, k_b, d)``; eigenvalues
``(k,)`` / ``(b, k)``; operators ``(d_o, k, k)`` / ``(b, d_o, k, k)``; result ``C_ab (k_b, k_a)``
/ ``(b, k_b, k_a)``.
"""

from __future__ import annotations

import torch

from ..errors import MeshShapeError
from ..geometry.fmaps import RESOLVENT_GAMMA, W_DCOMM, W_DESCR, W_LAP, W_ORIENT

__all__ = ["solve_fmap", "laplacian_mask", "project", "fmap_loss"]


def project(evecs: torch.Tensor, mass: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Coefficients ``Φᵀ M values``: ``evecs (..., n, k)``, ``mass (..., n)``, ``values (..., n, d)``
    -> ``(..., k, d)``."""
    return evecs.transpose(-1, -2) @ (mass.unsqueeze(-1) * values)


def laplacian_mask(evals_a: torch.Tensor, evals_b: torch.Tensor, *, gamma: float | None = RESOLVENT_GAMMA) -> torch.Tensor:
    """``(..., k_b, k_a)`` commutativity weights, as :func:`manifold_nets.geometry.fmaps.laplacian_mask`."""
    la = evals_a.clamp_min(0.0)
    lb = evals_b.clamp_min(0.0)
    s = torch.maximum(la.amax(dim=-1, keepdim=True), lb.amax(dim=-1, keepdim=True)).clamp_min(1e-300)
    la, lb = la / s, lb / s
    if gamma is None:
        return (lb.unsqueeze(-1) - la.unsqueeze(-2)) ** 2
    g = float(gamma)

    def parts(x):
        den = x ** (2 * g) + 1.0
        return x ** g / den, 1.0 / den

    ra, sa = parts(la)
    rb, sb = parts(lb)
    return (rb.unsqueeze(-1) - ra.unsqueeze(-2)) ** 2 + (sb.unsqueeze(-1) - sa.unsqueeze(-2)) ** 2


def _commutator_hessian(Xa: torch.Tensor, Xb: torch.Tensor) -> torch.Tensor:
    """``(..., kb·ka, kb·ka)``: Hessian of ``Σ_f ‖C X_a,f − X_b,f C‖²`` in row-major ``vec(C)``."""
    ka, kb = Xa.shape[-1], Xb.shape[-1]
    Ia = torch.eye(ka, dtype=Xa.dtype, device=Xa.device)
    Ib = torch.eye(kb, dtype=Xa.dtype, device=Xa.device)
    SXX = torch.einsum("...fij,...fkj->...ik", Xa, Xa)
    SYY = torch.einsum("...fji,...fjk->...ik", Xb, Xb)
    lead = SXX.shape[:-2]
    cross = torch.einsum("...fab,...fcd->...acbd", Xb, Xa).reshape(*lead, kb * ka, kb * ka)
    kron1 = torch.einsum("ac,...bd->...abcd", Ib, SXX).reshape(*lead, kb * ka, kb * ka)
    kron2 = torch.einsum("...ac,bd->...abcd", SYY, Ia).reshape(*lead, kb * ka, kb * ka)
    return kron1 + kron2 - cross - cross.transpose(-1, -2)


def solve_fmap(A: torch.Tensor, B: torch.Tensor, evals_a: torch.Tensor, evals_b: torch.Tensor,
               ops_a: torch.Tensor | None = None, ops_b: torch.Tensor | None = None, *,
               mult_a: torch.Tensor | None = None, mult_b: torch.Tensor | None = None,
               w_descr: float = W_DESCR, w_lap: float = W_LAP, w_orient: float = W_ORIENT,
               w_dcomm: float = W_DCOMM) -> torch.Tensor:
    """``C_ab`` minimising the functional-map energy (see :func:`manifold_nets.geometry.fmaps.solve_fmap`).

    Without operators the rows decouple and are solved as one batch of ``k_b`` systems of size
    ``k_a``; with them one ``(k_a k_b)``-square system (Cholesky) per map.  Differentiable.
    """
    if A.dim() < 2 or B.dim() != A.dim() or A.shape[-1] != B.shape[-1]:
        raise MeshShapeError(f"A, B: expected (..., k, d) tensors with the same d (got {tuple(A.shape)} "
                             f"and {tuple(B.shape)})")
    ka, kb = A.shape[-2], B.shape[-2]
    if evals_a.shape[-1] != ka or evals_b.shape[-1] != kb:
        raise MeshShapeError(f"evals_a, evals_b: expected {ka} and {kb} eigenvalues "
                             f"(got {evals_a.shape[-1]} and {evals_b.shape[-1]})")
    for name, x, y in (("ops", ops_a, ops_b), ("mult", mult_a, mult_b)):
        if (x is None) != (y is None):
            raise MeshShapeError(f"{name}_a, {name}_b: expected both or neither")
        if x is not None and (x.shape[-2:] != (ka, ka) or y.shape[-2:] != (kb, kb) or x.shape[-3] != y.shape[-3]):
            raise MeshShapeError(f"{name}_a, {name}_b: expected (..., d, {ka}, {ka}) and (..., d, {kb}, {kb}) "
                                 f"(got {tuple(x.shape)} and {tuple(y.shape)})")
    mask = laplacian_mask(evals_a, evals_b)  # (..., kb, ka)
    AAt = w_descr * (A @ A.transpose(-1, -2))  # (..., ka, ka)
    rhs = w_descr * (B @ A.transpose(-1, -2))  # (..., kb, ka)
    use_o = ops_a is not None and bool(w_orient)
    use_m = mult_a is not None and bool(w_dcomm)
    if not (use_o or use_m):
        H = AAt.unsqueeze(-3) + torch.diag_embed(w_lap * mask)  # (..., kb, ka, ka)
        return torch.linalg.solve(H, rhs.unsqueeze(-1)).squeeze(-1)
    lead = AAt.shape[:-2]
    Ib = torch.eye(kb, dtype=A.dtype, device=A.device)
    H = torch.einsum("ac,...bd->...abcd", Ib, AAt).reshape(*lead, kb * ka, kb * ka)
    H = H + torch.diag_embed(w_lap * mask.reshape(*lead, kb * ka))
    if use_o:
        H = H + w_orient * _commutator_hessian(ops_a, ops_b)
    if use_m:
        H = H + w_dcomm * _commutator_hessian(mult_a, mult_b)
    L = torch.linalg.cholesky(H)
    x = torch.cholesky_solve(rhs.reshape(*lead, kb * ka, 1), L)
    return x.reshape(*lead, kb, ka)


def fmap_loss(C: torch.Tensor, C_true: torch.Tensor | None = None, *, w_ortho: float = 0.0,
              w_bij: float = 0.0, C_back: torch.Tensor | None = None) -> torch.Tensor:
    """Functional-map loss: ``‖C − C_true‖²`` (supervised, when given) plus ``w_ortho ‖CᵀC − I‖²``
    and ``w_bij ‖C_back C − I‖²`` (unsupervised; ``C_back`` the map the other way).  Mean over a
    leading batch dimension."""
    k = C.shape[-1]
    I = torch.eye(k, dtype=C.dtype, device=C.device)
    loss = C.new_zeros(C.shape[:-2])
    if C_true is not None:
        loss = loss + ((C - C_true) ** 2).sum(dim=(-1, -2))
    if w_ortho and C.shape[-2] == k:
        loss = loss + w_ortho * ((C.transpose(-1, -2) @ C - I) ** 2).sum(dim=(-1, -2))
    if w_bij and C_back is not None:
        loss = loss + w_bij * ((C_back @ C - I) ** 2).sum(dim=(-1, -2))
    return loss.mean()
