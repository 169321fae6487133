"""Read and write triangle meshes, faithfully.

Readers never merge, drop or reorder vertices: vertex ``i`` of the result is the ``i``-th vertex
record of the file (for STL, which stores a soup, the three corners of facet ``f`` are vertices
``3f, 3f+1, 3f+2``).  Polygon faces are triangulated only on request (``triangulate=True``);
otherwise a :class:`~manifold_nets.errors.NonTriangleError` names the first polygon.

Formats: OBJ, OFF (and COFF/NOFF/…), PLY (ASCII, binary little/big endian), STL (ASCII,
binary), each optionally gzip-compressed (``.obj.gz``, ``.ply.gz``, …); other formats that
meshio reads (VTK, VTU, VTP, …) when meshio is installed.  Writers: PLY (ASCII or binary),
OBJ and OFF, with optional per-vertex and per-face arrays.  A writer keeps every array it is
given, with its name, dtype and shape, or refuses before writing anything with an
:class:`~manifold_nets.errors.UnsupportedDataError` naming the array (nothing is dropped
silently):

* PLY keeps every array of a numeric dtype (bool, 8/16/32/64-bit integers whose values fit,
  float16/32/64) and any shape ``(n, ...)``; multi-column arrays are written as one property
  per column (``name_0, name_1, …``; a uint8 ``color`` of 3 or 4 columns as the standard
  ``red green blue [alpha]``) and a ``comment manifold_nets array …`` header line records the
  name, dtype and shape, so that reading gives back the same array;
* OBJ keeps ``vertex_data["color"]`` (float64 ``(nV, 3)``, ``v x y z r g b``) and per-corner
  texture coordinates and normals (``face_data["uv"]`` float64 ``(nF, 3, 2|3)`` with optional
  ``face_data["uv_index"]`` int64 ``(nF, 3)``; ``face_data["normal"]`` ``(nF, 3, 3)`` with
  ``"normal_index"``);
* OFF keeps ``"color"`` float64 ``(n, 3|4)`` vertex and face data;
* STL is not written: it stores every triangle corner separately, in float32.

Per-corner data: reading an OBJ with ``vt``/``vn`` references gives ``face_data["uv"]``
``(nF, 3, k)`` float64 (NaN for a corner without one) and ``face_data["uv_index"]`` ``(nF, 3)``
int64, the 0-based ``vt`` record of each corner (``-1`` for none), and likewise ``"normal"`` /
``"normal_index"``, without splitting vertices (``split_seams=True`` splits them).  Per-face
arrays with a trailing corner axis of 3 are the library's per-corner data.

Reading is capped: a path that is not a regular file (``/dev/zero``, a FIFO) is refused, and
so is a file (or its gzip content) larger than :data:`MAX_READ_BYTES` (default 8 GiB; the
environment variable ``MANIFOLD_NETS_MAX_READ_BYTES`` changes it).

This module turns files into arrays (:func:`read_polygons`, :func:`read_triangles`) and arrays
into files (:func:`write_mesh`); it sits below :mod:`manifold_nets.mesh` and never imports it or
:mod:`manifold_nets.repair`.  :func:`manifold_nets.read_mesh` wraps :func:`read_triangles` in a
validated :class:`~manifold_nets.Mesh`.
"""

from __future__ import annotations

import gzip
import io as _io
import os
import re
import stat as _stat
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import (
    EmptyMeshError,
    FileFaceIndexError,
    MeshError,
    MeshFileError,
    MeshFileNotFoundError,
    MeshFileTooLargeError,
    MeshIsADirectoryError,
    MeshParseError,
    MeshPermissionError,
    MeshShapeError,
    NonTriangleError,
    UnknownFormatError,
    UnsupportedDataError,
    optional_import,
)
from .files import atomic_write
from .polygons import triangulate as _triangulate
from .validation import check_mesh_arrays

__all__ = ["read_triangles", "read_polygons", "write_mesh", "check_writable", "PolygonMesh",
           "TriangleMeshData", "SUPPORTED_READ", "SUPPORTED_WRITE", "MAX_READ_BYTES"]

SUPPORTED_READ = (".obj", ".off", ".ply", ".stl")
SUPPORTED_WRITE = (".obj", ".off", ".ply")

#: Largest file (and largest gzip content) the readers load, in bytes.
MAX_READ_BYTES = int(os.environ.get("MANIFOLD_NETS_MAX_READ_BYTES", 8 * 2**30))
_MESHIO_EXT = (".vtk", ".vtu", ".vtp", ".msh", ".mesh", ".xdmf", ".med", ".inp")


class PolygonMesh:
    """Raw polygon data as read from a file (before triangulation).

    Attributes
    ----------
    V : (nV, 3) float64
    faces : (nC,) int64
        Concatenated vertex indices of all polygons.
    offsets : (nP + 1,) int64
        Polygon ``p`` is ``faces[offsets[p]:offsets[p + 1]]``.
    vertex_data, face_data : dict of str to ndarray
        Extra per-vertex / per-polygon arrays found in the file.
    corner_data : dict of str to ndarray
        Per-corner arrays ``(nC, ...)`` aligned with ``faces`` (OBJ ``uv``, ``uv_index``,
        ``normal``, ``normal_index``); :func:`read_triangles` turns them into ``(nF, 3, ...)``
        face data.
    """

    __slots__ = ("V", "faces", "offsets", "vertex_data", "face_data", "corner_data")

    def __init__(self, V, faces, offsets, vertex_data=None, face_data=None, corner_data=None):
        self.V = V
        self.faces = faces
        self.offsets = offsets
        self.vertex_data = vertex_data or {}
        self.face_data = face_data or {}
        self.corner_data = corner_data or {}

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def n_polygons(self) -> int:
        return len(self.offsets) - 1


# ---------------------------------------------------------------------------------------------
# helpers


def _decode_text(data: bytes, path) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return data.decode("utf-16", errors="replace")
    if len(data) >= 4 and data[0] == 0 and data[1] != 0 and data[2] == 0:
        return data.decode("utf-16-be", errors="replace")
    if len(data) >= 4 and data[1] == 0 and data[0] != 0 and data[3] == 0:
        return data.decode("utf-16-le", errors="replace")
    return data.decode("utf-8", errors="replace")


def _float(tok: str, path, lineno: int) -> float:
    try:
        return float(tok)
    except ValueError:
        raise MeshParseError(
            f"{path}: line {lineno}: expected a number (got {tok!r})"
        ) from None


def _int(tok: str, path, lineno: int) -> int:
    try:
        return int(tok)
    except ValueError:
        raise MeshParseError(f"{path}: line {lineno}: expected an integer index (got {tok!r})") from None


