"""Assertions for the symmetries the neural layers claim, with a tolerance table by dtype.

Importing this package does not import torch; every function imports it when called.

* :func:`assert_batch_consistent` — a batched output equals the outputs of the meshes run alone.
* :func:`assert_gauge_equivariant` — rotating every vertex frame by its own random angle
  rotates the input and output features exactly as their irreps say.
* :func:`assert_rotation_invariant` — a rigid rotation of the meshes does not change the output
  (for models with intrinsic inputs).
* :func:`assert_permutation_equivariant` — renumbering the vertices renumbers the output
  (``faces=True``: the face order is shuffled and every face's corners rotated as well).
* :func:`assert_face_order_invariant` — shuffling the faces and rotating each face's corners
  (same vertices, same surface) leaves per-vertex and per-mesh outputs unchanged and permutes
  per-face outputs.
* :func:`assert_scale_invariant` — scaling every mesh uniformly (``1e-3`` and ``1e3`` by
  default) and rebuilding the batch does not change the output.

Every helper that builds batches defaults to the dtype of the model (its first floating
parameter, found on ``fn`` or on a module captured by it), so it works out of the box with a
default float32 model; tolerances come from :data:`TOLERANCES` by that dtype.  Inputs are given
by ``features``: ``"hks"``/``"wks"`` (intrinsic descriptors), a callable ``batch -> (N, C)``, or a
list of per-mesh ``(nV_b, C)`` arrays (e.g. random values), which the helpers carry along with
the vertices they belong to.

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
    "assert_face_order_invariant",
    "assert_scale_invariant",
    "model_dtype",
    "random_rotation",
    "shuffle_faces",
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
    if batch.patch_pairs is not None and n == batch.patch_pairs.shape[0]:
        return "pairs"
    raise AssertionError(f"output: expected one row per vertex, face, mesh or patch pair (got {n} rows)")


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


def model_dtype(fn, default=None):
    """The floating dtype of the model behind ``fn``.

    Looks at ``fn.parameters()`` when ``fn`` is a module, else at modules captured by ``fn``
    (closure cells, globals it names, bound ``__self__``); falls back to ``default`` (``torch.get_default_dtype()``).
    """
    import torch

    def from_module(m):
        for p in m.parameters():
            if p.is_floating_point():
                return p.dtype
        for b in m.buffers():
            if b.is_floating_point():
                return b.dtype
        return None

    cands = [fn, getattr(fn, "__self__", None)]
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            cands.append(cell.cell_contents)
        except ValueError:  # empty cell
            continue
    code, glb = getattr(fn, "__code__", None), getattr(fn, "__globals__", None)
    if code is not None and glb is not None:
        cands += [glb.get(name) for name in code.co_names]
    for c in cands:
        if isinstance(c, torch.nn.Module):
            dt = from_module(c)
            if dt is not None:
                return dt
    return torch.get_default_dtype() if default is None else default


def shuffle_faces(V, F, *, seed: int = 0, shuffle: bool = True, rotate_corners: bool = True):
    """The same surface with its faces in a random order and each face's corners cyclically rotated.

    Returns ``(V, F_new, face_perm)`` with ``F_new[k]`` a rotation of ``F[face_perm[k]]`` (the
    orientation of every face is kept).  ``shuffle=False`` keeps the face order (only rotates the
    corners), ``rotate_corners=False`` keeps the corners.
    """
    F = np.asarray(F, dtype=np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(F.shape[0]) if shuffle else np.arange(F.shape[0])
    Fn = F[perm]
    if rotate_corners:
        s = rng.integers(0, 3, F.shape[0])
        idx = (np.arange(3)[None, :] + s[:, None]) % 3
        Fn = np.take_along_axis(Fn, idx, axis=1)
    return np.asarray(V), Fn, perm


def _resolve(fn, dtype):
    return model_dtype(fn) if dtype is None else dtype


def _features_for(batch, features, per_mesh=None):
    """Inputs for ``batch``: ``features`` a name / callable, or ``per_mesh`` arrays (already transformed)."""
    import torch

    if per_mesh is not None:
        return torch.cat([torch.as_tensor(np.asarray(a), dtype=batch.dtype) for a in per_mesh], 0).to(batch.device)
    return _features(batch, features)


def _is_arrays(features) -> bool:
    return isinstance(features, (list, tuple)) and not isinstance(features, str)


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
    dtype : torch dtype
        Default: the model's dtype (:func:`model_dtype`).
    batch_kwargs : dict
        Passed to :meth:`MeshBatch.from_meshes` (``k``, ``patch_radius``, …).
    """
    import torch

    from ..nn.batch import MeshBatch

    dtype = _resolve(fn, dtype)
    R = random_rotation(seed) if rotation is None else np.asarray(rotation, dtype=np.float64)
    kw = dict(batch_kwargs or {})
    arrays = list(features) if _is_arrays(features) else None
    b0 = MeshBatch.from_meshes([(np.asarray(V), F) for V, F in meshes], dtype=dtype, **kw)
    b1 = MeshBatch.from_meshes([(np.asarray(V) @ R.T, F) for V, F in meshes], dtype=dtype, **kw)
    with torch.no_grad():
        y0 = fn(b0, _features_for(b0, features, arrays))
        y1 = fn(b1, _features_for(b1, features, arrays))
    return assert_close(y1, y0, rtol=rtol, atol=atol, what="output of the rotated meshes")


