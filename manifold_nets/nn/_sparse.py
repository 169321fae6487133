"""Sparse operators on torch tensors that work on CPU and CUDA and differentiate w.r.t. the input.

A :class:`SparseOperator` keeps a CSR matrix ``A`` and its transpose ``Aᵀ`` (also CSR), so both
the forward product and the backward product (``∂/∂x (A x) = Aᵀ``) are fast CSR products on
every device.  The operator itself is a constant (no gradient flows into its values).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["SparseOperator", "spmm", "block_diag_csr", "sparse_from_coo"]


class _SpMM(torch.autograd.Function):
    """``y = A @ x`` for a constant sparse ``A``; the backward is ``Aᵀ @ grad`` (twice differentiable)."""

    @staticmethod
    def forward(ctx, x, A, At):  # noqa: D401
        ctx.A, ctx.At = A, At
        n = x.shape[0]
        rest = x.shape[1:]
        y = torch.mm(A, x.reshape(n, -1)) if x.numel() else x.new_zeros((A.shape[0], int(np.prod(rest))))
        return y.reshape((A.shape[0],) + tuple(rest))

    @staticmethod
    def backward(ctx, g):
        gx = _SpMM.apply(g.contiguous(), ctx.At, ctx.A) if ctx.needs_input_grad[0] else None
        return gx, None, None


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
    """

    def __init__(self, A, dtype=torch.float32, device=None, *, _tensors=None):
        if _tensors is not None:
            self.A, self.At = _tensors
        else:
            A = sp.csr_matrix(A)
            self.A = _to_torch_csr(A, dtype, device)
            self.At = _to_torch_csr(A.T, dtype, device)

    @property
    def shape(self):
        return tuple(self.A.shape)

    @property
    def dtype(self):
        return self.A.dtype

    @property
    def device(self):
        return self.A.device

    def to(self, device=None, dtype=None) -> SparseOperator:
        """Copy to another device and/or dtype."""
        def conv(t):
            if dtype is not None and dtype != t.dtype:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    t = torch.sparse_csr_tensor(t.crow_indices(), t.col_indices(), t.values().to(dtype),
                                                size=t.shape, check_invariants=False)
            return t.to(device) if device is not None else t

        return SparseOperator(None, _tensors=(conv(self.A), conv(self.At)))

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype != self.A.dtype:
            raise TypeError(f"x: expected dtype {self.A.dtype} like the sparse operator (got {x.dtype}); "
                            "convert the batch with batch.to(dtype=...) or the input with x.to(...)")
        return _SpMM.apply(x, self.A, self.At)

    @property
    def T(self) -> SparseOperator:
        return SparseOperator(None, _tensors=(self.At, self.A))

    def to_dense(self) -> torch.Tensor:
        return self.A.to_dense()

    def nnz(self) -> int:
        return int(self.A.values().numel())

    def __repr__(self) -> str:
        return f"SparseOperator(shape={self.shape}, nnz={self.nnz()}, dtype={self.dtype}, device={self.device})"


def spmm(op: SparseOperator, x: torch.Tensor) -> torch.Tensor:
    """``op @ x`` with autograd w.r.t. ``x`` (see :class:`SparseOperator`)."""
    return op @ x


def block_diag_csr(mats) -> sp.csr_matrix:
    """Block-diagonal CSR matrix from a list of scipy sparse matrices."""
    return sp.block_diag([sp.csr_matrix(m) for m in mats], format="csr")


def sparse_from_coo(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, shape) -> SparseOperator:
    """:class:`SparseOperator` from COO triplets on any device (duplicates are summed)."""
    idx = torch.stack([rows, cols])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        A = torch.sparse_coo_tensor(idx, vals, tuple(shape), check_invariants=False).coalesce()
        At = torch.sparse_coo_tensor(idx.flip(0), vals, (shape[1], shape[0]), check_invariants=False).coalesce()
        return SparseOperator(None, _tensors=(A.to_sparse_csr(), At.to_sparse_csr()))
