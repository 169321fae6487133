"""Validators for user input.  Each raises a typed :class:`~manifold_nets.errors.MeshError`.

All messages follow ``"<what>: expected ... (got ...)"`` and name the first offending vertex,
face or edge.  Validators return the array in canonical form (``float64`` / ``int64``,
C-contiguous) and never change the order or number of vertices and faces.
"""

from __future__ import annotations

import numpy as np

from .errors import (
    DegenerateFaceError,
    DuplicateFaceError,
    EmptyMeshError,
    FaceIndexError,
    MeshShapeError,
    NonFiniteError,
    NonManifoldError,
    NonOrientableError,
    NonTriangleError,
)

__all__ = [
    "as_vertices",
    "as_faces",
    "check_mesh_arrays",
    "check_no_degenerate_faces",
    "check_no_duplicate_faces",
    "check_edge_manifold",
    "check_vertex_manifold",
    "check_orientable",
    "check_manifold",
    "MAX_ABS_COORDINATE",
    "MIN_EXTENT",
]

#: Largest accepted vertex coordinate magnitude.  Areas, normals and cotangent weights take the
#: norm of a cross product of two edge vectors, i.e. the square root of a sum of fourth powers of
#: coordinate differences; float64 overflows above about 1.8e308, so near 1e77 areas and every
#: operator built on them turn into inf/nan.  1e60 leaves room for sums and further products
#: ((2e60)**4 = 1.6e241) and is far above any physical unit (the observable universe is about
#: 1e27 m).  :func:`as_vertices` refuses larger coordinates instead of returning inf/nan results.
MAX_ABS_COORDINATE = 1e60
#: Smallest accepted extent of the vertices (largest side of their bounding box), unless all
#: vertices coincide: the same fourth powers underflow into subnormals near 1e-77 (areas and
#: eigenvalues off by 1e-3 at 1e-80) and to zero near 1e-81 (every face "degenerate").
MIN_EXTENT = 1e-60


def as_vertices(V, *, name: str = "V", allow_empty: bool = False) -> np.ndarray:
    """Validate vertex positions.

    Parameters
    ----------
    V : array_like, (nV, 3) real
        Vertex positions.

    Returns
    -------
    V : (nV, 3) float64 ndarray, C-contiguous.

    Raises
    ------
    MeshShapeError, EmptyMeshError, NonFiniteError (also for a coordinate above
    :data:`MAX_ABS_COORDINATE` in magnitude, and for vertices spread over less than
    :data:`MIN_EXTENT` without all coinciding)
    """
    try:
        arr = np.asarray(V)
    except Exception as exc:  # ragged lists and the like
        raise MeshShapeError(
            f"{name}: expected an (nV, 3) array of floats (got {type(V).__name__} that numpy cannot convert: {exc})"
        ) from exc
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise MeshShapeError(f"{name}: expected a real numeric array (got dtype {arr.dtype})")
    if np.iscomplexobj(arr):
        raise MeshShapeError(f"{name}: expected real coordinates (got dtype {arr.dtype})")
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise MeshShapeError(f"{name}: expected shape (nV, 3) (got {arr.shape})")
    if arr.shape[0] == 0 and not allow_empty:
        raise EmptyMeshError(f"{name}: expected at least one vertex (got 0)")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise NonFiniteError(
            f"{name}: expected finite coordinates (got {arr[i].tolist()} at vertex {i}; "
            f"{int(bad.sum())} non-finite vertices in all)"
        )
    if arr.size:
        big = np.abs(arr).max(axis=1) > MAX_ABS_COORDINATE
        if big.any():
            i = int(np.flatnonzero(big)[0])
            raise NonFiniteError(
                f"{name}: expected coordinates of magnitude at most {MAX_ABS_COORDINATE:.0e}, so that "
                f"squared lengths and areas stay finite in float64 (got {arr[i].tolist()} at vertex {i}; "
                f"{int(big.sum())} such vertices in all); rescale the mesh"
            )
        extent = float((arr.max(axis=0) - arr.min(axis=0)).max())
        if 0.0 < extent < MIN_EXTENT:
            raise NonFiniteError(
                f"{name}: expected vertices spread over at least {MIN_EXTENT:.0e}, so that squared "
                f"lengths and areas do not underflow in float64 (got a bounding box of {extent:.3g}); "
                f"rescale the mesh"
            )
    return arr