def assert_permutation_equivariant(fn, meshes, *, features="hks", faces: bool = False, seed: int = 0,
                                   dtype=None, batch_kwargs=None, rtol: float | None = None,
                                   atol: float | None = None) -> float:
    """Renumbering the vertices of every mesh (``V' = V[perm]``, faces relabelled) permutes
    per-vertex outputs the same way and leaves per-mesh outputs unchanged.

    ``faces=False`` keeps the face order (then per-face outputs must be unchanged);
    ``faces=True`` also shuffles the faces and rotates each face's corners
    (:func:`shuffle_faces`), and per-face outputs are compared after undoing the face shuffle.
    ``dtype`` defaults to the model's (:func:`model_dtype`).
    """
    import torch

    from ..nn.batch import MeshBatch

    dtype = _resolve(fn, dtype)
    rng = np.random.default_rng(seed)
    perms, fperms, permuted, arrays1 = [], [], [], []
    arrays0 = list(features) if _is_arrays(features) else None
    for b, (V, F) in enumerate(meshes):
        V, F = np.asarray(V), np.asarray(F, dtype=np.int64)
        p = rng.permutation(V.shape[0])
        inv = np.empty_like(p)
        inv[p] = np.arange(p.size)
        Fn, fp = inv[F], np.arange(F.shape[0])
        if faces:
            _, Fn, fp = shuffle_faces(V[p], Fn, seed=seed + 1 + b)
        perms.append(p)
        fperms.append(fp)
        permuted.append((V[p], Fn))
        if arrays0 is not None:
            arrays1.append(np.asarray(arrays0[b])[p])
    kw = dict(batch_kwargs or {})
    b0 = MeshBatch.from_meshes(list(meshes), dtype=dtype, **kw)
    b1 = MeshBatch.from_meshes(permuted, dtype=dtype, **kw)
    with torch.no_grad():
        y0 = fn(b0, _features_for(b0, features, arrays0))
        y1 = fn(b1, _features_for(b1, features, arrays1 if arrays0 is not None else None))
    kind = _output_kind(y0, b0)
    if kind == "vertices":
        offs = b0.ptr.cpu().numpy()
        gperm = np.concatenate([p + o for p, o in zip(perms, offs[:-1])])
        y0 = y0[torch.as_tensor(gperm, device=y0.device)]
    elif kind == "faces":
        offs = b0.face_ptr.cpu().numpy()
        gperm = np.concatenate([p + o for p, o in zip(fperms, offs[:-1])])
        y0 = y0[torch.as_tensor(gperm, device=y0.device)]
    what = "renumbered and face-shuffled" if faces else "renumbered"
    return assert_close(y1, y0, rtol=rtol, atol=atol, what=f"output of the {what} meshes ({kind})")