def _split_ext(path: Path) -> tuple[str, bool]:
    """Return (format extension, is_gzip)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        return (suffixes[-2] if len(suffixes) >= 2 else ""), True
    return (suffixes[-1] if suffixes else ""), False


# ---------------------------------------------------------------------------------------------
# OBJ


_OBJ_TAG = {"vertex": "v", "texture coordinate": "vt", "normal": "vn"}


def _obj_ref(tok: str, count: int, what: str, path, lineno: int) -> int:
    """0-based index of a 1-based (or negative, relative) OBJ reference; checks the range."""
    i = _int(tok, path, lineno)
    j = i - 1 if i > 0 else count + i
    if count == 0 and what != "vertex":
        raise FileFaceIndexError(
            f"{path}: line {lineno}: expected a {what} index only when the file has {what}s "
            f"('{_OBJ_TAG.get(what, what)}' lines before it) (got {tok} with none)"
        )
    if i == 0 or j < 0 or j >= count:
        raise FileFaceIndexError(
            f"{path}: line {lineno}: expected a {what} index in [1, {count}] or [-{count}, -1] (got {tok})"
        )
    return j


def _parse_obj(data: bytes, path, split_seams: bool) -> PolygonMesh:
    text = _decode_text(data, path)
    verts: list[list[float]] = []
    colors: list[list[float]] = []
    has_color = True
    tex: list[list[float]] = []
    nrm: list[list[float]] = []
    faces: list[int] = []
    face_uv: list[int] = []
    face_nrm: list[int] = []
    sizes: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] == "#":
            continue
        tag, _, rest = line.partition(" ") if " " in line else line.partition("\t")
        tag = tag.strip()
        if tag == "v":
            toks = rest.split()
            if len(toks) < 3:
                raise MeshParseError(f"{path}: line {lineno}: expected 3 vertex coordinates (got {len(toks)})")
            verts.append([_float(t, path, lineno) for t in toks[:3]])
            if len(toks) >= 6:
                colors.append([_float(t, path, lineno) for t in toks[3:6]])
            else:
                has_color = False
        elif tag == "vt":
            toks = rest.split()
            if not toks:
                raise MeshParseError(f"{path}: line {lineno}: expected 1 to 3 texture coordinates (got 0)")
            tex.append([_float(t, path, lineno) for t in toks[:3]])
        elif tag == "vn":
            toks = rest.split()
            if len(toks) < 3:
                raise MeshParseError(f"{path}: line {lineno}: expected 3 normal coordinates (got {len(toks)})")
            nrm.append([_float(t, path, lineno) for t in toks[:3]])
        elif tag == "f":
            toks = rest.split()
            if len(toks) < 3:
                raise MeshParseError(f"{path}: line {lineno}: expected a face with at least 3 vertices (got {len(toks)})")
            n = len(verts)
            for t in toks:
                if "/" not in t:  # the common case: a vertex index only
                    try:
                        i = int(t)
                    except ValueError:
                        i = 0
                    j = i - 1 if i > 0 else n + i
                    if i == 0 or j < 0 or j >= n:
                        j = _obj_ref(t, n, "vertex", path, lineno)  # raises the typed error
                    faces.append(j)
                    face_uv.append(-1)
                    face_nrm.append(-1)
                    continue
                parts = t.split("/")
                faces.append(_obj_ref(parts[0], n, "vertex", path, lineno))
                ti = parts[1] if len(parts) > 1 else ""
                ni = parts[2] if len(parts) > 2 else ""
                face_uv.append(_obj_ref(ti, len(tex), "texture coordinate", path, lineno) if ti else -1)
                face_nrm.append(_obj_ref(ni, len(nrm), "normal", path, lineno) if ni else -1)
            sizes.append(len(toks))
    V = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    Fc = np.asarray(faces, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    vdata = {}
    if has_color and colors and len(colors) == len(verts):
        vdata["color"] = np.asarray(colors, dtype=np.float64)
    cdata = {}
    uv_idx = np.asarray(face_uv, dtype=np.int64)
    n_idx = np.asarray(face_nrm, dtype=np.int64)
    for name, idx, table, width in (("uv", uv_idx, tex, None), ("normal", n_idx, nrm, 3)):
        if not (idx >= 0).any():
            continue
        w = width or max(2, max(len(r) for r in table))
        T = np.zeros((len(table), w), np.float64)
        for r, row in enumerate(table):
            T[r, : len(row)] = row[:w]
        vals = np.full((len(idx), w), np.nan)
        vals[idx >= 0] = T[idx[idx >= 0]]
        cdata[name] = vals
        cdata[f"{name}_index"] = idx
    if split_seams and len(Fc):
        # one vertex per distinct (position, texture, normal) triple, in order of first use
        pairs = np.stack([Fc, uv_idx, n_idx], 1)
        _, first, inv = np.unique(pairs, axis=0, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        new_of_corner = rank[inv.reshape(-1)]
        src = Fc[first[order]]
        V = V[src]
        vdata = {k: v[src] for k, v in vdata.items()}
        vdata["source_vertex"] = src
        Fc = new_of_corner.astype(np.int64)
    return PolygonMesh(V, Fc, offsets, vdata, {}, cdata)


# ---------------------------------------------------------------------------------------------
# OFF


def _parse_off(data: bytes, path) -> PolygonMesh:
    text = _decode_text(data, path)
    lines = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        s = raw.split("#", 1)[0].strip()
        if s:
            lines.append((lineno, s))
    if not lines:
        raise MeshParseError(f"{path}: expected an OFF header (got an empty file)")
    lineno, head = lines[0]
    m = re.match(r"^(ST)?(C)?(N)?(4)?(n)?OFF(.*)$", head)
    if not m:
        raise MeshParseError(f"{path}: line {lineno}: expected the keyword OFF (got {head[:20]!r})")
    if m.group(4) or m.group(5):
        raise MeshParseError(f"{path}: line {lineno}: expected 3D OFF (got {head.split()[0]!r})")
    rest = m.group(6).split()
    k = 1
    if not rest:
        if len(lines) < 2:
            raise MeshParseError(f"{path}: expected a line with vertex and face counts (got end of file)")
        lineno, cl = lines[1]
        rest = cl.split()
        k = 2
    if len(rest) < 2:
        raise MeshParseError(f"{path}: line {lineno}: expected 'nV nF nE' counts (got {' '.join(rest)!r})")
    nv, nf = _int(rest[0], path, lineno), _int(rest[1], path, lineno)
    if nv < 0 or nf < 0:
        raise MeshParseError(f"{path}: line {lineno}: expected non-negative counts (got {nv} {nf})")
    if len(lines) < k + nv + nf:
        raise MeshParseError(
            f"{path}: expected {nv} vertex and {nf} face lines after the header (got {len(lines) - k} lines)"
        )
    vlines = lines[k : k + nv]
    V = np.empty((nv, 3), dtype=np.float64)
    extra = []
    for r, (ln, s) in enumerate(vlines):
        toks = s.split()
        if len(toks) < 3:
            raise MeshParseError(f"{path}: line {ln}: expected 3 vertex coordinates (got {len(toks)})")
        V[r] = [_float(t, path, ln) for t in toks[:3]]
        extra.append(len(toks) - 3)
    vdata = {}
    if m.group(2) and nv and len(set(extra)) == 1 and extra[0] in (3, 4):
        vdata["color"] = np.array([[float(t) for t in s.split()[3:]] for _, s in vlines])
    faces: list[int] = []
    sizes: list[int] = []
    fcol = []
    for ln, s in lines[k + nv : k + nv + nf]:
        toks = s.split()
        n = _int(toks[0], path, ln)
        if n < 3:
            raise MeshParseError(f"{path}: line {ln}: expected a face with at least 3 vertices (got {n})")
        if len(toks) < 1 + n:
            raise MeshParseError(f"{path}: line {ln}: expected {n} vertex indices (got {len(toks) - 1})")
        faces.extend(_int(t, path, ln) for t in toks[1 : 1 + n])
        sizes.append(n)
        fcol.append(toks[1 + n :])
    fdata = {}
    if nf and all(len(c) in (3, 4) for c in fcol) and len({len(c) for c in fcol}) == 1:
        try:
            fdata["color"] = np.array([[float(t) for t in c] for c in fcol])
        except ValueError:
            pass
    Fc = np.asarray(faces, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    return PolygonMesh(V, Fc, offsets, vdata, fdata)


# ---------------------------------------------------------------------------------------------
# PLY

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def _ply_type(name: str, path) -> str:
    try:
        return _PLY_TYPES[name]
    except KeyError:
        raise MeshParseError(f"{path}: expected a PLY scalar type (got {name!r})") from None


def _parse_ply(data: bytes, path) -> PolygonMesh:
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise MeshParseError(f"{path}: expected a PLY header starting with 'ply' and ending with 'end_header'")
    nl = data.find(b"\n", end)
    body_start = len(data) if nl < 0 else nl + 1
    header = data[:end].decode("ascii", errors="replace").splitlines()
    fmt = None
    elements: list[dict] = []
    arrays: list[list[str]] = []  # our own "comment manifold_nets array ..." records
    for hline, raw in enumerate(header[1:], 2):
        toks = raw.split()
        if toks[:3] == ["comment", "manifold_nets", "array"] and len(toks) == 8:
            arrays.append(toks[3:])
            continue
        if not toks or toks[0] in ("comment", "obj_info"):
            continue
        if toks[0] == "format":
            fmt = toks[1] if len(toks) > 1 else None
        elif toks[0] == "element":
            if len(toks) < 3:
                raise MeshParseError(f"{path}: expected 'element NAME COUNT' (got {raw!r})")
            count = _int(toks[2], path, hline)
            if count < 0:
                raise MeshParseError(f"{path}: line {hline}: expected a non-negative element count "
                                     f"(got {raw!r})")
            elements.append({"name": toks[1], "count": count, "props": []})
        elif toks[0] == "property":
            if not elements:
                raise MeshParseError(f"{path}: expected an element before property (got {raw!r})")
            if len(toks) >= 5 and toks[1] == "list":
                elements[-1]["props"].append((toks[4], "list", _ply_type(toks[2], path), _ply_type(toks[3], path)))
            elif len(toks) >= 3:
                elements[-1]["props"].append((toks[2], "scalar", _ply_type(toks[1], path), None))
            else:
                raise MeshParseError(f"{path}: malformed property line {raw!r}")
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise MeshParseError(f"{path}: expected PLY format ascii or binary_little/big_endian (got {fmt!r})")
    values = {}
    if fmt == "ascii":
        tokens = data[body_start:].split()
        pos = 0
        for el in elements:
            n = el["count"]
            props = el["props"]
            if all(p[1] == "scalar" for p in props):
                k = len(props)
                chunk = tokens[pos : pos + n * k]
                if len(chunk) < n * k:
                    raise MeshParseError(f"{path}: expected {n} '{el['name']}' records of {k} values (file ends early)")
                try:
                    arr = np.array(chunk, dtype=np.float64).reshape(n, k) if k else np.zeros((n, 0))
                except ValueError as exc:
                    raise MeshParseError(f"{path}: expected numbers in element '{el['name']}' ({exc})") from None
                pos += n * k
                values[el["name"]] = {p[0]: _cast(arr[:, j], p[2], path, el["name"], p[0])
                                      for j, p in enumerate(props)}
            else:
                cols = {p[0]: [] for p in props}
                try:
                    for _ in range(n):
                        for p in props:
                            if p[1] == "scalar":
                                cols[p[0]].append(float(tokens[pos]))
                                pos += 1
                            else:
                                c = int(tokens[pos])
                                conv = float if p[3][0] == "f" else (lambda t: int(float(t)))
                                cols[p[0]].append([conv(t) for t in tokens[pos + 1 : pos + 1 + c]])
                                if len(cols[p[0]][-1]) != c:
                                    raise IndexError
                                pos += 1 + c
                except (IndexError, ValueError):
                    raise MeshParseError(
                        f"{path}: expected {n} '{el['name']}' records with properties "
                        f"{[p[0] for p in props]} (got malformed or missing values)"
                    ) from None
                values[el["name"]] = cols
    else:
        bo = "<" if fmt == "binary_little_endian" else ">"
        buf = memoryview(data)[body_start:]
        pos = 0
        for el in elements:
            n = el["count"]
            props = el["props"]
            if all(p[1] == "scalar" for p in props):
                dt = np.dtype([(f"p{j}", bo + p[2]) for j, p in enumerate(props)])
                nbytes = dt.itemsize * n
                if pos + nbytes > len(buf):
                    raise MeshParseError(f"{path}: expected {n} binary '{el['name']}' records (file ends early)")
                arr = np.frombuffer(buf[pos : pos + nbytes], dtype=dt, count=n)
                pos += nbytes
                values[el["name"]] = {p[0]: arr[f"p{j}"].astype(p[2]) for j, p in enumerate(props)}
                continue
            # elements with lists: try the fixed-size fast path, else walk record by record
            parsed = _ply_binary_lists(buf, pos, n, props, bo)
            if parsed is None:
                raise MeshParseError(f"{path}: expected {n} binary '{el['name']}' records (file ends early)")
            values[el["name"]], pos = parsed
    if "vertex" not in values:
        raise MeshParseError(f"{path}: expected a 'vertex' element (got {[e['name'] for e in elements]})")
    types = {el["name"]: {p[0]: (p[3] if p[1] == "list" else p[2]) for p in el["props"]} for el in elements}
    vx = values["vertex"]
    for c in ("x", "y", "z"):
        if c not in vx or isinstance(vx[c], (list, tuple)):
            raise MeshParseError(f"{path}: expected vertex properties x, y, z (got {list(vx)})")
    V = np.stack([np.asarray(vx[c], dtype=np.float64) for c in ("x", "y", "z")], 1).reshape(-1, 3)
    vdata = _ply_data(vx, types["vertex"], ("x", "y", "z"))
    faces_el = values.get("face", {})
    lists = faces_el.get("vertex_indices", faces_el.get("vertex_index"))
    if lists is None:
        Fc = np.zeros(0, np.int64)
        offsets = np.zeros(1, np.int64)
        fdata = {}
    else:
        if isinstance(lists, tuple):  # fast path: (flat, offsets)
            Fc, offsets = lists
        else:
            sizes = [len(x) for x in lists]
            Fc = np.fromiter((i for x in lists for i in x), dtype=np.int64, count=sum(sizes))
            offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
        fdata = _ply_data(faces_el, types["face"], ("vertex_indices", "vertex_index"))
    vdata = _ply_regroup(vdata, arrays, "vertex", len(V))
    fdata = _ply_regroup(fdata, arrays, "face", len(offsets) - 1)
    return PolygonMesh(V, np.asarray(Fc).astype(np.int64), offsets, vdata, fdata)


def _cast(a: np.ndarray, code: str, path, el: str, name: str) -> np.ndarray:
    """ASCII PLY values (parsed as float64) in the declared type; refuses values it cannot hold."""
    dt = np.dtype(code)
    if dt.kind == "f":
        return a.astype(dt)
    info = np.iinfo(dt)
    bad = (a != np.round(a)) | (a < info.min) | (a > info.max)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise MeshParseError(f"{path}: element '{el}' record {i}: expected property '{name}' to be a "
                             f"{dt.name} (got {a[i]!r})")
    return a.astype(dt)


def _ply_data(cols: dict, types: dict, skip: tuple) -> dict:
    """Per-element arrays of a PLY element in their declared dtypes: scalars as ``(n,)``, lists
    of one length as ``(n, k)``.  Lists of varying lengths cannot be an array and are left out
    (only ``vertex_indices`` may vary)."""
    out = {}
    for k, v in cols.items():
        if k in skip:
            continue
        dt = np.dtype(types[k])
        if isinstance(v, tuple):  # binary fast path of a list: (flat, offsets)
            flat, off = v
            n = len(off) - 1
            out[k] = np.asarray(flat, dtype=dt).reshape(n, (off[1] - off[0]) if n else 0)
        elif isinstance(v, list) and v and isinstance(v[0], list):
            if len({len(r) for r in v}) == 1:
                out[k] = np.asarray(v, dtype=dt)
        else:
            out[k] = np.asarray(v).astype(dt)
    return out


def _ply_regroup(data: dict, records: list[list[str]], element: str, n: int) -> dict:
    """Put the columns that ``comment manifold_nets array`` records name back into one array of
    the recorded dtype and shape (files written by :func:`write_mesh`).

    All columns are taken from the file's columns before any array is named, so an array whose
    name is another array's column (``label_0`` beside a two-column ``label``) cannot shadow it."""
    columns = dict(data)
    grouped = {}
    for el, name, dtype, shape, props in records:
        if el != element:
            continue
        cols = props.split(",")
        try:
            dt = np.dtype(dtype)
            tail = tuple(int(x) for x in shape.split("x")) if shape != "-" else ()
        except (TypeError, ValueError):
            continue
        if not all(c in columns and columns[c].shape == (n,) for c in cols) or int(np.prod(tail)) != len(cols):
            continue
        stacked = np.stack([columns[c] for c in cols], 1) if tail else columns[cols[0]]
        for c in cols:
            data.pop(c, None)
        grouped[name] = stacked.astype(dt).reshape((n,) + tail)
    data.update(grouped)
    return data


