"""Sparse operators on torch tensors that work on CPU and CUDA and differentiate w.r.t. the input.

A :class:`SparseOperator` is a constant sparse matrix ``A`` (no gradient flows into its values);
``op @ x`` differentiates w.r.t. ``x`` with the backward product ``Aᵀ @ grad``.

Kernels: on CPU with one torch thread both products run through scipy's sparse kernels on the
same memory (zero-copy views of the torch tensors) — about 3x faster there than torch's CPU CSR
product — and the transpose product uses the free CSC view ``A.T`` (for the tall operators of
the patch and gauge layers this is several times faster than a CSR copy of ``Aᵀ``, which is then
never built).  With more threads, or on another device, torch's CSR kernel is used on ``A`` and
a CSR copy of ``Aᵀ``.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import MeshShapeError, MeshTypeError

__all__ = ["SparseOperator", "spmm", "block_diag_csr", "sparse_from_coo", "grouped_csr", "grouped_layout",
           "offdiag_abs_rowsum",
           "grouped_linear", "pair_kernels_csr", "PairKernels", "pair_linear"]


def use_scipy_kernel(x: torch.Tensor) -> bool:
    """Whether a sparse product with ``x`` runs through scipy (CPU, float32/64, one torch thread)."""
    return x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and torch.get_num_threads() == 1


def scipy_csr(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape) -> sp.csr_matrix:
    """A scipy CSR matrix on the memory of CPU torch CSR arrays (no copy when the index dtype fits)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sp.csr_matrix((values.detach().numpy(), col.numpy(), crow.numpy()), shape=tuple(shape), copy=False)


def csr_times_dense(S: sp.csr_matrix, x: torch.Tensor) -> torch.Tensor:
    """``S @ x`` for a scipy CSR ``S`` and a CPU ``(n, c)`` tensor (no autograd)."""
    xn = x.detach()
    if not xn.is_contiguous():
        xn = xn.contiguous()
    return torch.from_numpy(np.asarray(S @ xn.numpy()))


def offdiag_abs_rowsum(op: SparseOperator) -> torch.Tensor:
    """``(n,)``: ``Σ_{j ≠ i} |A_ij|`` for every row ``i`` of a square operator, in its dtype and on its
    device (memoised on the operator: an operator is constant)."""
    memo = op.__dict__.get("_offdiag_abs_rowsum")
    if memo is not None:
        return memo
    out = _offdiag_abs_rowsum_scipy(op) if op.device.type == "cpu" else _offdiag_abs_rowsum_torch(op)
    op.__dict__["_offdiag_abs_rowsum"] = out
    return out


def _offdiag_abs_rowsum_scipy(op: SparseOperator) -> torch.Tensor:
    S = sp.csr_matrix(op.scipy)
    n = S.shape[0]
    rows = np.repeat(np.arange(n), np.diff(S.indptr))
    vals = np.where(S.indices == rows, 0.0, np.abs(S.data))
    return torch.from_numpy(np.bincount(rows, weights=vals, minlength=n)).to(op.dtype)


def _offdiag_abs_rowsum_torch(op: SparseOperator) -> torch.Tensor:
    A = op.A
    crow, col, val = A.crow_indices(), A.col_indices(), A.values()
    rows = torch.repeat_interleave(torch.arange(A.shape[0], device=val.device), crow.diff())
    return val.new_zeros(A.shape[0]).index_add_(0, rows, torch.where(col == rows, val.new_zeros(()), val.abs()))


class _SpMM(torch.autograd.Function):
    """``y = A @ x`` for a constant sparse ``A``; the backward is ``Aᵀ @ grad`` (twice differentiable)."""

    @staticmethod
    def forward(ctx, x, op):  # noqa: D401
        ctx.op = op
        n = x.shape[0]
        rest = x.shape[1:]
        m = op.shape[0]
        if not x.numel():
            return x.new_zeros((m,) + tuple(rest))
        x2 = x.reshape(n, -1)
        y = csr_times_dense(op.scipy, x2) if use_scipy_kernel(x2) else torch.mm(op.A, x2)
        return y.reshape((m,) + tuple(rest))

    @staticmethod
    def backward(ctx, g):
        gx = _SpMM.apply(g.contiguous(), ctx.op.T) if ctx.needs_input_grad[0] else None
        return gx, None


def _to_torch_csr(A: sp.spmatrix, dtype, device) -> torch.Tensor:
    A = sp.csr_matrix(A)
    A.sort_indices()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(
            torch.as_tensor(A.indptr.astype(np.int64)),
            torch.as_tensor(A.indices.astype(np.int64)),
            torch.as_tensor(A.data, dtype=dtype),
            size=A.shape,
            device=device,
            check_invariants=False,
        )


