"""Vertex maps on disk: read, write, check, and coloured meshes for looking at a map.

A *vertex map* from a source mesh to a target mesh is an ``(n_src,)`` int64 array holding, for
every source vertex, the 0-based index of its target vertex.

Formats (:func:`read_map` chooses by extension):

* ``.vts``: one 1-based vertex index per line (the SHREC / FAUST / TOSCA ground-truth files; only
  the first integer of a line is read, as some ``.vts`` files carry extra columns);
* ``.npy``: a 1-D integer array, 0-based;
* anything else (``.txt``, ``.map``): plain text, one 0-based index per line (what
  ``manifold-nets correspond`` writes).

Every reader error is a :class:`~manifold_nets.errors.MeshParseError` naming the file and line;
:func:`check_map` raises :class:`~manifold_nets.errors.MeshShapeError` naming the file when the
length does not match the source mesh or an index falls outside the target mesh.

:func:`write_colored_pair` writes the target mesh coloured by position (a smooth colour per
point of its bounding box) and the source mesh with the colours its vertices are mapped to, as
PLY files with a ``color`` vertex array (``uint8 (n, 3)`` red/green/blue), for any mesh viewer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import MeshParseError, MeshShapeError, MeshTypeError
from ..files import atomic_write
from .readers_common import _integral, load_npy, parse_int_lines, read_text, text_lines

__all__ = ["read_map", "write_map", "check_map", "map_colors", "write_colored_pair"]


def _read_vts(path: Path) -> np.ndarray:
    lines = text_lines(read_text(path))
    out = np.empty(len(lines), dtype=np.int64)
    for i, line in enumerate(lines, 1):
        toks = line.split()
        if not toks:
            raise MeshParseError(f"{path}: line {i}: expected a 1-based vertex index (got an empty line)")
        bad = MeshParseError(f"{path}: line {i}: expected a 1-based vertex index (got {toks[0][:40]!r})")
        if "_" in toks[0]:  # int("1_0") is 10
            raise bad
        try:
            v = int(toks[0])
        except ValueError:
            try:
                f = float(toks[0])
            except ValueError:
                raise bad from None
            if not (np.isfinite(f) and f == round(f)):
                raise bad from None
            v = int(f)
        if v > 2**62:  # would not fit an int64 index (1e30, a long run of digits)
            raise MeshParseError(f"{path}: line {i}: expected a 1-based vertex index (got {toks[0][:40]!r}, out of range)")
        if v < 1:
            raise MeshParseError(f"{path}: line {i}: expected a 1-based vertex index >= 1 (got {v})")
        out[i - 1] = v - 1
    return out


def _read_npy(path: Path) -> np.ndarray:
    a = load_npy(path, "a NumPy .npy integer array")
    if a.ndim != 1:
        raise MeshParseError(f"{path}: expected a 1-D array of vertex indices (got shape {a.shape})")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not (np.issubdtype(a.dtype, np.floating) and np.isfinite(a).all() and (a == np.round(a)).all()):
            raise MeshParseError(f"{path}: expected integer vertex indices (got dtype {a.dtype})")
        out = _integral(a.astype(np.float64))
        if out is None:  # whole numbers too large for an int64 index (1e30)
            i = int(np.flatnonzero(np.abs(a) > 2**62)[0])
            raise MeshParseError(f"{path}: entry {i}: expected a 0-based vertex index (got {a[i]}, out of range)")
        a = out
    if a.dtype.kind == "u" and a.size and a.max() > 2**62:  # would wrap around to a negative int64
        i = int(np.flatnonzero(a > 2**62)[0])
        raise MeshParseError(f"{path}: entry {i}: expected a 0-based vertex index (got {a[i]}, out of range)")
    a = a.astype(np.int64)
    if a.size and a.min() < 0:
        i = int(np.flatnonzero(a < 0)[0])
        raise MeshParseError(f"{path}: entry {i}: expected a 0-based vertex index >= 0 (got {int(a[i])})")
    return a


def read_map(path, *, n_source: int | None = None, n_target: int | None = None) -> np.ndarray:
    """Read a vertex map ``(n,)`` int64 (0-based) from ``.vts`` (1-based), ``.npy`` or text.

    ``n_source`` / ``n_target`` check the length and index range (:func:`check_map`).
    """
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".vts":
        m = _read_vts(p)
    elif ext == ".npy":
        m = _read_npy(p)
    else:
        m = parse_int_lines(p, what="vertex index")
        if m.size and m.min() < 0:
            i = int(np.flatnonzero(m < 0)[0])
            raise MeshParseError(f"{p}: line {i + 1}: expected a 0-based vertex index >= 0 (got {int(m[i])})")
    return check_map(m, n_source=n_source, n_target=n_target, where=str(p))


def check_map(m, *, n_source: int | None = None, n_target: int | None = None, where: str = "map") -> np.ndarray:
    """``m`` as ``(n,)`` int64 after checking its length (``n_source``) and range (``[0, n_target)``).

    >>> check_map([0, 2], n_source=2, n_target=3).tolist()
    [0, 2]
    """
    import operator

    for name, n in (("n_source", n_source), ("n_target", n_target)):
        if n is None:
            continue
        try:
            ok = not isinstance(n, (bool, np.bool_)) and operator.index(n) >= 0
        except TypeError:
            ok = False
        if not ok:
            raise MeshTypeError(f"{name}: expected a vertex count, an integer >= 0 (got {n!r})")
    a = np.asarray(m)
    if a.ndim != 1:
        raise MeshShapeError(f"{where}: expected a 1-D vertex map (got shape {a.shape})")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise MeshShapeError(f"{where}: expected integer vertex indices (got dtype {a.dtype})")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:  # would wrap to negative
        i = int(np.flatnonzero(a > np.iinfo(np.int64).max)[0])
        raise MeshShapeError(f"{where}: line {i + 1}: expected a vertex index in the int64 range (got {a[i]})")
    a = a.astype(np.int64)
    if n_source is not None and a.shape[0] != int(n_source):
        raise MeshShapeError(f"{where}: expected one entry per source vertex, {int(n_source)} "
                             f"(got {a.shape[0]})")
    if n_target is not None and a.size:
        bad = np.flatnonzero((a < 0) | (a >= int(n_target)))
        if bad.size:
            i = int(bad[0])
            raise MeshShapeError(f"{where}: line {i + 1}: expected a target vertex index in [0, {int(n_target)}) "
                                 f"(got {int(a[i])}; {bad.size} entries out of range)")
    return a


def write_map(path, m, *, one_based: bool | None = None) -> Path:
    """Write a vertex map atomically: ``.npy`` (int64, 0-based), ``.vts`` (1-based text) or text
    (0-based, one index per line).  ``one_based`` overrides the text base."""
    p = Path(path)
    a = check_map(m, where=str(p))
    ext = p.suffix.lower()
    if ext == ".npy":
        import io

        buf = io.BytesIO()
        np.save(buf, a)
        return atomic_write(p, buf.getvalue())
    base = (ext == ".vts") if one_based is None else bool(one_based)
    text = "\n".join(str(int(x)) for x in (a + (1 if base else 0))) + ("\n" if a.size else "")
    return atomic_write(p, text.encode("ascii"))


def map_colors(V) -> np.ndarray:
    """Smooth colours ``(n, 3)`` uint8 of points ``V (n, 3)``: position in the bounding box as RGB."""
    V = np.asarray(V, dtype=np.float64)
    lo, hi = V.min(axis=0), V.max(axis=0)
    x = (V - lo) / np.where(hi > lo, hi - lo, 1.0)
    return np.round(40 + 215 * x).astype(np.uint8)


def write_colored_pair(source_path, target_path, V_src, F_src, V_tgt, F_tgt, p2p) -> tuple[Path, Path]:
    """Write the target coloured by position and the source with the colours of its images
    (``p2p (n_src,)``: source vertex -> target vertex) as two PLY files; returns their paths."""
    from ..io import write_mesh

    V_tgt = np.asarray(V_tgt, dtype=np.float64)
    p2p = check_map(p2p, n_source=len(V_src), n_target=len(V_tgt), where="p2p")
    col = map_colors(V_tgt)
    write_mesh(target_path, V_tgt, F_tgt, vertex_data={"color": col})
    write_mesh(source_path, V_src, F_src, vertex_data={"color": col[p2p]})
    return Path(source_path), Path(target_path)
