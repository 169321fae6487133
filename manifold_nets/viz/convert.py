"""Mesh -> ``pyvista.PolyData`` without merging, dropping or reordering anything.

Point ``i`` of the result is vertex ``i`` and cell ``f`` is face ``f``, so per-vertex arrays go
to ``point_data`` and per-face arrays to ``cell_data`` unchanged.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mesh_arrays", "to_polydata"]


def mesh_arrays(mesh, F=None) -> tuple[np.ndarray, np.ndarray]:
    """``(V, F)`` from a :class:`~manifold_nets.Mesh`, a ``(V, F)`` pair or ``V`` and ``F``.

    Shapes: V ``(nV, 3)`` float64, F ``(nF, 3)`` int64.  Arrays are checked as
    :func:`manifold_nets.validation.as_vertices` / ``as_faces`` do (a
    :class:`~manifold_nets.errors.MeshError` names the problem).
    """
    if F is None:
        if hasattr(mesh, "V") and hasattr(mesh, "F"):  # a Mesh: checked when it was made
            return np.asarray(mesh.V, dtype=np.float64), np.asarray(mesh.F, dtype=np.int64)
        try:
            V, F = mesh
        except (TypeError, ValueError):
            from ..errors import MeshTypeError

            raise MeshTypeError(f"mesh: expected a Mesh or a pair (V, F) (got {type(mesh).__name__})") from None
    else:
        V = mesh
    from .._arrays import as_faces, as_vertices

    # a face index past the vertices would be drawn from whatever memory VTK finds there
    V = as_vertices(V)
    return V, as_faces(F, len(V), allow_empty=True)


def to_polydata(mesh, F=None, *, vertex_data: dict | None = None, face_data: dict | None = None):
    """A ``pyvista.PolyData`` with the mesh's vertices and triangles in their own order.

    Parameters
    ----------
    mesh : Mesh or (V, F) or V
        V ``(nV, 3)`` float64, F ``(nF, 3)`` int64 (``F`` as second argument when ``mesh`` is V).
    vertex_data, face_data : dict of str to array, optional
        Extra ``(nV, ...)`` / ``(nF, ...)`` arrays stored as point / cell data.  A
        :class:`~manifold_nets.Mesh`'s own vertex and face data are always included.

    Returns
    -------
    pyvista.PolyData
        ``n_points == nV``, ``n_cells == nF``; ``points[i] == V[i]``, cell ``f`` is ``F[f]``.

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> V, F = icosphere(1)
    >>> pd = to_polydata(V, F)
    >>> pd.n_points == len(V), pd.n_cells == len(F)
    (True, True)
    >>> bool((pd.regular_faces == F).all())
    True
    """
    V, Fa = mesh_arrays(mesh, F)
    vd = dict(getattr(mesh, "vertex_data", {}) or {}) if F is None else {}
    fd = dict(getattr(mesh, "face_data", {}) or {}) if F is None else {}
    vd.update(vertex_data or {})
    fd.update(face_data or {})
    return _polydata(V, Fa, vd, fd)


def _polydata(V: np.ndarray, Fa: np.ndarray, vd=None, fd=None):
    """:func:`to_polydata` of arrays already checked by :func:`mesh_arrays` (the views draw
    scaled copies, whose coordinates need no second check)."""
    import pyvista as pv

    cells = np.empty((len(Fa), 4), dtype=np.int64)
    cells[:, 0] = 3
    cells[:, 1:] = Fa
    pd = pv.PolyData(np.array(V, dtype=np.float64), cells.ravel())
    for k, v in (vd or {}).items():
        pd.point_data[k] = np.asarray(v)
    for k, v in (fd or {}).items():
        pd.cell_data[k] = np.asarray(v)
    return pd