def _torch_csr_from_scipy(M) -> torch.Tensor:
    """A CPU torch CSR tensor on the memory of a scipy matrix's values (a CSC matrix is converted)."""
    M = sp.csr_matrix(M)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        return torch.sparse_csr_tensor(torch.from_numpy(M.indptr.astype(np.int64)),
                                       torch.from_numpy(M.indices.astype(np.int64)),
                                       torch.from_numpy(M.data), size=M.shape, check_invariants=False)


class SparseOperator:
    """A constant sparse matrix acting on the first dimension of a dense tensor.

    Parameters
    ----------
    A : scipy.sparse matrix
        The operator ``(n_out, n_in)``.
    dtype : torch.dtype
        Value dtype.
    device : torch.device or str, optional

    Shapes
    ------
    ``op @ x``: x ``(n_in, *)`` -> ``(n_out, *)``.

    Notes
    -----
    ``A`` / ``At`` are torch CSR tensors (``A`` and ``Aᵀ``); an operator made on CPU by
    :func:`sparse_from_coo` or :func:`grouped_csr` holds only a scipy matrix and makes them on
    first use.  With scipy's kernel the transpose product uses the free CSC view ``A.T`` (no
    transposed copy is ever built).
    """

    def __init__(self, A, dtype=torch.float32, device=None, *, _tensors=None, _scipy=None):
        self._A = self._At = None
        self._S = _scipy  # scipy CSR / CSC of A (CPU), on the same memory as the torch tensors
        self._transpose = None
        if _tensors is not None:
            self._A, self._At = _tensors
        elif _scipy is None:
            A = sp.csr_matrix(A)
            self._A = _to_torch_csr(A, dtype, device)
            self._At = _to_torch_csr(A.T, dtype, device)

    @property
    def A(self) -> torch.Tensor:
        """The operator as a torch CSR tensor."""
        if self._A is None:
            self._A = _torch_csr_from_scipy(self._S)
        return self._A

    @property
    def At(self) -> torch.Tensor:
        """The transpose as a torch CSR tensor."""
        if self._At is None:
            self._At = _torch_csr_from_scipy(self._S.T)
        return self._At

    @property
    def scipy(self):
        """``A`` as a scipy sparse matrix (CSR, or the CSC view of a transpose) on the CPU tensors' memory."""
        if self._S is None:
            if self._A.device.type != "cpu":
                raise MeshShapeError(f"scipy: expected a CPU operator (got device {self._A.device})")
            t = self._A
            self._S = scipy_csr(t.crow_indices(), t.col_indices(), t.values(), t.shape)
        return self._S

    @property
    def shape(self):
        return tuple(self._S.shape) if self._A is None else tuple(self._A.shape)

    @property
    def dtype(self):
        return torch.from_numpy(np.empty(0, self._S.dtype)).dtype if self._A is None else self._A.dtype

    @property
    def device(self):
        return torch.device("cpu") if self._A is None else self._A.device

    def to(self, device=None, dtype=None) -> SparseOperator:
        """Copy to another device and/or dtype."""
        def conv(t):
            if dtype is not None and dtype != t.dtype:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    t = torch.sparse_csr_tensor(t.crow_indices(), t.col_indices(), t.values().to(dtype),
                                                size=t.shape, check_invariants=False)
            return t.to(device) if device is not None else t

        if self._A is None and (device is None or torch.device(device).type == "cpu"):
            if dtype is None or dtype == self.dtype:
                return self
            return SparseOperator(None, _scipy=self._S.astype(torch.empty(0, dtype=dtype).numpy().dtype))
        return SparseOperator(None, _tensors=(conv(self.A), conv(self.At)))

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != self.dtype:
            raise MeshTypeError(f"x: expected dtype {self.dtype} like the sparse operator (got {x.dtype}); "
                            "convert the batch with batch.to(dtype=...) or the input with x.to(...)")
        return _SpMM.apply(x, self)

    @property
    def T(self) -> SparseOperator:
        if self._transpose is None:
            t = SparseOperator.__new__(SparseOperator)
            t._A, t._At, t._S = self._At, self._A, (None if self._S is None else self._S.T)
            if t._A is None and t._S is None:  # torch tensors only, transpose not made yet
                t._A = self.At
            t._transpose = self
            self._transpose = t
        return self._transpose

    def to_dense(self) -> torch.Tensor:
        return self.A.to_dense()

    def nnz(self) -> int:
        return int(self._S.nnz) if self._A is None else int(self._A.values().numel())

    def __repr__(self) -> str:
        return f"SparseOperator(shape={self.shape}, nnz={self.nnz()}, dtype={self.dtype}, device={self.device})"


def spmm(op: SparseOperator, x: torch.Tensor) -> torch.Tensor:
    """``op @ x`` with autograd w.r.t. ``x`` (see :class:`SparseOperator`)."""
    return op @ x


