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

from ..errors import MeshShapeError, NonFiniteError
from ..geometry import descriptors as D
from ._checks import check_int
from .batch import MeshBatch

__all__ = ["heat_kernel_signature", "wave_kernel_signature", "input_features", "FEATURE_KINDS"]

FEATURE_KINDS = ("xyz", "hks", "wks", "array")


def _check_batch(batch) -> None:
    if not isinstance(batch, MeshBatch):
        raise MeshShapeError(f"batch: expected a MeshBatch (got {type(batch).__name__}); build one with "
                             "MeshBatch.from_meshes")


def _per_mesh_spectra(batch: MeshBatch):
    """Per mesh: float64 numpy ``(evals, positive mask, area)`` (only ``(B, K)`` values leave the device)."""
    if batch.evals is None:
        raise MeshShapeError("spectral features: expected a MeshBatch with an eigenbasis (got evals=None)")
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
    _check_batch(batch)
    n_times = check_int("n_times", n_times, 1)
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
    _check_batch(batch)
    n_energies = check_int("n_energies", n_energies, 1)
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
        (HKS normalised); ``"array"``: ``values``.
    n : int
        Number of HKS times / WKS energies (a positive integer; not used by ``"xyz"`` and
        ``"array"``).
    values : sequence of arrays, or one array; only with ``kind="array"``
        A list of ``batch.num_meshes`` per-mesh arrays ``(nV_b,)`` or ``(nV_b, C)`` (tensors,
        numpy arrays or nested lists; the same ``C`` for every mesh), stacked in the batch's
        vertex order; or a single tensor / numpy array ``(N,)`` or ``(N, C)`` already stacked
        (``N = batch.num_vertices``, the rows of mesh ``b`` at ``batch.ptr[b]:batch.ptr[b+1]``).
        A 1-D array is one channel.  Values must be finite real numbers; tensors keep their
        autograd graph.
    normalize : bool
        HKS: divide by the mass-weighted mean (scale-invariant); ignored by the other kinds.

    Returns
    -------
    (N, C) tensor in the batch's dtype and device.

    Raises
    ------
    MeshShapeError
        An unknown ``kind``, a bad ``n``, ``values`` missing with ``kind="array"`` or given with
        another kind, or ``values`` whose number of meshes, rows or channels do not fit the batch.
    NonFiniteError
        NaN or infinite ``values``.
    """
    _check_batch(batch)
    if not isinstance(kind, str) or kind not in FEATURE_KINDS:
        raise MeshShapeError(f"kind: expected one of {FEATURE_KINDS} (got {kind!r})")
    n = check_int("n", n, 1)
    if kind != "array" and values is not None:
        raise MeshShapeError(f"values: expected None with kind={kind!r} (values are the features of "
                             f"kind='array' only) (got {type(values).__name__})")
    if kind == "xyz":
        area = batch.mass.new_zeros(batch.num_meshes).index_add_(0, batch.batch, batch.mass)
        centred = batch.pos - batch.global_mean(batch.pos)[batch.batch]
        return centred / torch.sqrt(area)[batch.batch].unsqueeze(-1)
    if kind == "hks":
        return heat_kernel_signature(batch, n, normalize=normalize)
    if kind == "wks":
        return wave_kernel_signature(batch, n)
    return _array_features(batch, values)


def _as_real_tensor(v, name: str, dtype) -> torch.Tensor:
    try:
        t = v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise MeshShapeError(f"{name}: expected an array of real numbers (got {type(v).__name__}: {exc})") from None
    if t.is_complex():
        raise MeshShapeError(f"{name}: expected an array of real numbers (got dtype {t.dtype})")
    if t.dim() == 1:
        t = t.unsqueeze(-1)
    if t.dim() != 2:
        raise MeshShapeError(f"{name}: expected a 1-D or 2-D array (got shape {tuple(t.shape)})")
    return t.to(dtype)


def _array_features(batch: MeshBatch, values) -> torch.Tensor:
    """``kind="array"`` of :func:`input_features`: ``values`` checked against the batch and stacked."""
    dt, N = batch.pos.dtype, batch.num_vertices
    if values is None:
        raise MeshShapeError("values: expected, with kind='array', a list of per-mesh arrays or one "
                             "(N, C) array (got None)")
    if isinstance(values, (torch.Tensor, np.ndarray)):
        x = _as_real_tensor(values, "values", dt)
        if x.shape[0] != N:
            per = "" if batch.num_meshes == 1 else f", the vertices of all {batch.num_meshes} meshes stacked"
            raise MeshShapeError(f"values: expected {N} rows, one per vertex of the batch{per} (got array of "
                                 f"shape {tuple(values.shape)}); give a list of per-mesh arrays otherwise")
        stacked = True
    elif isinstance(values, (list, tuple)):
        if len(values) != batch.num_meshes:
            raise MeshShapeError(f"values: expected {batch.num_meshes} per-mesh arrays, one per mesh of the "
                                 f"batch (got {len(values)})")
        parts = []
        for b, (v, nv) in enumerate(zip(values, batch.sizes)):
            t = _as_real_tensor(v, f"values[{b}]", dt)
            if t.shape[0] != nv:
                raise MeshShapeError(f"values[{b}]: expected {nv} rows, one per vertex of mesh {b} "
                                     f"(got shape {tuple(t.shape)})")
            if parts and t.shape[1] != parts[0].shape[1]:
                raise MeshShapeError(f"values[{b}]: expected {parts[0].shape[1]} channels like values[0] "
                                     f"(got shape {tuple(t.shape)})")
            parts.append(t)
        x = torch.cat(parts, 0)
        stacked = False
    else:
        raise MeshShapeError(f"values: expected a list of per-mesh arrays or one (N, C) tensor / numpy array "
                             f"(got {type(values).__name__})")
    bad = ~torch.isfinite(x.detach())
    if bad.any():
        r = int(bad.any(1).nonzero()[0, 0])
        b = int(np.searchsorted(np.cumsum(batch.sizes), r, side="right"))
        local = r - int(sum(batch.sizes[:b]))
        name, row = ("values", f"row {r}: vertex {local} of mesh {b}") if stacked else (f"values[{b}]", f"row {local}")
        raise NonFiniteError(f"{name}: expected finite values (got NaN/inf, or a value beyond the range of {dt}, "
                             f"in {row})")
    return x.to(batch.device)
