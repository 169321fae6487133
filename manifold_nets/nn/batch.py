"""Batches of meshes of different sizes: :class:`MeshData` (one mesh, numpy) and :class:`MeshBatch`.

A :class:`MeshBatch` stacks the vertices of ``B`` meshes along one dimension (``N = Σ nV_b``),
like a graph batch: per-vertex tensors are ``(N, ...)``, ``batch[v]`` is the mesh of vertex
``v`` and ``ptr[b]:ptr[b+1]`` its range.  Operators are block diagonal sparse matrices
(:class:`~manifold_nets.nn._sparse.SparseOperator`), the truncated eigenbases are kept padded
per mesh (``evecs_padded (B, n_max, K)``, so projections are one batched matrix product) and
the geodesic patches are flat edge arrays with global vertex indices.

Conventions (see :mod:`manifold_nets.conventions`): ``L`` is the PSD weak-form Laplacian, the
pointwise Laplacian is ``L x / mass``; eigenvectors are M-orthonormal; patch angles ``theta``
are measured in the centre vertex's gauge and ``transport[e]`` carries a tangent vector at
``patch_pairs[e, 1]`` (in its gauge) to the gauge of ``patch_pairs[e, 0]``: ``z_i = exp(i ρ_ij) z_j``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import MeshShapeError, NonFiniteError, SolverError
from ._sparse import SparseOperator, block_diag_csr

__all__ = ["MeshData", "MeshBatch", "collate", "estimate_lambda_max"]


def estimate_lambda_max(L, mass) -> float:
    """Upper estimate of the largest eigenvalue of ``M⁻¹ L`` (Lanczos + 1 %, Gershgorin fallback)."""
    L = sp.csr_matrix(L)
    mass = np.asarray(mass, dtype=np.float64)
    # vertices without mass (unreferenced) have empty rows: leave them out
    keep = mass > 0
    if not keep.all():
        L = L[keep][:, keep]
        mass = mass[keep]
    n = L.shape[0]
    if n == 0:
        return 1.0
    absL = abs(L)
    gersh = float((np.asarray(absL.sum(axis=1)).ravel() / mass).max())
    if n < 3:
        return gersh
    d = 1.0 / np.sqrt(mass)
    S = sp.diags(d) @ L @ sp.diags(d)
    try:
        from scipy.sparse.linalg import eigsh

        lam = float(eigsh(S, k=1, which="LA", tol=1e-4, return_eigenvectors=False,
                          v0=np.ones(n), maxiter=2000)[0])
        return min(lam * 1.01, gersh)
    except Exception:  # ARPACK non-convergence: the Gershgorin bound is always valid
        return gersh


#: One-ring patches (``patch_radius=None``) are normalised by this multiple of the mesh's robust
#: mean edge length (:func:`manifold_nets.geometry.normalize.robust_edge_length`), never by its
#: longest edge, so one outlier edge does not collapse every other ``ρ = r / radius``.
ONE_RING_RADIUS_FACTOR = 1.5

_MD_DENSE = ("V", "F", "mass", "evals", "evecs", "normals", "x_axes", "y_axes", "patch_pairs", "pair_r", "pair_theta",
             "pair_transport", "principal_angle")
_MD_SPARSE = ("L", "grad_x", "grad_y")


@dataclass
class MeshData:
    """Everything the neural layers need for one mesh, as numpy / scipy arrays (float64).

    Built by :meth:`from_mesh` (through :mod:`manifold_nets.geometry`) or :meth:`from_bundle`.
    Fields that a model does not need may be ``None`` (e.g. no patches for spectral models).

    Attributes
    ----------
    V, F : (nV, 3) float64, (nF, 3) int64
        The mesh the operators were computed on: **normalised for learning** (centred, unit
        area; see :attr:`normalization`) when built by :meth:`from_mesh` with ``normalize=True``.
    L : scipy csr (nV, nV)
        PSD weak-form Laplacian.
    mass : (nV,)
        Lumped mass.
    evals, evecs : (k,), (nV, k)
        ``L φ = λ M φ``, M-orthonormal.
    grad_x, grad_y : scipy csr (nV, nV)
        Components of the tangent gradient in each vertex's frame.
    normals, x_axes, y_axes : (nV, 3)
    patch_pairs : (m, 2) int64
        Geodesic-patch pairs ``(centre i, neighbour j)`` (not mesh edges: a patch of radius r holds
        every vertex within r).
    pair_r, pair_theta, pair_transport : (m,)
        Geodesic distance, angle of ``j`` in ``i``'s gauge, transport angle ``ρ_ij``.
    patch_radius : float
        Radius that normalises ``pair_r``: the patch radius (in the units of :attr:`V`), or for
        one-ring patches ``ONE_RING_RADIUS_FACTOR ×`` the robust mean edge length.
    principal_angle : (nV,) or None
        Angle of the first principal curvature direction in each vertex's gauge (a line field:
        defined modulo π), for ACNN.
    lambda_max : float
        Upper estimate of the largest eigenvalue of ``M⁻¹ L`` (for Chebyshev filters).
    normalization : Normalization or None
        The map from the input mesh to :attr:`V` (``None``: not normalised).
    V_original : (nV, 3) float64 or None
        The input positions (before normalisation).
    params : dict
        The parameters it was computed with (operators, patches, normalisation).
    from_cache : bool
        Whether it was read from the cache.
    coarse : list of MeshData or None
        The coarse levels of the mesh hierarchy (:func:`~manifold_nets.geometry.mesh_hierarchy`
        of the normalised mesh, built with ``levels > 0``): ``coarse[l]`` is level ``l + 1``, a
        :class:`MeshData` computed by the same pipeline (operators, one-ring patches, principal
        angles), without levels of its own.
    pool, unpool : list of scipy csr (complex128) or None
        ``pool[l]`` ``(n_{l+1}, n_l)`` and ``unpool[l]`` ``(n_l, n_{l+1})`` map level ``l`` to
        ``l + 1`` and back (level 0 is this mesh).  Each entry is ``w · e^{iα}``: ``|entry|`` is
        the weight (rows of the weights sum to 1) and ``α`` the angle carrying a tangent vector
        from the source vertex's gauge to the target's (:func:`~manifold_nets.geometry.level_transport`).
    """

    V: np.ndarray
    F: np.ndarray
    L: sp.csr_matrix
    mass: np.ndarray
    evals: np.ndarray | None = None
    evecs: np.ndarray | None = None
    grad_x: sp.csr_matrix | None = None
    grad_y: sp.csr_matrix | None = None
    normals: np.ndarray | None = None
    x_axes: np.ndarray | None = None
    y_axes: np.ndarray | None = None
    patch_pairs: np.ndarray | None = None
    pair_r: np.ndarray | None = None
    pair_theta: np.ndarray | None = None
    pair_transport: np.ndarray | None = None
    patch_radius: float | None = None
    principal_angle: np.ndarray | None = None
    lambda_max: float | None = None
    name: str | None = field(default=None, compare=False)
    normalization: object | None = field(default=None, compare=False)
    V_original: np.ndarray | None = field(default=None, compare=False, repr=False)
    params: dict = field(default_factory=dict, compare=False)
    from_cache: bool = field(default=False, compare=False)
    coarse: list | None = field(default=None, compare=False, repr=False)
    pool: list | None = field(default=None, compare=False, repr=False)
    unpool: list | None = field(default=None, compare=False, repr=False)

    @property
    def n_vertices(self) -> int:
        return int(self.V.shape[0])

    def __repr__(self) -> str:
        k = 0 if self.evals is None else len(self.evals)
        pairs = 0 if self.patch_pairs is None else len(self.patch_pairs)
        levels = 0 if self.coarse is None else len(self.coarse)
        return (f"MeshData({self.name!r}, nV={self.n_vertices}, nF={len(self.F)}, k={k}, "
                f"patch_pairs={pairs}, levels={levels}, from_cache={self.from_cache})")

    @classmethod
    def from_mesh(cls, V, F, *, k: int = 128, cache_dir=None, patch_radius=None, patches: bool = True,
                  curvature: bool = True, name: str | None = None, normalize: bool = True, levels: int = 0,
                  ratio: float = 0.25, **operator_kwargs) -> MeshData:
        """Compute (or read from the cache) the operator bundle, patches and principal directions.

        Parameters
        ----------
        V, F : array_like
            The mesh, ``(nV, 3)`` float64 and ``(nF, 3)`` int64.
        k : int
            Number of eigenpairs.  On a mesh with fewer vertices (or fewer referenced vertices)
            than ``k`` every eigenpair is computed (a dense solve) and ``k`` is reduced with an
            :class:`~manifold_nets.geometry.spectral.EigenbasisWarning`.  A ``k`` that ends inside a
            repeated eigenvalue (``k = 3`` on a sphere, whose eigenvalue 2 has multiplicity 3)
            keeps an arbitrary part of that eigenspace: spectral features then break the
            mesh's symmetries; end ``k`` at the end of an eigenspace for symmetric meshes.
        cache_dir : path, optional
            Folder of the learning cache (:mod:`manifold_nets.geometry.cache`): one entry per mesh
            and parameter set holding the operators, patches, principal angles and ``λ_max``.
        patch_radius : float, optional
            Geodesic patch radius **in the units of the input mesh** (converted with the
            normalisation factor, so the patches are the same ones with or without
            ``normalize``); ``None`` is the one-ring, normalised by ``ONE_RING_RADIUS_FACTOR ×``
            the robust mean edge length.
        patches : bool
            Compute geodesic patches (needed by the patch and gauge families).
        curvature : bool
            Compute principal curvature directions (needed by ACNN).
        normalize : bool
            Normalise the mesh for learning first
            (:func:`~manifold_nets.geometry.normalize.normalize_for_learning`: centred at the
            area-weighted centroid, unit total area); every field is then scale-invariant and
            the factor is kept in :attr:`normalization`.
        levels : int
            Coarse levels of the mesh hierarchy (:attr:`coarse`, :attr:`pool`, :attr:`unpool`) for
            multiscale (U-Net) models; ``0`` (default): none.  The hierarchy is built from the
            normalised mesh (:func:`~manifold_nets.geometry.mesh_hierarchy`), so every level has
            the same normalisation; the coarse levels get one-ring patches and ``min(k, n_l)``
            eigenpairs (all of them on a level of ``n_l <= k`` vertices: by design, no warning).
        ratio : float
            Fraction of the vertices kept per level (used when ``levels > 0``).
        **operator_kwargs
            Passed to :func:`manifold_nets.geometry.operators` (``laplacian``, ``mass``, ...).
        """
        from ..geometry.cache import ArrayCache
        from ..geometry.normalize import Normalization, normalize_for_learning
        from ..validation import check_mesh_arrays

        V_in, F = check_mesh_arrays(V, F)
        params = _learning_params(V_in.shape[0], k=k, patch_radius=patch_radius, patches=patches,
                                  curvature=curvature, normalize=normalize, operator_kwargs=operator_kwargs,
                                  levels=levels, ratio=ratio)
        patch_radius = params["patch_radius"]
        k_eff = params["k"]
        store = key = None
        if cache_dir is not None:
            store = ArrayCache(cache_dir)
            key = _learning_key(V_in, F, params)
            hit = _cache_get(store, key, V_original=V_in, name=name)
            if hit is not None:
                _warn_k_reduced(hit, k, name)
                return hit
        if normalize:
            Vn, norm = normalize_for_learning(V_in, F)  # refuses a mesh without area first
        else:
            Vn, norm = V_in, Normalization.identity()
        if k_eff < int(k):  # fewer vertices than k; operators warns about unreferenced ones itself
            _warn_k_reduced(None, k, name, n_vertices=k_eff)
        radius = None if patch_radius is None else patch_radius * norm.scale
        out, bundle_params = _compute_data(cls, Vn, F, k=k_eff, radius=radius, patches=patches,
                                           curvature=curvature, name=name, operator_kwargs=operator_kwargs)
        if params.get("levels", 0):
            _attach_hierarchy(out, levels=params["levels"], ratio=params["ratio"], k=int(k), patches=patches,
                              curvature=curvature, operator_kwargs=operator_kwargs)
        out.normalization = norm if normalize else None
        out.V_original = V_in
        out.params = {**params, "operators": bundle_params}
        if store is not None:
            arrays = out._to_arrays()
            arrays["V_original"] = V_in
            store.put(key, arrays, meta={"params": out.params,
                                         "normalization": None if not normalize else norm.to_dict()})
        return out

    @classmethod
    def from_path(cls, path, *, k: int = 128, cache_dir=None, patch_radius=None, patches: bool = True,
                  curvature: bool = True, name: str | None = None, normalize: bool = True, levels: int = 0,
                  ratio: float = 0.25, **operator_kwargs) -> MeshData:
        """:meth:`from_mesh` of a mesh file (read with :func:`manifold_nets.read_mesh`).

        With ``cache_dir``, a small index entry keyed by a SHA-256 of the file's bytes (and the
        parameters, and the algorithm version, which covers the readers) points to the entry of
        :meth:`from_mesh`, so a cache hit neither parses the file nor recomputes anything.
        """
        import os

        from .. import read_mesh
        from ..geometry.cache import ArrayCache, cache_key

        name = str(path) if name is None else name
        kw = dict(k=k, patch_radius=patch_radius, patches=patches, curvature=curvature, normalize=normalize,
                  levels=levels, ratio=ratio, **operator_kwargs)
        if cache_dir is None:
            mesh = read_mesh(path)
            return cls.from_mesh(mesh.V, mesh.F, cache_dir=None, name=name, **kw)
        store = ArrayCache(cache_dir)
        p = Path(os.fspath(path))
        try:
            raw = np.frombuffer(p.read_bytes(), dtype=np.uint8)
        except OSError:
            raw = None  # read_mesh below raises the typed error
        request = {"k": int(k) if not isinstance(k, bool) and isinstance(k, (int, np.integer)) else repr(k),
                   "patch_radius": None if patch_radius is None else repr(patch_radius),
                   "patches": bool(patches), "curvature": bool(curvature), "normalize": bool(normalize),
                   "operators": dict(sorted(operator_kwargs.items())), "suffix": "".join(p.suffixes)}
        if levels:
            request.update(levels=repr(levels), ratio=repr(ratio))
        index_key = None if raw is None else cache_key("mesh_file", (raw,), request)
        if index_key is not None:
            index = store.get(index_key)
            if index is not None and isinstance(index[1].get("target"), str):
                hit = _cache_get(store, index[1]["target"], V_original=None, name=name)
                if hit is not None:
                    _warn_k_reduced(hit, k, name)
                    return hit
        mesh = read_mesh(path)
        out = cls.from_mesh(mesh.V, mesh.F, cache_dir=cache_dir, name=name, **kw)
        if index_key is not None:
            V_in, F_in = np.asarray(mesh.V, dtype=np.float64), np.asarray(mesh.F, dtype=np.int64)
            target = _learning_key(V_in, F_in, _learning_params(V_in.shape[0], k=k, patch_radius=patch_radius,
                                                                patches=patches, curvature=curvature,
                                                                normalize=normalize, operator_kwargs=operator_kwargs,
                                                                levels=levels, ratio=ratio))
            store.put(index_key, {}, meta={"target": target})
        return out

    def _to_arrays(self) -> dict:
        """Flat dict of plain arrays (sparse matrices as csr parts) for the cache."""
        out = {}
        for name in _MD_DENSE:
            a = getattr(self, name)
            if a is not None:
                out[name] = np.asarray(a)
        for name in _MD_SPARSE:
            m = getattr(self, name)
            if m is not None:
                m = sp.csr_matrix(m)
                out[f"{name}__data"] = m.data
                out[f"{name}__indices"] = m.indices.astype(np.int64)
                out[f"{name}__indptr"] = m.indptr.astype(np.int64)
                out[f"{name}__shape"] = np.asarray(m.shape, dtype=np.int64)
        for name in ("patch_radius", "lambda_max"):
            if getattr(self, name) is not None:
                out[name] = np.asarray(float(getattr(self, name)))
        if self.coarse:
            out["n_levels"] = np.asarray(len(self.coarse), dtype=np.int64)
            for lev, (sub, P, U) in enumerate(zip(self.coarse, self.pool, self.unpool)):
                for k, a in sub._to_arrays().items():
                    out[f"level{lev + 1}__{k}"] = a
                for nm, m in (("pool", P), ("unpool", U)):
                    m = sp.csr_matrix(m)
                    out[f"{nm}{lev}__data"] = m.data
                    out[f"{nm}{lev}__indices"] = m.indices.astype(np.int64)
                    out[f"{nm}{lev}__indptr"] = m.indptr.astype(np.int64)
                    out[f"{nm}{lev}__shape"] = np.asarray(m.shape, dtype=np.int64)
        return out

    @classmethod
    def _from_arrays(cls, arrays: dict, meta: dict, *, V_original=None, name=None) -> MeshData:
        from ..geometry.normalize import Normalization

        kw = {n: arrays[n] for n in _MD_DENSE if n in arrays}
        for n in _MD_SPARSE:
            if f"{n}__data" in arrays:
                shape = tuple(int(s) for s in arrays[f"{n}__shape"])
                kw[n] = sp.csr_matrix((arrays[f"{n}__data"], arrays[f"{n}__indices"], arrays[f"{n}__indptr"]),
                                      shape=shape)
        for n in ("patch_radius", "lambda_max"):
            if n in arrays:
                kw[n] = float(arrays[n])
        if "n_levels" in arrays:
            coarse, pool, unpool = [], [], []
            for lev in range(int(arrays["n_levels"])):
                pre = f"level{lev + 1}__"
                sub = {k[len(pre):]: a for k, a in arrays.items() if k.startswith(pre)}
                coarse.append(cls._from_arrays(sub, {"params": meta.get("params", {})}))
                for nm, lst in (("pool", pool), ("unpool", unpool)):
                    shape = tuple(int(x) for x in arrays[f"{nm}{lev}__shape"])
                    lst.append(sp.csr_matrix((arrays[f"{nm}{lev}__data"], arrays[f"{nm}{lev}__indices"],
                                              arrays[f"{nm}{lev}__indptr"]), shape=shape))
            kw.update(coarse=coarse, pool=pool, unpool=unpool)
        norm = meta.get("normalization")
        return cls(**kw, name=name, normalization=None if norm is None else Normalization.from_dict(norm),
                   V_original=V_original, params=meta.get("params", {}), from_cache=True)

    @classmethod
    def from_bundle(cls, bundle, *, patches=None, patch_radius=None, principal_angle=None,
                    name: str | None = None) -> MeshData:
        """Wrap an :class:`~manifold_nets.geometry.OperatorBundle` (and optional ``Patches``).

        ``patch_radius`` (in the units of ``bundle.V``) normalises ``pair_r``; ``None`` means
        one-ring patches: ``ONE_RING_RADIUS_FACTOR ×`` the robust mean edge length.
        """
        from ..geometry.normalize import robust_edge_length

        L = sp.csr_matrix(bundle.L, dtype=np.float64)
        mass = np.asarray(getattr(bundle, "mass", None) if getattr(bundle, "mass", None) is not None
                          else bundle.M.diagonal(), dtype=np.float64)
        get = lambda a: getattr(bundle, a, None)  # noqa: E731
        kw = {}
        if patches is not None:
            edges = np.asarray(patches.edges, dtype=np.int64)
            r = np.asarray(patches.r, dtype=np.float64)
            rad = (float(patch_radius) if patch_radius is not None
                   else ONE_RING_RADIUS_FACTOR * robust_edge_length(bundle.V, bundle.F))
            kw = dict(patch_pairs=edges, pair_r=r, pair_theta=np.asarray(patches.theta, dtype=np.float64),
                      pair_transport=np.asarray(patches.transport, dtype=np.float64), patch_radius=rad)
        gx, gy = get("grad_x"), get("grad_y")
        return cls(
            V=np.asarray(bundle.V, dtype=np.float64), F=np.asarray(bundle.F, dtype=np.int64), L=L, mass=mass,
            evals=None if get("evals") is None else np.asarray(bundle.evals, dtype=np.float64),
            evecs=None if get("evecs") is None else np.asarray(bundle.evecs, dtype=np.float64),
            grad_x=None if gx is None else sp.csr_matrix(gx, dtype=np.float64),
            grad_y=None if gy is None else sp.csr_matrix(gy, dtype=np.float64),
            normals=get("normals"), x_axes=get("x_axes"), y_axes=get("y_axes"),
            principal_angle=None if principal_angle is None else np.asarray(principal_angle, np.float64),
            lambda_max=estimate_lambda_max(L, mass), name=name, **kw,
        )

    def gauge_changed(self, g, levels=None) -> MeshData:
        """The same mesh with every frame rotated by its own angle ``g[i]`` (for tests).

        ``θ_ij ← θ_ij − g_i``, ``ρ_ij ← ρ_ij − g_i + g_j``, tangent coordinates ``z_i ← e^{−i g_i} z_i``
        (so the gradient rows rotate), axes rotate, principal angles shift by ``−g_i``.

        ``levels`` (a list of ``(n_l,)`` angles, one per coarse level; default: no change there)
        rotates the frames of the coarse levels too; the transport angles of the pooling maps
        follow: ``α ← α − g_target + g_source``.
        """
        g = np.asarray(g, dtype=np.float64)
        if g.shape != (self.n_vertices,):
            raise MeshShapeError(f"g: expected shape ({self.n_vertices},) (got {g.shape})")
        coarse = self.coarse or []
        if levels is None:
            levels = [None] * len(coarse)
        levels = list(levels)
        if len(levels) != len(coarse):
            raise MeshShapeError(f"levels: expected {len(coarse)} gauge arrays, one per coarse level "
                                 f"(got {len(levels)})")
        if coarse:
            gs = [g] + [np.zeros(c.n_vertices) if h is None else np.asarray(h, dtype=np.float64)
                        for c, h in zip(coarse, levels)]
            for lev, c in enumerate(coarse):
                if gs[lev + 1].shape != (c.n_vertices,):
                    raise MeshShapeError(f"levels[{lev}]: expected shape ({c.n_vertices},) "
                                         f"(got {gs[lev + 1].shape})")
            ph = [np.exp(-1j * a) for a in gs]
            new_pool = [sp.csr_matrix(sp.diags(ph[lev + 1]) @ P @ sp.diags(ph[lev].conj()))
                        for lev, P in enumerate(self.pool)]
            new_unpool = [sp.csr_matrix(sp.diags(ph[lev]) @ U @ sp.diags(ph[lev + 1].conj()))
                          for lev, U in enumerate(self.unpool)]
            new_coarse = [c.gauge_changed(gs[lev + 1]) for lev, c in enumerate(coarse)]
            out = replace(self, coarse=None, pool=None, unpool=None)
            out = out.gauge_changed(g)
            return replace(out, coarse=new_coarse, pool=new_pool, unpool=new_unpool)
        c, s = np.cos(g), np.sin(g)
        kw = {}
        if self.grad_x is not None:
            kw["grad_x"] = sp.csr_matrix(sp.diags(c) @ self.grad_x + sp.diags(s) @ self.grad_y)
            kw["grad_y"] = sp.csr_matrix(-sp.diags(s) @ self.grad_x + sp.diags(c) @ self.grad_y)
        if self.x_axes is not None:
            xa, ya = self.x_axes, self.y_axes
            kw["x_axes"] = c[:, None] * xa + s[:, None] * ya
            kw["y_axes"] = -s[:, None] * xa + c[:, None] * ya
        if self.patch_pairs is not None:
            i, j = self.patch_pairs[:, 0], self.patch_pairs[:, 1]
            kw["pair_theta"] = self.pair_theta - g[i]
            kw["pair_transport"] = self.pair_transport - g[i] + g[j]
        if self.principal_angle is not None:
            kw["principal_angle"] = self.principal_angle - g
        return replace(self, **kw)

    def permuted(self, perm) -> MeshData:
        """The same mesh with vertex ``perm[i]`` renamed ``i`` (``V_new = V[perm]``; faces keep their order)."""
        perm = np.asarray(perm, dtype=np.int64)
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size)
        P = sp.csr_matrix((np.ones(perm.size), (np.arange(perm.size), perm)), shape=(perm.size,) * 2)
        conj = lambda A: None if A is None else sp.csr_matrix(P @ A @ P.T)  # noqa: E731
        take = lambda a: None if a is None else a[perm]  # noqa: E731
        kw = dict(V=self.V[perm], F=inv[self.F], L=conj(self.L), mass=self.mass[perm], evecs=take(self.evecs),
                  V_original=take(self.V_original),
                  grad_x=conj(self.grad_x), grad_y=conj(self.grad_y), normals=take(self.normals),
                  x_axes=take(self.x_axes), y_axes=take(self.y_axes), principal_angle=take(self.principal_angle))
        if self.patch_pairs is not None:
            kw["patch_pairs"] = inv[self.patch_pairs]
        if self.coarse:
            kw["pool"] = [sp.csr_matrix(Pm @ P.T) for Pm in self.pool[:1]] + list(self.pool[1:])
            kw["unpool"] = [sp.csr_matrix(P @ U) for U in self.unpool[:1]] + list(self.unpool[1:])
        return replace(self, **kw)


def _learning_params(n_vertices: int, *, k, patch_radius, patches, curvature, normalize, operator_kwargs,
                     levels=0, ratio=0.25) -> dict:
    """The checked parameters of :meth:`MeshData.from_mesh` (also the cache parameters).

    ``levels`` / ``ratio`` enter the parameters only when ``levels > 0`` (so the cache keys of
    single-level data are those of earlier versions)."""
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 0:
        raise MeshShapeError(f"levels: expected a non-negative integer (got {levels!r})")
    if levels and not (isinstance(ratio, (int, float, np.floating)) and 0.0 < float(ratio) < 1.0):
        raise MeshShapeError(f"ratio: expected a fraction in (0, 1) (got {ratio!r})")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MeshShapeError(f"k: expected a positive integer (got {k!r})")
    if patch_radius is not None:
        patch_radius = float(patch_radius)
        if not (np.isfinite(patch_radius) and patch_radius > 0):
            raise MeshShapeError(f"patch_radius: expected a positive finite radius or None (got {patch_radius})")
    return {"k": int(max(1, min(int(k), n_vertices))), "patch_radius": patch_radius, "patches": bool(patches),
            "curvature": bool(curvature), "normalize": bool(normalize),
            "one_ring_radius_factor": ONE_RING_RADIUS_FACTOR, "operators": dict(sorted(operator_kwargs.items())),
            **({"levels": int(levels), "ratio": float(ratio), "hierarchy": _HIERARCHY_VERSION} if levels else {})}


#: Bumped when the hierarchy (decimation, maps, coarse-level pipeline) changes: part of the cache key.
_HIERARCHY_VERSION = 2  # 2: coarse levels keep min(k, n_l) eigenpairs (were min(k, n_l − 1))


def _compute_data(cls, Vn, F, *, k, radius, patches, curvature, name, operator_kwargs):
    """The single-level pipeline of :meth:`MeshData.from_mesh` on an already normalised mesh."""
    from .. import geometry as G

    bundle = G.operators(Vn, F, k=k, **operator_kwargs)
    P = G.geodesic_patches(Vn, F, radius=radius) if patches else None
    ang = _principal_angle(Vn, F, bundle) if curvature else None
    if ang is not None and P is not None and len(P.edges):
        # the same direction in the patches' own (intrinsic) angular coordinate, so that
        # θ_ij − angle_i does not depend on which half-edge defines the gauge (face order)
        ang = _principal_angle_in_patch_angles(Vn, np.asarray(P.edges, np.int64),
                                               np.asarray(P.theta, np.float64), bundle.x_axes,
                                               bundle.y_axes, ang)
    out = cls.from_bundle(bundle, patches=P, patch_radius=radius, principal_angle=ang, name=name)
    return out, dict(bundle.params)


def _fine_to_patch_angle(fine, rows, angle):
    """Angles ``angle[e]`` at vertices ``rows[e]`` (projected, in the x / y frame) re-expressed in
    the patches' intrinsic angular coordinate (the gauge the patch convolutions use).

    The direction is located between the two patch edges of its vertex whose projected angles
    bracket it, and its intrinsic angle is interpolated linearly between theirs; under a change
    of the reference half-edge every quantity shifts consistently, so the result follows the
    patches' gauge exactly.  Vertices without patch edges keep the projected angle."""
    if fine.patch_pairs is None or not len(fine.patch_pairs):
        return angle
    i, j = fine.patch_pairs[:, 0], fine.patch_pairs[:, 1]
    nV = fine.n_vertices
    d = fine.V[j] - fine.V[i]
    two_pi = 2 * np.pi
    phi = np.mod(np.arctan2((d * fine.y_axes[i]).sum(1), (d * fine.x_axes[i]).sum(1)), two_pi)
    order = np.lexsort((phi, i))
    i_s, phi_s, th_s = i[order], phi[order], fine.pair_theta[order]
    start = np.searchsorted(i_s, np.arange(nV))
    stop = np.searchsorted(i_s, np.arange(nV), side="right")
    rows = np.asarray(rows, dtype=np.int64)
    a = np.mod(angle, two_pi)
    has = stop[rows] > start[rows]
    r, a_h = rows[has], a[has]
    key = i_s * 8.0 + phi_s  # phi < 2π < 8: one sorted key over all vertices
    pos = np.searchsorted(key, r * 8.0 + a_h)
    after = np.where(pos < stop[r], pos, start[r])
    phi_after = np.where(pos < stop[r], phi_s[np.minimum(pos, len(phi_s) - 1)], phi_s[start[r]] + two_pi)
    before = np.where(pos > start[r], pos - 1, stop[r] - 1)
    phi_before = np.where(pos > start[r], phi_s[np.maximum(pos - 1, 0)], phi_s[stop[r] - 1] - two_pi)
    span_phi = phi_after - phi_before
    frac = np.divide(a_h - phi_before, span_phi, out=np.zeros_like(a_h), where=span_phi > 0)
    span_th = np.mod(th_s[after] - th_s[before], two_pi)
    span_th = np.where(after == before, two_pi, span_th)
    out = np.array(angle, dtype=np.float64, copy=True)
    out[has] = th_s[before] + span_th * frac
    return out


