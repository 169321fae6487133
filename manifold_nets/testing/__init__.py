"""Assertions for the symmetries the neural layers claim, with a tolerance table by dtype.

Importing this package does not import torch; every function imports it when called.

* :func:`assert_batch_consistent` — a batched output equals the outputs of the meshes run alone.
* :func:`assert_gauge_equivariant` — rotating every vertex frame by its own random angle
  rotates the input and output features exactly as their irreps say.
* :func:`assert_rotation_invariant` — a rigid rotation of the meshes does not change the output
  (for models with intrinsic inputs).
* :func:`assert_permutation_equivariant` — renumbering the vertices renumbers the output.

Each assertion returns the largest error it measured (useful in reports) and raises
:class:`AssertionError` with the error and the tolerance when it fails.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "TOLERANCES",
    "tolerance",
    "assert_close",
    "assert_batch_consistent",
    "assert_gauge_equivariant",
    "assert_rotation_invariant",
    "assert_permutation_equivariant",
    "random_rotation",
]

#: ``(rtol, atol)`` by dtype name, for quantities of order 1.  ``"float64"`` is the exact-arithmetic
#: level used for equivariance claims; ``"float32"`` allows for single-precision accumulation.
TOLERANCES = {
    "float64": (1e-10, 1e-10),
    "float32": (1e-4, 1e-5),
    "bfloat16": (2e-2, 2e-2),
    "float16": (5e-3, 5e-3),
}


def _dtype_name(dtype) -> str:
    s = str(dtype)
    return s.split(".")[-1].replace("'>", "").replace("<class 'numpy.", "")


def tolerance(dtype, rtol: float | None = None, atol: float | None = None) -> tuple[float, float]:
    """``(rtol, atol)`` for ``dtype`` (a torch or numpy dtype or its name), overridable."""
    name = _dtype_name(dtype)
    if name in ("double",):
        name = "float64"
    if name in ("float",):
        name = "float32"
    r, a = TOLERANCES.get(name, TOLERANCES["float32"])
    return (r if rtol is None else rtol, a if atol is None else atol)


def _max_err(actual, expected) -> float:
    return float((actual - expected).abs().max()) if actual.numel() else 0.0


def assert_close(actual, expected, *, rtol: float | None = None, atol: float | None = None, what: str = "value"):
    """``|actual − expected| ≤ atol + rtol · max|expected|`` elementwise-max; returns the error."""
    import torch

    actual = torch.as_tensor(actual)
    expected = torch.as_tensor(expected).to(actual.dtype)
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: expected shape {tuple(expected.shape)} (got {tuple(actual.shape)})")
    rtol, atol = tolerance(actual.dtype, rtol, atol)
    err = _max_err(actual.detach(), expected.detach())
    scale = float(expected.detach().abs().max()) if expected.numel() else 0.0
    tol = atol + rtol * scale
    if not err <= tol:
        raise AssertionError(f"{what}: expected max error <= {tol:.3g} (got {err:.3g}; scale {scale:.3g})")
    return err


def _output_kind(out, batch) -> str:
    n = out.shape[0]
    if n == batch.num_vertices:
        return "vertices"
    if n == batch.num_faces:
        return "faces"
    if n == batch.num_meshes:
        return "global"
    if batch.edges is not None and n == batch.edges.shape[0]:
        return "edges"
    raise AssertionError(f"output: expected one row per vertex, face, mesh or edge (got {n} rows)")


def assert_batch_consistent(fn, batch, x, *, rtol: float | None = None, atol: float | None = None) -> float:
    """The batched output of ``fn(batch, x)`` equals ``fn(mesh_b, x_b)`` for every mesh ``b``.

    Parameters
    ----------
    fn : callable ``(MeshBatch, Tensor) -> Tensor`` (a module in eval mode)
    batch : MeshBatch with at least one mesh
    x : (N, C) tensor stacked along the batch's vertices
    """
    import torch

    with torch.no_grad():
        out = fn(batch, x)
        kind = _output_kind(out, batch)
        xs = batch.split(x)
        parts = [fn(batch.mesh(b), xs[b]) for b in range(batch.num_meshes)]
    ref = torch.cat(parts, 0)
    return assert_close(out, ref, rtol=rtol, atol=atol, what=f"batched vs per-mesh output ({kind})")


def assert_gauge_equivariant(fn, batch, x, irreps_in, irreps_out, *, gauge=None, seed: int = 0,
                             rtol: float | None = None, atol: float | None = None) -> float:
    """``fn(batch', ρ_in(−g) x) == ρ_out(−g) fn(batch, x)`` for a random per-vertex gauge change ``g``.

    ``batch'`` is ``batch.gauge_changed(g)`` (frames rotated by ``g_i``: angles, transport,
    gradients and axes follow the conventions).  ``irreps_out=0`` (or an int) means invariant
    scalar outputs.
    """
    import torch

    from ..nn.gauge import Irreps, rotate_irreps

    ir_in = Irreps(irreps_in)
    ir_out = None if isinstance(irreps_out, int) else Irreps(irreps_out)  # an int: invariant outputs
    if gauge is None:
        gauge = np.random.default_rng(seed).uniform(0, 2 * np.pi, batch.num_vertices)
    g = torch.as_tensor(np.asarray(gauge), dtype=x.dtype, device=x.device)
    bg = batch.gauge_changed(g)
    with torch.no_grad():
        y = fn(batch, x)
        yg = fn(bg, rotate_irreps(x, ir_in, -g))
    expected = y if ir_out is None else rotate_irreps(y, ir_out, -g)
    return assert_close(yg, expected, rtol=rtol, atol=atol, what="gauge-changed output")


def random_rotation(seed: int = 0) -> np.ndarray:
    """A uniformly random rotation matrix ``(3, 3)`` (det = +1)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _features(batch, features):
    from ..nn.models import input_features

    if callable(features):
        return features(batch)
    return input_features(batch, features)