def _ply_binary_lists(buf, pos, n, props, bo):
    """Parse a binary element containing list properties; returns (columns, new_pos) or None."""
    cols = {}
    if n == 0:
        for p in props:
            cols[p[0]] = (np.zeros(0, np.int64), np.zeros(1, np.int64)) if p[1] == "list" else np.zeros(0)
        return cols, pos
    # fast path: every list has the length of the first record's list
    fields = []
    off = pos
    first_counts = []
    for j, p in enumerate(props):
        if p[1] == "scalar":
            fields.append((f"p{j}", bo + p[2]))
            off += np.dtype(p[2]).itemsize
        else:
            cdt = np.dtype(bo + p[2])
            if off + cdt.itemsize > len(buf):
                return None
            c = int(np.frombuffer(buf[off : off + cdt.itemsize], dtype=cdt)[0])
            first_counts.append(c)
            fields.append((f"c{j}", bo + p[2]))
            fields.append((f"p{j}", bo + p[3], (c,)) if c else (f"p{j}", bo + p[3], (0,)))
            off += cdt.itemsize + c * np.dtype(p[3]).itemsize
    dt = np.dtype(fields)
    if pos + dt.itemsize * n <= len(buf):
        arr = np.frombuffer(buf[pos : pos + dt.itemsize * n], dtype=dt, count=n)
        ok = all((arr[f"c{j}"] == arr[f"c{j}"][0]).all() for j, p in enumerate(props) if p[1] == "list")
        if ok:
            for j, p in enumerate(props):
                if p[1] == "scalar":
                    cols[p[0]] = arr[f"p{j}"].astype(p[2])
                else:
                    c = int(arr[f"c{j}"][0])
                    flat = arr[f"p{j}"].reshape(-1).astype(p[3])
                    cols[p[0]] = (flat, np.arange(n + 1, dtype=np.int64) * c)
            return cols, pos + dt.itemsize * n
    # slow path: variable-length lists, record by record
    out = {p[0]: [] for p in props}
    for _ in range(n):
        for p in props:
            if p[1] == "scalar":
                dtp = np.dtype(bo + p[2])
                if pos + dtp.itemsize > len(buf):
                    return None
                out[p[0]].append(np.frombuffer(buf[pos : pos + dtp.itemsize], dtype=dtp)[0].item())
                pos += dtp.itemsize
            else:
                cdt = np.dtype(bo + p[2])
                idt = np.dtype(bo + p[3])
                if pos + cdt.itemsize > len(buf):
                    return None
                c = int(np.frombuffer(buf[pos : pos + cdt.itemsize], dtype=cdt)[0])
                pos += cdt.itemsize
                if pos + c * idt.itemsize > len(buf):
                    return None
                out[p[0]].append(np.frombuffer(buf[pos : pos + c * idt.itemsize], dtype=idt).tolist())
                pos += c * idt.itemsize
    return out, pos


