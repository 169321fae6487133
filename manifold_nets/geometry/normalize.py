"""The scale contract for learning: one normalisation (centred, unit area), its factor recorded.

:func:`normalize_for_learning` moves a mesh so that its area-weighted centroid is at the origin
and scales it to total area ``area`` (1 by default).  The returned :class:`Normalization`
records the centre and the factor, so every output in length units (positions, geodesic
distances, areas, eigenvalues) can be mapped back to the units of the input mesh:
``V_normalized = (V − center) · scale``.

:func:`robust_edge_length` is the mesh-relative length that normalises one-ring patch radii:
the mean edge length with outliers (edges longer than ``4 ×`` the median) left out, so a single
long edge changes it by a fraction of a percent instead of collapsing every other ``ρ``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import MeshShapeError
from ._checked import accepts_mesh, check_mesh

__all__ = ["Normalization", "normalize_for_learning", "robust_edge_length", "total_area"]


@dataclass(frozen=True, eq=False)
class Normalization:
    """The similarity ``x ↦ (x − center) · scale`` that normalised a mesh.

    Attributes
    ----------
    center : (3,) float64
        Area-weighted centroid of the input mesh (zeros when not centred).
    scale : float
        Factor applied to lengths (``> 0``); areas scale by ``scale²``, Laplacian eigenvalues by
        ``1 / scale²``.
    """

    center: np.ndarray
    scale: float

    def __post_init__(self):
        c = np.asarray(self.center, dtype=np.float64).reshape(-1)
        if c.shape != (3,) or not np.isfinite(c).all():
            raise MeshShapeError(f"center: expected a finite (3,) vector (got {np.shape(self.center)})")
        s = float(self.scale)
        if not (np.isfinite(s) and s > 0):
            raise MeshShapeError(f"scale: expected a positive finite factor (got {self.scale})")
        c.setflags(write=False)
        object.__setattr__(self, "center", c)
        object.__setattr__(self, "scale", s)

    def __eq__(self, other) -> bool:
        if not isinstance(other, Normalization):
            return NotImplemented
        return self.scale == other.scale and bool(np.array_equal(self.center, other.center))

    def __hash__(self) -> int:
        return hash((self.scale, self.center.tobytes()))

    @classmethod
    def identity(cls) -> Normalization:
        return cls(np.zeros(3), 1.0)

    def points(self, X) -> np.ndarray:
        """Input-mesh points ``(n, 3)`` -> normalised points."""
        return (np.asarray(X, dtype=np.float64) - self.center) * self.scale

    def points_back(self, X) -> np.ndarray:
        """Normalised points ``(n, 3)`` -> points in the units of the input mesh."""
        return np.asarray(X, dtype=np.float64) / self.scale + self.center

    def lengths_back(self, x):
        """Normalised lengths (distances, radii) -> input units."""
        return np.asarray(x, dtype=np.float64) / self.scale

    def areas_back(self, x):
        """Normalised areas (masses) -> input units."""
        return np.asarray(x, dtype=np.float64) / self.scale ** 2

    def eigenvalues_back(self, x):
        """Normalised Laplacian eigenvalues -> input units (``λ`` scales like ``1 / length²``)."""
        return np.asarray(x, dtype=np.float64) * self.scale ** 2

    def to_dict(self) -> dict:
        return {"center": [float(c) for c in self.center], "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        return cls(np.asarray(d["center"], dtype=np.float64), float(d["scale"]))


@accepts_mesh
def total_area(V, F) -> float:
    """Sum of the triangle areas of ``V (nV, 3) float64``, ``F (nF, 3) int64``.

    Raises the typed errors of :func:`~manifold_nets.geometry._checked.check_mesh` for bad
    arrays (NaN or huge coordinates, out-of-range indices, wrong shapes)."""
    V, F = check_mesh(V, F)
    a = V[F[:, 1]] - V[F[:, 0]]
    b = V[F[:, 2]] - V[F[:, 0]]
    return float(0.5 * np.linalg.norm(np.cross(a, b), axis=1).sum())


@accepts_mesh
def normalize_for_learning(V, F, *, center: bool = True, area: float = 1.0) -> tuple[np.ndarray, Normalization]:
    """Centre a mesh at its area-weighted centroid and scale it to total area ``area``.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    center : bool
        Translate the area-weighted centroid (of the triangles) to the origin.
    area : float
        Total area after scaling (``> 0``).

    Returns
    -------
    V_normalized : (nV, 3) float64
        ``(V − norm.center) · norm.scale`` (unreferenced vertices are moved too).
    norm : Normalization

    Raises
    ------
    MeshShapeError
        ``area`` not positive, or a mesh of zero total area (nothing to scale by).

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> V, F = icosphere(2)
    >>> Vn, norm = normalize_for_learning(3.0 * V + 1.0, F)
    >>> round(total_area(Vn, F), 12), bool(np.allclose(norm.points_back(Vn), 3.0 * V + 1.0))
    (1.0, True)
    """
    V, F = check_mesh(V, F)
    area = float(area)
    if not (np.isfinite(area) and area > 0):
        raise MeshShapeError(f"area: expected a positive finite target area (got {area})")
    a = V[F[:, 1]] - V[F[:, 0]]
    b = V[F[:, 2]] - V[F[:, 0]]
    fa = 0.5 * np.linalg.norm(np.cross(a, b), axis=1)
    A = float(fa.sum())
    if not (A > 0 and np.isfinite(A)):
        raise MeshShapeError(f"V, F: expected a mesh of positive total area to normalise (got {A})")
    if center:
        centroid = (V[F[:, 0]] + V[F[:, 1]] + V[F[:, 2]]) / 3.0
        c = (fa[:, None] * centroid).sum(0) / A
    else:
        c = np.zeros(3)
    norm = Normalization(c, float(np.sqrt(area / A)))
    return norm.points(V), norm


@accepts_mesh
def robust_edge_length(V, F, *, outlier_factor: float = 4.0) -> float:
    """Mean edge length without outliers (edges longer than ``outlier_factor ×`` the median).

    Scale-equivariant (``robust_edge_length(s V, F) = s · robust_edge_length(V, F)``); used as
    the unit of one-ring patch radii.  Returns 1.0 for a mesh without edges of positive length.
    ``outlier_factor`` must be at least 1 (so the median edge itself is always kept); ``inf``
    keeps every edge.

    >>> from manifold_nets.shapes import grid
    >>> round(robust_edge_length(*grid(3)), 6)   # 12 edges of 0.5, 4 diagonals of 0.5·√2
    0.551777
    """
    V, F = check_mesh(V, F)
    try:
        factor = float(outlier_factor)
    except (TypeError, ValueError):
        factor = float("nan")
    if isinstance(outlier_factor, bool) or not factor >= 1.0:
        raise MeshShapeError(
            f"outlier_factor: expected a number >= 1 (got {outlier_factor!r})"
        )
    e = np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]])
    e = np.unique(np.sort(e, axis=1), axis=0)
    ell = np.linalg.norm(V[e[:, 1]] - V[e[:, 0]], axis=1)
    ell = ell[ell > 0]
    if ell.size == 0:
        return 1.0
    med = float(np.median(ell))
    return float(ell[ell <= factor * med].mean())
