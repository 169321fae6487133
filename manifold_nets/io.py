"""Read and write triangle meshes, faithfully.

Readers never merge, drop or reorder vertices: vertex ``i`` of the result is the ``i``-th vertex
record of the file (for STL, which stores a soup, the three corners of facet ``f`` are vertices
``3f, 3f+1, 3f+2``).  Polygon faces are triangulated only on request (``triangulate=True``);
otherwise a :class:`~manifold_nets.errors.NonTriangleError` names the first polygon.

Formats: OBJ, OFF (and COFF/NOFF/…), PLY (ASCII, binary little/big endian), STL (ASCII,
binary), each optionally gzip-compressed (``.obj.gz``, ``.ply.gz``, …); other formats that
meshio reads (VTK, VTU, VTP, …) when meshio is installed.  Writers: PLY (ASCII or binary),
OBJ and OFF, with optional per-vertex and per-face arrays (PLY keeps them all; OBJ and OFF
keep what their format can hold and say so).

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
from pathlib import Path
from typing import NamedTuple

import numpy as np

from .errors import (
    EmptyMeshError,
    MeshError,
    MeshFileError,
    MeshFileNotFoundError,
    FaceIndexError,
    MeshParseError,
    MeshShapeError,
    NonTriangleError,
    UnknownFormatError,
    optional_import,
)
from .files import atomic_write
from .polygons import triangulate as _triangulate
from .validation import check_mesh_arrays

__all__ = ["read_triangles", "read_polygons", "write_mesh", "PolygonMesh", "TriangleMeshData",
           "SUPPORTED_READ", "SUPPORTED_WRITE"]

SUPPORTED_READ = (".obj", ".off", ".ply", ".stl")
SUPPORTED_WRITE = (".obj", ".off", ".ply")
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
    """

    __slots__ = ("V", "faces", "offsets", "vertex_data", "face_data")

    def __init__(self, V, faces, offsets, vertex_data=None, face_data=None):
        self.V = V
        self.faces = faces
        self.offsets = offsets
        self.vertex_data = vertex_data or {}
        self.face_data = face_data or {}

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