# ---------------------------------------------------------------------------------------------
# STL


def _parse_stl(data: bytes, path) -> PolygonMesh:
    if len(data) >= 84:
        n = int(np.frombuffer(data[80:84], dtype="<u4")[0])
        if 84 + 50 * n == len(data):
            dt = np.dtype([("normal", "<f4", (3,)), ("v", "<f4", (3, 3)), ("attr", "<u2")])
            arr = np.frombuffer(data[84:], dtype=dt, count=n)
            V = arr["v"].reshape(-1, 3).astype(np.float64)
            return PolygonMesh(V, np.arange(3 * n, dtype=np.int64), np.arange(n + 1, dtype=np.int64) * 3, {}, {})
    text = _decode_text(data, path)
    if not text.lstrip().lower().startswith("solid"):
        raise MeshParseError(
            f"{path}: expected an ASCII STL starting with 'solid' or a binary STL of 84 + 50·n bytes "
            f"(got {len(data)} bytes)"
        )
    verts = []
    sizes = []
    cur = 0
    for lineno, raw in enumerate(text.splitlines(), 1):
        toks = raw.split()
        if not toks:
            continue
        key = toks[0].lower()
        if key == "vertex":
            if len(toks) < 4:
                raise MeshParseError(f"{path}: line {lineno}: expected 3 coordinates after 'vertex' (got {len(toks) - 1})")
            verts.append([_float(t, path, lineno) for t in toks[1:4]])
            cur += 1
        elif key == "endloop":
            sizes.append(cur)
            cur = 0
    V = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    return PolygonMesh(V, np.arange(len(V), dtype=np.int64), offsets, {}, {})


# ---------------------------------------------------------------------------------------------
# meshio fallback


