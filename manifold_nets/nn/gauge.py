r"""Gauge-equivariant family: features as SO(2) irreps in each vertex's gauge (GEM-CNN style).

Feature layout (:class:`Irreps`)
    A feature type is a list of ``(multiplicity, order)`` blocks.  An order-0 block of
    multiplicity ``m`` takes ``m`` columns; an order-``n > 0`` block takes ``2m`` columns,
    channel-major: ``[re_0, im_0, re_1, im_1, …]``.  The pair ``(re, im)`` is the complex
    coefficient ``z``; under a gauge change by ``g_i`` it becomes ``e^{−i n g_i} z`` (for ``n = 1``
    this is the tangent-vector convention of :mod:`manifold_nets.conventions`).

Convolution
    With ``θ_ij`` the angle of neighbour ``j`` in ``i``'s gauge and ``ρ_ij`` the transport angle,
    ``y_i = S x_i + mean_j ρ_out(θ_ij) W(r_ij) ρ_in(−θ_ij) ρ_in(ρ_ij) x_j + b`` where
    ``ρ(α)`` rotates every order-``n`` coefficient by ``e^{i n α}``, ``W(r)`` is an unconstrained
    real matrix expanded in a radial basis, ``S`` commutes with every rotation (complex
    multiplication between blocks of the same order) and the bias ``b`` is on order 0 only.
    ``K(θ) = ρ_out(θ) W ρ_in(−θ)`` is exactly the general solution of the kernel constraint
    ``K(θ − g) = ρ_out(−g) K(θ) ρ_in(g)`` (set ``θ = g``), i.e. the same space as the solved basis
    of de Haan et al. (2021): for in order ``m`` and out order ``n`` it is spanned by
    ``cos/sin((n ± m) θ)`` patterns (4 functions for ``m, n > 0``, 2 when one is 0, 1 for 0 → 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import MeshShapeError
from ._config import configurable
from ._sparse import grouped_csr, grouped_layout
from .batch import MeshBatch

__all__ = [
    "Irreps",
    "rotate_irreps",
    "GEMConv",
    "NormNonlinearity",
    "RegularNonlinearity",
    "InvariantReadout",
    "TransportSmoothing",
    "IrrepsDropout",
]


class Irreps(tuple):
    """A feature type: a tuple of ``(multiplicity, order)`` blocks.

    >>> Irreps.regular(4, 2)
    Irreps(4x0 + 4x1 + 4x2)
    >>> Irreps.regular(4, 2).dim
    20
    """

    def __new__(cls, blocks):
        if isinstance(blocks, Irreps):
            return blocks
        if isinstance(blocks, int):
            blocks = [(blocks, 0)]
        out = []
        for mult, order in blocks:
            mult, order = int(mult), int(order)
            if mult < 0 or order < 0:
                raise MeshShapeError(f"irreps: expected non-negative multiplicity and order (got {(mult, order)})")
            if mult:
                out.append((mult, order))
        return super().__new__(cls, out)

    @classmethod
    def scalar(cls, m: int) -> Irreps:
        """``m`` invariant (order-0) channels."""
        return cls([(m, 0)])

    @classmethod
    def regular(cls, m: int, max_order: int) -> Irreps:
        """``m`` copies of every order ``0..max_order`` (the type the regular nonlinearity needs)."""
        return cls([(m, n) for n in range(max_order + 1)])

    @property
    def dim(self) -> int:
        return sum(m * (1 if n == 0 else 2) for m, n in self)

    @property
    def max_order(self) -> int:
        return max((n for _, n in self), default=0)

    def slices(self):
        """``(start, stop, mult, order)`` of every block in the column layout."""
        out, s = [], 0
        for m, n in self:
            d = m * (1 if n == 0 else 2)
            out.append((s, s + d, m, n))
            s += d
        return out

    @property
    def num_scalars(self) -> int:
        return sum(m for m, n in self if n == 0)

    @property
    def num_invariants(self) -> int:
        """Number of invariant features of :class:`InvariantReadout` (scalars + one norm per pair)."""
        return sum(m for m, _ in self)

    def is_regular(self) -> bool:
        ms = {m for m, _ in self}
        return len(ms) == 1 and sorted(n for _, n in self) == list(range(self.max_order + 1))

    def __repr__(self) -> str:
        return "Irreps(" + " + ".join(f"{m}x{n}" for m, n in self) + ")"


def rotate_irreps(x: torch.Tensor, irreps: Irreps, angle: torch.Tensor) -> torch.Tensor:
    """Apply ``ρ(angle)`` row-wise: every order-``n`` pair is multiplied by ``e^{i n angle}``.

    Shapes: x ``(n, irreps.dim)``, angle ``(n,)`` -> ``(n, irreps.dim)``.
    """
    parts = []
    for s, e, m, n in irreps.slices():
        blk = x[:, s:e]
        if n == 0:
            parts.append(blk)
            continue
        blk = blk.reshape(-1, m, 2)
        c = torch.cos(n * angle).unsqueeze(-1)
        si = torch.sin(n * angle).unsqueeze(-1)
        re, im = blk[..., 0], blk[..., 1]
        parts.append(torch.stack([c * re - si * im, si * re + c * im], -1).reshape(-1, 2 * m))
    return torch.cat(parts, dim=-1)


def _norms(x: torch.Tensor, irreps: Irreps, eps: float = 0.0):
    """Per-pair norms ``(n, Σ_{order>0} m)`` and the scalar columns ``(n, m0)``."""
    sc, nr = [], []
    for s, e, m, n in irreps.slices():
        if n == 0:
            sc.append(x[:, s:e])
        else:
            blk = x[:, s:e].reshape(-1, m, 2)
            nr.append(torch.sqrt((blk * blk).sum(-1) + eps))
    return sc, nr


@configurable
class GEMConv(nn.Module):
    r"""Gauge-equivariant mesh convolution (see the module docstring for the formula).

    Parameters
    ----------
    in_channels, out_channels : Irreps, int or sequence of (mult, order)
        Feature types (an int means that many scalars).
    n_radial : int
        Radial basis functions (hat functions on ``ρ = r / patch_radius`` with centres
        ``linspace(0, 1, n_radial)``).
    self_interaction : bool
        Add the equivariant self term ``S x_i``.
    bias : bool
        Bias on the order-0 outputs only (a bias on a higher order would break equivariance).
    method : {"fourier", "edges"}
        ``"fourier"`` (default) aggregates neighbours with cached sparse operators and mixes
        channels per vertex (see :meth:`_neighbours_fourier`); ``"edges"`` applies the kernel edge
        by edge (the reference; same result, several times slower).

    Shapes
    ------
    x ``(N, in.dim)`` -> ``(N, out.dim)``; uses ``batch.patch_pairs``, ``pair_theta``,
    ``pair_transport``, ``pair_r``.
    """

    def __init__(self, in_channels, out_channels, *, n_radial: int = 2, self_interaction: bool = True,
                 bias: bool = True, method: str = "fourier"):
        super().__init__()
        if method not in ("fourier", "edges"):
            raise MeshShapeError(f"method: expected 'fourier' or 'edges' (got {method!r})")
        self.method = method
        self.irreps_in, self.irreps_out = Irreps(in_channels), Irreps(out_channels)
        self.in_channels, self.out_channels = self.irreps_in, self.irreps_out
        self.n_radial = n_radial
        di, do = self.irreps_in.dim, self.irreps_out.dim
        self.weight = nn.Parameter(torch.empty(n_radial * di, do))
        # equivariant self-interaction: a real (order 0) or complex (order n > 0) matrix for every
        # pair of blocks of the same order, all stored in one flat parameter
        self._self_pairs, off = [], 0
        if self_interaction:
            for si_, ei_, mi, ni in self.irreps_in.slices():
                for so_, eo_, mo, no in self.irreps_out.slices():
                    if ni == no:
                        size = mi * mo * (1 if ni == 0 else 2)
                        self._self_pairs.append((si_, ei_, mi, so_, eo_, mo, ni, off))
                        off += size
        self.self_weight = nn.Parameter(torch.empty(off)) if off else None
        self.bias = nn.Parameter(torch.empty(self.irreps_out.num_scalars)) if bias and self.irreps_out.num_scalars else None
        idx = [c for s, e, m, n in self.irreps_out.slices() if n == 0 for c in range(s, e)]
        self.register_buffer("_bias_index", torch.tensor(idx, dtype=torch.long), persistent=False)
        self._in_cols = _order_columns(self.irreps_in)
        self._out_cols = _order_columns(self.irreps_out)
        self._cols_on = {}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        di = self.irreps_in.dim
        nn.init.normal_(self.weight, std=math.sqrt(1.0 / (di * self.n_radial)))
        if self.self_weight is not None:
            with torch.no_grad():
                for _, _, mi, _, _, mo, n, off in self._self_pairs:
                    size = mi * mo * (1 if n == 0 else 2)
                    self.self_weight[off:off + size].normal_(std=math.sqrt(1.0 / (2 * mi)))
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return (f"{self.irreps_in!r} -> {self.irreps_out!r}, n_radial={self.n_radial}, "
                f"bias={self.bias is not None}, method={self.method!r}")

    def radial_basis(self, rho: torch.Tensor) -> torch.Tensor:
        """Hat functions ``(E, n_radial)`` on ``ρ ∈ [0, 1]`` (a partition of unity)."""
        return _hat_basis(rho, self.n_radial)

    def _self_matrix(self, pair, dtype) -> torch.Tensor:
        """The real ``(in slice width, out slice width)`` matrix of one self-interaction pair, in the
        interleaved (re, im) column layout of both slices (a complex ``re + i im`` for order > 0)."""
        _si, _ei, mi, _so, _eo, mo, n, off = pair
        w = self.self_weight.to(dtype)
        re = w[off:off + mi * mo].view(mi, mo)
        if n == 0:
            return re
        im = w[off + mi * mo:off + 2 * mi * mo].view(mi, mo)
        # rows (p, re|im of the input), columns (q, re|im of the output): [[re, im], [-im, re]]
        return torch.stack([torch.stack([re, im], -1), torch.stack([-im, re], -1)], 1).reshape(2 * mi, 2 * mo)

    def _self_term(self, x: torch.Tensor) -> torch.Tensor:
        parts = {}
        for pair in self._self_pairs:
            so_ = pair[3]
            out = x[:, pair[0]:pair[1]] @ self._self_matrix(pair, x.dtype)
            parts[so_] = parts[so_] + out if so_ in parts else out
        cols = [parts.get(so_, x.new_zeros(x.shape[0], eo_ - so_)) for so_, eo_, _, _ in self.irreps_out.slices()]
        return torch.cat(cols, -1)

    def _neighbours_edges(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        """Reference path: the kernel applied edge by edge (``E × n_radial·in × out`` products)."""
        i, j = batch.patch_pairs[:, 0], batch.patch_pairs[:, 1]
        theta = batch.pair_theta.to(x.dtype)
        rho = (batch.pair_r / batch.patch_radius[batch.pair_batch]).to(x.dtype)
        u = rotate_irreps(x[j], self.irreps_in, batch.pair_transport.to(x.dtype) - theta)  # ρ_in(−θ) ρ_in(ρ) x_j
        phi = self.radial_basis(rho)  # (E, nb)
        v = (phi.unsqueeze(-1) * u.unsqueeze(1)).reshape(u.shape[0], -1) @ self.weight.to(x.dtype)  # W(r) u
        v = rotate_irreps(v, self.irreps_out, theta)  # ρ_out(θ)
        agg = x.new_zeros(x.shape[0], self.irreps_out.dim).index_add_(0, i, v)
        deg = x.new_zeros(x.shape[0]).index_add_(0, i, torch.ones_like(theta)).clamp_min(1.0)
        return agg / deg.unsqueeze(-1)

    def _columns(self, device):
        """Per-order column indices of the input and output layouts, on ``device`` (memoised)."""
        key = str(device)
        if key not in self._cols_on:
            mv = lambda d: {n: (r.to(device), i.to(device)) for n, (r, i) in d.items()}  # noqa: E731
            self._cols_on[key] = (mv(self._in_cols), mv(self._out_cols))
        return self._cols_on[key]

    def _neighbours_fourier(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        """Fast path: aggregate first, then mix channels once per vertex.

        Writing the 2×2 block of ``W`` between in order ``m`` and out order ``n`` as
        ``z ↦ a z + b z̄`` (complex ``a, b``), the neighbour term is
        ``a Σ_j φ(r) e^{i((n−m)θ + mρ)} z_j + b Σ_j φ(r) e^{i((n+m)θ − mρ)} z̄_j``: the sums are fixed
        sparse operators of the geometry (built once per batch and cached), so the dense products
        run per vertex instead of per edge.  Mathematically identical to the edge path.

        Returns ``(y, complete)``: when every output order occupies one contiguous column range
        (as in ``Irreps.regular``), ``y`` already holds the self term and the bias
        (:meth:`_assemble_in_order`) and ``complete`` is True.
        """
        N, nb, dt = x.shape[0], self.n_radial, x.dtype
        in_cols, out_cols = self._columns(x.device)
        keys_of, sizes_of, (i1, c1, i2, c2, splits, shapes) = self._fourier_plan(x.device)
        # every block of the mixing matrices is W entries times ±1 or ±1/2 (at most two per entry):
        # two gathers per layer instead of hundreds of small indexing ops
        Wf = self.weight.to(dt).reshape(-1)
        wts = [w.view(sh) for w, sh in zip(torch.split(Wf[i1] * c1.to(dt) + Wf[i2] * c2.to(dt), splits), shapes)]
        parts = {}
        for m, (ire, iim) in in_cols.items():
            z = x[:, ire] if m == 0 else torch.cat([x[:, ire], x[:, iim]], 0)  # (N or 2N, M_m)
            op = _gem_operator(batch, nb, m, keys_of[m], dt)
            # rows (i, term, b, re|im): Σ_j φ_b e^{iα} z_j (or z̄_j), one row per vertex; the terms
            # are ordered by output order n, so each n reads one contiguous block (a view)
            agg = (op @ z).reshape(N, len(keys_of[m]), nb * 2 * ire.numel())
            parts[m] = torch.split(agg, sizes_of[m], 1)
        ranges = self._out_ranges(x.device)
        if ranges is not None:  # one contiguous range per output order: the result in place, self term and bias included
            return self._assemble_in_order(x, parts, wts, ranges), True
        pieces, cols, k = [], [], 0
        for a, (n, (ore, oim)) in enumerate(out_cols.items()):
            Y = None
            for m in in_cols:
                f = parts[m][a].reshape(N, -1)
                Y = f @ wts[k] if Y is None else torch.addmm(Y, f, wts[k])
                k += 1
            if n == 0:
                pieces.append(Y)
                cols.append(ore)
            else:
                Mn = ore.numel()
                pieces += [Y[:, :Mn], Y[:, Mn:]]
                cols += [ore, oim]
        y = torch.cat(pieces, 1)
        return y[:, torch.argsort(torch.cat(cols))], False

    def _out_ranges(self, device):
        """``[(start, stop, perm)]`` per output order when every order's columns form one contiguous
        range and the ranges follow each other in order of ``n`` (as in ``Irreps.regular``), with
        ``perm`` the column order that takes ``[re columns, im columns]`` to that range's interleaved
        layout; ``None`` otherwise (memoised per device)."""
        key = ("ranges", str(device))
        if key not in self._cols_on:
            out, pos = [], 0
            for ore, oim in self._out_cols.values():
                cols = torch.cat([ore, oim])
                lo, hi = int(cols.min()), int(cols.max()) + 1
                if lo != pos or hi - lo != cols.numel():
                    out = None
                    break
                out.append((lo, hi, torch.argsort(cols).to(device)))
                pos = hi
            self._cols_on[key] = out
        return self._cols_on[key]

    def _assemble_in_order(self, x, parts, wts, ranges) -> torch.Tensor:
        """``_neighbours_fourier``'s result, the self term and the bias, with every output order's
        block formed in its final column order (mixing-matrix columns permuted instead of the
        result) and the bias and self term accumulated into it: one concatenation, no gather."""
        N, k, blocks = x.shape[0], 0, []
        in_orders = list(self._in_cols)
        for a, (n, (lo, hi, perm)) in enumerate(zip(self._out_cols, ranges)):
            Y = None
            for m in in_orders:
                f, w = parts[m][a].reshape(N, -1), wts[k][:, perm]
                if Y is None and n == 0 and self.bias is not None:
                    Y = torch.addmm(self.bias.to(x.dtype), f, w)
                else:
                    Y = f @ w if Y is None else torch.addmm(Y, f, w)
                k += 1
            for pair in self._self_pairs:
                if pair[3] >= lo and pair[4] <= hi:
                    S = self._self_matrix(pair, x.dtype)
                    if (pair[3], pair[4]) == (lo, hi):
                        Y = torch.addmm(Y, x[:, pair[0]:pair[1]], S)
                    else:
                        Y = torch.cat([Y[:, :pair[3] - lo], Y[:, pair[3] - lo:pair[4] - lo]
                                       + x[:, pair[0]:pair[1]] @ S, Y[:, pair[4] - lo:]], 1)
            blocks.append(Y)
        return blocks[0] if len(blocks) == 1 else torch.cat(blocks, 1)

    def _fourier_plan(self, device):
        """What :meth:`_neighbours_fourier` needs besides the batch (memoised per device).

        ``keys_of[m]``: the phase terms ``(f, s, conj)`` of input order ``m`` over all output
        orders (ordered by ``n``); ``sizes_of[m]``: terms per output order; and the gather plan
        ``(i1, c1, i2, c2, splits, shapes)`` of the mixing matrices: for every ``(n, m)`` (n-major), the
        ``(T · nb · 2 · M_m, M_n or 2 M_n)`` matrix ``W.flatten()[i1] c1 + W.flatten()[i2] c2``.

        Writing the 2×2 block of ``W`` between in order ``m`` and out order ``n`` as
        ``z ↦ a z + b z̄`` (complex ``a, b``), the terms are ``(n − m, m)`` (coefficient ``a``) and
        ``(n + m, −m, conj)`` (coefficient ``b``); ``a = ((w00 + w11) + i (w10 − w01)) / 2``,
        ``b = ((w00 − w11) + i (w01 + w10)) / 2``.
        """
        key = ("plan", str(device))
        if key in self._cols_on:
            return self._cols_on[key]
        nb, di, do = self.n_radial, self.irreps_in.dim, self.irreps_out.dim
        idx = torch.arange(nb * di * do).reshape(nb, di, do)
        in_cols, out_cols = _order_columns(self.irreps_in), _order_columns(self.irreps_out)
        keys_of = {m: [] for m in in_cols}
        sizes_of = {m: [] for m in in_cols}
        blocks = []  # per (n, m): the four components (i1, c1, i2, c2)
        for n, (ore, oim) in out_cols.items():
            for m, (ire, iim) in in_cols.items():
                w00 = idx[:, ire][:, :, ore]
                w10 = idx[:, ire][:, :, oim] if n > 0 else None
                w01 = idx[:, iim][:, :, ore] if m > 0 else None
                w11 = idx[:, iim][:, :, oim] if m > 0 and n > 0 else None
                one = lambda w, c=1.0: (w, torch.full(w.shape, c, dtype=torch.float64), w,  # noqa: E731
                                        torch.zeros(w.shape, dtype=torch.float64))
                two = lambda w, c, v, d: (w, torch.full(w.shape, c, dtype=torch.float64), v,  # noqa: E731
                                          torch.full(v.shape, d, dtype=torch.float64))
                if m == 0 and n == 0:
                    terms, kt = [(one(w00), one(w00, 0.0))], [(0, 0, False)]
                elif m == 0:
                    terms, kt = [(one(w00), one(w10))], [(n, 0, False)]
                elif n == 0:
                    terms, kt = [(one(w00), one(w01, -1.0))], [(-m, m, False)]
                else:
                    terms = [(two(w00, 0.5, w11, 0.5), two(w10, 0.5, w01, -0.5)),
                             (two(w00, 0.5, w11, -0.5), two(w01, 0.5, w10, 0.5))]
                    kt = [(n - m, m, False), (n + m, -m, True)]
                keys_of[m] += kt
                sizes_of[m].append(len(kt))
                comps = []
                for c in range(4):
                    neg = (lambda v: -v) if c % 2 else (lambda v: v)  # noqa: E731
                    ar = torch.stack([t[0][c] for t in terms])  # (T, nb, M_m, M_n)
                    ai = torch.stack([t[1][c] for t in terms])
                    if n == 0:  # real output: Re((Ar + i Ai)(ar + i ai)) = Ar ar − Ai ai
                        comps.append(torch.stack([ar, neg(ai)], 2).reshape(-1, ore.numel()))
                    else:  # rows Ar multiply [ar, ai], rows Ai multiply [−ai, ar]
                        w_re, w_im = torch.cat([ar, ai], -1), torch.cat([neg(ai), ar], -1)
                        comps.append(torch.stack([w_re, w_im], 2).reshape(-1, 2 * ore.numel()))
                blocks.append(comps)
        splits = [b[0].numel() for b in blocks]
        flat = [torch.cat([b[c].reshape(-1) for b in blocks]).to(device) for c in range(4)]
        shapes = [tuple(b[0].shape) for b in blocks]
        plan = ({m: tuple(k) for m, k in keys_of.items()}, sizes_of, (*flat, splits, shapes))
        self._cols_on[key] = plan
        return plan

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        if not batch.has_patches:
            raise MeshShapeError("GEMConv: expected a MeshBatch with patches (got patches=None)")
        if self.method == "fourier":
            y, complete = self._neighbours_fourier(batch, x)
            if complete:
                return y
        else:
            y = self._neighbours_edges(batch, x)
        if self._self_pairs:
            y = y + self._self_term(x)
        if self.bias is not None:
            b = torch.zeros(self.irreps_out.dim, dtype=x.dtype, device=x.device)
            y = y + b.index_copy(0, self._bias_index, self.bias.to(x.dtype))
        return y


def _order_columns(irreps: Irreps) -> dict:
    """``order -> (re columns, im columns)`` over all blocks of that order (im is empty for 0)."""
    out = {}
    for s, e, _m, n in irreps.slices():
        if n == 0:
            re, im = list(range(s, e)), []
        else:
            re, im = list(range(s, e, 2)), list(range(s + 1, e, 2))
        r0, i0 = out.get(n, ([], []))
        out[n] = (r0 + re, i0 + im)
    return {n: (torch.tensor(r, dtype=torch.long), torch.tensor(i, dtype=torch.long)) for n, (r, i) in sorted(out.items())}


def _gem_operator(batch: MeshBatch, n_radial: int, m: int, keys: tuple, dtype):
    """Sparse operator of the aggregated neighbour features for input order ``m``.

    Shape ``(N · T · n_radial · 2, N)`` for ``m = 0`` (input: the real columns) or
    ``(N · T · n_radial · 2, 2N)`` for ``m > 0`` (input: real parts stacked over imaginary
    parts).  Row ``((i · T + t) · n_radial + b) · 2 + p`` holds the real (``p = 0``) or imaginary
    (``p = 1``) part of ``Σ_j φ_b(r_ij) / deg_i · e^{i(f θ_ij + s ρ_ij)} z_j`` for the term
    ``t = (f, s, conj)`` (``z̄_j`` when ``conj``).  Built in one vectorised pass straight in CSR
    order (:func:`~manifold_nets.nn._sparse.grouped_csr`) and cached on the batch.
    """
    from .patch import _cache, _centre_groups

    key = ("gem", n_radial, m, keys, dtype)
    cache = _cache(batch)
    if key in cache:
        return cache[key]
    N, T = batch.num_vertices, len(keys)
    i, j = batch.patch_pairs[:, 0], batch.patch_pairs[:, 1]
    theta = batch.pair_theta.to(dtype)
    trans = batch.pair_transport.to(dtype)
    rho = (batch.pair_r / batch.patch_radius[batch.pair_batch]).to(dtype)
    deg, start, within = _centre_groups(batch)
    phi = _hat_basis(rho, n_radial) / deg[i].clamp_min(1).to(dtype).unsqueeze(-1)  # (E, nb)
    f = torch.tensor([k[0] for k in keys], dtype=dtype, device=theta.device)
    s_ = torch.tensor([k[1] for k in keys], dtype=dtype, device=theta.device)
    sg = torch.tensor([-1.0 if k[2] else 1.0 for k in keys], dtype=dtype, device=theta.device)
    ang = theta.unsqueeze(1) * f + trans.unsqueeze(1) * s_  # (E, T)
    c = torch.cos(ang).unsqueeze(2) * phi.unsqueeze(1)  # (E, T, nb)
    sn = torch.sin(ang).unsqueeze(2) * phi.unsqueeze(1)
    E, H = i.shape[0], (1 if m == 0 else 2)
    vals = torch.empty(E, T, n_radial, 2, H, dtype=dtype, device=theta.device)
    vals[..., 0, 0] = c  # Re: C zr (− sg S zi)
    vals[..., 1, 0] = sn  # Im: S zr (+ sg C zi)
    if m > 0:
        sgv = sg.view(1, T, 1)
        vals[..., 0, 1] = -sgv * sn
        vals[..., 1, 1] = sgv * c
    # the CSR structure depends only on the term count and m > 0: orders m > 0 with the same
    # number of terms share it
    lkey = ("gem_layout", T * n_radial * 2, H)
    if lkey not in cache:
        cols = j.unsqueeze(1) if m == 0 else torch.stack([j, j + N], 1)
        cache[lkey] = grouped_layout(deg, start, i, within, cols, T * n_radial * 2, N * H)
    op = grouped_csr(deg, start, i, within, None, vals.reshape(E, T * n_radial * 2, H), N * H, layout=cache[lkey])
    cache[key] = op
    return op


def _hat_basis(rho: torch.Tensor, n: int) -> torch.Tensor:
    """Hat functions ``(E, n)`` on ``ρ ∈ [0, 1]`` with centres ``linspace(0, 1, n)`` (partition of unity)."""
    if n == 1:
        return torch.ones_like(rho).unsqueeze(-1)
    u = rho.clamp(0, 1).unsqueeze(-1) * (n - 1)
    centres = torch.arange(n, dtype=rho.dtype, device=rho.device)
    return (1 - (u - centres).abs()).clamp_min(0)


@configurable
class NormNonlinearity(nn.Module):
    r"""Exactly gauge-equivariant nonlinearity.

    Order-0 channels: ``act(x)``.  Order-``n > 0`` pairs are multiplied by a function of their
    norm ``‖z‖ = sqrt(|z|² + eps)`` and a learned bias ``b`` per channel, so the map commutes with
    every rotation:

    * ``gate="sigmoid"`` (default): ``z ↦ z · σ(‖z‖ + b)`` — smooth everywhere, ``0`` at ``z = 0``
      with Jacobian ``σ(b) I`` there (bounded by 1), ``≈ z`` for large norms and suppressed
      when ``‖z‖ + b ≪ 0``.
    * ``gate="relu"``: ``z ↦ z · relu(‖z‖ + b) / ‖z‖`` (the classic norm ReLU) — discontinuous at
      ``z = 0`` when ``b > 0`` (the direction of ``z`` is undefined there) with gradients of order
      ``b / sqrt(eps)``; kept for comparison.

    Parameters
    ----------
    in_channels, out_channels : Irreps
        The same type.
    act : callable
        Nonlinearity for order 0 (default ReLU).
    gate : {"sigmoid", "relu"}
    eps : float

    Shapes
    ------
    x ``(N, irreps.dim)`` -> same.
    """

    def __init__(self, in_channels, out_channels=None, *, act=None, gate: str = "sigmoid", eps: float = 1e-12):
        super().__init__()
        self.irreps = Irreps(in_channels)
        if out_channels is not None and Irreps(out_channels) != self.irreps:
            raise MeshShapeError(f"out_channels: expected {self.irreps!r} (got {Irreps(out_channels)!r})")
        if gate not in ("sigmoid", "relu"):
            raise MeshShapeError(f"gate: expected 'sigmoid' or 'relu' (got {gate!r})")
        self.in_channels = self.out_channels = self.irreps
        self.act = act if act is not None else torch.relu
        self.gate, self.eps = gate, eps
        n_pairs = sum(m for m, n in self.irreps if n > 0)
        self.bias = nn.Parameter(torch.empty(n_pairs))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.bias)

    def extra_repr(self) -> str:
        return f"{self.irreps!r}, gate={self.gate!r}"

    def forward(self, x: torch.Tensor, batch: MeshBatch | None = None) -> torch.Tensor:
        parts, k = [], 0
        for s, e, m, n in self.irreps.slices():
            blk = x[:, s:e]
            if n == 0:
                parts.append(self.act(blk))
                continue
            blk = blk.reshape(-1, m, 2)
            nrm = torch.sqrt((blk * blk).sum(-1) + self.eps)
            b = self.bias[k:k + m].to(x.dtype)
            if self.gate == "sigmoid":
                scale = torch.sigmoid(nrm + b)
            else:
                scale = torch.relu(nrm + b) / nrm
            k += m
            parts.append((blk * scale.unsqueeze(-1)).reshape(-1, 2 * m))
        return torch.cat(parts, -1)


@configurable
class IrrepsDropout(nn.Module):
    r"""Gauge-equivariant dropout: every field (a scalar, or an order-``n > 0`` pair) of every row is
    zeroed with probability ``p`` as a whole and the kept ones are scaled by ``1 / (1 - p)``.

    The mask is one number per field, so it commutes with the rotation of the pairs (a plain
    :class:`torch.nn.Dropout` of the coordinates would not).  The identity in ``eval()`` mode.

    Shapes
    ------
    x ``(N, irreps.dim)`` -> same.
    """

    def __init__(self, irreps, p: float = 0.0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise MeshShapeError(f"p: expected a probability in [0, 1) (got {p!r})")
        self.irreps, self.p = Irreps(irreps), float(p)
        # column -> field index (both components of a pair share their field)
        idx, k = [], 0
        for _, _, m, n in self.irreps.slices():
            for _ in range(m):
                idx.extend([k] * (1 if n == 0 else 2))
                k += 1
        self.n_fields = k
        self.register_buffer("_field", torch.as_tensor(idx, dtype=torch.long), persistent=False)

    def extra_repr(self) -> str:
        return f"{self.irreps!r}, p={self.p}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], self.n_fields, device=x.device) >= self.p
        mask = keep.to(x.dtype) / (1.0 - self.p)
        return x * mask[:, self._field.to(x.device)]


@configurable
class RegularNonlinearity(nn.Module):
    r"""Sampled ("regular") nonlinearity for features of type ``Irreps.regular(m, L)``.

    Each channel's coefficients ``(a_0, z_1, …, z_L)`` define the band-limited function
    ``f(φ) = a_0 + Σ_n Re(z_n e^{−i n φ})``; a gauge change shifts ``f``.  ``f`` is sampled at
    ``n_samples`` equally spaced angles, ``act`` is applied, and the result is projected back onto
    orders ``0..L`` (least squares / DFT).  The map is exactly equivariant for rotations by
    multiples of ``2π / n_samples`` and approximately otherwise; the error shrinks as
    ``n_samples`` grows.

    Parameters
    ----------
    in_channels, out_channels : Irreps
        The same regular type.
    n_samples : int
        Number of sample angles (at least ``2 L + 1``).
    act : callable

    Shapes
    ------
    x ``(N, irreps.dim)`` -> same.
    """

    def __init__(self, in_channels, out_channels=None, *, n_samples: int = 16, act=None):
        super().__init__()
        self.irreps = Irreps(in_channels)
        if not self.irreps.is_regular():
            raise MeshShapeError(f"in_channels: expected a regular type Irreps.regular(m, L) (got {self.irreps!r})")
        if out_channels is not None and Irreps(out_channels) != self.irreps:
            raise MeshShapeError(f"out_channels: expected {self.irreps!r} (got {Irreps(out_channels)!r})")
        L = self.irreps.max_order
        if n_samples < 2 * L + 1:
            raise MeshShapeError(f"n_samples: expected at least 2L+1 = {2 * L + 1} (got {n_samples})")
        self.in_channels = self.out_channels = self.irreps
        self.n_samples, self.act = n_samples, (act if act is not None else torch.relu)
        self.m = self.irreps[0][0]
        phi = torch.arange(n_samples, dtype=torch.float64) * (2 * math.pi / n_samples)
        cols = [torch.ones_like(phi)]
        for n in range(1, L + 1):
            cols += [torch.cos(n * phi), torch.sin(n * phi)]
        S = torch.stack(cols, -1)  # (n_samples, 2L+1): f(φ_s) = S @ [a0, re1, im1, ...]
        self.register_buffer("sample", S)
        self.register_buffer("project", torch.linalg.pinv(S))

    def reset_parameters(self) -> None:  # no parameters
        return None

    def extra_repr(self) -> str:
        return f"{self.irreps!r}, n_samples={self.n_samples}"

    def forward(self, x: torch.Tensor, batch: MeshBatch | None = None) -> torch.Tensor:
        N, m = x.shape[0], self.m
        # to channel-major coefficients (N, m, 2L+1)
        coeffs = []
        for s, e, _, n in self.irreps.slices():
            coeffs.append(x[:, s:e].reshape(N, m, 1 if n == 0 else 2))
        c = torch.cat(coeffs, -1)
        f = c @ self.sample.to(x.dtype).T  # (N, m, n_samples)
        c2 = self.act(f) @ self.project.to(x.dtype).T  # (N, m, 2L+1)
        parts = [c2[..., :1].reshape(N, m)]
        for n in range(1, self.irreps.max_order + 1):
            parts.append(c2[..., 2 * n - 1: 2 * n + 1].reshape(N, 2 * m))
        return torch.cat(parts, -1)


@configurable
class InvariantReadout(nn.Module):
    r"""Gauge-invariant features: the order-0 channels and the norm of every higher-order pair,
    followed by a linear map.

    Parameters
    ----------
    in_channels : Irreps
    out_channels : int
    bias : bool

    Shapes
    ------
    x ``(N, irreps.dim)`` -> ``(N, out_channels)``.
    """

    def __init__(self, in_channels, out_channels: int, *, bias: bool = True, eps: float = 1e-12):
        super().__init__()
        self.irreps = Irreps(in_channels)
        self.in_channels, self.out_channels, self.eps = self.irreps, out_channels, eps
        self.linear = nn.Linear(self.irreps.num_invariants, out_channels, bias=bias)

    def reset_parameters(self) -> None:
        self.linear.reset_parameters()

    def extra_repr(self) -> str:
        return f"{self.irreps!r} -> {self.out_channels}"

    def invariants(self, x: torch.Tensor) -> torch.Tensor:
        sc, nr = _norms(x, self.irreps, self.eps)
        return torch.cat(sc + nr, -1)

    def forward(self, x: torch.Tensor, batch: MeshBatch | None = None) -> torch.Tensor:
        return self.linear(self.invariants(x))


@configurable
class TransportSmoothing(nn.Module):
    r"""Parallel-transport mean over each vertex's patch, on the same mesh (no coarsening).

    ``y_i = (x_i + Σ_j ρ(ρ_ij) x_j) / (1 + deg_i)``: neighbours are brought to ``i``'s gauge by
    the connection before averaging, so the operation is gauge-equivariant (a plain mean of the
    coordinates would not be).  The number of vertices does not change: this is a smoothing of
    the features (named ``TransportPooling`` before 0.2: it smooths, it does not pool).

    Parameters
    ----------
    in_channels, out_channels : Irreps
        The same type.

    Shapes
    ------
    x ``(N, irreps.dim)`` -> same.
    """

    def __init__(self, in_channels, out_channels=None):
        super().__init__()
        self.irreps = Irreps(in_channels)
        if out_channels is not None and Irreps(out_channels) != self.irreps:
            raise MeshShapeError(f"out_channels: expected {self.irreps!r} (got {Irreps(out_channels)!r})")
        self.in_channels = self.out_channels = self.irreps

    def reset_parameters(self) -> None:  # no parameters
        return None

    def extra_repr(self) -> str:
        return f"{self.irreps!r}"

    def forward(self, batch: MeshBatch, x: torch.Tensor) -> torch.Tensor:
        if not batch.has_patches:
            raise MeshShapeError("TransportSmoothing: expected a MeshBatch with patches (got patches=None)")
        i, j = batch.patch_pairs[:, 0], batch.patch_pairs[:, 1]
        v = rotate_irreps(x[j], self.irreps, batch.pair_transport.to(x.dtype))
        agg = x.clone().index_add_(0, i, v)
        deg = x.new_ones(x.shape[0]).index_add_(0, i, torch.ones_like(batch.pair_r, dtype=x.dtype))
        return agg / deg.unsqueeze(-1)


#: Backwards-compatible alias of :class:`TransportSmoothing` (it never coarsened the mesh).


def as_irreps(spec: Irreps | int | Sequence) -> Irreps:
    """Coerce ``spec`` (an :class:`Irreps`, an int of scalars or a list of blocks) to :class:`Irreps`."""
    return Irreps(spec)
