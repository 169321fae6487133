"""Files the viewer shows on a mesh, read and checked against that mesh.

* **labels**: a labelled mesh (a PLY with an integer ``label`` property, as ``segment predict``
  writes; face labels preferred over vertex labels), a text file with one integer per line or a
  ``.npy`` array; per face or per vertex, decided by the count (per face when ``nV == nF``).
  Part names come from a JSON beside it (same stem + ``.json``, or ``part_names.json`` in the same
  folder): ``{"part_names": [...]}``, ``{"labels": {"0": "head", ...}}`` or a plain list.
* **scalars**: a text file (one row per vertex or face, one or more columns), a ``.npy`` array, or
  the NAME of a per-vertex/per-face array of the mesh or of a built-in field (:data:`BUILTIN_SCALARS`).
* **map**: one 0-based target vertex index per source vertex (text, one per line, or ``.npy``).
* **vector field**: rows of 3 world coordinates per vertex or face, or of 2 tangent coordinates
  per vertex in the library's vertex gauge (text or ``.npy``; a complex ``(nV,)`` ``.npy`` is a
  tangent field too).

Every problem raises a :class:`~manifold_nets.errors.MeshError` subclass with a one-line message
naming the file (and line), e.g. ``"labels.txt: expected 1280 face or 642 vertex values (got 17)"``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import (
    FaceIndexError,
    MeshFileNotFoundError,
    MeshIsADirectoryError,
    MeshParseError,
    MeshPermissionError,
    MeshShapeError,
    UnknownFormatError,
)
from ..files import is_mesh_file

__all__ = ["BUILTIN_SCALARS", "LabelData", "ScalarData", "read_field", "read_labels", "read_map",
           "read_part_names", "read_scalars", "read_table"]


@dataclass(frozen=True)
class LabelData:
    """Labels on a mesh: ``values`` ``(n,)`` int64 (``-1`` unlabelled), ``where`` ``"face"`` or
    ``"vertex"``, ``part_names`` (index -> name, possibly empty) and the file they came from."""

    values: np.ndarray
    where: str
    part_names: list = field(default_factory=list)
    source: str = ""

    @property
    def n_parts(self) -> int:
        """Number of parts: the longer of the name list and ``max(label) + 1``."""
        top = int(self.values.max()) + 1 if self.values.size else 0
        return max(top, len(self.part_names))


@dataclass(frozen=True)
class ScalarData:
    """Scalar fields on a mesh: ``values`` ``(n, k)`` float64 (``k`` fields), ``where``
    ``"face"`` or ``"vertex"``, ``names`` (one per column)."""

    values: np.ndarray
    where: str
    names: list


def _check_file(path) -> Path:
    p = Path(path)
    if not p.exists():
        raise MeshFileNotFoundError(f"{p}: expected an existing file (got no such file)")
    if p.is_dir():
        raise MeshIsADirectoryError(f"{p}: expected a file (got a folder)")
    if not os.access(p, os.R_OK):
        raise MeshPermissionError(f"{p}: expected a readable file (got permission denied)")
    return p


def read_table(path, *, dtype=float) -> np.ndarray:
    """A numeric table from a text (whitespace or comma separated, ``#`` comments) or ``.npy``
    file: ``(n,)`` for one column, ``(n, k)`` for ``k`` columns.

    A bad token raises :class:`~manifold_nets.errors.MeshParseError` naming its line.
    """
    p = _check_file(path)
    if p.suffix.lower() == ".npy":
        try:
            a = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise MeshParseError(f"{p}: expected a NumPy .npy array (got {exc})") from None
        if a.ndim not in (1, 2) or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise MeshShapeError(f"{p}: expected a numeric array of 1 or 2 dimensions "
                                 f"(got dtype {a.dtype}, shape {a.shape})")
        return a
    if is_mesh_file(p):
        raise UnknownFormatError(f"{p}: expected a text or .npy table here (got a mesh file)")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise MeshParseError(f"{p}: expected a text file with numbers (got binary data)") from None
    rows, width, first = [], None, None
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].replace(",", " ").strip()
        if not line:
            continue
        toks = line.split()
        try:
            vals = [dtype(t) if dtype is not int else _as_int(t) for t in toks]
        except ValueError:
            what = "an integer" if dtype is int else "a number"
            bad = next(t for t in toks if not _ok(t, dtype))
            if dtype is int and _ok(bad, float) and np.isfinite(float(bad)) and float(bad) % 1 == 0:
                what = "an integer in [-2**63, 2**63)"  # numpy's int64 would overflow
            raise MeshParseError(f"{p}: line {lineno}: expected {what} (got {bad!r})") from None
        if width is None:
            width, first = len(vals), lineno
        elif len(vals) != width:
            raise MeshParseError(f"{p}: line {lineno}: expected {width} values as on line {first} "
                                 f"(got {len(vals)})")
        rows.append(vals)
    if not rows:
        raise MeshParseError(f"{p}: expected at least one row of numbers (got none)")
    a = np.asarray(rows, dtype=np.int64 if dtype is int else np.float64)
    return a[:, 0] if width == 1 else a


_INT64 = (-(2**63), 2**63 - 1)


def _as_int(t: str) -> int:
    try:
        v = int(t)  # exact, also beyond 2**53
    except ValueError:
        f = float(t)
        if not np.isfinite(f) or f != int(f):
            raise ValueError(t) from None
        v = int(f)
    if not _INT64[0] <= v <= _INT64[1]:
        raise ValueError(t)
    return v


def _ok(t: str, dtype) -> bool:
    try:
        _as_int(t) if dtype is int else dtype(t)
        return True
    except ValueError:
        return False


def _as_int64(a: np.ndarray, p, what: str) -> np.ndarray:
    """``a`` as int64 when every value is a whole number that fits: complex, non-finite,
    fractional and out-of-range values (a uint64 above 2**63 - 1, a float of 1e30) are refused
    instead of being wrapped or truncated."""
    a = np.asarray(a)
    if a.dtype == bool:
        return a.astype(np.int64)
    if np.iscomplexobj(a) or not np.issubdtype(a.dtype, np.number):
        raise MeshShapeError(f"{p}: expected integer {what} (got dtype {a.dtype})")
    if np.issubdtype(a.dtype, np.integer):
        if a.size and a.dtype.kind == "u" and int(a.max()) > _INT64[1]:
            i = int(np.argmax(a))
            raise MeshShapeError(f"{p}: expected integer {what} below 2**63 (got {a[i]} at index {i})")
        return a.astype(np.int64)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(a) | (np.mod(a, 1) != 0) | (np.abs(a) >= 2.0**63)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MeshShapeError(f"{p}: expected integer {what} (got {a[i]} at index {i}, dtype {a.dtype})")
    return a.astype(np.int64)


def _where(n: int, mesh, path, what: str) -> str:
    nV, nF = len(mesh.V), len(mesh.F)
    if n == nF:
        return "face"
    if n == nV:
        return "vertex"
    raise MeshShapeError(f"{path}: expected {nF} face or {nV} vertex {what} (got {n})")


def read_part_names(path) -> list:
    """Part names for a label file: from ``<stem>.json`` beside it or ``part_names.json`` in its
    folder (``[]`` when neither exists).  Formats: ``{"part_names": [...]}``,
    ``{"labels": {"0": "head", ...}}`` or a JSON list of names."""
    p = Path(path)
    stem = p.name.split(".")[0]
    for cand in (p.with_name(stem + ".json"), p.with_name("part_names.json")):
        if cand.is_file() and cand != p:
            try:
                doc = json.loads(cand.read_text(encoding="utf-8"))
            except (ValueError, OSError) as exc:
                raise MeshParseError(f"{cand}: expected JSON part names (got {exc})") from None
            return _names_from_json(doc, cand)
    return []


def _names_from_json(doc, where) -> list:
    if isinstance(doc, dict) and isinstance(doc.get("part_names"), list):
        return [str(x) for x in doc["part_names"]]
    if isinstance(doc, dict) and isinstance(doc.get("labels"), dict):
        try:
            items = {int(k): str(v) for k, v in doc["labels"].items()}
        except ValueError:
            raise MeshParseError(f"{where}: expected integer keys in \"labels\" "
                                 f"(got {list(doc['labels'])[:3]})") from None
        if any(k < 0 for k in items):
            raise MeshParseError(f"{where}: expected label indices >= 0 (got {min(items)})")
        names = [str(i) for i in range(max(items, default=-1) + 1)]
        for k, v in items.items():
            names[k] = v
        return names
    if isinstance(doc, list):
        return [str(x) for x in doc]
    raise MeshParseError(f"{where}: expected {{\"part_names\": [...]}} or {{\"labels\": {{...}}}} "
                         f"(got {type(doc).__name__})")


def read_labels(path, mesh) -> LabelData:
    """Labels for ``mesh`` from a labelled mesh file, a text file or a ``.npy`` array.

    Parameters
    ----------
    path : str or Path
    mesh : Mesh
        The mesh they belong to (its vertex and face counts decide per face / per vertex).

    Returns
    -------
    LabelData
        ``values`` ``(nF,)`` or ``(nV,)`` int64.
    """
    p = _check_file(path)
    if is_mesh_file(p):
        from ..mesh import read_mesh

        lm = read_mesh(p)
        if len(lm.V) != len(mesh.V) or len(lm.F) != len(mesh.F):
            raise MeshShapeError(f"{p}: expected a mesh with {len(mesh.V)} vertices and "
                                 f"{len(mesh.F)} faces like the one shown (got {len(lm.V)} and {len(lm.F)})")
        fd, vd = lm.face_data, lm.vertex_data
        if "label" in fd:
            values, where = fd["label"], "face"
        elif "label" in vd:
            values, where = vd["label"], "vertex"
        else:
            raise MeshShapeError(f"{p}: expected an integer 'label' property on faces or vertices "
                                 f"(got {sorted(fd) + sorted(vd) or 'none'})")
        values = np.asarray(values)
        if values.ndim != 1:
            raise MeshShapeError(f"{p}: expected one integer label per {where} "
                                 f"(got dtype {values.dtype}, shape {values.shape})")
        values = _as_int64(values, p, f"labels, one per {where}")
    else:
        values = read_table(p, dtype=int)
        if values.ndim != 1:
            raise MeshShapeError(f"{p}: expected one integer label per line (got {values.shape[1]} columns)")
        values = _as_int64(values, p, "labels")
        where = _where(len(values), mesh, p, "labels")
    if values.size and values.min() < -1:
        i = int(np.argmin(values))
        raise MeshShapeError(f"{p}: expected labels >= -1 (-1: unlabelled) (got {values[i]} at {where} {i})")
    names = read_part_names(p)
    return LabelData(values=values, where=where, part_names=names, source=str(p))


def _builtin(name, mesh):
    from .. import geometry as g

    V, F = mesh.V, mesh.F
    if name in ("x", "y", "z"):
        return V[:, "xyz".index(name)].copy()
    if name == "gaussian_curvature":
        return g.gaussian_curvature(V, F)
    if name == "mean_curvature":
        return g.mean_curvature(V, F)
    if name == "vertex_area":
        return g.vertex_areas(V, F)
    if name == "face_area":
        return g.face_areas(V, F)
    raise KeyError(name)


#: Scalar fields that ``--scalars NAME`` computes when the mesh has no array of that name.
BUILTIN_SCALARS = ("x", "y", "z", "gaussian_curvature", "mean_curvature", "vertex_area", "face_area")


def read_scalars(spec, mesh) -> ScalarData:
    """Scalar fields for ``mesh``: a file (text or ``.npy``, ``(n,)`` or ``(n, k)``), the name of a
    mesh array, or a name in :data:`BUILTIN_SCALARS`.

    Returns
    -------
    ScalarData
        ``values`` ``(nF, k)`` or ``(nV, k)`` float64.
    """
    spec = str(spec)
    p = Path(spec)
    vd, fd = mesh.vertex_data, mesh.face_data
    is_name = spec in vd or spec in fd or spec in BUILTIN_SCALARS
    if not p.is_file() and (is_name or not p.exists()):  # a name (even beside a folder of that name)
        if spec in vd or spec in fd:
            a = np.asarray(vd[spec] if spec in vd else fd[spec])
            where = "vertex" if spec in vd else "face"
        elif spec in BUILTIN_SCALARS:
            a = np.asarray(_builtin(spec, mesh))
            where = "face" if spec == "face_area" else "vertex"
        else:
            have = sorted(set(vd) | set(fd)) + list(BUILTIN_SCALARS)
            raise MeshFileNotFoundError(f"--scalars {spec}: expected an existing file or one of "
                                        f"{', '.join(have)} (got neither)")
        if (not np.issubdtype(a.dtype, np.number) and a.dtype != bool) or np.iscomplexobj(a):
            raise MeshShapeError(f"--scalars {spec}: expected a real numeric array (got dtype {a.dtype})")
        a = a.reshape(len(a), -1).astype(np.float64)
        names = [spec] if a.shape[1] == 1 else [f"{spec}[{j}]" for j in range(a.shape[1])]
    else:
        a = read_table(p)
        if np.iscomplexobj(a):
            raise MeshShapeError(f"{p}: expected real scalar values (got dtype {a.dtype}; a complex "
                                 f"(nV,) array is a tangent vector field: pass it as --field)")
        a = a.astype(np.float64)
        where = _where(len(a), mesh, p, "values")
        a = a.reshape(len(a), -1)
        names = [p.stem] if a.shape[1] == 1 else [f"{p.stem}[{j}]" for j in range(a.shape[1])]
    if a.shape[1] == 0:
        raise MeshShapeError(f"{spec}: expected at least one column of values (got shape {a.shape})")
    bad = ~np.isfinite(a)
    if bad.all(axis=0).any():
        raise MeshShapeError(f"{spec}: expected finite values (got a column without any)")
    return ScalarData(values=a, where=where, names=names)


def read_map(path, n_source: int, n_target: int) -> np.ndarray:
    """A vertex map: ``(n_source,)`` int64 target vertex indices in ``[0, n_target)``.

    Raises :class:`~manifold_nets.errors.MeshShapeError` for a wrong length and
    :class:`~manifold_nets.errors.FaceIndexError` for an index outside the target.
    """
    p = Path(path)
    a = read_table(p, dtype=int)
    if a.ndim != 1:
        raise MeshShapeError(f"{p}: expected one target vertex index per line (got {a.shape[1]} columns)")
    a = _as_int64(a, p, "vertex indices")
    if len(a) != n_source:
        raise MeshShapeError(f"{p}: expected {n_source} indices, one per source vertex (got {len(a)})")
    bad = np.flatnonzero((a < 0) | (a >= n_target))
    if bad.size:
        i = int(bad[0])
        raise FaceIndexError(f"{p}: line {i + 1}: expected a target vertex index in [0, {n_target - 1}] "
                             f"(got {a[i]}; {bad.size} out of range)")
    return a


def read_field(path, mesh) -> tuple[np.ndarray, str]:
    """A vector field: ``(vectors (n, 3) float64 in world coordinates, "vertex" | "face")``.

    Rows of 3 numbers are world vectors (per vertex or per face); rows of 2 numbers, or a complex
    ``(nV,)`` ``.npy``, are tangent vectors in the vertex gauge of
    :func:`manifold_nets.geometry.tangent_frames`.
    """
    p = Path(path)
    a = read_table(p)
    if np.iscomplexobj(a):
        if a.ndim != 1:
            raise MeshShapeError(f"{p}: expected a complex (nV,) array (got shape {a.shape})")
        a = np.stack([a.real, a.imag], axis=1)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] not in (2, 3):
        cols = 1 if a.ndim == 1 else a.shape[1]
        raise MeshShapeError(f"{p}: expected 3 world or 2 tangent coordinates per row (got {cols} columns)")
    if a.shape[1] == 2:
        if len(a) != len(mesh.V):
            raise MeshShapeError(f"{p}: expected {len(mesh.V)} tangent vectors, one per vertex (got {len(a)})")
        from ..geometry import tangent_frames, tangent_to_world

        _, x, y = tangent_frames(mesh.V, mesh.F)
        a = tangent_to_world(a[:, 0] + 1j * a[:, 1], x, y)
        where = "vertex"
    else:
        where = _where(len(a), mesh, p, "vectors")
    if not np.isfinite(a).all():
        i = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
        raise MeshShapeError(f"{p}: line {i + 1}: expected finite vector coordinates (got {a[i].tolist()})")
    return a, where
