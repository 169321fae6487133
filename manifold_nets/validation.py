"""Validators for user input.  Each raises a typed :class:`~manifold_nets.errors.MeshError`.

All messages follow ``"<what>: expected ... (got ...)"`` and name the first offending vertex,
face or edge.  Validators return the array in canonical form (``float64`` / ``int64``,
C-contiguous) and never change the order or number of vertices and faces.
"""

from __future__ import annotations

import numpy as np

from ._arrays import MAX_ABS_COORDINATE, MIN_EXTENT, as_faces, as_vertices
from .errors import (
    DegenerateFaceError,
    DuplicateFaceError,
    NonManifoldError,
    NonOrientableError,
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
