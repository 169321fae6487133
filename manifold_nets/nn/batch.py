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
``edges[e, 1]`` (in its gauge) to the gauge of ``edges[e, 0]``: ``z_i = exp(i ρ_ij) z_j``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from ..errors import MeshShapeError
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

_MD_DENSE = ("V", "F", "mass", "evals", "evecs", "normals", "x_axes", "y_axes", "edges", "edge_r", "edge_theta",
             "edge_transport", "principal_angle")
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
    edges : (m, 2) int64
        Patch edges ``(centre i, neighbour j)``.
    edge_r, edge_theta, edge_transport : (m,)
        Geodesic distance, angle of ``j`` in ``i``'s gauge, transport angle ``ρ_ij``.
    patch_radius : float
        Radius that normalises ``edge_r``: the patch radius (in the units of :attr:`V`), or for
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
    edges: np.ndarray | None = None
    edge_r: np.ndarray | None = None
    edge_theta: np.ndarray | None = None
    edge_transport: np.ndarray | None = None
    patch_radius: float | None = None
    principal_angle: np.ndarray | None = None
    lambda_max: float | None = None
    name: str | None = field(default=None, compare=False)
    normalization: object | None = field(default=None, compare=False)
    V_original: np.ndarray | None = field(default=None, compare=False, repr=False)
    params: dict = field(default_factory=dict, compare=False)
    from_cache: bool = field(default=False, compare=False)

    @property
    def n_vertices(self) -> int:
        return int(self.V.shape[0])

    @classmethod
    def from_mesh(cls, V, F, *, k: int = 128, cache_dir=None, patch_radius=None, patches: bool = True,
                  curvature: bool = True, name: str | None = None, normalize: bool = True,
                  **operator_kwargs) -> MeshData:
        """Compute (or read from the cache) the operator bundle, patches and principal directions.

        Parameters
        ----------
        V, F : array_like
            The mesh, ``(nV, 3)`` float64 and ``(nF, 3)`` int64.
        k : int
            Number of eigenpairs (clamped to ``nV - 1``).
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
        **operator_kwargs
            Passed to :func:`manifold_nets.geometry.operators` (``laplacian``, ``mass``, ...).
        """
        from .. import geometry as G
        from ..geometry.cache import ArrayCache
        from ..geometry.normalize import Normalization, normalize_for_learning
        from ..validation import check_mesh_arrays

        V_in, F = check_mesh_arrays(V, F)
        params = _learning_params(V_in.shape[0], k=k, patch_radius=patch_radius, patches=patches,
                                  curvature=curvature, normalize=normalize, operator_kwargs=operator_kwargs)
        patch_radius = params["patch_radius"]
        k_eff = params["k"]
        store = key = None
        if cache_dir is not None:
            store = ArrayCache(cache_dir)
            key = _learning_key(V_in, F, params)
            hit = _cache_get(store, key, V_original=V_in, name=name)
            if hit is not None:
                return hit
        if normalize:
            Vn, norm = normalize_for_learning(V_in, F)
        else:
            Vn, norm = V_in, Normalization.identity()
        bundle = G.operators(Vn, F, k=k_eff, **operator_kwargs)
        radius = None if patch_radius is None else patch_radius * norm.scale
        P = G.geodesic_patches(Vn, F, radius=radius) if patches else None
        ang = _principal_angle(Vn, F, bundle) if curvature else None
        if ang is not None and P is not None and len(P.edges):
            # the same direction in the patches' own (intrinsic) angular coordinate, so that
            # θ_ij − angle_i does not depend on which half-edge defines the gauge (face order)
            ang = _principal_angle_in_patch_angles(Vn, np.asarray(P.edges, np.int64),
                                                   np.asarray(P.theta, np.float64), bundle.x_axes,
                                                   bundle.y_axes, ang)
        out = cls.from_bundle(bundle, patches=P, patch_radius=radius, principal_angle=ang, name=name)
        out.normalization = norm if normalize else None
        out.V_original = V_in
        out.params = {**params, "operators": dict(bundle.params)}
        if store is not None:
            arrays = out._to_arrays()
            arrays["V_original"] = V_in
            store.put(key, arrays, meta={"params": out.params,
                                         "normalization": None if not normalize else norm.to_dict()})
        return out

    @classmethod
    def from_path(cls, path, *, k: int = 128, cache_dir=None, patch_radius=None, patches: bool = True,
                  curvature: bool = True, name: str | None = None, normalize: bool = True,
                  **operator_kwargs) -> MeshData:
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
                  **operator_kwargs)
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
        index_key = None if raw is None else cache_key("mesh_file", (raw,), request)
        if index_key is not None:
            index = store.get(index_key)
            if index is not None and isinstance(index[1].get("target"), str):
                hit = _cache_get(store, index[1]["target"], V_original=None, name=name)
                if hit is not None:
                    return hit
        mesh = read_mesh(path)
        out = cls.from_mesh(mesh.V, mesh.F, cache_dir=cache_dir, name=name, **kw)
        if index_key is not None:
            V_in, F_in = np.asarray(mesh.V, dtype=np.float64), np.asarray(mesh.F, dtype=np.int64)
            target = _learning_key(V_in, F_in, _learning_params(V_in.shape[0], k=k, patch_radius=patch_radius,
                                                                patches=patches, curvature=curvature,
                                                                normalize=normalize, operator_kwargs=operator_kwargs))
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
        norm = meta.get("normalization")
        return cls(**kw, name=name, normalization=None if norm is None else Normalization.from_dict(norm),
                   V_original=V_original, params=meta.get("params", {}), from_cache=True)

    @classmethod
    def from_bundle(cls, bundle, *, patches=None, patch_radius=None, principal_angle=None,
                    name: str | None = None) -> MeshData:
        """Wrap an :class:`~manifold_nets.geometry.OperatorBundle` (and optional ``Patches``).

        ``patch_radius`` (in the units of ``bundle.V``) normalises ``edge_r``; ``None`` means
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
            kw = dict(edges=edges, edge_r=r, edge_theta=np.asarray(patches.theta, dtype=np.float64),
                      edge_transport=np.asarray(patches.transport, dtype=np.float64), patch_radius=rad)
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

    def gauge_changed(self, g) -> MeshData:
        """The same mesh with every frame rotated by its own angle ``g[i]`` (for tests).

        ``θ_ij ← θ_ij − g_i``, ``ρ_ij ← ρ_ij − g_i + g_j``, tangent coordinates ``z_i ← e^{−i g_i} z_i``
        (so the gradient rows rotate), axes rotate, principal angles shift by ``−g_i``.
        """
        g = np.asarray(g, dtype=np.float64)
        if g.shape != (self.n_vertices,):
            raise MeshShapeError(f"g: expected shape ({self.n_vertices},) (got {g.shape})")
        c, s = np.cos(g), np.sin(g)
        kw = {}
        if self.grad_x is not None:
            kw["grad_x"] = sp.csr_matrix(sp.diags(c) @ self.grad_x + sp.diags(s) @ self.grad_y)
            kw["grad_y"] = sp.csr_matrix(-sp.diags(s) @ self.grad_x + sp.diags(c) @ self.grad_y)
        if self.x_axes is not None:
            xa, ya = self.x_axes, self.y_axes
            kw["x_axes"] = c[:, None] * xa + s[:, None] * ya
            kw["y_axes"] = -s[:, None] * xa + c[:, None] * ya
        if self.edges is not None:
            i, j = self.edges[:, 0], self.edges[:, 1]
            kw["edge_theta"] = self.edge_theta - g[i]
            kw["edge_transport"] = self.edge_transport - g[i] + g[j]
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
        if self.edges is not None:
            kw["edges"] = inv[self.edges]
        return replace(self, **kw)


def _learning_params(n_vertices: int, *, k, patch_radius, patches, curvature, normalize, operator_kwargs) -> dict:
    """The checked parameters of :meth:`MeshData.from_mesh` (also the cache parameters)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise MeshShapeError(f"k: expected a positive integer (got {k!r})")
    if patch_radius is not None:
        patch_radius = float(patch_radius)
        if not (np.isfinite(patch_radius) and patch_radius > 0):
            raise MeshShapeError(f"patch_radius: expected a positive finite radius or None (got {patch_radius})")
    return {"k": int(max(1, min(int(k), n_vertices - 1))), "patch_radius": patch_radius, "patches": bool(patches),
            "curvature": bool(curvature), "normalize": bool(normalize),
            "one_ring_radius_factor": ONE_RING_RADIUS_FACTOR, "operators": dict(sorted(operator_kwargs.items()))}


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