def _parse_obj(data: bytes, path, split_seams: bool) -> PolygonMesh:
    text = _decode_text(data, path)
    verts: list[list[float]] = []
    colors: list[list[float]] = []
    has_color = True
    tex: list = []
    faces: list[int] = []
    face_uv: list[int] = []
    face_nrm: list[int] = []
    n_normals = 0
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
            tex.append(rest)
        elif tag == "vn":
            n_normals += 1
        elif tag == "f":
            toks = rest.split()
            if len(toks) < 3:
                raise MeshParseError(f"{path}: line {lineno}: expected a face with at least 3 vertices (got {len(toks)})")
            n = len(verts)
            for t in toks:
                parts = t.split("/")
                vi = _int(parts[0], path, lineno)
                vi = vi - 1 if vi > 0 else n + vi
                if vi < 0 or vi >= n:
                    raise MeshParseError(
                        f"{path}: line {lineno}: expected a vertex index in [1, {n}] or [-{n}, -1] (got {parts[0]})"
                    )
                faces.append(vi)
                if split_seams:
                    ti = _int(parts[1], path, lineno) if len(parts) > 1 and parts[1] else 0
                    ni = _int(parts[2], path, lineno) if len(parts) > 2 and parts[2] else 0
                    face_uv.append((ti - 1 if ti > 0 else len(tex) + ti) if ti else -1)
                    face_nrm.append((ni - 1 if ni > 0 else n_normals + ni) if ni else -1)
            sizes.append(len(toks))
    V = np.asarray(verts, dtype=np.float64).reshape(-1, 3)
    Fc = np.asarray(faces, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
    vdata = {}
    if has_color and colors and len(colors) == len(verts):
        vdata["color"] = np.asarray(colors, dtype=np.float64)
    if split_seams and len(Fc):
        # one vertex per distinct (position, texture, normal) triple, in order of first use
        pairs = np.stack([Fc, np.asarray(face_uv, dtype=np.int64), np.asarray(face_nrm, dtype=np.int64)], 1)
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
    return PolygonMesh(V, Fc, offsets, vdata, {})


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
    for raw in header[1:]:
        toks = raw.split()
        if not toks or toks[0] in ("comment", "obj_info"):
            continue
        if toks[0] == "format":
            fmt = toks[1] if len(toks) > 1 else None
        elif toks[0] == "element":
            if len(toks) < 3:
                raise MeshParseError(f"{path}: expected 'element NAME COUNT' (got {raw!r})")
            elements.append({"name": toks[1], "count": int(toks[2]), "props": []})
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
                values[el["name"]] = {p[0]: arr[:, j] for j, p in enumerate(props)}
            else:
                cols: dict = {p[0]: [] for p in props}
                try:
                    for _ in range(n):
                        for p in props:
                            if p[1] == "scalar":
                                cols[p[0]].append(float(tokens[pos]))
                                pos += 1
                            else:
                                c = int(tokens[pos])
                                cols[p[0]].append([int(float(t)) for t in tokens[pos + 1 : pos + 1 + c]])
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
                values[el["name"]] = {p[0]: arr[f"p{j}"].astype(np.float64) for j, p in enumerate(props)}
                continue
            # elements with lists: try the fixed-size fast path, else walk record by record
            parsed = _ply_binary_lists(buf, pos, n, props, bo)
            if parsed is None:
                raise MeshParseError(f"{path}: expected {n} binary '{el['name']}' records (file ends early)")
            values[el["name"]], pos = parsed
    if "vertex" not in values:
        raise MeshParseError(f"{path}: expected a 'vertex' element (got {[e['name'] for e in elements]})")
    vx = values["vertex"]
    for c in ("x", "y", "z"):
        if c not in vx or isinstance(vx[c], list) and vx[c] and isinstance(vx[c][0], list):
            raise MeshParseError(f"{path}: expected vertex properties x, y, z (got {list(vx)})")
    V = np.stack([np.asarray(vx[c], dtype=np.float64) for c in ("x", "y", "z")], 1).reshape(-1, 3)
    vdata = {k: np.asarray(v, dtype=np.float64) for k, v in vx.items() if k not in ("x", "y", "z")
             and not (isinstance(v, list) and v and isinstance(v[0], list))}
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
        fdata = {k: np.asarray(v, dtype=np.float64) for k, v in faces_el.items()
                 if k not in ("vertex_indices", "vertex_index") and not isinstance(v, tuple)
                 and not (isinstance(v, list) and v and isinstance(v[0], list))}
    return PolygonMesh(V, Fc.astype(np.int64), offsets, vdata, fdata)


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
                    cols[p[0]] = arr[f"p{j}"].astype(np.float64)
                else:
                    c = int(arr[f"c{j}"][0])
                    flat = arr[f"p{j}"].reshape(-1).astype(np.int64)
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
                out[p[0]].append(float(np.frombuffer(buf[pos : pos + dtp.itemsize], dtype=dtp)[0]))
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
                out[p[0]].append(np.frombuffer(buf[pos : pos + c * idt.itemsize], dtype=idt).astype(np.int64).tolist())
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
    if not p.exists():
        raise MeshFileNotFoundError(f"{p}: expected an existing mesh file (got no such file)")
    if p.is_dir():
        raise MeshFileError(f"{p}: expected a mesh file (got a directory)")
    ext, gz = _split_ext(p)
    if ext not in SUPPORTED_READ and ext not in _MESHIO_EXT:
        raise UnknownFormatError(
            f"{p}: expected one of {', '.join(SUPPORTED_READ + _MESHIO_EXT)} (optionally .gz) (got {''.join(p.suffixes) or 'no extension'!r})"
        )
    if ext in _MESHIO_EXT:
        if gz:
            raise UnknownFormatError(f"{p}: expected an uncompressed {ext} file (got gzip)")
        return _read_meshio(p)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise MeshFileError(f"{p}: expected a readable file (got {exc.strerror or exc})") from None
    if gz:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise MeshParseError(f"{p}: expected gzip-compressed data (got {exc})") from None
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
                f"{int((sizes != 3).sum())} polygons in all); pass triangulate=True (CLI: --triangulate)"
            )
        _check_indices(pm, p)
        F, poly = _triangulate(pm.V, pm.faces, pm.offsets, method=triangulation)
        fdata = {k: v[poly] for k, v in fdata.items()}
        fdata["polygon"] = poly
    else:
        F = pm.faces.reshape(-1, 3) if pm.n_polygons else np.zeros((0, 3), np.int64)
    _check_indices(pm, p)
    return TriangleMeshData(pm.V, F, dict(pm.vertex_data), fdata)


