"""The immutable :class:`Mesh` type.

A :class:`Mesh` holds ``V (nV, 3) float64`` and ``F (nF, 3) int64`` as read-only arrays and
caches derived quantities.  Every cached property delegates to a free function (the function
is the API; the property is a convenience), so ``mesh.x`` always equals ``x(mesh.V, mesh.F)``.
A mesh never merges, drops or reorders its vertices or faces: use :mod:`manifold_nets.repair`,
whose functions return the new mesh *and* the index maps.

:func:`read_mesh` lives here rather than in :mod:`manifold_nets.io`: ``io`` turns files into
arrays and never imports this module; a :class:`Mesh` is built (and validated once) on top.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from functools import cached_property

import numpy as np

from . import topology
from .errors import MeshError, MeshShapeError
from .io import read_triangles, write_mesh
from .validation import check_mesh_arrays

__all__ = ["Mesh", "read_mesh"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


class Mesh:
    """An immutable triangle mesh.

    Parameters
    ----------
    V : array_like, (nV, 3) float
        Vertex positions; stored as a read-only float64 copy.
    F : array_like, (nF, 3) int
        Triangle vertex indices (0-based); stored as a read-only int64 copy.
    name : str, optional
        A label (the file name when read from a file).
    vertex_data, face_data : dict of str to array, optional
        Per-vertex ``(nV, ...)`` and per-face ``(nF, ...)`` arrays read from or written to
        files (labels, scalars, colours).
    allow_no_faces : bool
        Accept ``nF = 0`` (a point cloud); by default an :class:`EmptyMeshError` is raised.

    Examples
    --------
    >>> from manifold_nets import Mesh
    >>> m = Mesh([[0, 0, 0], [1, 0, 0], [0, 1, 0]], [[0, 1, 2]])
    >>> m.n_vertices, m.n_faces, m.V.dtype, m.F.dtype
    (3, 1, dtype('float64'), dtype('int64'))
    >>> m.V.flags.writeable
    False
    """

    __slots__ = ("_V", "_F", "name", "_vertex_data", "_face_data", "__dict__")

    def __init__(self, V, F, *, name: str | None = None, vertex_data=None, face_data=None,
                 allow_no_faces: bool = False):
        V, F = check_mesh_arrays(V, F, allow_empty_faces=allow_no_faces)
        object.__setattr__(self, "_V", _readonly(V))
        object.__setattr__(self, "_F", _readonly(F))
        object.__setattr__(self, "name", name)
        for what, d in (("vertex_data", vertex_data), ("face_data", face_data)):
            if d is not None and not isinstance(d, Mapping):
                raise MeshShapeError(f"{what}: expected a dict of arrays by name (got {type(d).__name__})")
        vd = {k: _readonly(np.asarray(v)) for k, v in (vertex_data or {}).items()}
        fd = {k: _readonly(np.asarray(v)) for k, v in (face_data or {}).items()}
        for k, v in vd.items():
            if v.shape[:1] != (V.shape[0],):
                raise MeshShapeError(f"vertex_data[{k!r}]: expected leading dimension {V.shape[0]} (got shape {v.shape})")
        for k, v in fd.items():
            if v.shape[:1] != (F.shape[0],):
                raise MeshShapeError(f"face_data[{k!r}]: expected leading dimension {F.shape[0]} (got shape {v.shape})")
        object.__setattr__(self, "_vertex_data", vd)
        object.__setattr__(self, "_face_data", fd)

    # -- immutability -------------------------------------------------------------------
    def __setattr__(self, key, value):
        if key in type(self).__dict__ and isinstance(type(self).__dict__[key], cached_property):
            object.__setattr__(self, key, value)  # cached_property's own store
            return
        raise AttributeError(f"Mesh is immutable: cannot set {key!r}; build a new Mesh instead")

    def __delattr__(self, key):
        raise AttributeError(f"Mesh is immutable: cannot delete {key!r}")

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike, **kwargs) -> Mesh:
        """Read a mesh file (see :func:`read_mesh` for formats and options)."""
        return read_mesh(path, **kwargs)

    def to_file(self, path: str | os.PathLike, **kwargs) -> None:
        """Write the mesh with its vertex and face data (see :func:`manifold_nets.io.write_mesh`)."""
        write_mesh(path, self.V, self.F, vertex_data=self.vertex_data, face_data=self.face_data, **kwargs)

    # -- data -------------------------------------------------------------------------------
    @property
    def V(self) -> np.ndarray:
        """(nV, 3) float64, read-only vertex positions."""
        return self._V

    @property
    def F(self) -> np.ndarray:
        """(nF, 3) int64, read-only triangle indices."""
        return self._F

    @property
    def vertex_data(self) -> dict:
        """Per-vertex arrays (a copy of the dict; the arrays are read-only)."""
        return dict(self._vertex_data)

    @property
    def face_data(self) -> dict:
        """Per-face arrays (a copy of the dict; the arrays are read-only)."""
        return dict(self._face_data)

    @property
    def corner_data(self) -> dict:
        """The per-corner arrays, ``(nF, 3, ...)`` entries of :attr:`face_data` read from OBJ
        ``vt``/``vn`` references: ``uv`` (texture coordinates, NaN where a corner has none),
        ``uv_index`` (the 0-based ``vt`` record of each corner, ``-1`` for none), ``normal`` and
        ``normal_index``.  Vertices are not split for them (``read_mesh(..., split_seams=True)``
        splits them)."""
        names = ("uv", "uv_index", "normal", "normal_index")
        return {k: v for k, v in self._face_data.items()
                if k in names and v.ndim >= 2 and v.shape[1] == 3}

    @property
    def n_vertices(self) -> int:
        return int(self._V.shape[0])

    @property
    def n_faces(self) -> int:
        return int(self._F.shape[0])

    @cached_property
    def content_hash(self) -> str:
        """SHA-256 of the vertex and face bytes (the key of on-disk operator caches)."""
        h = hashlib.sha256()
        h.update(np.int64(self.n_vertices).tobytes())
        h.update(self._V.tobytes())
        h.update(np.int64(self.n_faces).tobytes())
        h.update(self._F.tobytes())
        return h.hexdigest()

    # -- cached topology (each delegates to a free function) ----------------------------
    @cached_property
    def edges(self) -> np.ndarray:
        """(nE, 2) int64 unique undirected edges, ``i < j``, sorted; see :func:`topology.edges`."""
        return _readonly(topology.edges(self._F))

    @cached_property
    def boundary_loops(self) -> list:
        """List of (n,) int64 vertex loops; see :func:`topology.boundary_loops`."""
        return topology.boundary_loops(self._F)

    @cached_property
    def euler_characteristic(self) -> int:
        """χ = V − E + F over referenced vertices; see :func:`topology.euler_characteristic`."""
        return topology.euler_characteristic(self._F)

    @cached_property
    def face_areas(self) -> np.ndarray:
        """(nF,) float64 triangle areas; see :func:`topology.face_areas`."""
        return _readonly(topology.face_areas(self._V, self._F))

    @cached_property
    def report(self) -> dict:
        """The topology report of :func:`topology.mesh_report`."""
        return topology.mesh_report(self._V, self._F)

    # -- cached geometry (each delegates to a free function of manifold_nets.geometry) --------
    @cached_property
    def cotan_laplacian(self):
        """(nV, nV) csr float64 PSD cotan Laplacian; see :func:`geometry.cotan_laplacian`."""
        from .geometry import cotan_laplacian

        return cotan_laplacian(self._V, self._F)

    @cached_property
    def robust_laplacian(self):
        """``(L, M)`` intrinsic-Delaunay (tufted cover) pair; see :func:`geometry.robust_laplacian`."""
        from .geometry import robust_laplacian

        return robust_laplacian(self._V, self._F)

    @cached_property
    def mass_matrix(self):
        """(nV, nV) diagonal csr lumped barycentric mass; see :func:`geometry.mass_matrix`."""
        from .geometry import mass_matrix

        return mass_matrix(self._V, self._F)

    @cached_property
    def tangent_frames(self):
        """``(normals, x_axes, y_axes)`` each (nV, 3) in the documented gauge; see
        :func:`geometry.tangent_frames`."""
        from .geometry import tangent_frames

        return tuple(_readonly(a) for a in tangent_frames(self._V, self._F))

    @cached_property
    def transport_angles(self):
        """``(edges (m, 2), angles (m,))`` of the discrete Levi-Civita connection; see
        :func:`geometry.transport_angles`."""
        from .geometry import transport_angles

        return tuple(_readonly(a) for a in transport_angles(self._V, self._F))

    def operators(self, k: int = 128, **kwargs):
        """The operator bundle of :func:`geometry.operators` (L, M, eigenpairs, gradients, frames);
        pass ``cache_dir=`` to reuse it across runs.  Cached on the mesh per argument set."""
        from .geometry import operators

        key = ("operators", k, tuple(sorted((a, repr(b)) for a, b in kwargs.items())))
        cache = self.__dict__.setdefault("_operator_cache", {})
        if key not in cache:
            cache[key] = operators(self._V, self._F, k=k, **kwargs)
        return cache[key]

    # -- misc -------------------------------------------------------------------------------
    def __repr__(self) -> str:
        nm = f"{self.name!r}, " if self.name else ""
        return f"Mesh({nm}n_vertices={self.n_vertices}, n_faces={self.n_faces})"

    def __eq__(self, other) -> bool:
        if not isinstance(other, Mesh):
            return NotImplemented
        return np.array_equal(self._V, other._V) and np.array_equal(self._F, other._F)

    def __hash__(self) -> int:
        return hash(self.content_hash)


def read_mesh(path: str | os.PathLike, *, triangulate: bool = False, split_seams: bool = False,
              allow_empty: bool = False, triangulation: str = "ear") -> Mesh:
    """Read a triangle mesh from a file, keeping the file's vertex and face order.

    Parameters
    ----------
    path : str or path-like
        ``.obj .off .ply .stl``, each optionally ``.gz``; VTK and friends through meshio.
    triangulate : bool
        Triangulate polygon faces (see :func:`manifold_nets.polygons.triangulate`); per-face
        data is repeated for the triangles of each polygon and ``face_data["polygon"]`` maps
        each triangle to its polygon.  If ``False`` a polygon face raises ``NonTriangleError``.
    split_seams : bool
        OBJ only; see :func:`manifold_nets.io.read_polygons`.
    triangulation : {"ear", "fan"}
        How polygons are split when ``triangulate=True``.
    allow_empty : bool
        Accept a file with vertices but no faces (a point cloud) instead of raising
        ``EmptyMeshError``.

    Returns
    -------
    Mesh
        ``V (nV, 3) float64``, ``F (nF, 3) int64`` read-only; extra per-vertex/per-face
        properties of the file in ``vertex_data`` / ``face_data`` (PLY properties keep their
        dtype; OBJ texture coordinates and normals are per-corner ``face_data["uv"]`` etc., see
        :attr:`Mesh.corner_data`).

    Raises
    ------
    MeshFileNotFoundError (a FileNotFoundError), MeshIsADirectoryError, MeshPermissionError,
    MeshFileTooLargeError (a device such as /dev/zero, or over ``io.MAX_READ_BYTES``),
    UnknownFormatError, MeshParseError, EmptyMeshError, NonTriangleError,
    FaceIndexError (FileFaceIndexError for a bad index in a file), NonFiniteError

    Examples
    --------
    >>> import tempfile, os
    >>> from manifold_nets import shapes, write_mesh, read_mesh
    >>> V, F = shapes.tetrahedron()
    >>> path = os.path.join(tempfile.mkdtemp(), "tet.ply")
    >>> write_mesh(path, V, F)
    >>> m = read_mesh(path); bool((m.V == V).all() and (m.F == F).all())
    True
    """
    t = read_triangles(path, triangulate=triangulate, split_seams=split_seams,
                       allow_empty=allow_empty, triangulation=triangulation)
    p = os.fspath(path)
    try:
        return Mesh(t.V, t.F, name=os.path.basename(p), vertex_data=t.vertex_data,
                    face_data=t.face_data, allow_no_faces=allow_empty)
    except MeshError as exc:
        raise type(exc)(f"{p}: {exc}") from None
