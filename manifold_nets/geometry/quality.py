"""Triangle quality and the rule that picks a Laplacian.

:func:`laplacian_choice` decides between the plain cotan Laplacian and the robust (intrinsic
Delaunay) one from what makes cotan weights unreliable: non-manifold edges or vertices,
degenerate faces, and poorly shaped triangles (negative cotan edge weights, i.e. edges that are
not locally Delaunay).  :func:`triangle_quality` reports the numbers the rule looks at.

The numbers come from the one triangle kernel
(:class:`~manifold_nets.geometry._common.FaceGeometry`), so the weights counted here are exactly
the off-diagonal entries ``−L[i, j]`` of :func:`~manifold_nets.geometry.cotan_laplacian`.

Examples
--------
>>> from manifold_nets.shapes import icosphere
>>> laplacian_choice(*icosphere(2))[0]
'cotan'
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checked import CheckedMesh, accepts_mesh, check_mesh, mesh_edges, require_checked
from ._common import FaceGeometry

__all__ = ["TriangleQuality", "triangle_quality", "laplacian_choice"]

#: Fraction of interior edges with a negative cotan weight above which ``laplacian_choice``
#: prefers the robust Laplacian.  Chosen on the tuning meshes of
#: ``tests/geometry/_geodesic_meshes.py``: at the default heat time step, plain cotan was never
#: better than the intrinsic Delaunay Laplacian by more than 1 % relative (3holes.off, 2.3 %
#: negative weights: 1.48 % vs 1.49 % error) and up to 19× worse (the decimated armadillo,
#: 12 %: 21.4 % vs 1.12 %; teddy.obj, 4.8 %: 11.6 % vs 2.3 %), while even the shared "clean"
#: scans have 2–11 % negative weights — so cotan is kept only for (nearly) Delaunay meshes,
#: where the two coincide.
NEGATIVE_WEIGHT_FRACTION = 0.01
#: Most negative relative cotan weight ``w_ij / mean|w|`` tolerated before preferring robust.
MOST_NEGATIVE_WEIGHT = -0.5
#: Largest corner ``|cot|`` tolerated before preferring robust (a corner angle below about
#: 0.0057°, or a cap angle above 179.994°).  Such needles and caps give every face weight a
#: magnitude ``|cot|`` times the typical one, computed from an area with relative rounding error
#: about ``ε |cot|``, so the weights of neighbouring faces cancel to rounding noise — even when
#: none is negative.  A 20-vertex strip 1e-9 wide (``|cot|`` 5e8, all weights positive) was
#: "well-shaped" by the weight rules, and its cotan Poisson system was not positive definite in
#: floating point (heat geodesics raised ``SolverError``) while the robust Laplacian gave correct
#: distances.  On the shared clean meshes ``max |cot|`` is 1.4 on the two meshes the other rules
#: leave on cotan (bumpy, bunny_small) and at most 888 on any (nefertiti), so the bound changes
#: none of their choices.
MAX_ABS_COT = 1e4


@dataclass(frozen=True)
class TriangleQuality:
    """Numbers describing how well a mesh suits the cotan Laplacian.

    Attributes
    ----------
    nonmanifold_edges, nonmanifold_vertices, degenerate_faces : int
    negative_weight_fraction : float
        Fraction of interior (two-face) edges whose cotan weight ``(cot α + cot β) / 2`` is
        negative (edges that are not locally Delaunay).
    most_negative_weight : float
        Smallest cotan weight divided by the mean absolute weight (0 when none is negative).
    obtuse_fraction : float
        Fraction of faces with an angle above 90°.
    min_angle_deg, max_angle_deg : float
        Smallest / largest corner angle of a non-degenerate face, in degrees.
    max_abs_cot : float
        Largest ``|cot|`` of a corner (needles and caps have large ones).
    """

    nonmanifold_edges: int
    nonmanifold_vertices: int
    degenerate_faces: int
    negative_weight_fraction: float
    most_negative_weight: float
    obtuse_fraction: float
    min_angle_deg: float
    max_angle_deg: float
    max_abs_cot: float


@accepts_mesh
def triangle_quality(V, F) -> TriangleQuality:
    """Measure what :func:`laplacian_choice` decides on (see :class:`TriangleQuality`).

    >>> from manifold_nets.shapes import icosphere
    >>> q = triangle_quality(*icosphere(2))
    >>> q.negative_weight_fraction, q.nonmanifold_edges
    (0.0, 0)
    """
    return _triangle_quality(check_mesh(V, F))


def _triangle_quality(mesh: CheckedMesh) -> TriangleQuality:
    """Kernel of :func:`triangle_quality` on a checked mesh (no validation)."""
    V, F = require_checked(mesh)
    from ..topology import _degenerate_faces, _nonmanifold_vertices

    # one edge structure for every count: faces per edge, and the edge of every half-edge
    # (F[f, c] -> F[f, c + 1] is the edge opposite corner c + 2)
    E, face_edge, counts = mesh_edges(mesh)
    n_nme = int(np.count_nonzero(counts > 2))
    n_nmv = len(_nonmanifold_vertices(F, len(V), E, face_edge[:, [2, 0, 1]].ravel())) if len(F) else 0
    n_deg = len(_degenerate_faces(V, F))
    geom = FaceGeometry.from_vertices(V, F)
    ok = ~geom.degenerate
    ang = geom.angles[ok]
    obtuse = float(np.mean(ang.max(axis=1) > np.pi / 2 + 1e-12)) if ok.any() else 0.0
    min_angle = float(np.degrees(ang.min())) if ok.any() else 0.0
    max_angle = float(np.degrees(ang.max())) if ok.any() else 0.0
    cot = geom.cot
    max_abs_cot = float(np.abs(cot).max()) if cot.size else 0.0
    # cotan weight (cot α + cot β) / 2 of every edge; the rule looks at interior (two-face) edges
    has = face_edge >= 0
    w = np.bincount(face_edge[has], 0.5 * cot[has], minlength=len(E))
    inner = w[counts == 2]
    if inner.size:
        scale = float(np.mean(np.abs(inner))) or 1.0
        neg = float(np.mean(inner < -1e-10 * scale))
        most = float(min(inner.min(), 0.0) / scale)
    else:
        neg, most = 0.0, 0.0
    return TriangleQuality(n_nme, n_nmv, n_deg, neg, most, obtuse, min_angle, max_angle, max_abs_cot)


@accepts_mesh
def laplacian_choice(V, F) -> tuple[str, str]:
    """Pick the Laplacian for a mesh: ``("cotan" | "robust", reason)``.

    ``"robust"`` (intrinsic Delaunay / tufted cover, non-negative weights) when the mesh has
    non-manifold edges or vertices, degenerate faces, more than
    :data:`NEGATIVE_WEIGHT_FRACTION` of its interior edges with a negative cotan weight, one
    weight below :data:`MOST_NEGATIVE_WEIGHT` times the mean absolute weight, or a needle or cap
    triangle with a corner ``|cot|`` above :data:`MAX_ABS_COT`; ``"cotan"`` otherwise.  The reason is a short human-readable sentence naming the deciding numbers.

    >>> from manifold_nets.shapes import icosphere
    >>> kind, reason = laplacian_choice(*icosphere(2))
    >>> kind, reason.startswith("well-shaped")
    ('cotan', True)
    """
    return _laplacian_choice(check_mesh(V, F))


def _laplacian_choice(mesh: CheckedMesh) -> tuple[str, str]:
    """Kernel of :func:`laplacian_choice` on a checked mesh (no validation)."""
    q = _triangle_quality(mesh)
    if q.nonmanifold_edges or q.nonmanifold_vertices:
        return "robust", (f"non-manifold mesh ({q.nonmanifold_edges} non-manifold edges, "
                          f"{q.nonmanifold_vertices} non-manifold vertices)")
    if q.degenerate_faces:
        return "robust", f"{q.degenerate_faces} degenerate (zero-area) faces"
    if q.negative_weight_fraction > NEGATIVE_WEIGHT_FRACTION:
        return "robust", (f"poorly shaped triangles: {100 * q.negative_weight_fraction:.1f} % of interior "
                          f"edges have negative cotan weights (threshold "
                          f"{100 * NEGATIVE_WEIGHT_FRACTION:.1f} %)")
    if q.most_negative_weight < MOST_NEGATIVE_WEIGHT:
        return "robust", (f"poorly shaped triangles: a cotan weight of {q.most_negative_weight:.2f} times "
                          f"the mean absolute weight (threshold {MOST_NEGATIVE_WEIGHT:.2f})")
    if q.max_abs_cot > MAX_ABS_COT:
        return "robust", (f"needle or cap triangles: a corner with |cot| = {q.max_abs_cot:.3g} (smallest angle "
                          f"{q.min_angle_deg:.2g}°; threshold |cot| {MAX_ABS_COT:.0e}), where cotan weights "
                          "cancel to rounding noise")
    return "cotan", (f"well-shaped manifold mesh ({100 * q.negative_weight_fraction:.2f} % negative cotan "
                     f"weights, {100 * q.obtuse_fraction:.1f} % obtuse faces)")
