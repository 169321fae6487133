"""One call for every operator a model needs on a mesh, with a content-addressed disk cache.

:func:`operators` returns an :class:`OperatorBundle` (float64 throughout).  With
``cache_dir=...`` the bundle is stored as ``<cache_dir>/<key>.npz`` where ``key`` is a SHA-256
of the vertex and face bytes, every parameter, ``manifold_nets.__version__``, the algorithm
version (a hash of the source of the modules that compute the bundle, so an algorithm fix
invalidates old entries automatically) and the versions of the numerical backends (see
:mod:`manifold_nets.geometry.cache`); a later call with the same mesh and parameters loads it
instead of recomputing.

Cache files are written atomically (a temporary file in the same folder, then
:func:`os.replace`), so parallel workers never see a partial file; two workers computing the
same mesh at once both write complete, identical files and the last rename wins.  Each file
stores a SHA-256 checksum of its arrays; a file that fails to load or whose checksum or key
does not match is reported (:class:`~manifold_nets.geometry.cache.CacheWarning`), ignored,
recomputed and overwritten.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..conventions import DEFAULT_MASS
from ..errors import MeshShapeError
from ..files import atomic_write
from ._checked import (
    CheckedMesh,
    accepts_mesh,
    check_mesh,
    require_checked,
    require_positive_area,
    warn_user,
)
from ._common import check_nonnegative

__all__ = ["OperatorBundle", "operators", "save_operators", "load_operators", "operators_cache_key"]


#: Bump when the on-disk layout changes.
CACHE_FORMAT = 1

_SPARSE = ("L", "M", "grad_x", "grad_y")
_DENSE = ("V", "F", "mass", "evals", "evecs", "normals", "x_axes", "y_axes")


@dataclass(frozen=True, eq=False)
class OperatorBundle:
    """Operators of one mesh (all float64; sparse matrices are csr).

    Attributes
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    L : (nV, nV) csr_matrix
        PSD weak Laplacian (cotan or robust).
    M : (nV, nV) csr_matrix
        Diagonal lumped mass.
    mass : (nV,) float64
        ``M.diagonal()``.
    evals : (k,) float64
        Ascending eigenvalues of ``L φ = λ M φ``.
    evecs : (nV, k) float64
        M-orthonormal eigenvectors (sign rule of :mod:`manifold_nets.conventions`).
    grad_x, grad_y : (nV, nV) csr_matrix
        Tangent gradient components in the vertex frames (DiffusionNet's layout); the complex
        gradient is :attr:`gradient`.
    normals, x_axes, y_axes : (nV, 3) float64
        Vertex frames (:func:`manifold_nets.geometry.frames.tangent_frames`).
    params : dict
        The parameters the bundle was computed with.
    cache_path : str or None
        The cache file this bundle was read from or written to.
    from_cache : bool
        Whether it was loaded from the cache.
    """

    V: np.ndarray
    F: np.ndarray
    L: sp.csr_matrix
    M: sp.csr_matrix
    mass: np.ndarray
    evals: np.ndarray
    evecs: np.ndarray
    grad_x: sp.csr_matrix
    grad_y: sp.csr_matrix
    normals: np.ndarray
    x_axes: np.ndarray
    y_axes: np.ndarray
    params: dict = field(default_factory=dict)
    cache_path: str | None = None
    from_cache: bool = False

    @property
    def k(self) -> int:
        """Number of eigenpairs."""
        return int(self.evals.shape[0])

    @property
    def gradient(self) -> sp.csr_matrix:
        """Complex tangent gradient ``grad_x + 1j grad_y`` (nV, nV)."""
        return sp.csr_matrix(self.grad_x + 1j * self.grad_y)

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat dict of plain arrays (sparse matrices split into data/indices/indptr/shape)."""
        out: dict[str, np.ndarray] = {}
        for name in _DENSE:
            out[name] = np.ascontiguousarray(getattr(self, name))
        for name in _SPARSE:
            m = sp.csr_matrix(getattr(self, name))
            out[f"{name}__data"] = m.data
            out[f"{name}__indices"] = m.indices.astype(np.int64)
            out[f"{name}__indptr"] = m.indptr.astype(np.int64)
            out[f"{name}__shape"] = np.asarray(m.shape, dtype=np.int64)
        return out


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_operators(bundle: OperatorBundle, path, *, key: str = "") -> Path:
    """Write a bundle to ``path`` (.npz) atomically, with a checksum inside.

    Returns the path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = bundle.arrays()
    meta = {"params": bundle.params, "key": key, "format": CACHE_FORMAT, "checksum": _checksum(arrays)}
    arrays["__meta__"] = np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8)
    return atomic_write(path, lambda fh: np.savez(fh, **arrays))


class _CorruptCache(Exception):
    pass


def load_operators(path, *, expect_key: str | None = None) -> OperatorBundle:
    """Read a bundle written by :func:`save_operators`, verifying its checksum.

    Raises
    ------
    manifold_nets.errors.MeshFileNotFoundError
        No such file (also a :class:`FileNotFoundError`).
    manifold_nets.errors.MeshIsADirectoryError, manifold_nets.errors.MeshPermissionError
        The path is a folder, or cannot be read for lack of permission.
    manifold_nets.errors.MeshFileError
        The file is unreadable, truncated, from another format version, or its checksum (or
        cache key) does not match.
    """
    from ..errors import (
        MeshFileError,
        MeshFileNotFoundError,
        MeshIsADirectoryError,
        MeshPermissionError,
    )

    try:
        p = Path(path)
    except TypeError:
        raise MeshShapeError(f"path: expected a file path (got {type(path).__name__})") from None
    if not p.exists():
        raise MeshFileNotFoundError(f"{path}: expected an operator file (got no such file)")
    if p.is_dir():
        raise MeshIsADirectoryError(f"{path}: expected an operator file (got a folder)")
    try:
        with open(p, "rb"):
            pass
    except PermissionError as exc:
        raise MeshPermissionError(f"{path}: expected a readable operator file (got permission denied)") from exc
    except OSError:
        pass  # left to the reader below, reported as an unreadable file
    try:
        return _load(p, expect_key)
    except _CorruptCache as exc:
        raise MeshFileError(f"{path}: expected a valid operator file (got {exc})") from exc


def _load(path: Path, expect_key: str | None) -> OperatorBundle:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {name: z[name] for name in z.files}
    except Exception as exc:  # zipfile.BadZipFile, EOFError, ValueError, OSError, ...
        raise _CorruptCache(f"unreadable file: {type(exc).__name__}: {exc}") from exc
    if "__meta__" not in arrays:
        raise _CorruptCache("no metadata")
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _CorruptCache("unreadable metadata") from exc
    if meta.get("format") != CACHE_FORMAT:
        raise _CorruptCache(f"format {meta.get('format')} instead of {CACHE_FORMAT}")
    if expect_key is not None and meta.get("key") != expect_key:
        raise _CorruptCache("cache key mismatch")
    if meta.get("checksum") != _checksum(arrays):
        raise _CorruptCache("checksum mismatch")
    try:
        kw = {name: arrays[name] for name in _DENSE}
        for name in _SPARSE:
            shape = tuple(int(s) for s in arrays[f"{name}__shape"])
            kw[name] = sp.csr_matrix(
                (arrays[f"{name}__data"], arrays[f"{name}__indices"], arrays[f"{name}__indptr"]), shape=shape
            )
    except (KeyError, ValueError) as exc:
        raise _CorruptCache(f"missing or inconsistent arrays: {exc}") from exc
    return OperatorBundle(**kw, params=meta.get("params", {}), cache_path=str(path), from_cache=True)


@accepts_mesh
def operators_cache_key(V, F, **params) -> str:
    """SHA-256 hex key of a mesh and the parameters of :func:`operators`, with the library
    version, the algorithm version and the backend versions (:func:`~manifold_nets.geometry.cache.cache_key`)."""
    return _operators_cache_key(check_mesh(V, F), params)


def _operators_cache_key(mesh: CheckedMesh, params: dict) -> str:
    """Kernel of :func:`operators_cache_key` on a checked mesh (no validation)."""
    from .cache import cache_key

    return cache_key(f"operators/{CACHE_FORMAT}", tuple(require_checked(mesh)), params)


@accepts_mesh
def choose_laplacian(V, F, requested: str = "auto") -> str:
    """Resolve ``"auto"`` with :func:`~manifold_nets.geometry.quality.laplacian_choice`:
    ``"robust"`` (intrinsic Delaunay, non-negative weights) for a mesh with non-manifold edges or
    vertices, degenerate faces or poorly shaped triangles (many negative cotan weights), else
    ``"cotan"``.  Any other value is returned unchanged.

    >>> from manifold_nets.shapes import icosphere
    >>> choose_laplacian(*icosphere(1))
    'cotan'
    """
    if requested != "auto":
        return requested
    return _choose_laplacian(check_mesh(V, F), requested)


def _choose_laplacian(mesh: CheckedMesh, requested: str = "auto") -> str:
    """Kernel of :func:`choose_laplacian` on a checked mesh (no validation)."""
    if requested != "auto":
        return requested
    from .quality import _laplacian_choice

    return _laplacian_choice(mesh)[0]


@accepts_mesh
@accepts_mesh
def operators(
    V,
    F,
    k: int = 128,
    *,
    laplacian: str = "auto",
    mass: str = DEFAULT_MASS,
    clamp_cot: float | None = None,
    mollify_factor: float = 1e-5,
    ridge: float = 1e-8,
    eig_backend: str = "auto",
    cache_dir=None,
    progress: bool = False,
) -> OperatorBundle:
    """Laplacian, mass, eigenbasis, tangent gradients and frames of a mesh, optionally cached.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    k : int
        Number of eigenpairs (``0`` skips the eigen solve).  Reduced, with an
        :class:`~manifold_nets.geometry.spectral.EigenbasisWarning` saying so, to the number of
        referenced vertices on smaller meshes, so ``bundle.k`` may be less than ``k``.
    laplacian : {"auto", "cotan", "robust"}
        ``"cotan"``: :func:`~manifold_nets.geometry.cotan_laplacian` with the lumped ``mass``.
        ``"robust"``: :func:`~manifold_nets.geometry.robust_laplacian` and its own lumped mass
        (for non-manifold or degenerate meshes; ``mass`` is then ignored).  ``"auto"``
        (default): see :func:`choose_laplacian`; the choice made is in ``bundle.params``.
    mass : {"barycentric", "voronoi"}
        Lumped mass for ``laplacian="cotan"``.
    clamp_cot : float, optional
        Degenerate-triangle guard of the cotan Laplacian.
    mollify_factor : float
        Mollification of the robust Laplacian.
    ridge : float
        Regularisation of the tangent-gradient fits (:func:`~manifold_nets.geometry.vertex_gradient`).
    eig_backend : {"auto", "cholmod", "superlu"}
        Factorisation used by :func:`~manifold_nets.geometry.eigenbasis`.
    cache_dir : str or Path, optional
        Folder of the disk cache (created if missing).
    progress : bool
        Progress bar for the eigen solve.

    Returns
    -------
    OperatorBundle

    Raises
    ------
    MeshShapeError, NonFiniteError, FaceIndexError, EmptyMeshError
        Bad input arrays or parameters.
    DegenerateFaceError
        Every face has zero area.
    SolverError
        The eigen solve failed after all retries.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> ops = operators(*icosphere(2), k=8)
    >>> ops.L.shape, ops.evecs.shape, ops.grad_x.shape, ops.evals[1:4].round(1)
    ((162, 162), (162, 8), (162, 162), array([2., 2., 2.]))
    """
    from .differential import _vertex_gradient
    from .frames import _tangent_frames
    from .laplacian import _cotan_laplacian, _robust_laplacian
    from .mass import _mass_matrix, diagonal_csr
    from .spectral import EIG_BACKENDS, EigenbasisWarning, active_vertices, eigenbasis

    # validated once here; every step below takes the checked mesh (see ._checked)
    mesh = check_mesh(V, F)
    V, F = mesh
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise MeshShapeError(f"k: expected a non-negative integer (got {k!r})")
    require_positive_area(mesh, "operators")
    if laplacian not in ("auto", "cotan", "robust"):
        raise MeshShapeError(f"laplacian: expected 'auto', 'cotan' or 'robust' (got {laplacian!r})")
    laplacian = _choose_laplacian(mesh, laplacian)
    if mass not in ("barycentric", "voronoi"):
        raise MeshShapeError(f"mass: expected a lumped mass, 'barycentric' or 'voronoi' (got {mass!r})")
    if not isinstance(eig_backend, str) or eig_backend not in EIG_BACKENDS:
        raise MeshShapeError(f"eig_backend: expected 'auto', 'cholmod' or 'superlu' (got {eig_backend!r})")
    mollify_factor = check_nonnegative(mollify_factor, "mollify_factor")
    params = {
        "k": int(k),
        "laplacian": laplacian,
        "mass": mass if laplacian == "cotan" else "robust",
        "clamp_cot": clamp_cot,
        "mollify_factor": float(mollify_factor) if laplacian == "robust" else None,
        "ridge": float(ridge),
    }
    path = key = None
    if cache_dir is not None:
        key = _operators_cache_key(mesh, params)
        path = Path(cache_dir) / f"{key[:40]}.npz"
        if path.exists():
            try:
                return _load(path, key)
            except _CorruptCache as exc:
                from .cache import CacheWarning

                warn_user(f"operator cache {path} is corrupt or stale ({exc}); recomputing it",
                              CacheWarning)

    if laplacian == "cotan":
        L = _cotan_laplacian(mesh, clamp_cot=clamp_cot)
        M = _mass_matrix(mesh, kind=mass)
    else:
        L, M = _robust_laplacian(mesh, mollify_factor=mollify_factor)
        M = diagonal_csr(M.diagonal())
    m = M.diagonal().copy()
    n_active = int(active_vertices(L, M).sum())
    kk = min(int(k), n_active)
    if kk < int(k):
        warn_user(
            f"operators: k reduced from {int(k)} to {kk}: the mesh has only {kk} referenced vertices, "
            "so its Laplacian has no more eigenpairs (all of them are computed by a dense solve)",
            EigenbasisWarning)
    if kk > 0:
        evals, evecs = eigenbasis(L, M, kk, backend=eig_backend, progress=progress)
    else:
        evals, evecs = np.zeros(0), np.zeros((V.shape[0], 0))
    normals, x_axes, y_axes = _tangent_frames(mesh)
    G = _vertex_gradient(mesh, (normals, x_axes, y_axes), ridge=ridge)
    bundle = OperatorBundle(
        V=V, F=F, L=L, M=M, mass=m, evals=evals, evecs=evecs,
        grad_x=sp.csr_matrix(G.real), grad_y=sp.csr_matrix(G.imag),
        normals=normals, x_axes=x_axes, y_axes=y_axes, params=params,
        cache_path=str(path) if path is not None else None,
    )
    if path is not None:
        try:
            save_operators(bundle, path, key=key)
        except OSError as exc:
            from .cache import CacheWarning

            warn_user(f"operators: could not write the operator cache {path} ({exc}); "
                          "the operators are returned uncached", CacheWarning)
    return bundle