def block_diag_csr(mats) -> sp.csr_matrix:
    """Block-diagonal CSR matrix from a list of scipy sparse matrices.

    Canonical CSR blocks (sorted indices, no duplicates) are stacked by offsetting and
    concatenating their three arrays (no COO round trip: about 10× faster than
    ``scipy.sparse.block_diag`` for a batch); other blocks are made canonical first.
    """
    blocks = []
    for m in mats:
        m = sp.csr_matrix(m)
        if not m.has_canonical_format:
            m = m.copy()
            m.sum_duplicates()
        blocks.append(m)
    if not blocks:
        return sp.csr_matrix((0, 0))
    n_rows = sum(m.shape[0] for m in blocks)
    n_cols = sum(m.shape[1] for m in blocks)
    nnz = np.cumsum([0] + [m.nnz for m in blocks])
    col0 = np.cumsum([0] + [m.shape[1] for m in blocks])
    idx_t = np.int32 if max(int(nnz[-1]), n_cols) < 2**31 - 1 else np.int64
    indptr = np.concatenate([np.zeros(1, dtype=idx_t)]
                            + [(m.indptr[1:] + nnz[b]).astype(idx_t, copy=False) for b, m in enumerate(blocks)])
    indices = np.concatenate([(m.indices + col0[b]).astype(idx_t, copy=False) for b, m in enumerate(blocks)])
    data = np.concatenate([m.data for m in blocks])
    out = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out


def sparse_from_coo(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, shape) -> SparseOperator:
    """:class:`SparseOperator` from COO triplets on any device (duplicates are summed).

    On CPU the CSR matrix is built by scipy's COO -> CSR conversion (several times faster than
    torch's ``coalesce``) and the torch tensors and ``Aᵀ`` are made only if asked for; elsewhere
    torch builds ``A`` and ``Aᵀ``.
    """
    vals = vals.detach()
    if vals.device.type == "cpu" and vals.dtype in (torch.float32, torch.float64):
        S = sp.coo_matrix((vals.numpy(), (rows.numpy(), cols.numpy())), shape=(int(shape[0]), int(shape[1])))
        return SparseOperator(None, _scipy=S.tocsr())
    idx = torch.stack([rows, cols])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        A = torch.sparse_coo_tensor(idx, vals, tuple(shape), check_invariants=False).coalesce()
        At = torch.sparse_coo_tensor(idx.flip(0), vals, (shape[1], shape[0]), check_invariants=False).coalesce()
        return SparseOperator(None, _tensors=(A.to_sparse_csr(), At.to_sparse_csr()))


def grouped_layout(deg: torch.Tensor, start: torch.Tensor, centre: torch.Tensor, within: torch.Tensor,
                   cols: torch.Tensor, n_sub: int, n_cols: int) -> dict:
    """The CSR structure of :func:`grouped_csr` (``n_sub = R`` rows per group), without the values.

    Operators with the same groups, columns and ``R`` share it (build it once, cache it, and pass
    it to :func:`grouped_csr`); only the values are scattered per operator.
    """
    E, H = cols.shape
    R, G = int(n_sub), deg.shape[0]
    dev = cols.device
    r = torch.arange(R, device=dev)
    h = torch.arange(H, device=dev)
    pos = ((start[centre] * (R * H)).view(E, 1, 1) + (r.view(1, R, 1) * (deg[centre] * H).view(E, 1, 1))
           + (within * H).view(E, 1, 1) + h.view(1, 1, H)).reshape(-1)
    nnz = E * R * H
    indices = torch.empty(nnz, dtype=torch.long, device=dev)
    indices[pos] = cols.unsqueeze(1).expand(E, R, H).reshape(-1)
    indptr = torch.empty(G * R + 1, dtype=torch.long, device=dev)
    indptr[:-1] = ((start * (R * H)).view(G, 1) + r.view(1, R) * (deg * H).view(G, 1)).reshape(-1)
    indptr[-1] = nnz
    out = {"pos": pos, "indices": indices, "indptr": indptr, "shape": (G * R, int(n_cols)), "R": R, "H": H}
    if dev.type == "cpu":  # scipy's index arrays, converted once
        idx_t = np.int32 if nnz < 2**31 - 1 and n_cols < 2**31 - 1 else np.int64
        out["np"] = (indices.numpy().astype(idx_t), indptr.numpy().astype(idx_t))
    return out