def as_faces(F, n_vertices: int | None = None, *, name: str = "F", allow_empty: bool = False) -> np.ndarray:
    """Validate triangle indices.

    Parameters
    ----------
    F : array_like, (nF, 3) integer
        Vertex indices of each triangle, 0-based.
    n_vertices : int, optional
        Number of vertices; indices must lie in ``[0, n_vertices)``.

    Returns
    -------
    F : (nF, 3) int64 ndarray, C-contiguous.

    Raises
    ------
    MeshShapeError, NonTriangleError, EmptyMeshError, FaceIndexError
    """
    if isinstance(F, (list, tuple)) and len(F) and any(np.ndim(f) == 1 and len(f) != 3 for f in F):
        f = next(k for k, f in enumerate(F) if np.ndim(f) == 1 and len(f) != 3)
        raise NonTriangleError(
            f"{name}: expected triangles (got {len(F[f])} vertices in face {f}); "
            "triangulate polygons with manifold_nets.repair.triangulate or read_mesh(..., triangulate=True)"
        )
    try:
        arr = np.asarray(F)
    except Exception as exc:
        raise MeshShapeError(f"{name}: expected an (nF, 3) integer array (got {type(F).__name__}: {exc})") from exc
    if arr.size == 0 and arr.ndim <= 2:
        arr = arr.reshape(0, 3)
    if arr.ndim != 2:
        raise MeshShapeError(f"{name}: expected shape (nF, 3) (got {arr.shape})")
    if arr.shape[1] != 3:
        raise NonTriangleError(
            f"{name}: expected triangles, shape (nF, 3) (got shape {arr.shape}); "
            "triangulate polygons with manifold_nets.repair.triangulate"
        )
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise MeshShapeError(f"{name}: expected integer indices (got dtype {arr.dtype})")
    if not np.issubdtype(arr.dtype, np.integer):
        if np.iscomplexobj(arr) or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            rows = np.flatnonzero(~np.isfinite(arr).all(1) | (arr != np.round(arr)).any(1)) if not np.iscomplexobj(arr) else [0]
            raise MeshShapeError(
                f"{name}: expected integer indices (got non-integer values in face {int(rows[0])})"
            )
    if arr.shape[0] == 0 and not allow_empty:
        raise EmptyMeshError(f"{name}: expected at least one face (got 0)")
    arr = np.ascontiguousarray(arr, dtype=np.int64)
    neg = (arr < 0).any(axis=1)
    if neg.any():
        f = int(np.flatnonzero(neg)[0])
        raise FaceIndexError(f"{name}: expected non-negative vertex indices (got {arr[f].tolist()} in face {f})")
    if n_vertices is not None:
        oor = (arr >= n_vertices).any(axis=1)
        if oor.any():
            f = int(np.flatnonzero(oor)[0])
            raise FaceIndexError(
                f"{name}: expected vertex indices in [0, {n_vertices}) (got {arr[f].tolist()} in face {f})"
            )
    return arr


def check_mesh_arrays(V, F, *, allow_empty_faces: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Validate a triangle mesh given as arrays and return ``(V float64, F int64)``.

    Checks shapes, dtypes, finiteness and index range.  Topological requirements (manifold,
    orientable, no degenerate faces) are separate checks that algorithms call when they need them.
    """
    V = as_vertices(V)
    F = as_faces(F, V.shape[0], allow_empty=allow_empty_faces)
    return V, F


def _face_areas(V, F):
    e1 = V[F[:, 1]] - V[F[:, 0]]
    e2 = V[F[:, 2]] - V[F[:, 0]]
    return 0.5 * np.linalg.norm(np.cross(e1, e2), axis=1)


def check_no_degenerate_faces(V, F, *, rel_tol: float = 1e-12) -> None:
    """Raise :class:`DegenerateFaceError` naming the first face with a repeated vertex or zero area.

    A face is degenerate when two of its indices coincide or its area is at most
    ``rel_tol * (bounding-box diagonal)²``.
    """
    from .topology import degenerate_faces

    bad = degenerate_faces(V, F, rel_tol=rel_tol)
    if bad.size:
        f = int(bad[0])
        area = _face_areas(V, F[f : f + 1])[0]
        raise DegenerateFaceError(
            f"face {f}: expected a triangle with three distinct vertices and positive area "
            f"(got vertices {F[f].tolist()} with area {area:.3g}; {bad.size} degenerate faces in all)"
        )


def check_no_duplicate_faces(F) -> None:
    """Raise :class:`DuplicateFaceError` naming the first face that repeats an earlier one."""
    from .topology import duplicate_faces

    dup = duplicate_faces(F)
    if dup.size:
        f = int(dup[0])
        key = np.sort(F[f])
        first = int(np.flatnonzero((np.sort(F, axis=1) == key).all(1))[0])
        raise DuplicateFaceError(
            f"face {f}: expected each triangle once (got vertices {F[f].tolist()}, the same as face {first}; "
            f"{dup.size} duplicate faces in all)"
        )


def check_edge_manifold(F) -> None:
    """Raise :class:`NonManifoldError` naming the first edge shared by more than two faces."""
    from .topology import nonmanifold_edges

    bad = nonmanifold_edges(F)
    if len(bad):
        i, j, count = (int(x) for x in bad[0])
        raise NonManifoldError(
            f"edge ({i}, {j}): expected at most 2 faces per edge (got {count}; "
            f"{len(bad)} non-manifold edges in all); see manifold_nets.repair.split_nonmanifold"
        )


def check_vertex_manifold(F, n_vertices: int | None = None) -> None:
    """Raise :class:`NonManifoldError` naming the first vertex whose faces form more than one fan."""
    from .topology import nonmanifold_vertices

    bad = nonmanifold_vertices(F, n_vertices)
    if len(bad):
        v = int(bad[0])
        raise NonManifoldError(
            f"vertex {v}: expected one fan of faces around each vertex (got several disconnected fans; "
            f"{len(bad)} non-manifold vertices in all); see manifold_nets.repair.split_nonmanifold"
        )


def check_orientable(F) -> None:
    """Raise :class:`NonOrientableError` if the faces are not consistently oriented.

    The mesh must be edge-manifold.  Faces that are orientable but inconsistently oriented
    (a flipped face) also raise, naming the edge where two faces disagree.
    """
    from .topology import orientation_report

    rep = orientation_report(F)
    if not rep["orientable"]:
        raise NonOrientableError(
            "faces: expected an orientable surface (got a non-orientable component, e.g. a Möbius band)"
        )
    if rep["inconsistent_edges"].size:
        i, j = (int(x) for x in rep["inconsistent_edges"][0])
        raise NonOrientableError(
            f"edge ({i}, {j}): expected its two faces to traverse it in opposite directions "
            f"(got the same direction twice; {len(rep['inconsistent_edges'])} such edges); "
            "see manifold_nets.repair.orient_faces"
        )


def check_manifold(V, F) -> None:
    """Edge- and vertex-manifold check (names the first bad edge or vertex)."""
    check_edge_manifold(F)
    check_vertex_manifold(F, len(V))
