"""Private sparse SPD solver used by the geodesic and vector-heat solvers.

Three ways to factorise, in order of preference for ``backend="auto"``:

* **CHOLMOD called directly** (``"cholmod-direct"``): the CHOLMOD library that the ``cholespy``
  wheel ships, called through :mod:`ctypes`: CHOLMOD's default fill-reducing ordering (AMD)
  *with* postordering, a supernodal factorisation (simplicial on small meshes, as CHOLMOD's
  own rule chooses) converted to a simplicial one for the solves
  (the wheel's BLAS is the reference one, whose supernodal triangular solves are slow), complex
  Hermitian matrices as such, and one symbolic analysis that several matrices of the same
  pattern can share (``SPDSolver(..., symbolic=other)``).  ``cholespy``'s own constructor turns
  postordering off and always analyses afresh, which made each factorisation 3–5× slower on
  meshes of 40k vertices and more (measured: armadillo, 43k vertices, 0.08 s here against
  0.24–0.36 s through ``cholespy``, one thread).  The binding
  is used only when the library exports the functions and the defaults that
  ``cholmod_start`` writes read back exactly as documented at the offsets assumed here (so a
  different struct layout is detected, not guessed); otherwise ``cholespy`` is used.
* ``cholespy`` (``"cholespy"``): through :func:`manifold_nets.geometry.spectral.sparse_cholesky` (:mod:`._cholesky`).
* SciPy's SuperLU (``"scipy"``) when neither is available.

Every solver names its system in its errors and checks that every solution is finite.
Set ``MANIFOLD_NETS_CHOLMOD_DIRECT=0`` to disable the direct binding.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.util
import os
import threading

import numpy as np
import scipy.sparse as sp

from ..errors import MissingDependencyError, SolverError
from ._cholesky import sparse_cholesky

_BACKENDS = {"auto": "auto", "cholespy": "cholmod", "scipy": "superlu"}
_NAMES = {"cholmod": "cholespy", "superlu": "scipy"}


def have_cholespy() -> bool:
    """Whether the ``cholespy`` backend is importable."""
    return importlib.util.find_spec("cholespy") is not None


# --------------------------------------------------------------------------------------------
# direct CHOLMOD binding (the library inside the cholespy wheel)
# --------------------------------------------------------------------------------------------

class _CommonPrefix(ctypes.Structure):
    """The leading fields of ``cholmod_common`` (unchanged from CHOLMOD 1.x to 5.x)."""

    _fields_ = [("dbound", ctypes.c_double), ("grow0", ctypes.c_double), ("grow1", ctypes.c_double),
                ("grow2", ctypes.c_size_t), ("maxrank", ctypes.c_size_t),
                ("supernodal_switch", ctypes.c_double), ("supernodal", ctypes.c_int),
                ("final_asis", ctypes.c_int), ("final_super", ctypes.c_int), ("final_ll", ctypes.c_int),
                ("final_pack", ctypes.c_int), ("final_monotonic", ctypes.c_int),
                ("final_resymbol", ctypes.c_int), ("zrelax", ctypes.c_double * 3),
                ("nrelax", ctypes.c_size_t * 3), ("prefer_zomplex", ctypes.c_int),
                ("prefer_upper", ctypes.c_int), ("quick_return_if_not_posdef", ctypes.c_int),
                ("prefer_binary", ctypes.c_int), ("print", ctypes.c_int), ("precise", ctypes.c_int),
                ("try_catch", ctypes.c_int), ("error_handler", ctypes.c_void_p),
                ("nmethods", ctypes.c_int)]


#: Values ``cholmod_start`` writes into the prefix (CHOLMOD's documented defaults).
_DEFAULTS = {"dbound": 0.0, "grow0": 1.2, "grow1": 1.2, "grow2": 5, "maxrank": 8, "supernodal_switch": 40.0,
             "supernodal": 1, "final_asis": 1, "final_super": 1, "final_ll": 0, "final_pack": 1,
             "final_monotonic": 1, "final_resymbol": 0, "prefer_zomplex": 0, "prefer_upper": 1,
             "quick_return_if_not_posdef": 0, "prefer_binary": 0, "print": 3, "precise": 0,
             "try_catch": 0, "nmethods": 0}


class _Method(ctypes.Structure):
    """``cholmod_common.method[i]``: one ordering method and its parameters."""

    _fields_ = [("lnz", ctypes.c_double), ("fl", ctypes.c_double), ("prune_dense", ctypes.c_double),
                ("prune_dense2", ctypes.c_double), ("nd_oksep", ctypes.c_double),
                ("other_1", ctypes.c_double * 4), ("nd_small", ctypes.c_size_t),
                ("other_2", ctypes.c_size_t * 4), ("aggressive", ctypes.c_int), ("order_for_lu", ctypes.c_int),
                ("nd_compress", ctypes.c_int), ("nd_camd", ctypes.c_int), ("nd_components", ctypes.c_int),
                ("ordering", ctypes.c_int), ("other_3", ctypes.c_size_t * 4)]


class _CommonOrdering(ctypes.Structure):
    """``cholmod_common`` up to its ordering options (the prefix, then the method table)."""

    _fields_ = [("prefix", _CommonPrefix), ("current", ctypes.c_int), ("selected", ctypes.c_int),
                ("method", _Method * 10), ("postorder", ctypes.c_int)]


#: ``method[i].ordering`` after ``cholmod_start`` (GIVEN, AMD, METIS, NESDIS, NATURAL, three
#: NESDIS variants, COLAMD) and ``nd_small`` of each: reading these back identifies the layout.
_METHOD_DEFAULTS = ([1, 2, 3, 4, 0, 4, 4, 4, 5], [200, 200, 200, 200, 200, 20000, 4, 200, 200])
_GIVEN, _AMD = 1, 2


class _Sparse(ctypes.Structure):
    _fields_ = [("nrow", ctypes.c_size_t), ("ncol", ctypes.c_size_t), ("nzmax", ctypes.c_size_t),
                ("p", ctypes.c_void_p), ("i", ctypes.c_void_p), ("nz", ctypes.c_void_p),
                ("x", ctypes.c_void_p), ("z", ctypes.c_void_p), ("stype", ctypes.c_int),
                ("itype", ctypes.c_int), ("xtype", ctypes.c_int), ("dtype", ctypes.c_int),
                ("sorted", ctypes.c_int), ("packed", ctypes.c_int)]


class _Dense(ctypes.Structure):
    _fields_ = [("nrow", ctypes.c_size_t), ("ncol", ctypes.c_size_t), ("nzmax", ctypes.c_size_t),
                ("d", ctypes.c_size_t), ("x", ctypes.c_void_p), ("z", ctypes.c_void_p),
                ("xtype", ctypes.c_int), ("dtype", ctypes.c_int)]


class _FactorHead(ctypes.Structure):
    """The leading fields of ``cholmod_factor`` (unchanged from CHOLMOD 1.x to 5.x)."""

    _fields_ = [("n", ctypes.c_size_t), ("minor", ctypes.c_size_t), ("Perm", ctypes.c_void_p),
                ("ColCount", ctypes.c_void_p)]


#: Try a METIS nested-dissection ordering when AMD's factor has more than this many times the
#: nonzeros of the matrix's lower triangle (regular meshes such as icospheres: 12–16×, where
#: METIS cut the factor by about a third; scanned meshes: 5–8×, where it did not help).
_METIS_FILL = 10.0
#: ... and only from this size up (below it METIS costs more than it saves: icosphere 5, 10k).
_METIS_MIN_N = 20000


_COMMON_BYTES = 1 << 16  # far more than any cholmod_common (a few kB)
_LIB = None
_LIB_TRIED = False


def _cholmod_lib():
    """The CHOLMOD library of the cholespy wheel with its prototypes set, or None."""
    global _LIB, _LIB_TRIED
    if _LIB_TRIED:
        return _LIB
    _LIB_TRIED = True
    if os.environ.get("MANIFOLD_NETS_CHOLMOD_DIRECT", "1") == "0":
        return None
    try:
        spec = importlib.util.find_spec("cholespy")
        if spec is None or not spec.submodule_search_locations:
            return None
        paths = []
        for d in spec.submodule_search_locations:
            paths += sorted(glob.glob(os.path.join(d, "_cholespy_core*.so")))
        if not paths:
            return None
        lib = ctypes.CDLL(paths[0])
        vp = ctypes.c_void_p
        for name, res, args in (
            ("cholmod_start", ctypes.c_int, [vp]),
            ("cholmod_finish", ctypes.c_int, [vp]),
            ("cholmod_analyze", vp, [vp, vp]),
            ("cholmod_factorize", ctypes.c_int, [vp, vp, vp]),
            ("cholmod_copy_factor", vp, [vp, vp]),
            ("cholmod_solve", ctypes.POINTER(_Dense), [ctypes.c_int, vp, vp, vp]),
            ("cholmod_free_factor", ctypes.c_int, [vp, vp]),
            ("cholmod_free_dense", ctypes.c_int, [vp, vp]),
            ("cholmod_change_factor", ctypes.c_int, [ctypes.c_int] * 5 + [vp, vp]),
            ("cholmod_analyze_p", vp, [vp, vp, vp, ctypes.c_size_t, vp]),
        ):
            fn = getattr(lib, name)
            fn.restype = res
            fn.argtypes = args
        common = _Common(lib)  # raises if the defaults do not read back as documented
        common.close()
    except (OSError, AttributeError, RuntimeError, ImportError):
        return None
    _route_blas(lib, paths[0])  # before the library is handed out: no factorisation runs meanwhile
    _LIB = lib
    return lib


#: Where the direct binding's CHOLMOD gets its BLAS: ``"scipy"`` (SciPy's OpenBLAS, see
#: :mod:`._cholmod_blas`) or ``"reference"`` (the one bundled with the cholespy wheel).
CHOLMOD_BLAS = "reference"


def _route_blas(lib, path: str) -> None:
    """Route CHOLMOD's BLAS to SciPy's OpenBLAS when a real and a complex supernodal
    factorisation give the same solutions (to 1e-10) before and after; otherwise undo."""
    global CHOLMOD_BLAS
    from . import _cholmod_blas

    if not _cholmod_blas.enabled():
        return
    # a banded SPD matrix (and a Hermitian one) whose supernodes are wide enough for every
    # routed BLAS/LAPACK call; built densely (cheap at this size)
    n, w = 96, 12
    off = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))
    band = np.where(off <= w, -1.0 / (1.0 + off), 0.0)
    np.fill_diagonal(band, 2.0 * w + 1.0)
    A = sp.csc_matrix(band)
    skew = np.where(off <= w, 0.25, 0.0) * np.sign(np.subtract.outer(np.arange(n), np.arange(n)))
    H = sp.csc_matrix(band + 1j * skew)  # Hermitian; diagonally dominant, so positive definite
    b = np.sin(np.arange(2 * n, dtype=np.float64)).reshape(n, 2)

    try:
        cases = []
        for mat, rhs in ((A, b), (H, b * (1 + 0.5j))):
            T = _lower_csc(mat)
            cases.append((_Symbolic(lib, T, supernodal=2), T, rhs))  # the analysis calls no BLAS

        def solutions():
            return [_DirectFactor(sym, T).solve(rhs) for sym, T, rhs in cases]

        before = solutions()
        done = _cholmod_blas.route(lib, path)
    except (OSError, ValueError, KeyError, AttributeError, ImportError, SolverError):
        return
    if done is None:
        return
    try:
        after = solutions()
        ok = all(np.abs(x - y).max() <= 1e-10 * np.abs(x).max() for x, y in zip(before, after))
    except SolverError:
        ok = False
    if ok:
        CHOLMOD_BLAS = "scipy"
    else:
        _cholmod_blas.restore(done)


class _Common:
    """A ``cholmod_common`` in a private buffer: LLᵀ (supernodal or simplicial as CHOLMOD
    chooses, unless ``supernodal=2`` forces supernodal), AMD + postorder, silent."""

    def __init__(self, lib, supernodal: int = 1):
        self._lib = lib
        # CHOLMOD's workspace lives in the common and ctypes releases the GIL: one call at a time
        self.lock = threading.Lock()
        self.buf = ctypes.create_string_buffer(_COMMON_BYTES)
        lib.cholmod_start(self.buf)
        self._open = True
        pre = _CommonPrefix.from_buffer(self.buf)
        for k, v in _DEFAULTS.items():
            if getattr(pre, k) != v:
                self.close()
                raise RuntimeError(f"cholmod_common layout not recognised ({k} = {getattr(pre, k)!r})")
        if list(pre.zrelax) != [0.8, 0.1, 0.05] or list(pre.nrelax) != [4, 16, 48]:
            self.close()
            raise RuntimeError("cholmod_common layout not recognised (relaxation defaults)")
        # 1 = CHOLMOD_AUTO (default): supernodal where the factorisation has enough flops per
        # factor entry (every mesh from ~10k vertices on), simplicial below: on small scans
        # (teddy 1.6k, cow 2.9k vertices) analysis + two factorisations 1.2-1.3x faster than
        # forcing supernodal (2), the same from icosphere 4 (2.6k) to armadillo (43k);
        # supernodal factors are then made simplicial for the solves
        pre.supernodal = supernodal
        pre.final_ll = 1    # LLᵀ: a non-positive pivot stops the factorisation (LDLᵀ accepts D < 0)
        pre.print = 0       # report failures through the factor, never by printing
        order = _CommonOrdering.from_buffer(self.buf)
        meth = order.method
        # the method table as documented: then one ordering can be asked for (see ``only``)
        self.methods_ok = ([meth[i].ordering for i in range(9)] == _METHOD_DEFAULTS[0]
                           and [meth[i].nd_small for i in range(9)] == _METHOD_DEFAULTS[1]
                           and meth[0].prune_dense == 10.0 and meth[0].prune_dense2 == -1.0
                           and order.postorder == 1)

    def only(self, ordering: int) -> bool:
        """Make the next analysis use one ordering method (``_GIVEN``: the caller's permutation;
        ``_AMD``) instead of CHOLMOD's default strategy, which on a given permutation also runs
        AMD, and on high fill METIS, and keeps the best (at 1M vertices 7 s for each extra
        ordering).  Returns False (nothing changed) when the method table was not recognised."""
        if not self.methods_ok:
            return False
        order = _CommonOrdering.from_buffer(self.buf)
        order.prefix.nmethods = 1
        order.method[0].ordering = ordering
        return True

    def close(self):
        if self._open:
            self._lib.cholmod_finish(self.buf)
            self._open = False

    def __del__(self):
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


def _lower_csc(A, symmetric: bool = False) -> sp.csc_matrix:
    """Lower triangle of ``A`` in CSC with sorted indices (CHOLMOD's ``stype = -1``).

    Filtered in CSC directly (row ``>=`` column per stored entry), without ``sp.tril``'s
    round trip through COO: 2–3× faster on mesh-sized matrices.  ``symmetric=True`` (the
    caller knows ``A`` is symmetric, or Hermitian): a canonical CSR ``A`` is read as the CSC
    arrays of ``Aᵀ`` (conjugated when complex), with no format conversion.
    """
    if symmetric and sp.issparse(A) and A.format == "csr" and A.has_canonical_format:
        indptr0, indices0, data0 = A.indptr, A.indices, A.data
        if np.iscomplexobj(data0):
            data0 = data0.conj()
    else:
        C = sp.csc_matrix(A)
        if not C.has_canonical_format:  # sorted indices, no duplicates (on a copy: C may share A's arrays)
            C = C.copy()
            C.sum_duplicates()
        indptr0, indices0, data0 = C.indptr, C.indices, C.data
    n = A.shape[1]
    col = np.repeat(np.arange(n, dtype=indices0.dtype), np.diff(indptr0))
    keep = indices0 >= col
    indptr = np.zeros(n + 1, dtype=indptr0.dtype)
    np.cumsum(np.bincount(col[keep], minlength=n), out=indptr[1:])
    T = sp.csc_matrix((data0[keep], indices0[keep], indptr), shape=A.shape)
    T.has_sorted_indices = True
    return T


class LowerCSC:
    """The lower triangle of a symmetric ``(n, n)`` matrix as CSC arrays (CHOLMOD's ``stype = -1``),
    built by a caller that knows its pattern (no scipy matrix in between).

    ``indptr (n + 1,)`` and ``indices (nnz,)`` int32, sorted row indices ``>=`` the column in every
    column; ``data (nnz,)`` float64.  Two records that share the *same* ``indptr`` and
    ``indices`` objects share one symbolic analysis without comparing the arrays.
    """

    __slots__ = ("shape", "indptr", "indices", "data")

    def __init__(self, n: int, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray):
        self.shape = (int(n), int(n))
        self.indptr, self.indices, self.data = indptr, indices, data

    @property
    def nnz(self) -> int:
        return int(self.indices.size)

    def with_data(self, data: np.ndarray) -> LowerCSC:
        """The same pattern (the same array objects) with other values."""
        return LowerCSC(self.shape[0], self.indptr, self.indices, data)

    def principal(self, keep: np.ndarray) -> LowerCSC:
        """The principal submatrix on the indices where ``keep (n,) bool`` is True (rows and
        columns renumbered in order, so every column stays sorted)."""
        n = self.shape[0]
        col = np.repeat(np.arange(n, dtype=np.int32), np.diff(self.indptr))
        sel = keep[self.indices] & keep[col]
        new = np.cumsum(keep, dtype=np.int64) - 1
        m = int(new[-1]) + 1 if n else 0
        indptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(np.bincount(new[col[sel]], minlength=m), out=indptr[1:])
        return LowerCSC(m, indptr.astype(np.int32), new[self.indices[sel]].astype(np.int32), self.data[sel])

    def tocsc(self) -> sp.csc_matrix:
        """The lower triangle as a scipy matrix."""
        T = sp.csc_matrix((self.data, self.indices, self.indptr), shape=self.shape)
        T.has_sorted_indices = True
        return T

    def full(self) -> sp.csr_matrix:
        """The whole symmetric matrix (CSR, every structural entry kept)."""
        T = self.tocsc()
        D = sp.diags(T.diagonal()).tocsc()
        return (T + T.T - D).tocsr()


class _OwnsFactor:
    """Frees the ``cholmod_factor`` at ``self.ptr`` (with ``self.lib``, ``self.common``) when collected."""

    def __del__(self):
        try:
            if self.ptr:
                p = ctypes.c_void_p(self.ptr)
                self.lib.cholmod_free_factor(ctypes.byref(p), self.common.buf)
                self.ptr = None
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class _Symbolic(_OwnsFactor):
    """One CHOLMOD analysis (ordering + elimination tree) of a sparsity pattern."""

    def __init__(self, lib, T: sp.csc_matrix, perm: np.ndarray | None = None, supernodal: int = 1):
        self.lib = lib
        self._super = None
        self.common = _Common(lib, supernodal)
        self.n = T.shape[0]
        self.indptr = T.indptr.astype(np.int32, copy=False)  # T's arrays are never written to
        self.indices = T.indices.astype(np.int32, copy=False)
        self.nnz = int(T.nnz)
        x = np.ones(self.nnz)
        A = self._sparse(x)
        if perm is not None:  # the caller's fill-reducing ordering: no METIS search on top
            perm = np.ascontiguousarray(perm, dtype=np.int32)
            self.common.only(_GIVEN)
            with self.common.lock:
                self.ptr = lib.cholmod_analyze_p(ctypes.byref(A), perm.ctypes.data, None, 0, self.common.buf)
            if not self.ptr:
                raise SolverError("CHOLMOD analysis failed (out of memory?)")
            return
        self.common.only(_AMD)  # METIS below, by this module's rule
        with self.common.lock:
            self.ptr = lib.cholmod_analyze(ctypes.byref(A), self.common.buf)
        if not self.ptr:
            raise SolverError("CHOLMOD analysis failed (out of memory?)")
        if self.n >= _METIS_MIN_N and self.lnz() > _METIS_FILL * self.nnz and hasattr(lib, "cholmod_metis"):
            self._try_metis(A)

    def supernodal(self) -> bool:
        """Whether the numeric factorisation on this analysis is supernodal: CHOLMOD's own rule
        for ``CHOLMOD_AUTO``, flops ``Σ c_j²`` at least ``supernodal_switch`` times ``Σ c_j``
        (``c_j`` the column counts of the factor, as its analysis records them)."""
        if self._super is None:
            pre = _CommonPrefix.from_buffer(self.common.buf)
            if pre.supernodal != 1:
                self._super = pre.supernodal == 2
            else:
                head = _FactorHead.from_address(self.ptr)
                cc = np.ctypeslib.as_array(ctypes.cast(head.ColCount, ctypes.POINTER(ctypes.c_int32)),
                                           shape=(self.n,)).astype(np.float64)
                self._super = float(cc @ cc) >= pre.supernodal_switch * float(cc.sum())
        return self._super

    def perm(self) -> np.ndarray:
        """The fill-reducing ordering of the analysis, ``(n,) int32`` (a copy)."""
        head = _FactorHead.from_address(self.ptr)
        return np.ctypeslib.as_array(ctypes.cast(head.Perm, ctypes.POINTER(ctypes.c_int32)), shape=(self.n,)).copy()

    def lnz(self) -> float:
        """Nonzeros of the factor predicted by the analysis."""
        head = _FactorHead.from_address(self.ptr)
        cc = np.ctypeslib.as_array(ctypes.cast(head.ColCount, ctypes.POINTER(ctypes.c_int32)), shape=(self.n,))
        return float(cc.sum())

    def _try_metis(self, A: _Sparse) -> None:
        """Analyse again with a METIS ordering as the user's; CHOLMOD keeps the one (METIS or
        AMD) whose factor is smaller, and so does this (never worse than AMD alone)."""
        lib = self.lib
        fn = lib.cholmod_metis
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p,
                       ctypes.c_void_p]
        perm = np.empty(self.n, dtype=np.int32)
        self.common.only(_GIVEN)  # analyse METIS's ordering alone (AMD's result is at hand)
        with self.common.lock:
            ok = fn(ctypes.byref(A), None, 0, 1, perm.ctypes.data, self.common.buf)
            other = lib.cholmod_analyze_p(ctypes.byref(A), perm.ctypes.data, None, 0, self.common.buf) if ok else None
        if not other:
            return
        old, old_lnz = self.ptr, self.lnz()
        self.ptr = other
        drop = old
        if self.lnz() >= old_lnz:
            self.ptr, drop = old, other
        p = ctypes.c_void_p(drop)
        with self.common.lock:
            lib.cholmod_free_factor(ctypes.byref(p), self.common.buf)

    def _sparse(self, x: np.ndarray) -> _Sparse:
        return _Sparse(self.n, self.n, self.nnz, self.indptr.ctypes.data, self.indices.ctypes.data, None,
                       x.ctypes.data, None, -1, 0, 1, 0, 1, 1)

    def matches(self, T: sp.csc_matrix | LowerCSC) -> bool:
        if T.indices is self.indices and T.indptr is self.indptr:  # one pattern, built once
            return True
        return (T.shape[0] == self.n and T.nnz == self.nnz and np.array_equal(T.indptr, self.indptr)
                and np.array_equal(T.indices, self.indices))


class _DirectFactor(_OwnsFactor):
    """Numeric CHOLMOD factor of one matrix on a (possibly shared) :class:`_Symbolic`."""

    backend = "cholmod-direct"

    def __init__(self, sym: _Symbolic, T: sp.csc_matrix, simplicial: bool = True,
                 simplicial_max_mb: float = float("inf")):
        lib = sym.lib
        self.sym, self.lib, self.n = sym, lib, sym.n
        self.common = sym.common
        self.complex = np.iscomplexobj(T.data)
        # complex Hermitian matrices as CHOLMOD_COMPLEX (interleaved re/im, like complex128)
        self.dtype = np.complex128 if self.complex else np.float64
        x = np.ascontiguousarray(T.data, dtype=self.dtype)
        A = sym._sparse(x)
        A.xtype = 2 if self.complex else 1
        with self.common.lock:
            self.ptr = lib.cholmod_copy_factor(ctypes.c_void_p(sym.ptr), self.common.buf)
            if not self.ptr:
                raise SolverError("CHOLMOD: could not copy the symbolic factor (out of memory?)")
            lib.cholmod_factorize(ctypes.byref(A), ctypes.c_void_p(self.ptr), self.common.buf)
        head = _FactorHead.from_address(self.ptr)
        if head.minor < head.n:
            raise SolverError(f"Cholesky factorisation: expected an SPD matrix (got: CHOLMOD: not positive "
                              f"definite, column {int(head.minor)})")
        # supernodal factorisation, simplicial solves: with one or two right-hand sides the
        # supernodal triangular solves are up to 1.6× slower than the simplicial ones (100k
        # vertices, OpenBLAS, one thread; from 16 columns on they are faster)
        #: whether the factor is held in CHOLMOD's supernodal form (else simplicial)
        self.supernodal = sym.supernodal()
        if not simplicial or not sym.supernodal():
            return  # a simplicial factor is already in the form the solves want (22 of 74 µs at 162 vertices)
        if sym.lnz() * (20 if self.complex else 12) / 1e6 > simplicial_max_mb:
            return  # kept supernodal: the simplicial copy is allocated before the supernodal one is freed
        with self.common.lock:
            ok = lib.cholmod_change_factor(2 if self.complex else 1, 1, 0, 1, 1, ctypes.c_void_p(self.ptr),
                                           self.common.buf)
        if not ok:
            raise SolverError("CHOLMOD: could not convert the factor (out of memory?)")
        self.supernodal = False

    def solve(self, b: np.ndarray) -> np.ndarray:
        b = np.asarray(b, dtype=self.dtype)
        B = np.asfortranarray(b.reshape(self.n, -1))
        k = B.shape[1]
        D = _Dense(self.n, k, self.n * k, self.n, B.ctypes.data, None, 2 if self.complex else 1, 0)
        with self.common.lock:
            X = self.lib.cholmod_solve(0, ctypes.c_void_p(self.ptr), ctypes.byref(D), self.common.buf)  # CHOLMOD_A
            if not X:
                raise SolverError("CHOLMOD solve failed (out of memory?)")
            try:
                w = 2 if self.complex else 1
                out = np.ctypeslib.as_array(ctypes.cast(X.contents.x, ctypes.POINTER(ctypes.c_double)),
                                            shape=(k, w * self.n)).copy()
                if self.complex:
                    out = out.view(np.complex128)
            finally:
                xp = ctypes.cast(X, ctypes.c_void_p)
                self.lib.cholmod_free_dense(ctypes.byref(xp), self.common.buf)
        return out.T.reshape(b.shape)  # column-major (n, k): no transposing copy


def _block_perm(sym: _Symbolic | None, n: int) -> np.ndarray | None:
    """The ordering of ``sym`` expanded to ``n // sym.n`` interleaved unknowns per index, or None."""
    if sym is None or sym.n == 0 or n % sym.n or n == sym.n:
        return None
    b = n // sym.n
    return (b * sym.perm()[:, None] + np.arange(b, dtype=np.int32)).ravel().astype(np.int32)


def have_cholmod_direct() -> bool:
    """Whether the direct CHOLMOD binding is usable (cholespy installed, layout recognised)."""
    return _cholmod_lib() is not None


class SPDSolver:
    """Factorise a sparse symmetric positive definite matrix once; solve ``(n,)`` or ``(n, k)``.

    Parameters
    ----------
    A : scipy.sparse matrix, (n, n), real symmetric positive definite
        (or complex Hermitian positive definite, with the direct CHOLMOD binding only: see
        :func:`have_cholmod_direct`; its solves take and return complex arrays), or a
        :class:`LowerCSC` record of its lower triangle
    backend : {"auto", "cholespy", "scipy"}
        ``"auto"`` and ``"cholespy"`` use CHOLMOD directly when possible (see the module
        docstring), ``cholespy``'s solver otherwise.
    what : str
        Name of the system, for error messages.
    symbolic : SPDSolver, optional
        A solver of a matrix with the same sparsity pattern (structural zeros included) whose
        symbolic analysis is reused; ignored when the patterns differ or either solver does not
        use the direct binding.
    block_ordering : SPDSolver, optional
        A solver of an ``m × m`` matrix when ``A`` is ``b m × b m`` with its unknowns interleaved
        in blocks of ``b`` per row of that matrix (e.g. the real form of a complex system, ``b =
        2``, on the pattern of the scalar one): that solver's fill-reducing ordering, each index
        expanded to its block, orders ``A``, instead of a fresh ordering search (AMD, then METIS
        on meshes with high fill), which on a 100k-vertex sphere took 3.6 s against 1.2 s for the
        analysis with the given ordering, for a factor as small (1.92e7 against 1.94e7 entries).
        Ignored when ``symbolic`` is used, the sizes do not divide, or either solver does not use
        the direct binding.
    simplicial : bool
        With the direct binding, convert the supernodal factor to the simplicial form for the
        solves (default: faster for one or a few right-hand sides).  ``False`` keeps the
        supernodal factor: no moment with both forms in memory, a little less memory after.
    simplicial_max_mb : float
        With ``simplicial=True``, convert only when the simplicial factor (12 bytes per entry,
        20 when complex, as the analysis predicts) takes at most this many MB; a larger factor
        stays supernodal.
    """

    def __init__(self, A, backend: str = "auto", what: str = "system", *, symbolic: SPDSolver | None = None,
                 block_ordering: SPDSolver | None = None, simplicial: bool = True,
                 simplicial_max_mb: float = float("inf")):
        if backend not in _BACKENDS:
            raise ValueError(f"backend: expected 'auto', 'cholespy' or 'scipy' (got {backend!r})")
        self.n = A.shape[0]
        self.what = what
        self._sym = None
        lower = isinstance(A, LowerCSC)
        self.complex = bool(np.iscomplexobj(A.data if lower or sp.issparse(A) else A))
        lib = _cholmod_lib() if backend in ("auto", "cholespy") else None
        if self.complex and lib is None:
            raise ValueError(f"{what}: complex matrices need the direct CHOLMOD binding (have_cholmod_direct())")
        if lib is not None:
            T = A if lower else _lower_csc(A, symmetric=True)
            sym = getattr(symbolic, "_sym", None)
            if sym is None or not sym.matches(T):
                sym = _Symbolic(lib, T, perm=_block_perm(getattr(block_ordering, "_sym", None), T.shape[0]))
            try:
                self._factor = _DirectFactor(sym, T, simplicial=simplicial, simplicial_max_mb=simplicial_max_mb)
            except SolverError as exc:
                raise SolverError(f"{what}: expected a symmetric positive definite matrix ({exc})") from exc
            self._sym = sym
            self.backend = "cholespy"  # the same CHOLMOD library, called directly
            self.direct = True
            return
        self.direct = False
        if lower:
            A = A.full()
        try:
            self._factor = sparse_cholesky(A, backend=_BACKENDS[backend])
        except ImportError as exc:
            raise MissingDependencyError("backend='cholespy' needs cholespy; run: pip install cholespy") from exc
        except SolverError as exc:
            raise SolverError(f"{what}: expected a symmetric positive definite matrix ({exc})") from exc
        self.backend = _NAMES[self._factor.backend]

    def release(self) -> None:
        """Free the numeric factor (the caller has made its last solve); the symbolic analysis
        stays, so this solver still serves as ``symbolic=`` or ``block_ordering=`` of another one
        and :meth:`factor_entries` still answers.  A later :meth:`solve` raises ``RuntimeError``."""
        self._factor = None

    def factor_entries(self) -> float | None:
        """Nonzeros of the Cholesky factor (the analysis's prediction), or None without the
        direct binding."""
        return self._sym.lnz() if self._sym is not None else None

    def solve(self, b: np.ndarray) -> np.ndarray:
        if self._factor is None:
            raise RuntimeError(f"{self.what}: the factor was released")
        b = np.asarray(b, dtype=np.complex128 if self.complex else np.float64)
        one = b.ndim == 1
        if self.direct:
            X = self._factor.solve(b.reshape(self.n, -1))
        else:
            B = np.ascontiguousarray(b.reshape(self.n, -1))
            X = self._factor.solve(B[:, 0]).reshape(self.n, 1) if B.shape[1] == 1 else self._factor.solve(B)
        if not np.isfinite(X).all():
            raise SolverError(
                f"{self.what}: expected a finite solution (got NaN/inf; the matrix is singular or ill-conditioned)"
            )
        return X[:, 0] if one else X