def _transported(M, target, source, *, fine_is_target):
    """``M`` (real csr, target x source) with every entry multiplied by ``e^{iα}`` (complex csr).

    For a pair (fine ``i``, coarse ``c``), ``β`` is the angle of ``c``'s x axis, carried to ``i``
    by the smallest rotation between the normals
    (:func:`~manifold_nets.geometry.level_transport`), in the fine patches' intrinsic angular
    coordinate; unpooling uses ``α = β`` and pooling ``α = −β``.  So the maps follow exactly any
    change of the fine gauge (such as the one a new face order makes), and the coarse levels are
    canonical (:func:`~manifold_nets.geometry.mesh_hierarchy`)."""
    from ..geometry.hierarchy import level_transport

    M = sp.csr_matrix(M, dtype=np.float64)
    M.sort_indices()
    if target.x_axes is None or source.x_axes is None:
        return M.astype(np.complex128)
    rows = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    cols = M.indices
    fine, coarse = (target, source) if fine_is_target else (source, target)
    f_idx, c_idx = (rows, cols) if fine_is_target else (cols, rows)
    beta = level_transport(f_idx, c_idx, fine.normals, fine.x_axes, fine.y_axes, coarse.normals, coarse.x_axes)
    beta = _fine_to_patch_angle(fine, f_idx, beta)
    alpha = beta if fine_is_target else -beta
    return sp.csr_matrix((M.data * np.exp(1j * alpha), M.indices.copy(), M.indptr.copy()), shape=M.shape)