def _check_indices(pm: PolygonMesh, p: Path) -> None:
    if pm.faces.size == 0:
        return
    nV = len(pm.V)
    bad = (pm.faces < 0) | (pm.faces >= nV)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        f = int(np.searchsorted(pm.offsets, k, side="right") - 1)
        raise FaceIndexError(
            f"{p}: face {f}: expected vertex indices in [0, {nV}) (got {pm.faces[pm.offsets[f]:pm.offsets[f + 1]].tolist()})"
        )


def write_mesh(path: str | os.PathLike, V, F, *, vertex_data: dict | None = None,
               face_data: dict | None = None, binary: bool = True, precision: int = 17) -> None:
    """Write a triangle mesh (atomically: a temporary file in the same folder is renamed).

    Parameters
    ----------
    path : str or path-like
        ``.ply`` (ASCII or binary, keeps every per-vertex/per-face array of shape ``(n,)`` or
        ``(n, k)``), ``.obj`` (keeps ``vertex_data["color"]`` as ``v x y z r g b``) or ``.off``
        (keeps ``"color"`` vertex and face data); ``.gz`` appended compresses.
    V : (nV, 3) float
    F : (nF, 3) int
    vertex_data, face_data : dict of str to array, optional
    binary : bool
        PLY only: binary little-endian (default, exact) or ASCII.
    precision : int
        Significant digits for ASCII formats (17 round-trips float64 exactly).
    """
    V, F = check_mesh_arrays(V, F, allow_empty_faces=True)
    vertex_data = {k: np.asarray(v) for k, v in (vertex_data or {}).items()}
    face_data = {k: np.asarray(v) for k, v in (face_data or {}).items()}
    for k, v in vertex_data.items():
        if v.shape[:1] != (len(V),) or v.ndim > 2:
            raise MeshShapeError(f"vertex_data[{k!r}]: expected shape ({len(V)},) or ({len(V)}, k) (got {v.shape})")
    for k, v in face_data.items():
        if v.shape[:1] != (len(F),) or v.ndim > 2:
            raise MeshShapeError(f"face_data[{k!r}]: expected shape ({len(F)},) or ({len(F)}, k) (got {v.shape})")
    p = Path(path)
    ext, gz = _split_ext(p)
    if ext not in SUPPORTED_WRITE:
        raise UnknownFormatError(f"{p}: expected one of {', '.join(SUPPORTED_WRITE)} to write (got {ext or 'no extension'!r})")
    if ext == ".ply":
        data = _ply_bytes(V, F, vertex_data, face_data, binary, precision)
    elif ext == ".obj":
        data = _obj_bytes(V, F, vertex_data, precision)
    else:
        data = _off_bytes(V, F, vertex_data, face_data, precision)
    if gz:
        data = gzip.compress(data, mtime=0)
    atomic_write(p, data)


def _fmt_rows(A: np.ndarray, precision: int, integer: bool = False) -> str:
    if A.size == 0:
        return ""
    buf = _io.StringIO()
    np.savetxt(buf, A, fmt="%d" if integer else f"%.{precision}g")
    return buf.getvalue()