def _read_meshio(path: Path) -> PolygonMesh:
    meshio = optional_import("meshio", purpose=f"reading {path.suffix} files")
    try:
        m = meshio.read(str(path))
    except MemoryError:
        raise MeshFileTooLargeError(f"{path}: expected a file that fits in memory (got MemoryError)") from None
    except Exception as exc:  # meshio raises many types
        raise MeshParseError(f"{path}: expected a mesh meshio can read (got {type(exc).__name__}: {exc})") from None
    V = np.asarray(m.points, dtype=np.float64)
    if V.ndim != 2 or V.shape[1] not in (2, 3):
        raise MeshParseError(f"{path}: expected 2D or 3D points (got shape {V.shape})")
    if V.shape[1] == 2:
        V = np.concatenate([V, np.zeros((len(V), 1))], 1)
    faces, sizes = [], []
    for block in m.cells:
        if block.type in ("triangle", "quad", "polygon") or block.type.startswith("polygon"):
            d = np.asarray(block.data, dtype=np.int64)
            faces.append(d.reshape(-1))
            sizes.append(np.full(len(d), d.shape[1], np.int64))
    Fc = np.concatenate(faces) if faces else np.zeros(0, np.int64)
    sz = np.concatenate(sizes) if sizes else np.zeros(0, np.int64)
    offsets = np.concatenate([[0], np.cumsum(sz)]).astype(np.int64)
    vdata = {k: np.asarray(v) for k, v in (m.point_data or {}).items()}
    return PolygonMesh(V, Fc, offsets, vdata, {})


# ---------------------------------------------------------------------------------------------
# public API


def read_polygons(path: str | os.PathLike, *, split_seams: bool = False) -> PolygonMesh:
    """Read a mesh file into raw polygon arrays without any triangulation or checks on indices.

    Parameters
    ----------
    path : str or path-like
        ``.obj .off .ply .stl`` (optionally ``.gz``), or a meshio format.
    split_seams : bool
        OBJ only: make one vertex per distinct (position, texture, normal) index triple of the
        face corners, as trimesh and renderers do (UV seams and sharp-normal edges become
        boundaries; ``vertex_data["source_vertex"]`` maps back; vertices no face uses are not
        kept).  Off by default: vertex ``i`` is the file's ``i``-th ``v`` line.

    Returns
    -------
    PolygonMesh
    """
    p = Path(path)
    st = _stat_input(p)
    ext, gz = _split_ext(p)
    if ext not in SUPPORTED_READ and ext not in _MESHIO_EXT:
        raise UnknownFormatError(
            f"{p}: expected one of {', '.join(SUPPORTED_READ + _MESHIO_EXT)} (optionally .gz) (got {''.join(p.suffixes) or 'no extension'!r})"
        )
    if ext in _MESHIO_EXT:
        if gz:
            raise UnknownFormatError(f"{p}: expected an uncompressed {ext} file (got gzip)")
        return _read_meshio(p)
    data = _read_capped(p, st, gz)
    try:
        if ext == ".obj":
            return _parse_obj(data, p, split_seams)
        if ext == ".off":
            return _parse_off(data, p)
        if ext == ".ply":
            return _parse_ply(data, p)
        return _parse_stl(data, p)
    except MeshError:
        raise
    except (ValueError, IndexError, TypeError, OverflowError, UnicodeError) as exc:
        raise MeshParseError(f"{p}: expected a well-formed {ext[1:].upper()} file (got {type(exc).__name__}: {exc})") from None