def _attach_hierarchy(out, *, levels, ratio, k, patches, curvature, operator_kwargs) -> None:
    """Fill ``out.coarse / pool / unpool`` from the hierarchy of ``out.V`` (already normalised)."""
    from ..geometry.hierarchy import mesh_hierarchy

    hier = mesh_hierarchy(out.V, out.F, levels=levels, ratio=ratio)
    coarse, pool, unpool = [], [], []
    fine = out
    for lev in hier:
        if lev.decimated:
            kc = int(max(1, min(k, lev.V.shape[0])))  # a small level gets all its eigenpairs
            c, _ = _compute_data(type(out), lev.V, lev.F, k=kc, radius=None, patches=patches,
                                 curvature=curvature, name=None if out.name is None else f"{out.name} (level)",
                                 operator_kwargs=operator_kwargs)
        else:  # the level repeats the previous one: the same data, identity maps
            c = replace(fine, coarse=None, pool=None, unpool=None)
        if lev.decimated:
            pool.append(_transported(lev.pool, c, fine, fine_is_target=False))
            unpool.append(_transported(lev.unpool, fine, c, fine_is_target=True))
        else:  # the same mesh and frames: no rotation
            pool.append(sp.csr_matrix(lev.pool, dtype=np.complex128))
            unpool.append(sp.csr_matrix(lev.unpool, dtype=np.complex128))
        coarse.append(c)
        fine = c
    out.coarse, out.pool, out.unpool = coarse, pool, unpool