def grouped_csr(deg: torch.Tensor, start: torch.Tensor, centre: torch.Tensor, within: torch.Tensor,
                cols: torch.Tensor, vals: torch.Tensor, n_cols: int, layout: dict | None = None) -> SparseOperator:
    r"""The ``(G · R, n_cols)`` operator whose row ``(g, r)`` is ``Σ_{e: centre_e = g} Σ_h vals[e, r, h] e_{cols[e, h]}``.

    Built directly in CSR order, without sorting: entries are grouped by ``centre`` (``deg (G,)``
    entries per group, group ``g``'s entries start at ``start[g]``, entry ``e`` is number
    ``within[e]`` of its group), so every row's entries are known in advance.  ``cols (E, H)``,
    ``vals (E, R, H)``; ``layout`` (from :func:`grouped_layout`, same arguments) skips the
    structure.  Duplicate columns within a row are kept as separate entries (the product sums
    them).  On CPU the operator holds a scipy matrix; elsewhere torch tensors.
    """
    E, R, H = vals.shape
    if layout is None:
        layout = grouped_layout(deg, start, centre, within, cols, R, n_cols)
    elif (layout["R"], layout["H"], layout["shape"][1]) != (R, H, int(n_cols)):
        raise MeshShapeError(f"layout: expected one made for R={R}, H={H}, n_cols={n_cols} "
                             f"(got R={layout['R']}, H={layout['H']}, n_cols={layout['shape'][1]})")
    data = vals.new_empty(E * R * H)
    data[layout["pos"]] = vals.detach().reshape(-1)
    shape = layout["shape"]
    if "np" in layout and data.dtype in (torch.float32, torch.float64):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            S = sp.csr_matrix((data.numpy(), *layout["np"]), shape=shape, copy=False)
        return SparseOperator(None, _scipy=S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        A = torch.sparse_csr_tensor(layout["indptr"], layout["indices"], data, shape, check_invariants=False)
        return SparseOperator(None, _tensors=(A, A.to_sparse_coo().t().coalesce().to_sparse_csr()))


#: Vertices per block in :func:`grouped_linear`: a block's ``(n, R · C)`` intermediate stays a few
#: MB (in cache, and reused from the heap rather than freshly mapped and zeroed on every call).
GROUP_BLOCK = 512


def _csr_rows(S: sp.csr_matrix, r0: int, r1: int) -> sp.csr_matrix:
    """Rows ``r0:r1`` of a CSR matrix as a view of its arrays (only the row pointers are copied)."""
    p0, p1 = int(S.indptr[r0]), int(S.indptr[r1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sp.csr_matrix((S.data[p0:p1], S.indices[p0:p1], S.indptr[r0:r1 + 1] - p0),
                             shape=(r1 - r0, S.shape[1]), copy=False)


def _vertex_blocks(op: SparseOperator, R: int) -> list:
    """``[(v0, v1, op[v0·R : v1·R])]`` for a vertex-major ``(N · R, N)`` operator (views); memoised."""
    memo = op.__dict__.get("_vertex_blocks")
    if memo is not None and memo[0] == (R, GROUP_BLOCK):
        return memo[1]
    S = op.scipy
    n = S.shape[0] // R
    blocks = [(v0, min(n, v0 + GROUP_BLOCK), _csr_rows(S, v0 * R, min(n, v0 + GROUP_BLOCK) * R))
              for v0 in range(0, n, GROUP_BLOCK)]
    op.__dict__["_vertex_blocks"] = ((R, GROUP_BLOCK), blocks)
    return blocks


class _GroupedLinear(torch.autograd.Function):
    """``y = Σ_r (K_r x) W_r + x W_self + b``, block by block (see :func:`grouped_linear`)."""

    @staticmethod
    def forward(ctx, x, weight, self_weight, bias, op, op_t):
        R, C, O = weight.shape
        N = x.shape[0]
        xn = x.detach().contiguous()
        Wr = weight.detach().reshape(R * C, O)
        Ws = None if self_weight is None else self_weight.detach()
        y = x.new_empty(N, O)
        if bias is not None:
            y.copy_(bias.detach().expand(N, O))
        for v0, v1, B in _vertex_blocks(op, R):
            kx, yb = csr_times_dense(B, xn).reshape(v1 - v0, R * C), y[v0:v1]
            if bias is None:
                torch.mm(kx, Wr, out=yb)
            else:
                yb.addmm_(kx, Wr)
            if Ws is not None:
                yb.addmm_(xn[v0:v1], Ws)
        ctx.save_for_backward(x, weight, self_weight)
        ctx.ops = (op, op_t)
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, self_weight = ctx.saved_tensors
        op, op_t = ctx.ops
        R, C, O = weight.shape
        N = x.shape[0]
        need_x, need_w, need_s, need_b = ctx.needs_input_grad[:4]
        gs = gb = None
        if torch.is_grad_enabled():  # double backward: the same gradients as differentiable products
            gx = grouped_linear(op_t, op, g, weight.transpose(1, 2)) if need_x else None
            if need_x and self_weight is not None:
                gx = gx + g @ self_weight.T
            gw = torch.einsum("jc,jro->rco", x, (op_t @ g).reshape(N, R, O)) if need_w else None
            gs = x.T @ g if need_s else None
            gb = g.sum(0) if need_b else None
            return gx, gw, gs, gb, None, None
        xn, g = x.detach().contiguous(), g.contiguous()
        Wt = weight.detach().permute(0, 2, 1).reshape(R * O, C) if need_x else None
        gx = xn.new_empty(xn.shape) if need_x else None
        gw = xn.new_zeros(C, R * O) if need_w else None
        for v0, v1, B in _vertex_blocks(op_t, R):
            t = csr_times_dense(B, g).reshape(v1 - v0, R * O)  # t[j, (r, o)] = Σ_i K_r[i, j] g[i, o]
            if need_x:
                gxb = gx[v0:v1]
                torch.mm(t, Wt, out=gxb)
                if self_weight is not None:
                    gxb.addmm_(g[v0:v1], self_weight.detach().T)
            if need_w:
                gw.addmm_(xn[v0:v1].T, t)
        if need_w:
            gw = gw.reshape(C, R, O).permute(1, 0, 2)
        gs = xn.T @ g if need_s else None
        gb = g.sum(0) if need_b else None
        return gx, gw, gs, gb, None, None


def pair_kernels_csr(i: torch.Tensor, j: torch.Tensor, vals: torch.Tensor, n: int) -> tuple:
    """``(op, op_t)``: ``R`` sparse kernels given on pairs, in the vertex-major layout of :func:`grouped_linear`.

    ``i, j (E,)`` pairs (duplicates are summed by the products), ``vals (E, R)`` -> ``op (n · R, n)``
    with ``op[i · R + r, j] = vals[e, r]`` and ``op_t`` with ``op_t[j · R + r, i] = vals[e, r]`` (the
    transposed kernels, for the backward).  On CPU each is built from one stable sort of the pairs
    and a row permutation in scipy (no scatter of the ``E · R`` values); elsewhere ``op_t`` is
    ``None`` (:func:`grouped_linear` then uses the unfused product).
    """
    E, R = vals.shape
    vals = vals.detach()
    if not (vals.device.type == "cpu" and vals.dtype in (torch.float32, torch.float64)):
        order = torch.argsort(i, stable=True)
        deg = torch.bincount(i, minlength=n)
        start = torch.cumsum(deg, 0) - deg
        rank = torch.empty_like(order)
        rank[order] = torch.arange(E, device=i.device)
        return grouped_csr(deg, start, i, rank - start[i], j.unsqueeze(1), vals.unsqueeze(2), n), None
    idx_t = np.int32 if R * E < 2**31 - 1 and R * n < 2**31 - 1 else np.int64
    perm = (np.arange(n, dtype=idx_t)[:, None] + n * np.arange(R, dtype=idx_t)[None, :]).reshape(-1)
    out = []
    for a, b in ((i, j), (j, i)):
        if bool((a[1:] >= a[:-1]).all()):  # already grouped (patch pairs come sorted by centre)
            v, cols = vals, b
        else:
            order = torch.argsort(a, stable=True)
            v, cols = vals.index_select(0, order), b.index_select(0, order)
        rowptr = np.zeros(n + 1, dtype=idx_t)
        np.cumsum(np.bincount(a.numpy(), minlength=n), out=rowptr[1:])
        indptr = np.empty(R * n + 1, dtype=idx_t)  # kernel-major first: row r · n + a
        indptr[:-1] = (np.arange(R, dtype=idx_t)[:, None] * E + rowptr[:-1][None, :]).reshape(-1)
        indptr[-1] = R * E
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            S = sp.csr_matrix((v.T.reshape(-1).numpy(), np.tile(cols.numpy().astype(idx_t), R), indptr),
                              shape=(R * n, n), copy=False)
        out.append(SparseOperator(None, _scipy=S[perm]))  # rows a · R + r
    return tuple(out)


#: Vertices per chunk in :func:`pair_linear`'s degree groups (see :class:`PairKernels`).
PAIR_BLOCK = 512


def _degree_groups(a: torch.Tensor, b: torch.Tensor, vals: torch.Tensor, n: int, block: int) -> dict:
    """The pairs ``(a_e, b_e)`` grouped by ``a``, the groups sorted by size (degree), in chunks for
    :func:`_pair_apply`.

    Returns a dict: ``order (n,)`` the vertices by degree (stable), ``n0`` how many have no pair
    (they come first), ``sizes`` the vertex counts of the chunks (vertices ``order[n0:]`` in
    turn, at most ``block`` per chunk, all of one degree ``d ≥ 1`` per chunk), ``cols`` and
    ``vals``: per chunk of ``m`` vertices of degree ``d``, the ``b`` of their pairs ``(m · d,)``
    (vertex by vertex, pair order kept within a vertex) and their values ``(m, R, d)``
    (contiguous).  Every per-chunk tensor is made here, once per batch, so that a product does
    no slicing (torch's indexing costs microseconds per call: 5 ms per product when the ~50
    chunks were sliced at every call).
    """
    deg = torch.bincount(a, minlength=n)
    order = torch.argsort(deg, stable=True)
    if a.numel() and bool((a[1:] >= a[:-1]).all()):
        # pairs already grouped by `a` (patch pairs come sorted by centre): the vertices' pair
        # ranges, concatenated in degree order, without a sort of the E pairs (3 ms at E = 131,766)
        lens = deg.index_select(0, order)
        start = torch.cumsum(deg, 0) - deg
        eorder = torch.repeat_interleave(start.index_select(0, order) - (torch.cumsum(lens, 0) - lens), lens,
                                         output_size=a.numel()) + torch.arange(a.numel(), device=a.device)
    else:
        rank = torch.empty_like(order)
        rank[order] = torch.arange(n, device=a.device)
        key = rank[a]
        if n <= 2**15:  # a narrower key sorts faster (int16: 1.1 ms vs int64: 2.1 ms at E = 131,766)
            key = key.to(torch.int16)
        elif n <= 2**31:
            key = key.to(torch.int32)
        eorder = torch.argsort(key, stable=True)
    counts = torch.bincount(deg).tolist() if n else []
    sizes, degs = [], []
    for d in range(1, len(counts)):
        for c0 in range(0, counts[d], block):
            sizes.append(min(block, counts[d] - c0))
            degs.append(d)
    R = vals.shape[1]
    edge_sizes = [m * d for m, d in zip(sizes, degs)]
    cols = b.index_select(0, eorder).split(edge_sizes)
    v = vals.index_select(0, eorder).split(edge_sizes)
    v = [c.view(m, d, R).transpose(1, 2).contiguous() for c, m, d in zip(v, sizes, degs)]
    # processing order of the chunks: by the middle vertex of each chunk, so that consecutive
    # chunks (of different degrees) gather from nearby rows of x (mesh locality; ~1 ms of the
    # ~28 ms of a product on the benchmark's batch, same in every direction)
    starts = [0]
    for m in sizes[:-1]:
        starts.append(starts[-1] + m)
    n0 = counts[0] if counts else 0
    mid = order[n0:].index_select(0, torch.tensor([s + m // 2 for s, m in zip(starts, sizes)], dtype=torch.long,
                                                  device=order.device)).tolist() if sizes else []
    seq = sorted(range(len(sizes)), key=mid.__getitem__)
    return {"order": order, "n0": n0, "sizes": sizes, "cols": cols, "vals": v, "seq": seq}


class PairKernels:
    r"""``R`` sparse kernels given on pairs: ``K_r[i, j] = Σ_{e: (i_e, j_e) = (i, j)} vals[e, r]``.

    ``i, j (E,)`` int64, ``vals (E, R)`` (detached: the kernels are constants), ``n`` vertices.
    The layouts are made on first use and memoised: :meth:`ops` (the CSR stacks of
    :func:`pair_kernels_csr`, for :func:`grouped_linear`) and the degree groups of
    :func:`pair_linear` (pairs grouped by ``i``, and by ``j`` for the transposed kernels of the
    backward).  :attr:`T` holds the transposed kernels (sharing the layouts).
    """

    def __init__(self, i: torch.Tensor, j: torch.Tensor, vals: torch.Tensor, n: int):
        self.i, self.j, self.vals, self.n = i, j, vals.detach(), int(n)
        self._ops = None
        self._groups = {}
        self._converted = {}
        self._T = None

    @property
    def R(self) -> int:
        return int(self.vals.shape[1])

    @property
    def dtype(self) -> torch.dtype:
        return self.vals.dtype

    @property
    def device(self) -> torch.device:
        return self.vals.device

    def to(self, dtype=None) -> PairKernels:
        """The same kernels with values in ``dtype`` (``self`` when it already is)."""
        if dtype is None or dtype == self.dtype:
            return self
        if dtype not in self._converted:  # memoised: every layer of a batch converts the same kernels
            self._converted[dtype] = PairKernels(self.i, self.j, self.vals.to(dtype), self.n)
        return self._converted[dtype]

    def ops(self) -> tuple:
        """``(op, op_t)`` of :func:`pair_kernels_csr` (memoised)."""
        if self._ops is None:
            self._ops = pair_kernels_csr(self.i, self.j, self.vals, self.n)
        return self._ops

    def groups(self, block: int | None = None) -> dict:
        """The degree groups of the pairs by ``i`` (:func:`_degree_groups`), memoised per block size."""
        block = PAIR_BLOCK if block is None else int(block)
        if block not in self._groups:
            self._groups[block] = _degree_groups(self.i, self.j, self.vals, self.n, block)
        return self._groups[block]

    @property
    def T(self) -> PairKernels:
        """The transposed kernels ``K_rᵀ`` (pairs ``(j, i)``), sharing memoised layouts with ``self``."""
        if self._T is None:
            t = PairKernels(self.j, self.i, self.vals, self.n)
            t._T = self
            if self._ops is not None and self._ops[1] is not None:
                t._ops = self._ops[::-1]
            self._T = t
        return self._T


class _PairLinear(torch.autograd.Function):
    """``y = Σ_r (K_r x) W_r + x W_self + b`` on degree groups (see :func:`pair_linear`)."""

    @staticmethod
    def forward(ctx, x, weight, self_weight, bias, kernels):
        R, C, O = weight.shape
        xn = x.detach().contiguous()
        y = _pair_apply(kernels.groups(), xn, weight.detach().reshape(R * C, O),
                        None if self_weight is None else self_weight.detach(),
                        None if bias is None else bias.detach())
        ctx.save_for_backward(x, weight, self_weight)
        ctx.kernels = kernels
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, self_weight = ctx.saved_tensors
        kernels = ctx.kernels
        R, C, O = weight.shape
        need_x, need_w, need_s, need_b = ctx.needs_input_grad[:4]
        if torch.is_grad_enabled():  # double backward: the same gradients as differentiable products
            gx = pair_linear(kernels.T, g, weight.transpose(1, 2)) if need_x else None
            if need_x and self_weight is not None:
                gx = gx + g @ self_weight.T
            gw = None
            if need_w:
                t = kernels.ops()[1] @ g  # rows j · R + r: (K_rᵀ g)_j
                gw = torch.einsum("jc,jro->rco", x, t.reshape(x.shape[0], R, O))
            gs = x.T @ g if need_s else None
            gb = g.sum(0) if need_b else None
            return gx, gw, gs, gb, None
        xn, g = x.detach().contiguous(), g.contiguous()
        gx = gw = None
        if need_x or need_w:
            Wt = weight.detach().permute(0, 2, 1).reshape(R * O, C)
            Ws_t = None if self_weight is None else self_weight.detach().T
            if need_w:
                gx, gw = _pair_apply(kernels.T.groups(), g, Wt, Ws_t, None, xw=xn, need_y=need_x)
                gw = gw.reshape(C, R, O).permute(1, 0, 2)
            else:
                gx = _pair_apply(kernels.T.groups(), g, Wt, Ws_t, None)
        gs = xn.T @ g if need_s else None
        gb = g.sum(0) if need_b else None
        return gx, gw, gs, gb, None


def _pair_apply(groups: dict, x: torch.Tensor, W: torch.Tensor, Ws, bias, *, xw=None, need_y=True):
    r"""``y = Σ_r (K_r x) W_r + x W_self + b`` on the degree groups of the kernels (no autograd).

    ``x (N, C)`` contiguous, ``W (R · C, O)`` (rows ``(r, c)``), ``Ws (C, O)`` or ``None``,
    ``bias (O,)`` or ``None``.  With ``xw (N, D)`` also returns ``xwᵀ (K x)`` ``(D, R · C)``
    (``(K x)[i, (r, c)] = (K_r x)_{i,c}``): the weight gradient of the backward, whose ``K`` are the
    transposed kernels, ``x`` the output gradient and ``xw`` the layer's input.

    A chunk of ``m`` vertices of degree ``d`` gathers its neighbours' rows ``(m · d, C)`` and forms
    ``K x`` for all ``R`` kernels at once as one batched product ``(m, R, d) @ (m, d, C)``, then
    ``(m, R · C) @ W``.  Measured on the benchmark's batch (21,962 vertices, 6 pairs per vertex,
    ``R = 8``, ``C = 64``, one thread): gather + batched product 9–12 ms per product, about the
    same as scipy's CSR product on vertex blocks of the stacked kernels (11–13 ms; 17 ms
    unblocked), and the dense products are the same; what this layout saves is building the two
    CSR stacks for every batch (the groups cost about half as much).
    """
    N, C = x.shape
    O = W.shape[1]
    order, n0, sizes = groups["order"], groups["n0"], groups["sizes"]
    R = W.shape[0] // C
    out = gw = xw_chunks = None
    if need_y:
        out = x.new_empty(N - n0, O)  # rows in degree order (vertices order[n0:])
        out_chunks = out.split(sizes)
    if xw is not None:
        gw = x.new_zeros(xw.shape[1], R * C)
        xw_chunks = xw.index_select(0, order[n0:]).split(sizes)
    cols, vals = groups["cols"], groups["vals"]
    # one gather buffer and one (m, R · C) buffer for all the chunks: they stay in cache from
    # chunk to chunk (1.8 ms of a 36 ms product on the benchmark's batch vs fresh tensors per chunk)
    xg_buf = x.new_empty(max((c.numel() for c in cols), default=0) * C)
    kx_buf = x.new_empty(max(sizes, default=0) * R * C)
    for k in groups["seq"]:
        m, e = sizes[k], cols[k].numel()
        xg = torch.index_select(x, 0, cols[k], out=xg_buf[:e * C].view(e, C))
        kx = torch.bmm(vals[k], xg.view(m, -1, C), out=kx_buf[:m * R * C].view(m, R, C)).view(m, R * C)
        if need_y:
            torch.mm(kx, W, out=out_chunks[k])
        if gw is not None:
            gw.addmm_(xw_chunks[k].T, kx)
    y = None
    if need_y:
        if Ws is None:
            y = x.new_zeros(N, O) if bias is None else bias.expand(N, O).clone()
        else:
            y = x @ Ws if bias is None else torch.addmm(bias, x, Ws)
        y.index_add_(0, order[n0:], out)
    return y if xw is None else (y, gw)


def pair_linear(kernels: PairKernels, x: torch.Tensor, weight: torch.Tensor, self_weight: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
    r"""``y_i = Σ_r (K_r x)_i W_r + x_i W_self + b`` for the kernels of a :class:`PairKernels`.

    ``x (N, C)``, ``weight (R, C, O)``, optional ``self_weight (C, O)`` and ``bias (O,)`` ->
    ``(N, O)``; differentiable (twice) w.r.t. ``x`` and the weights.  Equal to
    :func:`grouped_linear` on ``kernels.ops()``.  On CPU with one torch thread
    (:func:`use_scipy_kernel`) it runs on the degree groups of the pairs (:func:`_pair_apply`):
    no sparse matrix is built, no ``(N, R·C)`` intermediate is formed whole, and the backward
    forms ``t = Kᵀ grad`` chunk by chunk for ``grad_x = t Wᵀ`` and ``grad_W = xᵀ t``.  Elsewhere
    it is :func:`grouped_linear`.
    """
    if use_scipy_kernel(x) and kernels.device.type == "cpu":
        return _PairLinear.apply(x, weight, self_weight, bias, kernels)
    op, op_t = kernels.ops()
    return grouped_linear(op, op_t, x, weight, self_weight, bias)


def grouped_linear(op: SparseOperator, op_t, x: torch.Tensor, weight: torch.Tensor,
                   self_weight: torch.Tensor | None = None, bias: torch.Tensor | None = None) -> torch.Tensor:
    r"""``y_i = Σ_r (K_r x)_i W_r + x_i W_self + b``: ``R`` sparse kernels, each followed by its own
    linear map, fused.

    ``op`` is the vertex-major ``(N · R, N)`` stack of the kernels (row ``i · R + r`` is row ``i`` of
    ``K_r``; :func:`grouped_csr` with ``R`` rows per vertex), ``op_t`` the same stack of their
    transposes (row ``j · R + r`` is column ``j`` of ``K_r``) or ``None`` (:func:`pair_kernels_csr`
    makes both), ``x (N, C)``, ``weight (R, C, O)``, optional ``self_weight (C, O)`` and
    ``bias (O,)`` -> ``(N, O)``; differentiable (twice) w.r.t. ``x`` and the weights.

    Equal to ``(op @ x).reshape(N, R·C) @ weight.reshape(R·C, O) + x @ self_weight + bias``, but on
    CPU with scipy's kernel (:func:`use_scipy_kernel`) it runs in blocks of :data:`GROUP_BLOCK`
    vertices, so no ``(N, R·C)`` intermediate or gradient is ever formed whole, and the backward
    does ``t = op_t @ grad`` once per block: ``grad_x = t Wᵀ`` and ``grad_W = xᵀ t`` are both
    tall-by-narrow products (the unfused backward's ``grad Wᵀ`` of shape ``(N, R·C)`` ran several
    times slower per flop, mostly in first touches of freshly mapped pages).  Elsewhere, or
    without ``op_t``, it is the unfused expression.
    """
    R, C, O = weight.shape
    if op_t is not None and use_scipy_kernel(x) and op.device.type == "cpu" and op_t.device.type == "cpu":
        return _GroupedLinear.apply(x, weight, self_weight, bias, op, op_t)
    y = (op @ x).reshape(x.shape[0], R * C) @ weight.reshape(R * C, O)
    if self_weight is not None:
        y = y + x @ self_weight
    return y if bias is None else y + bias