def _file_kind(mode: int) -> str:
    for test, name in ((_stat.S_ISCHR, "character device"), (_stat.S_ISBLK, "block device"),
                       (_stat.S_ISFIFO, "FIFO"), (_stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _os_error(p: Path, exc: OSError, what: str = "a readable mesh file", kind: str = "mesh file") -> MeshFileError:
    """The typed error of an ``OSError`` met opening or reading input ``p`` (``kind``: what the
    file should be, for the messages)."""
    import errno

    reason = exc.strerror or type(exc).__name__
    if isinstance(exc, FileNotFoundError) or exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return MeshFileNotFoundError(f"{p}: expected an existing {kind} (got no such file)")
    if isinstance(exc, PermissionError):
        return MeshPermissionError(f"{p}: expected {what} (got permission denied)")
    if isinstance(exc, IsADirectoryError):
        return MeshIsADirectoryError(f"{p}: expected a {kind} (got a directory)")
    return MeshFileError(f"{p}: expected {what} (got {reason})")


def _stat_input(p: Path, kind: str = "mesh file") -> os.stat_result:
    """``os.stat`` of an input file (following links), refusing directories and special files
    (opening a FIFO would block until a writer comes)."""
    try:
        st = os.stat(p)
    except OSError as exc:
        raise _os_error(p, exc, f"a readable {kind}", kind) from None
    except ValueError as exc:  # an embedded NUL byte and the like
        raise MeshFileNotFoundError(f"{p!r}: expected a valid file path (got {exc})") from None
    if _stat.S_ISDIR(st.st_mode):
        raise MeshIsADirectoryError(f"{p}: expected a {kind} (got a directory)")
    if not _stat.S_ISREG(st.st_mode):
        raise MeshFileTooLargeError(f"{p}: expected a regular file (got a {_file_kind(st.st_mode)})")
    return st


def _too_large(p: Path, what: str, size: str) -> MeshFileTooLargeError:
    return MeshFileTooLargeError(
        f"{p}: expected {what} of at most {MAX_READ_BYTES} bytes (got {size}); "
        "set MANIFOLD_NETS_MAX_READ_BYTES to read larger files"
    )


def _read_capped(p: Path, st: os.stat_result, gz: bool) -> bytes:
    """The bytes of ``p`` (decompressed when ``gz``), never more than :data:`MAX_READ_BYTES`."""
    cap = MAX_READ_BYTES
    if st.st_size > cap:
        raise _too_large(p, "a file", f"{st.st_size} bytes")
    try:
        with open(p, "rb") as fh:
            # read what stat says (+1 byte to see growth): never reserve the whole cap up front
            data = fh.read(min(cap, st.st_size) + 1)
            if len(data) > st.st_size:  # the file grew after stat
                data += fh.read(cap + 1 - len(data))
                if len(data) > cap:
                    raise _too_large(p, "a file", "more")
            if gz:
                try:
                    with gzip.GzipFile(fileobj=_io.BytesIO(data)) as gzf:
                        chunks, total = [], 0
                        while True:
                            chunk = gzf.read(1 << 20)
                            if not chunk:
                                break
                            total += len(chunk)
                            chunks.append(chunk)
                            if total > cap:
                                break
                        data = b"".join(chunks)
                except (OSError, EOFError, ValueError) as exc:
                    raise MeshParseError(f"{p}: expected gzip-compressed data (got {exc})") from None
                if len(data) > cap:
                    raise _too_large(p, "gzip content", "more")
    except OSError as exc:
        raise _os_error(p, exc) from None
    except MemoryError:
        raise MeshFileTooLargeError(
            f"{p}: expected a file that fits in memory (got {st.st_size} bytes, MemoryError)"
        ) from None
    return data


class TriangleMeshData(NamedTuple):
    """Triangle arrays read from a file, before they become a :class:`~manifold_nets.Mesh`.

    ``F`` indices are checked against ``len(V)``; everything else (finite coordinates, shapes of
    the data arrays) is checked once, when the :class:`~manifold_nets.Mesh` is built.
    """

    V: np.ndarray
    F: np.ndarray
    vertex_data: dict
    face_data: dict


def read_triangles(path: str | os.PathLike, *, triangulate: bool = False, split_seams: bool = False,
                   allow_empty: bool = False, triangulation: str = "ear") -> TriangleMeshData:
    """Read the triangles of a mesh file as arrays, keeping the file's vertex and face order.

    This is the array-level half of :func:`manifold_nets.read_mesh`, which wraps the result in
    a validated :class:`~manifold_nets.Mesh`; the parameters are the same.

    Parameters
    ----------
    path : str or path-like
        ``.obj .off .ply .stl``, each optionally ``.gz``; VTK and friends through meshio.
    triangulate : bool
        Triangulate polygon faces (see :func:`manifold_nets.polygons.triangulate`); per-face
        data is repeated for the triangles of each polygon and ``face_data["polygon"]`` maps
        each triangle to its polygon.  If ``False`` a polygon face raises :class:`NonTriangleError`.
    split_seams : bool
        OBJ only; see :func:`read_polygons`.
    triangulation : {"ear", "fan"}
        How polygons are split when ``triangulate=True`` (see
        :func:`manifold_nets.polygons.triangulate`).
    allow_empty : bool
        Accept a file with vertices but no faces (a point cloud) instead of raising
        :class:`EmptyMeshError`.

    Returns
    -------
    TriangleMeshData
        ``V (nV, 3) float64``, ``F (nF, 3) int64``, ``vertex_data``, ``face_data``.

    Raises
    ------
    MeshFileNotFoundError, UnknownFormatError, MeshParseError, EmptyMeshError,
    NonTriangleError, FaceIndexError
    """
    p = Path(path)
    pm = read_polygons(p, split_seams=split_seams)
    if len(pm.V) == 0:
        raise EmptyMeshError(f"{p}: expected at least one vertex (got 0)")
    if pm.n_polygons == 0 and not allow_empty:
        raise EmptyMeshError(f"{p}: expected at least one face (got 0; pass allow_empty=True for a point cloud)")
    sizes = pm.sizes
    fdata = dict(pm.face_data)
    if pm.n_polygons and (sizes != 3).any():
        bad = int(np.flatnonzero(sizes != 3)[0])
        if (sizes < 3).any():
            b = int(np.flatnonzero(sizes < 3)[0])
            raise NonTriangleError(f"{p}: face {b}: expected at least 3 vertices (got {int(sizes[b])})")
        if not triangulate:
            raise NonTriangleError(
                f"{p}: face {bad}: expected a triangle (got a polygon with {int(sizes[bad])} vertices; "
                f"{int((sizes != 3).sum())} polygons in all); pass triangulate=True to triangulate"
            )
        _check_indices(pm, p)
        if "polygon" in fdata:
            raise MeshParseError(
                f"{p}: expected no per-face array named 'polygon' when triangulating, since the "
                "triangulation records each triangle's polygon under that name (got one in the file)"
            )
        F, poly, corners = _triangulate(pm.V, pm.faces, pm.offsets, method=triangulation,
                                        return_corners=True)
        fdata = {k: v[poly] for k, v in fdata.items()}
        fdata["polygon"] = poly
    else:
        F = pm.faces.reshape(-1, 3) if pm.n_polygons else np.zeros((0, 3), np.int64)
        corners = np.arange(F.size, dtype=np.int64).reshape(-1, 3)
    _check_indices(pm, p)
    for k, v in pm.corner_data.items():
        if k in fdata:
            raise MeshParseError(f"{p}: expected one array named {k!r} (got per-face and per-corner ones)")
        fdata[k] = v[corners]
    return TriangleMeshData(pm.V, F, dict(pm.vertex_data), fdata)


def _check_indices(pm: PolygonMesh, p: Path) -> None:
    if pm.faces.size == 0:
        return
    nV = len(pm.V)
    bad = (pm.faces < 0) | (pm.faces >= nV)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        f = int(np.searchsorted(pm.offsets, k, side="right") - 1)
        raise FileFaceIndexError(
            f"{p}: face {f}: expected vertex indices in [0, {nV}) (got {pm.faces[pm.offsets[f]:pm.offsets[f + 1]].tolist()})"
        )


def write_mesh(path: str | os.PathLike, V, F, *, vertex_data: dict | None = None,
               face_data: dict | None = None, binary: bool = True, precision: int = 17) -> None:
    """Write a triangle mesh (atomically: a temporary file in the same folder is renamed).

    Every array given is written so that reading the file gives it back with the same name,
    dtype, shape and values, or nothing is written and an
    :class:`~manifold_nets.errors.UnsupportedDataError` names the array the format cannot hold.

    Parameters
    ----------
    path : str or path-like
        ``.ply`` (ASCII or binary; keeps every numeric array of shape ``(n, ...)``), ``.obj``
        (keeps ``vertex_data["color"]`` float64 ``(nV, 3)`` as ``v x y z r g b`` and per-corner
        ``face_data["uv"]`` / ``["uv_index"]`` / ``["normal"]`` / ``["normal_index"]``) or
        ``.off`` (keeps float64 ``"color"`` ``(n, 3|4)`` vertex and face data); ``.gz`` appended
        compresses.  STL is refused (it cannot hold shared vertices or float64 coordinates).
    V : (nV, 3) float
    F : (nF, 3) int
    vertex_data, face_data : dict of str to array, optional
        Per-vertex ``(nV, ...)`` and per-face ``(nF, ...)`` arrays.
    binary : bool
        PLY only: binary little-endian (default, exact) or ASCII.
    precision : int
        Significant digits for ASCII formats (17, the default, round-trips float64 exactly;
        fewer digits are a request to round and are not checked).

    Raises
    ------
    UnknownFormatError
        The extension is not one of ``.ply .obj .off`` (optionally ``.gz``).
    UnsupportedDataError
        The format cannot hold one of the arrays (the message names it and what can).
    MeshShapeError, NonFiniteError, FaceIndexError
        Bad ``V``, ``F`` or data shapes.
    """
    p = Path(path)
    ext, gz = _check_ext(p)
    V, F = check_mesh_arrays(V, F, allow_empty_faces=True)
    vertex_data = _check_data(vertex_data, len(V), "vertex_data")
    face_data = _check_data(face_data, len(F), "face_data")
    if ext == ".ply":
        data = _ply_bytes(p, V, F, vertex_data, face_data, binary, precision)
    elif ext == ".obj":
        data = _obj_bytes(p, V, F, vertex_data, face_data, precision)
    else:
        data = _off_bytes(p, V, F, vertex_data, face_data, precision)
    if gz:
        data = gzip.compress(data, mtime=0)
    atomic_write(p, data)


def check_writable(path: str | os.PathLike, vertex_data: dict | None = None,
                   face_data: dict | None = None) -> tuple[str, bool]:
    """Check that :func:`write_mesh` can write this file name, and these arrays in its format;
    return ``(extension, gzip)``.  Nothing is written.

    Raises :class:`UnknownFormatError` for an extension it does not write and
    :class:`UnsupportedDataError` for an array the format cannot hold, so that a command can
    check its output before doing the work.
    """
    p = Path(path)
    ext, gz = _check_ext(p)
    if vertex_data or face_data:
        vd = {k: np.asarray(v) for k, v in (vertex_data or {}).items()}
        fd = {k: np.asarray(v) for k, v in (face_data or {}).items()}
        _check_format_data(p, ext, vd, fd)
    return ext, gz


def _check_format_data(p: Path, ext: str, vd: dict, fd: dict) -> None:
    if ext == ".ply":
        _ply_props(p, "vertex_data", vd, {"x", "y", "z"})
        _ply_props(p, "face_data", fd, {"vertex_indices", "vertex_index"})
    elif ext == ".obj":
        _obj_check(p, vd, fd)
    else:
        _off_check(p, vd, fd)


def _check_ext(p: Path) -> tuple[str, bool]:
    ext, gz = _split_ext(p)
    if ext == ".stl":
        raise UnknownFormatError(
            f"{p}: expected one of {', '.join(SUPPORTED_WRITE)} to write (got '.stl', which stores "
            "every triangle corner separately in float32 and would lose shared vertices and "
            "float64 coordinates); write .ply"
        )
    if ext not in SUPPORTED_WRITE:
        raise UnknownFormatError(
            f"{p}: expected one of {', '.join(SUPPORTED_WRITE)} (optionally .gz) to write "
            f"(got {ext or 'no extension'!r})"
        )
    return ext, gz


def _check_data(data: dict | None, n: int, what: str) -> dict:
    out = {}
    for k, v in (data or {}).items():
        if not isinstance(k, str):
            raise UnsupportedDataError(f"{what}: expected string names (got {k!r})")
        try:
            a = np.asarray(v)
        except Exception as exc:  # ragged lists and the like
            raise MeshShapeError(f"{what}[{k!r}]: expected an array (got {type(v).__name__}: {exc})") from None
        if a.ndim == 0 or a.shape[0] != n:
            raise MeshShapeError(f"{what}[{k!r}]: expected shape ({n}, ...) (got {a.shape})")
        out[k] = a
    return out


def _refuse(p, fmt: str, what: str, name: str, a: np.ndarray, holds: str) -> UnsupportedDataError:
    return UnsupportedDataError(
        f"{p}: expected data {fmt} can hold ({holds}) (got {what}[{name!r}] of dtype {a.dtype} and "
        f"shape {a.shape}); write .ply, which keeps every numeric array, or leave it out"
    )


def _fmt_rows(A: np.ndarray, precision: int, integer: bool = False) -> str:
    if A.size == 0:
        return ""
    buf = _io.StringIO()
    np.savetxt(buf, A, fmt="%d" if integer else f"%.{precision}g")
    return buf.getvalue()


# PLY -------------------------------------------------------------------------------------------

_PLY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def _ply_code(p, what: str, name: str, a: np.ndarray) -> tuple[str, str]:
    """PLY type name and numpy code that hold every value of ``a`` exactly."""
    k, size = a.dtype.kind, a.dtype.itemsize
    if k == "b":
        return "uchar", "u1"
    if k == "f" and size <= 8:
        return ("float", "f4") if size <= 4 else ("double", "f8")
    if k in "iu" and size <= 4:
        return {("i", 1): ("char", "i1"), ("u", 1): ("uchar", "u1"), ("i", 2): ("short", "i2"),
                ("u", 2): ("ushort", "u2"), ("i", 4): ("int", "i4"), ("u", 4): ("uint", "u4")}[(k, size)]
    if k in "iu" and size == 8:
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if -(2**31) <= lo and hi < 2**31:
            return "int", "i4"
        if 0 <= lo and hi < 2**32:
            return "uint", "u4"
        if -(2**53) <= lo and hi <= 2**53:
            return "double", "f8"  # exact for |values| <= 2^53; the dtype is restored on reading
        raise UnsupportedDataError(
            f"{p}: expected {what}[{name!r}] values PLY can hold exactly (|v| <= 2^53) "
            f"(got values in [{lo}, {hi}])"
        )
    raise UnsupportedDataError(
        f"{p}: expected {what}[{name!r}] of a numeric dtype PLY can hold (bool, integers, float16/32/64) "
        f"(got dtype {a.dtype})"
    )


def _ply_props(p, what: str, data: dict, reserved: set) -> tuple[list, list]:
    """Columns ``(prop name, (n,) values, ply type, code)`` and header comments of the arrays."""
    props, comments, used = [], [], set(reserved)
    for name, a in data.items():
        if not _PLY_NAME.match(name):
            raise UnsupportedDataError(
                f"{p}: expected {what} names PLY can hold (letters, digits, _ . -; not starting with a "
                f"digit) (got {name!r})"
            )
        tname, code = _ply_code(p, what, name, a)
        n = a.shape[0]
        tail = a.shape[1:]
        flat = a.reshape(n, -1)
        if not tail:
            cols = [name]
        elif name == "color" and a.dtype == np.uint8 and tail in ((3,), (4,)):
            cols = ["red", "green", "blue", "alpha"][: tail[0]]
        else:
            cols = [f"{name}_{j}" for j in range(flat.shape[1])]
        if not cols:
            raise UnsupportedDataError(f"{p}: expected {what}[{name!r}] with at least one column (got shape {a.shape})")
        clash = [c for c in cols if c in used]
        if clash:
            raise UnsupportedDataError(
                f"{p}: expected distinct PLY property names (got {clash[0]!r} from {what}[{name!r}], "
                f"a name already taken by {'the mesh itself' if clash[0] in reserved else 'another array'})"
            )
        used.update(cols)
        for j, c in enumerate(cols):
            props.append((c, flat[:, j], tname, code))
        shape = "x".join(str(d) for d in tail) if tail else "-"
        comments.append((name, a.dtype.str.lstrip("<>|=") if a.dtype.kind != "b" else "bool", shape, cols))
    return props, comments


def _ply_bytes(p, V, F, vdata, fdata, binary, precision) -> bytes:
    vprops, vcom = _ply_props(p, "vertex_data", vdata, {"x", "y", "z"})
    fprops, fcom = _ply_props(p, "face_data", fdata, {"vertex_indices", "vertex_index"})
    if len(F) and F.max() >= 2**31:
        raise UnsupportedDataError(f"{p}: expected vertex indices < 2^31 for PLY (got {int(F.max())})")
    head = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment manifold_nets"]
    for el, com in (("vertex", vcom), ("face", fcom)):
        head += [f"comment manifold_nets array {el} {n} {np.dtype(d).name if d != 'bool' else 'bool'} "
                 f"{shape} {','.join(cols)}" for n, d, shape, cols in com]
    head += [f"element vertex {len(V)}", "property double x", "property double y", "property double z"]
    head += [f"property {t} {k}" for k, _, t, _ in vprops]
    head += [f"element face {len(F)}", "property list uchar int vertex_indices"]
    head += [f"property {t} {k}" for k, _, t, _ in fprops]
    head.append("end_header")
    out = ("\n".join(head) + "\n").encode("ascii")
    if binary:
        vdt = np.dtype([("xyz", "<f8", (3,))] + [(f"a{j}", "<" + c) for j, (_, _, _, c) in enumerate(vprops)])
        va = np.empty(len(V), vdt)
        va["xyz"] = V
        for j, (_, a, _, _) in enumerate(vprops):
            va[f"a{j}"] = a
        fdt = np.dtype([("n", "u1"), ("idx", "<i4", (3,))] + [(f"a{j}", "<" + c) for j, (_, _, _, c) in enumerate(fprops)])
        fa = np.empty(len(F), fdt)
        fa["n"] = 3
        fa["idx"] = F
        for j, (_, a, _, _) in enumerate(fprops):
            fa[f"a{j}"] = a
        return out + va.tobytes() + fa.tobytes()

    def col_text(a, code):
        if code[0] == "f":
            digits = precision if code == "f8" else min(precision, 9)
            return np.char.mod(f"%.{digits}g", a.astype(np.float64))
        return np.char.mod("%d", a.astype(np.int64))

    vcols = [col_text(V[:, j], "f8") for j in range(3)] + [col_text(a, c) for _, a, _, c in vprops]
    fcols = [np.full(len(F), "3")] + [col_text(F[:, j], "i4") for j in range(3)] + [col_text(a, c) for _, a, _, c in fprops]
    lines = [" ".join(r) for r in zip(*vcols)] + [" ".join(r) for r in zip(*fcols)]
    return out + ("\n".join(lines) + ("\n" if lines else "")).encode("ascii")


# OBJ -------------------------------------------------------------------------------------------

_OBJ_HOLDS = ("vertex_data['color'] float64 (nV, 3); face_data['uv'] float64 (nF, 3, 2|3), "
              "'normal' float64 (nF, 3, 3) and their int64 (nF, 3) '_index' arrays")


def _corner_table(p, name: str, vals, idx, width) -> tuple[np.ndarray, np.ndarray]:
    """The OBJ record table of per-corner values and the 0-based record of each corner (-1: none)."""
    nF = vals.shape[0] if vals is not None else idx.shape[0]
    if vals is None:
        raise UnsupportedDataError(f"{p}: expected face_data[{name!r}] beside face_data['{name}_index'] for OBJ (got only the index)")
    if vals.dtype != np.float64 or vals.ndim != 3 or vals.shape[1] != 3 or vals.shape[2] not in width:
        raise UnsupportedDataError(
            f"{p}: expected face_data[{name!r}] float64 of shape ({nF}, 3, {'|'.join(map(str, width))}) for OBJ "
            f"(got dtype {vals.dtype} and shape {vals.shape}); write .ply"
        )
    flat = vals.reshape(-1, vals.shape[2])
    missing = np.isnan(flat).all(1)
    if (np.isnan(flat).any(1) & ~missing).any() or not np.isfinite(flat[~missing]).all():
        raise UnsupportedDataError(f"{p}: expected face_data[{name!r}] rows all finite or all NaN (none) for OBJ")
    if idx is None:
        idx = np.full(len(flat), -1, np.int64)
        if (~missing).any():
            _, first, inv = np.unique(flat[~missing], axis=0, return_index=True, return_inverse=True)
            order = np.argsort(first, kind="stable")
            rank = np.empty_like(order)
            rank[order] = np.arange(len(order))
            idx[~missing] = rank[inv.reshape(-1)]
    else:
        if idx.dtype != np.int64 or idx.shape != vals.shape[:2]:
            raise UnsupportedDataError(
                f"{p}: expected face_data['{name}_index'] int64 of shape {vals.shape[:2]} for OBJ "
                f"(got dtype {idx.dtype} and shape {idx.shape}); write .ply"
            )
        idx = idx.reshape(-1)
        if ((idx < 0) != missing).any() or (idx < -1).any():
            raise UnsupportedDataError(
                f"{p}: expected face_data['{name}_index'] = -1 exactly where face_data[{name!r}] is NaN for OBJ"
            )
    n = int(idx.max()) + 1 if idx.size else 0
    table = np.zeros((n, flat.shape[1]), np.float64)
    has = idx >= 0
    table[idx[has]] = flat[has]
    if has.any() and not np.array_equal(table[idx[has]], flat[has]):
        raise UnsupportedDataError(
            f"{p}: expected one value per face_data['{name}_index'] record for OBJ (got different "
            f"{name} values for the same index)"
        )
    return table, idx


def _obj_check(p, vdata, fdata) -> dict:
    """Refuse what OBJ cannot hold; return the record tables and indices of per-corner data."""
    for what, data, ok in (("vertex_data", vdata, ("color",)),
                           ("face_data", fdata, ("uv", "uv_index", "normal", "normal_index"))):
        for k, a in data.items():
            if k not in ok:
                raise _refuse(p, "OBJ", what, k, a, _OBJ_HOLDS)
    col = vdata.get("color")
    if col is not None and not (col.dtype == np.float64 and col.ndim == 2 and col.shape[1] == 3):
        raise _refuse(p, "OBJ", "vertex_data", "color", col, _OBJ_HOLDS)
    if col is not None and not np.isfinite(col).all():
        raise UnsupportedDataError(f"{p}: expected finite vertex_data['color'] for OBJ (got NaN or inf)")
    tables = {}
    for name, width in (("uv", (2, 3)), ("normal", (3,))):
        if name in fdata or f"{name}_index" in fdata:
            tables[name] = _corner_table(p, name, fdata.get(name), fdata.get(f"{name}_index"), width)
    return tables


def _obj_bytes(p, V, F, vdata, fdata, precision) -> bytes:
    tables = _obj_check(p, vdata, fdata)
    col = vdata.get("color")
    parts = ["# manifold_nets\n"]
    body = _fmt_rows(np.concatenate([V, col], 1) if col is not None else V, precision)
    parts.append("".join("v " + ln + "\n" for ln in body.splitlines()))
    refs = []
    for name, tag in (("uv", "vt"), ("normal", "vn")):
        if name in tables:
            table, idx = tables[name]
            parts.append("".join(f"{tag} " + ln + "\n" for ln in _fmt_rows(table, precision).splitlines()))
            refs.append(idx.reshape(-1, 3))
        else:
            refs.append(None)
    uv, nrm = refs
    if uv is None and nrm is None:
        parts.append("".join("f " + ln + "\n" for ln in _fmt_rows(F + 1, precision, integer=True).splitlines()))
    else:
        rows = []
        for f in range(len(F)):
            cs = []
            for c in range(3):
                t = str(F[f, c] + 1)
                a = uv[f, c] if uv is not None else -1
                b = nrm[f, c] if nrm is not None else -1
                if b >= 0:
                    t += f"/{a + 1 if a >= 0 else ''}/{b + 1}"
                elif a >= 0:
                    t += f"/{a + 1}"
                cs.append(t)
            rows.append("f " + " ".join(cs) + "\n")
        parts.append("".join(rows))
    return "".join(parts).encode("ascii")


# OFF -------------------------------------------------------------------------------------------

_OFF_HOLDS = "'color' float64 (n, 3|4) vertex and face data"


def _off_check(p, vdata, fdata) -> None:
    for what, data in (("vertex_data", vdata), ("face_data", fdata)):
        for k, a in data.items():
            if k != "color" or a.dtype != np.float64 or a.ndim != 2 or a.shape[1] not in (3, 4):
                raise _refuse(p, "OFF", what, k, a, _OFF_HOLDS)
            if not np.isfinite(a).all():
                raise UnsupportedDataError(f"{p}: expected finite {what}['color'] for OFF (got NaN or inf)")


def _off_bytes(p, V, F, vdata, fdata, precision) -> bytes:
    _off_check(p, vdata, fdata)
    vcol = vdata.get("color")
    fcol = fdata.get("color")
    head = ("COFF" if vcol is not None else "OFF") + f"\n{len(V)} {len(F)} 0\n"
    vb = _fmt_rows(np.concatenate([V, vcol], 1) if vcol is not None else V, precision)
    Fa = np.concatenate([np.full((len(F), 1), 3), F], 1)
    fb = _fmt_rows(Fa, precision, integer=True)
    if fcol is not None and len(F):
        fb = "".join(a + " " + b + "\n" for a, b in zip(fb.splitlines(), _fmt_rows(fcol, precision).splitlines()))
    return (head + vb + fb).encode("ascii")