def _warn_k_reduced(data, k, name, *, n_vertices=None) -> None:
    """The :class:`~manifold_nets.geometry.spectral.EigenbasisWarning` of a ``k`` reduced to the
    number of eigenpairs a mesh has (worded as :func:`~manifold_nets.geometry.operators` words it):
    ``n_vertices`` before the solve, or the eigenpairs of ``data`` read from the cache."""
    from ..geometry._checked import warn_user
    from ..geometry.spectral import EigenbasisWarning

    what = "vertices"
    if n_vertices is None:
        n_vertices = 0 if data.evals is None else len(data.evals)
        what = "referenced vertices"
    if n_vertices >= int(k):
        return
    who = f" for {name}" if name else ""
    warn_user(f"MeshData: k reduced from {int(k)} to {n_vertices}{who}: the mesh has only {n_vertices} {what}, "
              "so its Laplacian has no more eigenpairs (all of them are computed by a dense solve)",
              EigenbasisWarning)


def _learning_key(V, F, params: dict) -> str:
    from ..geometry.cache import cache_key

    return cache_key("mesh_data", (V, F), params)


def _cache_get(store, key: str, *, V_original, name):
    """The :class:`MeshData` of a valid cache entry, or ``None`` (an unusable one is warned about)."""
    hit = store.get(key)
    if hit is None:
        return None
    arrays, meta = hit
    try:
        V0 = arrays.pop("V_original") if V_original is None else V_original
        return MeshData._from_arrays(arrays, meta, V_original=V0, name=name)
    except (KeyError, ValueError, TypeError) as exc:  # an entry written by other code
        import warnings

        from ..geometry.cache import CacheWarning

        warnings.warn(f"cache entry {store.path(key)} is unusable ({exc}); recomputing it", CacheWarning,
                      stacklevel=3)
        return None


