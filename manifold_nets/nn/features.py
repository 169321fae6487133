"""Per-vertex input features of a :class:`MeshBatch`: HKS, WKS, normalised positions, arrays.

The spectral descriptors are the ones of :mod:`manifold_nets.geometry.descriptors` — the same
times, energies, widths, zero-eigenvalue threshold, Weyl-law fallback and defaults, taken from
the functions there (computed per mesh on the ``(k,)`` eigenvalues, in float64) — evaluated with
torch on the batch's device.  ``heat_kernel_signature(batch)`` equals
``geometry.hks(evals, evecs, mass=mass)`` mesh by mesh (tested to float64 rounding).
"""

from __future__ import annotations

import numpy as np
import torch

from ..geometry import descriptors as D
from .batch import MeshBatch

__all__ = ["heat_kernel_signature", "wave_kernel_signature", "input_features", "FEATURE_KINDS"]

FEATURE_KINDS = ("xyz", "hks", "wks", "array")


def _per_mesh_spectra(batch: MeshBatch):
    """Per mesh: float64 numpy ``(evals, positive mask, area)`` (only ``(B, K)`` values leave the device)."""
    if batch.evals is None:
        raise ValueError("spectral features: expected a MeshBatch with an eigenbasis (got evals=None)")
    ev = batch.evals.detach().to("cpu", torch.float64).numpy()
    valid = batch.eval_mask.detach().cpu().numpy()
    area = torch.zeros(batch.num_meshes, dtype=torch.float64, device=batch.device)
    area = area.index_add(0, batch.batch, batch.mass.detach().to(torch.float64)).cpu().numpy()
    out = []
    for b in range(batch.num_meshes):
        e = ev[b, valid[b]]
        pos = np.zeros(ev.shape[1], dtype=bool)
        pos[np.flatnonzero(valid[b])] = D.positive_eigenvalues(e)
        out.append((e, pos, float(area[b])))
    return out


def _per_mesh_square_synthesis(batch: MeshBatch, w: torch.Tensor) -> torch.Tensor:
    """``Σ_k φ_k(x)² w[b, k, :]`` per mesh: w ``(B, K, n)`` -> ``(N, n)``."""
    return torch.cat([(P * P) @ wb for P, wb in zip(batch.evecs_split(), w)], dim=0)


def heat_kernel_signature(batch: MeshBatch, n_times: int = D.N_TIMES, *, normalize: bool = True) -> torch.Tensor:
    r"""Heat kernel signature ``Σ_k exp(−λ_k t) φ_k(x)²`` at ``n_times`` log-spaced times per mesh.

    Times from :func:`manifold_nets.geometry.hks_times` (``[4 ln 10 / λ_max, 4 ln 10 / λ_1]`` of
    each mesh, Sun et al. 2009; Weyl-law fallback for meshes without positive eigenvalue);
    ``normalize`` divides every column by its mass-weighted mean over the mesh (then the HKS is
    invariant to a global scaling).  Equals :func:`manifold_nets.geometry.hks` with ``mass``.

    Shapes: -> ``(N, n_times)`` in the batch's dtype.
    """
    spectra = _per_mesh_spectra(batch)
    t = np.stack([D.hks_times(e, n_times, area=a) for e, _, a in spectra])  # (B, n)
    t = torch.as_tensor(t, dtype=batch.evals.dtype, device=batch.device)
    # every eigenpair contributes (the constant φ_0 too); only the time range uses λ > 0
    lam = batch.evals.clamp_min(0)
    w = torch.exp(-lam.unsqueeze(-1) * t.unsqueeze(1)) * batch.eval_mask.unsqueeze(-1)  # (B, K, n)
    h = _per_mesh_square_synthesis(batch, w)
    if normalize:
        h = h / batch.global_mean(h)[batch.batch]
    return h


def wave_kernel_signature(batch: MeshBatch, n_energies: int = D.N_ENERGIES, *,
                          variance: float = D.WKS_VARIANCE) -> torch.Tensor:
    r"""Wave kernel signature (Aubry et al. 2011) at ``n_energies`` log-energies per mesh.

    ``WKS(x, e) = Σ_k φ_k(x)² G(e − log λ_k) / Σ_k G(e − log λ_k)`` with energies and width
    ``σ = variance · Δe`` from :func:`manifold_nets.geometry.wks_energies`; zero eigenvalues are
    left out (a mesh without a positive eigenvalue gets zeros).  Equals
    :func:`manifold_nets.geometry.wks` with ``mass``.

    Shapes: -> ``(N, n_energies)`` in the batch's dtype.
    """
    spectra = _per_mesh_spectra(batch)
    es, sig = zip(*[D.wks_energies(e, n_energies, variance, area=a) for e, _, a in spectra])
    kw = dict(dtype=batch.evals.dtype, device=batch.device)
    e = torch.as_tensor(np.stack(es), **kw)  # (B, n)
    sigma = torch.as_tensor(np.asarray(sig), **kw)  # (B,)
    mask = torch.as_tensor(np.stack([p for _, p, _ in spectra]), device=batch.device)
    loglam = torch.log(torch.where(mask, batch.evals, torch.ones_like(batch.evals)))
    g = torch.exp(-((e.unsqueeze(1) - loglam.unsqueeze(-1)) ** 2) / (2 * sigma.view(-1, 1, 1) ** 2))
    g = g * mask.unsqueeze(-1)
    g = g / torch.where(g.sum(1, keepdim=True) > 0, g.sum(1, keepdim=True), torch.ones_like(g[:, :1]))
    return _per_mesh_square_synthesis(batch, g)


def input_features(batch: MeshBatch, kind: str = "hks", n: int = 16, values=None, *,
                   normalize: bool = True) -> torch.Tensor:
    """Per-vertex input features for a batch.

    Parameters
    ----------
    batch : MeshBatch
    kind : {"xyz", "hks", "wks", "array"}
        ``"xyz"``: positions centred on each mesh's mass-weighted centroid and divided by
        ``sqrt(area)`` (scale-invariant, not rotation invariant); ``"hks"`` / ``"wks"``:
        intrinsic descriptors with the defaults of :mod:`manifold_nets.geometry.descriptors`
        (HKS normalised); ``"array"``: ``values``, a list of per-mesh ``(nV_b, C)`` arrays, stacked.
    n : int
        Number of HKS times / WKS energies.
    normalize : bool
        HKS: divide by the mass-weighted mean (scale-invariant); ignored by the other kinds.

    Returns
    -------
    (N, C) tensor in the batch's dtype and device.
    """
    if kind == "xyz":
        area = batch.mass.new_zeros(batch.num_meshes).index_add_(0, batch.batch, batch.mass)
        centred = batch.pos - batch.global_mean(batch.pos)[batch.batch]
        return centred / torch.sqrt(area)[batch.batch].unsqueeze(-1)
    if kind == "hks":
        return heat_kernel_signature(batch, n, normalize=normalize)
    if kind == "wks":
        return wave_kernel_signature(batch, n)
    if kind == "array":
        if values is None:
            raise ValueError("kind='array': expected values, a list of per-mesh arrays (got None)")
        vals = [torch.as_tensor(v, dtype=batch.pos.dtype) for v in values]
        vals = [v.unsqueeze(-1) if v.dim() == 1 else v for v in vals]
        return torch.cat(vals, 0).to(batch.device)
    raise ValueError(f"kind: expected one of {FEATURE_KINDS} (got {kind!r})")