def _ply_dtype_name(a: np.ndarray) -> tuple[str, str]:
    if a.dtype.kind == "b":
        return "uchar", "u1"
    if a.dtype.kind in "iu":
        if a.dtype.itemsize <= 4:
            return {("i", 1): ("char", "i1"), ("u", 1): ("uchar", "u1"), ("i", 2): ("short", "i2"),
                    ("u", 2): ("ushort", "u2"), ("i", 4): ("int", "i4"), ("u", 4): ("uint", "u4")}[(a.dtype.kind, a.dtype.itemsize)]
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo >= -(2**31) and hi < 2**31:
            return "int", "i4"
        return "double", "f8"
    if a.dtype == np.float32:
        return "float", "f4"
    return "double", "f8"


def _ply_props(data: dict) -> list[tuple[str, np.ndarray, str, str]]:
    props = []
    for k, v in data.items():
        v2 = v.reshape(len(v), -1)
        tname, code = _ply_dtype_name(v)
        if v2.shape[1] == 1:
            props.append((k, v2[:, 0], tname, code))
        else:
            for j in range(v2.shape[1]):
                props.append((f"{k}_{j}", v2[:, j], tname, code))
    return props


def _ply_bytes(V, F, vdata, fdata, binary, precision) -> bytes:
    vprops = _ply_props(vdata)
    fprops = _ply_props(fdata)
    head = ["ply", f"format {'binary_little_endian' if binary else 'ascii'} 1.0", "comment manifold_nets",
            f"element vertex {len(V)}", "property double x", "property double y", "property double z"]
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
        if len(F) and F.max() >= 2**31:
            raise MeshError(f"faces: expected vertex indices < 2^31 for PLY (got {int(F.max())})")
        fa["idx"] = F
        for j, (_, a, _, _) in enumerate(fprops):
            fa[f"a{j}"] = a
        return out + va.tobytes() + fa.tobytes()
    vcols = [V] + [a.reshape(-1, 1).astype(np.float64 if c[0] == "f" else np.int64) for _, a, _, c in vprops]
    lines = []
    for i in range(len(V)):
        row = [f"{x:.{precision}g}" for x in V[i]]
        row += [f"{int(c[i, 0])}" if c.dtype.kind == "i" else f"{c[i, 0]:.{precision}g}" for c in vcols[1:]]
        lines.append(" ".join(row))
    for f in range(len(F)):
        row = ["3"] + [str(int(x)) for x in F[f]]
        for _, a, _, c in fprops:
            row.append(str(int(a[f])) if c[0] in "iu" else f"{float(a[f]):.{precision}g}")
        lines.append(" ".join(row))
    return out + ("\n".join(lines) + ("\n" if lines else "")).encode("ascii")


def _obj_bytes(V, F, vdata, precision) -> bytes:
    col = vdata.get("color")
    if col is not None and col.ndim == 2 and col.shape[1] == 3:
        body = _fmt_rows(np.concatenate([V, col.astype(np.float64)], 1), precision)
    else:
        body = _fmt_rows(V, precision)
    vlines = "".join("v " + ln + "\n" for ln in body.splitlines())
    flines = "".join("f " + ln + "\n" for ln in _fmt_rows(F + 1, precision, integer=True).splitlines())
    return ("# manifold_nets\n" + vlines + flines).encode("ascii")


def _off_bytes(V, F, vdata, fdata, precision) -> bytes:
    vcol = vdata.get("color")
    fcol = fdata.get("color")
    use_vc = vcol is not None and vcol.ndim == 2 and vcol.shape[1] in (3, 4)
    head = ("COFF" if use_vc else "OFF") + f"\n{len(V)} {len(F)} 0\n"
    vb = _fmt_rows(np.concatenate([V, vcol.astype(np.float64)], 1) if use_vc else V, precision)
    Fa = np.concatenate([np.full((len(F), 1), 3), F], 1)
    fb = _fmt_rows(Fa, precision, integer=True)
    if fcol is not None and fcol.ndim == 2 and fcol.shape[1] in (3, 4) and len(F):
        fb = "".join(a + " " + b + "\n" for a, b in zip(fb.splitlines(), _fmt_rows(fcol.astype(np.float64), precision).splitlines()))
    return (head + vb + fb).encode("ascii")