def _principal_angle_in_patch_angles(V, edges, pair_theta, x_axes, y_axes, angle):
    """Principal line-field angle (projected, as _principal_angle returns it) re-expressed in the
    patches' intrinsic angular coordinate, so that θ_ij − angle_i does not depend on the gauge.

    Per vertex, the projected direction is located between the two patch edges whose projected
    angles bracket it and its intrinsic angle is interpolated linearly between theirs; done for the
    direction and its opposite and averaged as a line field (doubled angles)."""
    i, j = edges[:, 0], edges[:, 1]
    nV = V.shape[0]
    d = V[j] - V[i]
    phi = np.arctan2((d * y_axes[i]).sum(1), (d * x_axes[i]).sum(1))
    order = np.lexsort((np.arange(len(i)), i))
    has = np.bincount(i, minlength=nV) > 0
    starts = np.searchsorted(i[order], np.arange(nV))
    res = []
    for a in (angle, angle + np.pi):
        dd = np.mod(phi - a[i], 2 * np.pi)[order]
        s = starts[has]
        after = order[s + _segment_arg(dd, s, np.minimum)]
        before = order[s + _segment_arg(dd, s, np.maximum)]
        da = np.mod(phi[after] - a[has], 2 * np.pi)
        db = 2 * np.pi - np.mod(phi[before] - a[has], 2 * np.pi)
        span = np.mod(pair_theta[after] - pair_theta[before], 2 * np.pi)
        frac = np.divide(db, da + db, out=np.zeros_like(db), where=(da + db) > 0)
        res.append(pair_theta[before] + span * frac)
    out = np.array(angle, dtype=np.float64, copy=True)
    out[has] = 0.5 * np.angle(np.exp(2j * res[0]) + np.exp(2j * (res[1] - np.pi)))
    return out


def _segment_arg(vals, starts, ufunc):
    """Offset (within each segment) of the min / max of ``vals`` over segments starting at ``starts``."""
    ext = ufunc.reduceat(vals, starts)
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(vals)]))
    hit = vals == ext[seg]
    first = np.full(len(starts), -1)
    idx = np.nonzero(hit)[0]
    first_rev = idx[::-1]
    first[seg[first_rev]] = first_rev  # the first hit in each segment wins
    return first - starts


def _principal_angle(V, F, bundle) -> np.ndarray | None:
    """Angle of the first principal curvature direction in each vertex's gauge (mod π).

    Uses ``manifold_nets.geometry.principal_curvatures`` when the geometry layer provides it;
    otherwise fits the height function ``h ≈ a u² + b uv + c v²`` of the one-ring over each
    vertex's tangent plane (least squares, vectorised) and takes the eigenvector of the
    largest eigenvalue of the fitted shape operator ``−[[2a, b], [b, 2c]]`` (same sign
    convention: the direction of largest curvature, a line field).
    """
    from .. import geometry as G

    if bundle.x_axes is None:
        return None
    fn = getattr(G, "principal_curvatures", None)
    if fn is not None:
        out = fn(V, F)
        d1 = getattr(out, "d1", None)
        if d1 is None and isinstance(out, tuple):
            d1 = next((np.asarray(a) for a in out if np.ndim(a) == 2 and np.shape(a) == (V.shape[0], 3)), None)
        if d1 is not None:
            d1 = np.asarray(d1, dtype=np.float64)
            return np.arctan2((d1 * bundle.y_axes).sum(1), (d1 * bundle.x_axes).sum(1))
    nV = V.shape[0]
    e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    e = np.unique(np.concatenate([e, e[:, ::-1]]), axis=0)
    i, j = e[:, 0], e[:, 1]
    d = V[j] - V[i]
    u = (d * bundle.x_axes[i]).sum(1)
    v = (d * bundle.y_axes[i]).sum(1)
    h = (d * bundle.normals[i]).sum(1)
    A = np.stack([u * u, u * v, v * v], 1)
    AtA = np.zeros((nV, 3, 3))
    Atb = np.zeros((nV, 3))
    np.add.at(AtA, i, A[:, :, None] * A[:, None, :])
    np.add.at(Atb, i, A * h[:, None])
    scale = np.trace(AtA, axis1=1, axis2=2)[:, None, None] + 1e-300
    coef = np.linalg.solve(AtA + 1e-9 * scale * np.eye(3), Atb[..., None])[..., 0]
    a, b, c = coef[:, 0], coef[:, 1], coef[:, 2]
    # shape operator −[[2a, b], [b, 2c]] (curvature positive where the surface bends away from the
    # normal, as in geometry.principal_curvatures); its largest-eigenvalue eigenvector has angle
    # ½ atan2(−2b, −(2a − 2c))
    return 0.5 * np.arctan2(-2 * b, -(2 * a - 2 * c))


def _as_arrays(m, i: int):
    """``(V, F, name)`` of element ``i`` of ``MeshBatch.from_meshes`` (not a path): a Mesh or a (V, F) pair."""
    if hasattr(m, "V") and hasattr(m, "F"):
        return m.V, m.F, getattr(m, "name", None) or f"Mesh #{i}"
    if isinstance(m, (tuple, list)) and len(m) == 2:
        return m[0], m[1], f"(V, F) #{i}"
    raise MeshShapeError(f"meshes[{i}]: expected a path, a Mesh or a (V, F) pair (got {type(m).__name__}"
                         f"{' of length ' + str(len(m)) if isinstance(m, (tuple, list)) else ''})")


