"""Array validators without dependencies inside the package: :func:`as_vertices`,
:func:`as_faces` and the coordinate range they enforce.

They live here, below :mod:`manifold_nets.topology`, so that topology can check its input while
:mod:`manifold_nets.validation` (which re-exports them) builds its mesh checks on topology.
"""

from __future__ import annotations

import numpy as np

from .errors import EmptyMeshError, FaceIndexError, MeshShapeError, NonFiniteError, NonTriangleError

__all__ = ["as_vertices", "as_faces", "MAX_ABS_COORDINATE", "MIN_EXTENT"]

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