def assert_face_order_invariant(fn, meshes, *, features="hks", seed: int = 0, shuffle: bool = True,
                                rotate_corners: bool = True,
                                dtype=None, batch_kwargs=None, rtol: float | None = None,
                                atol: float | None = None) -> float:
    """Shuffling the faces of every mesh and rotating each face's corners does not change the output.

    ``shuffle`` / ``rotate_corners`` select the two transformations (both by default).

    The batch is rebuilt from the reordered meshes (:meth:`MeshBatch.from_meshes`), so every
    quantity that depends on the face order (tangent gauges, patch angles) changes; vertices keep
    their numbering, so per-vertex and per-mesh outputs must agree and per-face outputs agree after
    undoing the face permutation.  ``dtype`` defaults to the model's (:func:`model_dtype`).
    """
    import torch

    from ..nn.batch import MeshBatch

    dtype = _resolve(fn, dtype)
    arrays = list(features) if _is_arrays(features) else None
    shuffled, fperms = [], []
    for b, (V, F) in enumerate(meshes):
        V1, F1, fp = shuffle_faces(V, F, seed=seed + b, shuffle=shuffle, rotate_corners=rotate_corners)
        shuffled.append((V1, F1))
        fperms.append(fp)
    kw = dict(batch_kwargs or {})
    b0 = MeshBatch.from_meshes([(np.asarray(V), np.asarray(F)) for V, F in meshes], dtype=dtype, **kw)
    b1 = MeshBatch.from_meshes(shuffled, dtype=dtype, **kw)
    with torch.no_grad():
        y0 = fn(b0, _features_for(b0, features, arrays))
        y1 = fn(b1, _features_for(b1, features, arrays))
    kind = _output_kind(y0, b0)
    if kind == "faces":
        offs = b0.face_ptr.cpu().numpy()
        gperm = np.concatenate([p + o for p, o in zip(fperms, offs[:-1])])
        y0 = y0[torch.as_tensor(gperm, device=y0.device)]
    return assert_close(y1, y0, rtol=rtol, atol=atol, what=f"output of the face-shuffled meshes ({kind})")


def assert_scale_invariant(fn, meshes, *, scales=(1e-3, 1e3), features="hks", dtype=None, batch_kwargs=None,
                           rtol: float | None = None, atol: float | None = None) -> float:
    """Scaling every mesh uniformly (``V ← s V`` for each ``s`` in ``scales``) does not change the output.

    The batch is rebuilt from the scaled meshes.  Returns the largest error over the scales.
    ``dtype`` defaults to the model's (:func:`model_dtype`).
    """
    import torch

    from ..nn.batch import MeshBatch

    dtype = _resolve(fn, dtype)
    arrays = list(features) if _is_arrays(features) else None
    kw = dict(batch_kwargs or {})
    b0 = MeshBatch.from_meshes([(np.asarray(V), np.asarray(F)) for V, F in meshes], dtype=dtype, **kw)
    with torch.no_grad():
        y0 = fn(b0, _features_for(b0, features, arrays))
    kind = _output_kind(y0, b0)
    worst = 0.0
    for s in scales:
        b1 = MeshBatch.from_meshes([(float(s) * np.asarray(V), np.asarray(F)) for V, F in meshes], dtype=dtype, **kw)
        with torch.no_grad():
            y1 = fn(b1, _features_for(b1, features, arrays))
        worst = max(worst, assert_close(y1, y0, rtol=rtol, atol=atol,
                                        what=f"output of the meshes scaled by {s:g} ({kind})"))
    return worst