def _check_dtype(dtype) -> None:
    """``dtype`` must be a floating torch dtype (integer operators would be truncated)."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise MeshShapeError(f"dtype: expected a floating torch dtype such as torch.float32 or torch.float64 "
                             f"(got {dtype!r})")


def _check_representable(d: MeshData, dtype, b: int) -> None:
    """Refuse a mesh whose operators leave the normal range of ``dtype`` (overflow to inf, or
    underflow to subnormals / zero), instead of batching NaN features.

    Checked: every floating array (its largest magnitude), and the quantities that scale with
    the mesh size — the mean vertex area and the total area (``∝ s²``), the positive eigenvalues
    and ``λ_max`` (``∝ s⁻²``), the largest squared eigenvector entry (``∝ s⁻²``, the HKS / WKS
    use it) — against ``[tiny · REPRESENTABLE_MARGIN, max / REPRESENTABLE_MARGIN]``.  float64 is not checked: the coordinate cap
    of :mod:`manifold_nets.validation` keeps every float64 field in range."""
    fi = torch.finfo(dtype)
    if fi.max >= np.finfo(np.float64).max:
        return
    lo, hi = fi.tiny * REPRESENTABLE_MARGIN, fi.max / REPRESENTABLE_MARGIN

    def fail(field_name, got):
        who = f"meshes[{b}]" + (f" ({d.name})" if d.name else "")
        raise NonFiniteError(
            f"{who}: {field_name}: expected magnitudes in [{lo:.3g}, {hi:.3g}] for {dtype} (its normal range "
            f"[{fi.tiny:.3g}, {fi.max:.3g}] with a margin of {REPRESENTABLE_MARGIN:g}) (got {got}); build the "
            f"batch with normalize=True (unit area, the default) or dtype=torch.float64")

    def biggest(a):
        a = a.data if sp.issparse(a) else np.asarray(a)
        return float(np.abs(a).max(initial=0.0)) if np.issubdtype(a.dtype, np.inexact) else 0.0

    top = {name: biggest(getattr(d, name)) for name in _MD_DENSE + _MD_SPARSE + ("lambda_max", "patch_radius")
           if name not in ("F", "patch_pairs") and getattr(d, name, None) is not None}
    if d.normalization is not None:
        top["center"] = biggest(d.normalization.center)
    for name, m in top.items():
        if m > hi:
            fail(name, f"|values| up to {m:.3g}")
    m = np.asarray(d.mass, dtype=np.float64)
    area, n_ref = float(m.sum()), int((m > 0).sum())
    if n_ref and not lo <= area / n_ref:
        fail("mass", f"a mean vertex area of {area / n_ref:.3g}")
    if area > hi:
        fail("mass", f"a total area of {area:.3g}")
    if d.evals is not None and len(d.evals):
        from ..geometry.descriptors import positive_eigenvalues

        pos = np.asarray(d.evals, dtype=np.float64)[positive_eigenvalues(d.evals)]
        if pos.size and pos.min() < lo:
            fail("evals", f"a smallest positive eigenvalue of {pos.min():.3g}")
        phi2 = top.get("evecs", 1.0) ** 2
        if not lo <= phi2 <= hi:
            fail("evecs", f"a largest squared entry of {phi2:.3g}")


#: :func:`_check_representable` keeps the operators of a batch this factor inside the normal
#: range of its dtype (products of two fields, such as ``λ t`` or ``φ² · mass``, stay in range).
REPRESENTABLE_MARGIN = 1e2


def _block_operator(mats, dtype, device) -> SparseOperator:
    """The block-diagonal :class:`SparseOperator` of per-mesh matrices.  On CPU in float32/64 it holds
    the scipy matrix only (torch's CSR arrays, and the transpose's, are made on first use; scipy's
    kernels use the free CSC view for the transpose), as the layers' own operators do."""
    A = block_diag_csr(mats)
    if (device is None or torch.device(device).type == "cpu") and dtype in (torch.float32, torch.float64):
        return SparseOperator(None, _scipy=A.astype(np.float32 if dtype == torch.float32 else np.float64, copy=False))
    return SparseOperator(A, dtype=dtype, device=device)


