"""Synthetic meshes the project generates itself (used by doctests, tests and samples).

Every function returns ``(V (nV, 3) float64, F (nF, 3) int64)`` with outward (counter-clockwise)
orientation for closed surfaces.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "triangle",
    "tetrahedron",
    "octahedron",
    "icosahedron",
    "icosphere",
    "uv_sphere",
    "torus",
    "grid",
    "cylinder_strip",
    "flat_torus_lengths",
]


def triangle() -> tuple[np.ndarray, np.ndarray]:
    """One right triangle with legs 1 in the xy-plane.

    >>> V, F = triangle(); V.shape, F.tolist()
    ((3, 3), [[0, 1, 2]])
    """
    V = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return V, np.array([[0, 1, 2]], dtype=np.int64)


def tetrahedron() -> tuple[np.ndarray, np.ndarray]:
    """The regular tetrahedron with vertices at alternate corners of the cube [-1, 1]³ (edge 2√2)."""
    V = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0]])
    F = np.array([[0, 1, 2], [0, 3, 1], [0, 2, 3], [1, 3, 2]], dtype=np.int64)
    return V, F


def octahedron() -> tuple[np.ndarray, np.ndarray]:
    """The unit octahedron (vertices ±e_i)."""
    V = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=float)
    F = np.array(
        [[0, 2, 4], [2, 1, 4], [1, 3, 4], [3, 0, 4], [2, 0, 5], [1, 2, 5], [3, 1, 5], [0, 3, 5]],
        dtype=np.int64,
    )
    return V, F


def icosahedron() -> tuple[np.ndarray, np.ndarray]:
    """The regular icosahedron inscribed in the unit sphere (12 vertices, 20 faces)."""
    t = (1.0 + 5.0**0.5) / 2.0
    V = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
         [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=float,
    )
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    F = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]],
        dtype=np.int64,
    )
    return V, F


def icosphere(subdivisions: int = 2, radius: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Unit (or ``radius``) icosphere: the icosahedron split ``subdivisions`` times (4× faces each).

    ``nV = 10 · 4^s + 2``, ``nF = 20 · 4^s``.

    >>> V, F = icosphere(1); V.shape, F.shape
    ((42, 3), (80, 3))
    """
    V, F = icosahedron()
    for _ in range(int(subdivisions)):
        e = np.sort(np.concatenate([F[:, [0, 1]], F[:, [1, 2]], F[:, [2, 0]]]), axis=1)
        uniq, inv = np.unique(e, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        mid = V[uniq].mean(axis=1)
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        nF = F.shape[0]
        m01, m12, m20 = (inv[:nF] + len(V), inv[nF : 2 * nF] + len(V), inv[2 * nF :] + len(V))
        V = np.vstack([V, mid])
        a, b, c = F[:, 0], F[:, 1], F[:, 2]
        F = np.concatenate(
            [np.stack([a, m01, m20], 1), np.stack([b, m12, m01], 1),
             np.stack([c, m20, m12], 1), np.stack([m01, m12, m20], 1)]
        ).astype(np.int64)
    return V * float(radius), F


def uv_sphere(n_lat: int = 16, n_lon: int = 32, radius: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Latitude-longitude sphere with two pole vertices (rings of constant latitude)."""
    th = np.linspace(0, np.pi, n_lat + 1)[1:-1]
    ph = np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    T, P = np.meshgrid(th, ph, indexing="ij")
    ring = np.stack([np.sin(T) * np.cos(P), np.sin(T) * np.sin(P), np.cos(T)], -1).reshape(-1, 3)
    V = np.vstack([[0, 0, 1.0], ring, [0, 0, -1.0]]) * radius
    idx = lambda r, c: 1 + r * n_lon + (c % n_lon)  # noqa: E731
    F = []
    for c in range(n_lon):
        F.append([0, idx(0, c), idx(0, c + 1)])
    for r in range(n_lat - 2):
        for c in range(n_lon):
            F.append([idx(r, c), idx(r + 1, c), idx(r + 1, c + 1)])
            F.append([idx(r, c), idx(r + 1, c + 1), idx(r, c + 1)])
    s = len(V) - 1
    for c in range(n_lon):
        F.append([s, idx(n_lat - 2, c + 1), idx(n_lat - 2, c)])
    return V, np.asarray(F, dtype=np.int64)


def torus(n_major: int = 24, n_minor: int = 12, R: float = 1.0, r: float = 0.35):
    """Torus of revolution (genus 1), ``n_major × n_minor`` vertices.

    The flat torus cannot be embedded isometrically in R³; its edge lengths on the same faces
    come from :func:`flat_torus_lengths`.
    """
    u = np.linspace(0, 2 * np.pi, n_major, endpoint=False)
    v = np.linspace(0, 2 * np.pi, n_minor, endpoint=False)
    U, W = np.meshgrid(u, v, indexing="ij")
    V = np.stack([(R + r * np.cos(W)) * np.cos(U), (R + r * np.cos(W)) * np.sin(U), r * np.sin(W)], -1)
    V = V.reshape(-1, 3)
    F = _periodic_grid_faces(n_major, n_minor)
    return V, F


def _periodic_grid_faces(n: int, m: int) -> np.ndarray:
    i, j = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    a = i * m + j
    b = ((i + 1) % n) * m + j
    c = ((i + 1) % n) * m + (j + 1) % m
    d = i * m + (j + 1) % m
    F = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return F.astype(np.int64)


def flat_torus_lengths(n: int, m: int, width: float = 1.0, height: float = 1.0):
    """Edge lengths ``(nF, 3)`` of the flat torus ``[0, width) × [0, height)`` on the faces of
    :func:`torus(n, m) <torus>` (length of edge opposite corner ``k`` is column ``k``)."""
    F = _periodic_grid_faces(n, m)
    i, j = np.divmod(np.arange(n * m), m)
    P = np.stack([i * width / n, j * height / m], -1)

    def d(a, b):
        diff = P[b] - P[a]
        diff[:, 0] = (diff[:, 0] + width / 2) % width - width / 2
        diff[:, 1] = (diff[:, 1] + height / 2) % height - height / 2
        return np.linalg.norm(diff, axis=1)

    return np.stack([d(F[:, 1], F[:, 2]), d(F[:, 2], F[:, 0]), d(F[:, 0], F[:, 1])], -1), F


def grid(n: int = 10, m: int | None = None, width: float = 1.0, height: float | None = None,
         diagonal: str = "alternate") -> tuple[np.ndarray, np.ndarray]:
    """Flat ``n × m`` grid of vertices in the z = 0 plane, triangulated.

    ``diagonal="alternate"`` alternates the diagonal direction (a less biased triangulation);
    ``"regular"`` uses the same diagonal everywhere.

    >>> V, F = grid(3); V.shape, F.shape
    ((9, 3), (8, 3))
    """
    m = n if m is None else m
    height = width * (m - 1) / (n - 1) if height is None else height
    x = np.linspace(0, width, n)
    y = np.linspace(0, height, m)
    X, Y = np.meshgrid(x, y, indexing="ij")
    V = np.stack([X, Y, np.zeros_like(X)], -1).reshape(-1, 3)
    F = []
    for i in range(n - 1):
        for j in range(m - 1):
            a, b, c, d = i * m + j, (i + 1) * m + j, (i + 1) * m + j + 1, i * m + j + 1
            if diagonal == "alternate" and (i + j) % 2:
                F += [[a, b, d], [b, c, d]]
            else:
                F += [[a, b, c], [a, c, d]]
    return V, np.asarray(F, dtype=np.int64)


def cylinder_strip(n: int = 20, m: int = 5, length: float = 2.0, width: float = 0.5, bend: float = 0.0):
    """A developable strip: the flat ``length × width`` rectangle, rolled with curvature ``bend``
    around the y axis (``bend = 0`` is flat).  Bending is an isometry, so intrinsic operators
    do not change with ``bend``."""
    V, F = grid(n, m, width=length, height=width)
    if bend != 0.0:
        x = V[:, 0]
        R = 1.0 / bend
        V = np.stack([R * np.sin(x / R), V[:, 1], R * (1 - np.cos(x / R))], -1)
    return V, F