def _principal_angle_in_patch_angles(V, edges, edge_theta, x_axes, y_axes, angle):
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
        span = np.mod(edge_theta[after] - edge_theta[before], 2 * np.pi)
        frac = np.divide(db, da + db, out=np.zeros_like(db), where=(da + db) > 0)
        res.append(edge_theta[before] + span * frac)
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
    edges : (E, 2) int64
        Patch edges (global indices), ``edge_r``, ``edge_theta``, ``edge_transport`` ``(E,)``,
        ``edge_batch (E,)``; ``patch_radius (B,)``.
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
    """

    def __init__(self, **tensors):
        for k, v in tensors.items():
            setattr(self, k, v)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_meshes(cls, meshes, *, k: int = 128, cache_dir=None, patch_radius=None, patches: bool = True,
                    curvature: bool = True, normalize: bool = True, dtype=torch.float32, device=None,
                    **operator_kwargs) -> MeshBatch:
        """Compute (or read from the cache) the operators of each mesh and batch them.

        Parameters
        ----------
        meshes : sequence of paths, :class:`~manifold_nets.Mesh` or ``(V, F)`` pairs
            Paths (``str`` / ``os.PathLike``) are read with :func:`manifold_nets.read_mesh`;
            the kinds may be mixed.
        k : int
            Eigenpairs per mesh (clamped to ``nV - 1``).
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
        dtype : torch.dtype
        device : torch.device or str, optional

        Raises
        ------
        MeshShapeError
            An element is neither a path, a ``Mesh`` nor a ``(V, F)`` pair (the message names it).
        MeshError
            A file that cannot be read, or invalid arrays (the message names the element).
        """
        from ..errors import MeshError

        import os

        data = []
        common = dict(k=k, cache_dir=cache_dir, patch_radius=patch_radius, patches=patches, curvature=curvature,
                      normalize=normalize, **operator_kwargs)
        for i, m in enumerate(meshes):
            name = None
            try:
                if isinstance(m, (str, os.PathLike)):
                    name = str(m)
                    data.append(MeshData.from_path(m, **common))
                else:
                    V, F, name = _as_arrays(m, i)
                    data.append(MeshData.from_mesh(V, F, name=name, **common))
            except MeshError as exc:
                if str(exc).startswith("meshes["):
                    raise
                raise type(exc)(f"meshes[{i}] ({name}): {exc}") from exc
        return cls.from_data(data, dtype=dtype, device=device)

    @classmethod
    def from_bundles(cls, bundles, *, patches=None, patch_radius=None, principal_angles=None,
                     dtype=torch.float32, device=None) -> MeshBatch:
        """Batch precomputed operator bundles (and optional ``Patches``, one per bundle)."""
        n = len(bundles)
        patches = [None] * n if patches is None else list(patches)
        angs = [None] * n if principal_angles is None else list(principal_angles)
        data = [MeshData.from_bundle(b, patches=p, patch_radius=patch_radius, principal_angle=a)
                for b, p, a in zip(bundles, patches, angs)]
        return cls.from_data(data, dtype=dtype, device=device)

    @classmethod
    def from_data(cls, data, *, dtype=torch.float32, device=None) -> MeshBatch:
        """Batch a list of :class:`MeshData`."""
        data = list(data)
        if not data:
            raise MeshShapeError("meshes: expected at least one mesh (got an empty list)")
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
            L=SparseOperator(block_diag_csr([d.L for d in data]), **kw),
            L_diag=t(np.concatenate([d.L.diagonal() for d in data])),
            lambda_max=t([d.lambda_max if d.lambda_max is not None else estimate_lambda_max(d.L, d.mass)
                          for d in data]),
        )
        if all(d.grad_x is not None for d in data):
            out["grad_x"] = SparseOperator(block_diag_csr([d.grad_x for d in data]), **kw)
            out["grad_y"] = SparseOperator(block_diag_csr([d.grad_y for d in data]), **kw)
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
        if all(d.edges is not None for d in data):
            ne = np.array([d.edges.shape[0] for d in data])
            out.update(
                edges=ti(np.concatenate([d.edges + o for d, o in zip(data, ptr[:-1])])),
                edge_r=t(np.concatenate([d.edge_r for d in data])),
                edge_theta=t(np.concatenate([d.edge_theta for d in data])),
                edge_transport=t(np.concatenate([d.edge_transport for d in data])),
                edge_batch=ti(np.repeat(np.arange(B), ne)),
                edge_ptr=ti(np.concatenate([[0], np.cumsum(ne)])),
                patch_radius=t([d.patch_radius for d in data]),
            )
        else:
            out.update(edges=None, edge_r=None, edge_theta=None, edge_transport=None, edge_batch=None,
                       edge_ptr=None, patch_radius=None)
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
        return self.edges is not None

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
        E = None if self.edges is None else int(self.edges.shape[0])
        return (f"MeshBatch(meshes={self.num_meshes}, vertices={nv}, faces={self.num_faces}, k={K}, "
                f"patch_edges={E}, dtype={self.dtype}, device={self.device})")

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
        """Split a stacked tensor into per-mesh tensors (``on="vertices"``, ``"faces"`` or ``"edges"``)."""
        if on == "edges":
            sizes = (self.edge_ptr[1:] - self.edge_ptr[:-1]).tolist()
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
        """Copy to ``device`` (and floating tensors to ``dtype``)."""
        out = {}
        for k, v in self.__dict__.items():
            if k == "_cache":
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

    def gauge_changed(self, g) -> MeshBatch:
        """Rebuild the batch with every vertex frame rotated by ``g`` ``(N,)`` (for equivariance tests)."""
        g = np.asarray(g.detach().cpu() if isinstance(g, torch.Tensor) else g, dtype=np.float64)
        p = self.ptr.cpu().numpy()
        data = [d.gauge_changed(g[p[b]:p[b + 1]]) for b, d in enumerate(self.data)]
        return MeshBatch.from_data(data, dtype=self.dtype, device=self.device)

    # ------------------------------------------------------------------ pooling helpers
    def vertex_to_face(self, x: torch.Tensor) -> torch.Tensor:
        """Average of the three corner values: ``(N, *)`` -> ``(F_total, *)``."""
        return (x[self.faces[:, 0]] + x[self.faces[:, 1]] + x[self.faces[:, 2]]) / 3.0

    def global_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Mass-weighted mean per mesh: ``(N, C)`` -> ``(B, C)``."""
        w = self.mass.to(x.dtype)
        num = x.new_zeros((self.num_meshes,) + tuple(x.shape[1:])).index_add_(0, self.batch, x * w.view(-1, *([1] * (x.dim() - 1))))
        den = x.new_zeros(self.num_meshes).index_add_(0, self.batch, w)
        return num / den.view(-1, *([1] * (x.dim() - 1)))


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