class MeshBatch:
    """A batch of ``B`` meshes of different sizes, as torch tensors on one device.

    Build with :meth:`from_meshes`, :meth:`from_bundles` or :meth:`from_data` (``collate``).

    Attributes
    ----------
    pos : (N, 3)
        Vertex positions stacked along vertices (``N = Σ nV_b``).
    faces : (F_total, 3) int64
        Faces with global vertex indices.
    batch : (N,) int64
        Mesh index of each vertex.  ``face_batch (F_total,)`` likewise for faces.
    ptr, face_ptr : (B + 1,) int64
        Offsets of each mesh's vertices / faces.
    mass : (N,)
        Lumped mass.
    L, grad_x, grad_y : SparseOperator (N, N)
        Block-diagonal Laplacian and tangent-gradient components.
    evals : (B, K)
        Eigenvalues, zero-padded where a mesh has fewer than ``K`` (see ``eval_mask``).
    evecs : (N, K)
        Eigenvectors stacked along vertices (zero columns past each mesh's own ``k``); per-mesh
        products use :meth:`evecs_split` (no padding of the vertex dimension is multiplied).
    sizes, face_sizes : list of int
        Vertices / faces per mesh (Python ints, so splitting needs no device sync).
    pad_index : (N,) int64
        Position of each vertex in the flattened ``(B * n_max)`` padded layout (:meth:`to_padded`).
    patch_pairs : (E, 2) int64
        Geodesic-patch pairs ``(centre, neighbour)`` (global indices; not mesh edges), ``pair_r``, ``pair_theta``, ``pair_transport`` ``(E,)``,
        ``pair_batch (E,)``; ``patch_radius (B,)``.
    lambda_max : (B,)
        Largest-eigenvalue estimate of ``M⁻¹L`` per mesh.
    normalization : list of Normalization or None
        Per mesh, the map from the input mesh to :attr:`pos` (``None``: not normalised); the
        input positions are ``data[b].V_original``.
    scale, center : (B,), (B, 3)
        The normalisation factors (``pos = (V_input − center) · scale``; 1 and 0 when not
        normalised): lengths in :attr:`pos` units divide by ``scale`` to get input units.
    principal_angle : (N,) or None
        First principal direction in the vertex gauge.
    data : list of MeshData
        The per-mesh sources (for :meth:`mesh` / splitting).
    levels : list of MeshBatch
        The coarse levels (batches of ``data[b].coarse[l]``; empty unless built with ``levels > 0``),
        reached with :meth:`level`; :meth:`pool` / :meth:`unpool` map features between consecutive
        levels with block-diagonal maps (``level_maps[l]["pool" | "unpool"]``: rows, cols, weights,
        transport angles, shape).
    """

    def __init__(self, **tensors):
        for k, v in tensors.items():
            setattr(self, k, v)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_meshes(cls, meshes, *, k: int = 128, cache_dir=None, patch_radius=None, patches: bool = True,
                    curvature: bool = True, normalize: bool = True, levels: int = 0, ratio: float = 0.25,
                    dtype=torch.float32, device=None, **operator_kwargs) -> MeshBatch:
        """Compute (or read from the cache) the operators of each mesh and batch them.

        Parameters
        ----------
        meshes : sequence of paths, :class:`~manifold_nets.Mesh` or ``(V, F)`` pairs
            Paths (``str`` / ``os.PathLike``) are read with :func:`manifold_nets.read_mesh`;
            the kinds may be mixed.
        k : int
            Eigenpairs per mesh: a mesh with fewer (referenced) vertices gets all of its
            eigenpairs and an :class:`~manifold_nets.geometry.spectral.EigenbasisWarning` saying so; see
            :meth:`MeshData.from_mesh` about a ``k`` that ends inside a repeated eigenvalue.
        cache_dir : path, optional
            Learning cache (operators, patches, principal angles, ``λ_max``), see
            :meth:`MeshData.from_mesh`.
        patch_radius : float, optional
            Geodesic patch radius in the units of the input meshes (``None``: one-ring).
        patches, curvature : bool
            Whether to compute geodesic patches / principal directions.
        normalize : bool
            Normalise each mesh for learning (centred, unit area); :attr:`pos` then holds the
            normalised positions and :attr:`normalization` / :attr:`scale` the factors.
        levels, ratio : int, float
            Coarse levels of the mesh hierarchy (for multiscale models; ``0``: none) and the
            fraction of vertices kept per level, see :meth:`MeshData.from_mesh`; the coarse
            meshes are :meth:`level` ``(l)`` and :meth:`pool` / :meth:`unpool` map between them.
        dtype : torch.dtype
        device : torch.device or str, optional

        Raises
        ------
        MeshShapeError
            An element is neither a path, a ``Mesh`` nor a ``(V, F)`` pair (the message names it).
        MeshError
            A file that cannot be read, or invalid arrays (the message names the element).
        """
        import os

        from ..errors import MeshError

        _check_dtype(dtype)
        single = (isinstance(meshes, (str, bytes, os.PathLike)) or (hasattr(meshes, "V") and hasattr(meshes, "F"))
                  or (isinstance(meshes, tuple) and len(meshes) == 2 and isinstance(meshes[0], np.ndarray)
                      and meshes[0].ndim == 2))
        if single or not hasattr(meshes, "__iter__"):
            hint = " (wrap a single mesh in a list)" if single else ""
            raise MeshShapeError(f"meshes: expected a list of paths, Meshes or (V, F) pairs{hint} "
                                 f"(got {'a single ' if single else ''}{type(meshes).__name__})")
        data = []
        common = dict(k=k, cache_dir=cache_dir, patch_radius=patch_radius, patches=patches, curvature=curvature,
                      normalize=normalize, levels=levels, ratio=ratio, **operator_kwargs)
        for i, m in enumerate(meshes):
            name = None
            try:
                if isinstance(m, (str, os.PathLike)):
                    name = str(m)
                    data.append(MeshData.from_path(m, **common))
                else:
                    V, F, name = _as_arrays(m, i)
                    data.append(MeshData.from_mesh(V, F, name=name, **common))
            except (MeshError, SolverError) as exc:
                if str(exc).startswith("meshes["):
                    raise
                raise type(exc)(f"meshes[{i}] ({name}): {exc}") from exc
        return cls.from_data(data, dtype=dtype, device=device)

    @classmethod
    def from_bundles(cls, bundles, *, patches=None, patch_radius=None, principal_angles=None,
                     dtype=torch.float32, device=None) -> MeshBatch:
        """Batch precomputed operator bundles (and optional ``Patches``, one per bundle)."""
        _check_dtype(dtype)
        n = len(bundles)
        patches = [None] * n if patches is None else list(patches)
        angs = [None] * n if principal_angles is None else list(principal_angles)
        data = [MeshData.from_bundle(b, patches=p, patch_radius=patch_radius, principal_angle=a)
                for b, p, a in zip(bundles, patches, angs)]
        return cls.from_data(data, dtype=dtype, device=device)

    @classmethod
    def from_data(cls, data, *, dtype=torch.float32, device=None) -> MeshBatch:
        """Batch a list of :class:`MeshData`.

        Raises
        ------
        MeshShapeError
            No mesh, or a ``dtype`` that is not a floating torch dtype.
        NonFiniteError
            A mesh whose operators do not fit ``dtype``: magnitudes beyond its largest value, or
            so small that they would become subnormal or zero (a mesh of size 1e19 in float32
            with ``normalize=False`` has areas above 3.4e38); the message names the mesh.
        """
        _check_dtype(dtype)
        data = list(data)
        if not data:
            raise MeshShapeError("meshes: expected at least one mesh (got an empty list)")
        for b, d in enumerate(data):
            _check_representable(d, dtype, b)
        kw = dict(dtype=dtype, device=device)
        t = lambda a: torch.as_tensor(np.asarray(a), **kw)  # noqa: E731
        ti = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64), device=device)  # noqa: E731
        nv = np.array([d.n_vertices for d in data])
        nf = np.array([d.F.shape[0] for d in data])
        ptr = np.concatenate([[0], np.cumsum(nv)])
        fptr = np.concatenate([[0], np.cumsum(nf)])
        B = len(data)
        norms = [d.normalization for d in data]
        out = dict(
            data=data, dtype=dtype, normalization=norms,
            scale=t([1.0 if n is None else n.scale for n in norms]),
            center=t(np.stack([np.zeros(3) if n is None else n.center for n in norms])),
            pos=t(np.concatenate([d.V for d in data])),
            faces=ti(np.concatenate([d.F + o for d, o in zip(data, ptr[:-1])])),
            batch=ti(np.repeat(np.arange(B), nv)),
            face_batch=ti(np.repeat(np.arange(B), nf)),
            ptr=ti(ptr), face_ptr=ti(fptr),
            mass=t(np.concatenate([d.mass for d in data])),
            L=_block_operator([d.L for d in data], **kw),
            L_diag=t(np.concatenate([d.L.diagonal() for d in data])),
            lambda_max=t([d.lambda_max if d.lambda_max is not None else estimate_lambda_max(d.L, d.mass)
                          for d in data]),
        )
        if all(d.grad_x is not None for d in data):
            out["grad_x"] = _block_operator([d.grad_x for d in data], **kw)
            out["grad_y"] = _block_operator([d.grad_y for d in data], **kw)
        else:
            out["grad_x"] = out["grad_y"] = None
        for name in ("normals", "x_axes", "y_axes", "principal_angle"):
            vals = [getattr(d, name) for d in data]
            out[name] = t(np.concatenate(vals)) if all(v is not None for v in vals) else None
        # eigenbases: stacked along vertices (N, K), zero columns past each mesh's own k
        if all(d.evecs is not None for d in data):
            K = max(d.evecs.shape[1] for d in data)
            ev = np.zeros((B, K))
            mask = np.zeros((B, K), dtype=bool)
            Phi = np.zeros((int(ptr[-1]), K))
            for b, d in enumerate(data):
                kb = d.evecs.shape[1]
                ev[b, :kb] = d.evals
                mask[b, :kb] = True
                Phi[ptr[b]:ptr[b + 1], :kb] = d.evecs
            out.update(evals=t(ev), eval_mask=torch.as_tensor(mask, device=device), evecs=t(Phi))
        else:
            out.update(evals=None, eval_mask=None, evecs=None)
        nmax = int(nv.max())
        local = np.arange(ptr[-1]) - np.repeat(ptr[:-1], nv)
        out["pad_index"] = ti(np.repeat(np.arange(B), nv) * nmax + local)
        out["n_max"] = nmax
        out["sizes"] = [int(n) for n in nv]
        out["face_sizes"] = [int(n) for n in nf]
        # patches
        if all(d.patch_pairs is not None for d in data):
            ne = np.array([d.patch_pairs.shape[0] for d in data])
            out.update(
                patch_pairs=ti(np.concatenate([d.patch_pairs + o for d, o in zip(data, ptr[:-1])])),
                pair_r=t(np.concatenate([d.pair_r for d in data])),
                pair_theta=t(np.concatenate([d.pair_theta for d in data])),
                pair_transport=t(np.concatenate([d.pair_transport for d in data])),
                pair_batch=ti(np.repeat(np.arange(B), ne)),
                pair_ptr=ti(np.concatenate([[0], np.cumsum(ne)])),
                patch_radius=t([d.patch_radius for d in data]),
            )
        else:
            out.update(patch_pairs=None, pair_r=None, pair_theta=None, pair_transport=None, pair_batch=None,
                       pair_ptr=None, patch_radius=None)
        # mesh hierarchy: coarse sub-batches and block-diagonal maps between consecutive levels
        n_levels = min(len(d.coarse or []) for d in data)
        out["levels"], out["level_maps"] = [], []
        for lev in range(n_levels):
            out["levels"].append(MeshBatch.from_data([d.coarse[lev] for d in data], dtype=dtype, device=device))
            maps = {}
            for nm in ("pool", "unpool"):
                m = sp.coo_matrix(sp.block_diag([getattr(d, nm)[lev] for d in data], format="csr"))
                maps[nm] = (ti(m.row), ti(m.col), t(np.abs(m.data)), t(np.angle(m.data)), tuple(m.shape))
            out["level_maps"].append(maps)
        return cls(**out)

    # ------------------------------------------------------------------ properties
    @property
    def num_meshes(self) -> int:
        return len(self.data)

    def __len__(self) -> int:
        return self.num_meshes

    @property
    def num_vertices(self) -> int:
        return int(self.pos.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def device(self) -> torch.device:
        return self.pos.device

    @property
    def has_patches(self) -> bool:
        return self.patch_pairs is not None

    @property
    def num_levels(self) -> int:
        """Number of coarse levels (``0`` unless built with ``levels > 0``)."""
        return len(getattr(self, "levels", None) or [])

    def level(self, lev: int) -> MeshBatch:
        """The batch of the level-``lev`` meshes (``0``: this batch; ``1 .. num_levels``: coarse)."""
        if isinstance(lev, bool) or not isinstance(lev, (int, np.integer)) or not 0 <= lev <= self.num_levels:
            raise MeshShapeError(f"level: expected an integer in [0, {self.num_levels}] (got {lev!r}); build the "
                                 f"batch with MeshBatch.from_meshes(..., levels=L) for L coarse levels")
        return self if lev == 0 else self.levels[lev - 1]

    def pool(self, x: torch.Tensor, level: int = 0, irreps=None) -> torch.Tensor:
        """Level ``level`` -> ``level + 1``: mass-weighted mean over the fine vertices of each coarse vertex.

        ``irreps`` (an :class:`~manifold_nets.nn.Irreps`) transports every fine vector to the
        coarse vertex's gauge first (order-``n`` blocks rotated by ``n α``), which keeps the map
        gauge-equivariant; ``None``: scalar channels.

        Shapes: x ``(N_level, *)`` -> ``(N_{level+1}, *)``.
        """
        return self._apply_level_map(x, level, "pool", irreps)

    def unpool(self, x: torch.Tensor, level: int = 1, irreps=None) -> torch.Tensor:
        """Level ``level`` -> ``level − 1``: interpolation of the coarse values (transported for ``irreps``).

        Shapes: x ``(N_level, *)`` -> ``(N_{level−1}, *)``.
        """
        return self._apply_level_map(x, level - 1, "unpool", irreps)

    def _apply_level_map(self, x, lev, which, irreps):
        if isinstance(lev, bool) or not isinstance(lev, (int, np.integer)) or not 0 <= lev < self.num_levels:
            raise MeshShapeError(f"level: expected a map between levels in [0, {self.num_levels}] (got {which} at "
                                 f"level {lev + (1 if which == 'unpool' else 0)}); build the batch with "
                                 f"MeshBatch.from_meshes(..., levels=L)")
        rows, cols, w, ang, shape = self.level_maps[lev][which]
        if x.shape[0] != shape[1]:
            raise MeshShapeError(f"x: expected {shape[1]} rows for {which} at level "
                                 f"{lev + (1 if which == 'unpool' else 0)} (got {x.shape[0]})")
        v = x[cols]
        if irreps is not None and any(n > 0 for _, n in irreps):
            v = _rotate_blocks(v, irreps, ang.to(x.dtype))
        v = v * w.to(x.dtype).view(-1, *([1] * (x.dim() - 1)))
        return x.new_zeros((shape[0],) + tuple(x.shape[1:])).index_add_(0, rows, v)

    @property
    def evecs_padded(self) -> torch.Tensor:
        """Eigenvectors per mesh, zero-padded: ``(B, n_max, K)``."""
        return self.to_padded(self.evecs)

    def evecs_split(self) -> tuple:
        """Per-mesh views ``(nV_b, K)`` of :attr:`evecs`."""
        return torch.split(self.evecs, self.sizes, dim=0)

    def __repr__(self) -> str:
        nv = self.sizes
        K = None if self.evals is None else self.evals.shape[1]
        E = None if self.patch_pairs is None else int(self.patch_pairs.shape[0])
        return (f"MeshBatch(meshes={self.num_meshes}, vertices={nv}, faces={self.num_faces}, k={K}, "
                f"patch_pairs={E}, dtype={self.dtype}, device={self.device})")

    # ------------------------------------------------------------------ layout helpers
    def to_padded(self, x: torch.Tensor) -> torch.Tensor:
        """Stacked ``(N, *)`` -> padded ``(B, n_max, *)`` (zeros in the padding; differentiable)."""
        B = self.num_meshes
        out = x.new_zeros((B * self.n_max,) + tuple(x.shape[1:]))
        out = out.index_copy(0, self.pad_index, x)
        return out.reshape((B, self.n_max) + tuple(x.shape[1:]))

    def from_padded(self, xp: torch.Tensor) -> torch.Tensor:
        """Padded ``(B, n_max, *)`` -> stacked ``(N, *)``."""
        return xp.reshape((-1,) + tuple(xp.shape[2:]))[self.pad_index]

    def split(self, x: torch.Tensor, *, on: str = "vertices") -> list:
        """Split a stacked tensor into per-mesh tensors (``on="vertices"``, ``"faces"`` or ``"pairs"``)."""
        if on == "pairs":
            sizes = (self.pair_ptr[1:] - self.pair_ptr[:-1]).tolist()
        else:
            sizes = {"vertices": self.sizes, "faces": self.face_sizes}[on]
        return list(torch.split(x, sizes, dim=0))

    def mesh(self, b: int) -> MeshBatch:
        """A batch holding only mesh ``b`` (same dtype and device)."""
        return MeshBatch.from_data([self.data[b]], dtype=self.dtype, device=self.device)

    def unbatch(self) -> list:
        """One single-mesh :class:`MeshBatch` per mesh."""
        return [self.mesh(b) for b in range(self.num_meshes)]

    def to(self, device=None, dtype=None) -> MeshBatch:
        """Copy to ``device`` (and floating tensors to ``dtype``, a floating torch dtype)."""
        if dtype is not None:
            _check_dtype(dtype)
            for b, d in enumerate(self.data):
                _check_representable(d, dtype, b)
        out = {}
        for k, v in self.__dict__.items():
            if k == "_cache":
                continue
            if k == "levels":
                out[k] = [b.to(device=device, dtype=dtype) for b in v]
                continue
            if k == "level_maps":
                def mv(a):
                    return a.to(device=device, dtype=dtype if dtype is not None and a.is_floating_point() else a.dtype)
                out[k] = [{nm: tuple(mv(a) for a in m[:4]) + (m[4],) for nm, m in maps.items()} for maps in v]
                continue
            if isinstance(v, SparseOperator):
                out[k] = v.to(device=device, dtype=dtype)
            elif isinstance(v, torch.Tensor):
                if dtype is not None and v.is_floating_point():
                    v = v.to(dtype)
                out[k] = v.to(device) if device is not None else v
            else:
                out[k] = v
        if dtype is not None:
            out["dtype"] = dtype
        return MeshBatch(**out)

    def gauge_changed(self, g, levels=None) -> MeshBatch:
        """Rebuild the batch with every vertex frame rotated by ``g`` ``(N,)`` (for equivariance tests).

        ``levels``: optional gauge changes of the coarse levels, one ``(N_l,)`` array per level
        (default: their frames are kept); the transport angles of the pooling maps follow.
        """
        def conv(a):
            return np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
        g = conv(g)
        p = self.ptr.cpu().numpy()
        if levels is not None:
            levels = list(levels)
            if len(levels) != self.num_levels:
                raise MeshShapeError(f"levels: expected {self.num_levels} gauge arrays (got {len(levels)})")
            lp = [self.level(lev + 1).ptr.cpu().numpy() for lev in range(self.num_levels)]
            lg = [conv(a) for a in levels]
        data = []
        for b, d in enumerate(self.data):
            per = None if levels is None else [a[q[b]:q[b + 1]] for a, q in zip(lg, lp)]
            if per is not None and len(d.coarse or []) > self.num_levels:
                per = per + [None] * (len(d.coarse) - self.num_levels)
            data.append(d.gauge_changed(g[p[b]:p[b + 1]], levels=per))
        return MeshBatch.from_data(data, dtype=self.dtype, device=self.device)

    # ------------------------------------------------------------------ pooling helpers
    def vertex_to_face(self, x: torch.Tensor) -> torch.Tensor:
        """Average of the three corner values: ``(N, *)`` -> ``(F_total, *)``."""
        return (x[self.faces[:, 0]] + x[self.faces[:, 1]] + x[self.faces[:, 2]]) / 3.0

    def global_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Mass-weighted mean per mesh: ``(N, C)`` -> ``(B, C)``.

        The weights are divided by their mesh's total first, so ``x · mass`` cannot overflow
        (float32 positions of a mesh of size 1e13 times its vertex areas would)."""
        w = self.mass.to(x.dtype)
        den = x.new_zeros(self.num_meshes).index_add_(0, self.batch, w)
        w = w / den[self.batch]
        return x.new_zeros((self.num_meshes,) + tuple(x.shape[1:])).index_add_(
            0, self.batch, x * w.view(-1, *([1] * (x.dim() - 1))))


def _rotate_blocks(x: torch.Tensor, irreps, angle: torch.Tensor) -> torch.Tensor:
    """``rotate_irreps`` of :mod:`manifold_nets.nn.gauge` (which imports this module): every
    order-``n`` pair of the ``(multiplicity, order)`` blocks is multiplied by ``e^{i n angle}``.

    Shapes: x ``(n, dim)``, angle ``(n,)`` -> ``(n, dim)``."""
    parts, s = [], 0
    for m, n in irreps:
        if n == 0:
            parts.append(x[:, s:s + m])
            s += m
            continue
        blk = x[:, s:s + 2 * m].reshape(-1, m, 2)
        s += 2 * m
        c, si = torch.cos(n * angle).unsqueeze(-1), torch.sin(n * angle).unsqueeze(-1)
        re, im = blk[..., 0], blk[..., 1]
        parts.append(torch.stack([c * re - si * im, si * re + c * im], -1).reshape(-1, 2 * m))
    if s != x.shape[1]:
        raise MeshShapeError(f"x: expected {s} columns for irreps {irreps!r} (got {x.shape[1]})")
    return torch.cat(parts, dim=-1)


def collate(items):
    """``collate_fn`` for :class:`torch.utils.data.DataLoader`.

    Each item is a :class:`MeshData` or a tuple whose first element is a :class:`MeshData`
    followed by per-vertex (or per-face / per-mesh) tensors or arrays.  Returns a
    :class:`MeshBatch` (float32), or a tuple ``(batch, *fields)`` where each field is the
    concatenation along the first dimension (per-mesh 0-d values are stacked).
    """
    items = list(items)
    if isinstance(items[0], MeshData):
        return MeshBatch.from_data(items)
    data = [it[0] for it in items]
    batch = MeshBatch.from_data(data)
    rest = []
    for col in zip(*[it[1:] for it in items]):
        ts = [torch.as_tensor(c) for c in col]
        if ts[0].is_floating_point():
            ts = [c.to(torch.float32) for c in ts]
        rest.append(torch.stack(ts) if ts[0].dim() == 0 else torch.cat(ts, 0))
    return (batch, *rest)