def assert_rotation_invariant(fn, meshes, *, features="hks", rotation=None, seed: int = 0, dtype=None,
                              batch_kwargs=None, rtol: float | None = None, atol: float | None = None) -> float:
    """The output of ``fn(batch, features(batch))`` does not change when every mesh is rotated.

    Parameters
    ----------
    fn : callable ``(MeshBatch, Tensor) -> Tensor``
    meshes : list of ``(V, F)``
    features : str or callable
        ``"hks"``/``"wks"`` (intrinsic) or ``callable(batch) -> (N, C)``.
    rotation : (3, 3) array, optional
        Default: :func:`random_rotation` of ``seed``.
    dtype : torch dtype (default float64)
    batch_kwargs : dict
        Passed to :meth:`MeshBatch.from_meshes` (``k``, ``patch_radius``, …).
    """
    import torch

    from ..nn.batch import MeshBatch

    dtype = torch.float64 if dtype is None else dtype
    R = random_rotation(seed) if rotation is None else np.asarray(rotation, dtype=np.float64)
    kw = dict(batch_kwargs or {})
    b0 = MeshBatch.from_meshes([(np.asarray(V), F) for V, F in meshes], dtype=dtype, **kw)
    b1 = MeshBatch.from_meshes([(np.asarray(V) @ R.T, F) for V, F in meshes], dtype=dtype, **kw)
    with torch.no_grad():
        y0 = fn(b0, _features(b0, features))
        y1 = fn(b1, _features(b1, features))
    return assert_close(y1, y0, rtol=rtol, atol=atol, what="output of the rotated meshes")


def assert_permutation_equivariant(fn, meshes, *, features="hks", seed: int = 0, dtype=None, batch_kwargs=None,
                                   rtol: float | None = None, atol: float | None = None) -> float:
    """Renumbering the vertices of every mesh (``V' = V[perm]``, faces relabelled, face order kept)
    permutes per-vertex outputs the same way and leaves per-face and per-mesh outputs unchanged.
    """
    import torch

    from ..nn.batch import MeshBatch

    dtype = torch.float64 if dtype is None else dtype
    rng = np.random.default_rng(seed)
    perms, permuted = [], []
    for V, F in meshes:
        V, F = np.asarray(V), np.asarray(F)
        p = rng.permutation(V.shape[0])
        inv = np.empty_like(p)
        inv[p] = np.arange(p.size)
        perms.append(p)
        permuted.append((V[p], inv[F]))
    kw = dict(batch_kwargs or {})
    b0 = MeshBatch.from_meshes(list(meshes), dtype=dtype, **kw)
    b1 = MeshBatch.from_meshes(permuted, dtype=dtype, **kw)
    with torch.no_grad():
        y0 = fn(b0, _features(b0, features))
        y1 = fn(b1, _features(b1, features))
    kind = _output_kind(y0, b0)
    if kind == "vertices":
        offs = b0.ptr.cpu().numpy()
        gperm = np.concatenate([p + o for p, o in zip(perms, offs[:-1])])
        y0 = y0[torch.as_tensor(gperm, device=y0.device)]
    return assert_close(y1, y0, rtol=rtol, atol=atol, what=f"output of the renumbered meshes ({kind})")
