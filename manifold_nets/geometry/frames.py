"""Tangent frames (the gauge) and half-edge angles, following :mod:`manifold_nets.conventions`.

The gauge rule
--------------
Vertex ``i`` gets a unit normal ``n_i`` (angle-weighted face normals), an x-axis ``x_i`` along
its **reference half-edge** (in the lowest-numbered face containing ``i``, the half-edge from
``i`` to the next vertex of that face) projected to the tangent plane, and ``y_i = n_i × x_i``.

The angle ``φ_ij`` of an outgoing half-edge ``i → j`` is intrinsic: the sum of the corner angles
at ``i`` swept counter-clockwise from the reference half-edge to ``i → j``, rescaled by
``2π / Θ_i`` at an interior vertex (``Θ_i`` = sum of the corner angles at ``i``), so interior
angles lie in ``[0, 2π)``.  Details this module fixes beyond :mod:`manifold_nets.conventions`:

* **Boundary vertices** (some corner's counter-clockwise neighbour is missing): angles are not
  rescaled; half-edges reached by sweeping *clockwise* from the reference half-edge get
  negative angles (minus the corner angles swept), so the values are the polar angles of the
  fan unfolded into the plane, continuous across every interior edge; they lie in
  ``(−Θ_i, Θ_i)`` and are not wrapped.
* **Non-manifold vertices and edges** (a vertex with several fans, an edge with three or more
  faces, an edge whose two faces disagree in orientation): the fan is cut at such edges.  The
  fans of a vertex are laid one after another: the fan holding the reference half-edge first,
  then the others in order of their lowest face; the angles keep accumulating across them.  A
  vertex all of whose fans are closed is rescaled by ``2π / Θ_i`` over all its fans.  The
  result is deterministic and finite but has no geometric meaning across the cuts; methods that
  need a manifold check for one and say so.
* **Unreferenced (isolated) vertices** get the world frame ``n = e_z, x = e_x, y = e_y``.
* **Degenerate normals**: where the angle-weighted normal vanishes the area-weighted one is
  used, then ``e_z``; where the reference half-edge is (nearly) parallel to the normal, the
  world axis least aligned with ``n`` is projected instead.  The intrinsic angles ``φ`` do not
  depend on these choices.
* **Corner angles** come from the one triangle kernel of the library
  (:class:`~manifold_nets.geometry._common.FaceGeometry`, ``atan2``: exact for slivers,
  ``0, 0, π`` for collinear vertices; corners with a zero-length side share what is left of π),
  the same kernel that gives the cotan weights, so frames, transport and Laplacians agree.

Gauge changes
-------------
Every function taking ``gauge=g`` (an ``(nV,)`` angle array) works in the frames rotated by
``g`` (``x_i ← cos g_i x_i + sin g_i y_i``): angles measured at ``i`` become ``θ − g_i``,
tangent vectors ``e^{−i g_i} z`` and transport angles ``ρ_ij − g_i + g_j``.
"""

from __future__ import annotations

import numpy as np

from ..errors import MeshShapeError
from ._checked import CheckedMesh, accepts_mesh, check_mesh, require_checked
from ._common import check_lengths as _check_lengths_common
from ._intrinsic import (
    Fans,
    corner_angles,
    corner_angles_from_lengths,
    wrap_angle,
)

__all__ = [
    "tangent_frames",
    "vertex_normals",
    "halfedge_angles",
    "halfedge_angles_from_lengths",
    "random_gauge",
    "rotate_frames",
    "change_gauge",
    "tangent_to_world",
    "world_to_tangent",
]


def _check_gauge(gauge, nV: int) -> np.ndarray | None:
    if gauge is None:
        return None
    g = np.asarray(gauge, dtype=np.float64)
    if g.shape != (nV,):
        raise MeshShapeError(f"gauge: expected shape ({nV},), one angle per vertex (got {g.shape})")
    if not np.isfinite(g).all():
        i = int(np.flatnonzero(~np.isfinite(g))[0])
        raise MeshShapeError(f"gauge: expected finite angles (got {g[i]} at vertex {i})")
    return g


def _as_array(x, dtype, name: str, what: str) -> np.ndarray:
    """``np.asarray(x, dtype)`` with a typed one-line error for input numpy cannot convert."""
    try:
        a = np.asarray(x)
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise TypeError(f"dtype {a.dtype}")
        if np.dtype(dtype).kind != "c" and np.iscomplexobj(a):
            raise TypeError(f"complex dtype {a.dtype}")
        return a.astype(dtype, copy=False)
    except (TypeError, ValueError) as exc:
        raise MeshShapeError(f"{name}: expected {what} (got {type(x).__name__}: {exc})") from None


def _vertex_index(vertices, k: int, nV: int, name: str, rows: str) -> np.ndarray:
    """Vertex of each of ``k`` rows: ``arange(k)`` (then ``k`` must be ``nV``, one row per vertex)
    or ``vertices`` ``(k,)`` integers in ``[0, nV)``."""
    if vertices is None:
        if k != nV:
            raise MeshShapeError(
                f"{rows}: expected one row per frame/vertex ({nV}) or vertices= naming the vertex of "
                f"every row (got {k} rows)")
        return np.arange(k)
    idx = np.asarray(vertices)
    if idx.size == 0 and idx.dtype != bool:
        idx = idx.astype(np.int64)
    if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
        raise MeshShapeError(f"{name}: expected integer vertex indices (got dtype {idx.dtype})")
    idx = idx.astype(np.int64).reshape(-1) if idx.ndim <= 1 else idx
    if idx.shape != (k,):
        raise MeshShapeError(f"{name}: expected shape ({k},), one vertex per row of {rows} (got {idx.shape})")
    bad = (idx < 0) | (idx >= nV)
    if bad.any():
        j = int(np.flatnonzero(bad)[0])
        raise MeshShapeError(f"{name}: expected vertex indices in [0, {nV}) (got {int(idx[j])} at position {j})")
    return idx


def _check_axes(x_axes, y_axes) -> tuple[np.ndarray, np.ndarray]:
    x = _as_array(x_axes, np.float64, "x_axes", "an (nV, 3) array of frame axes")
    y = _as_array(y_axes, np.float64, "y_axes", "an (nV, 3) array of frame axes")
    if x.ndim != 2 or x.shape[1] != 3:
        raise MeshShapeError(f"x_axes: expected shape (nV, 3) (got {x.shape})")
    if y.shape != x.shape:
        raise MeshShapeError(f"y_axes: expected shape {x.shape} like x_axes (got {y.shape})")
    return x, y


def _face_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Unnormalised face normals ``(nF, 3)`` (length = twice the area)."""
    return np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])


@accepts_mesh
def vertex_normals(V, F, *, alpha: np.ndarray | None = None) -> np.ndarray:
    """Angle-weighted unit vertex normals ``(nV, 3) float64``.

    Falls back to the area-weighted normal where the angle-weighted sum vanishes, and to
    ``e_z`` where both vanish or the vertex is unreferenced.

    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(3)
    >>> vertex_normals(V, F)[4].tolist()
    [0.0, 0.0, 1.0]
    """
    mesh = check_mesh(V, F)
    if alpha is not None:
        a = _as_array(alpha, np.float64, "alpha", "(nF, 3) corner angles")
        if a.shape != mesh.F.shape:
            raise MeshShapeError(f"alpha: expected shape {mesh.F.shape}, one angle per face corner (got {a.shape})")
        if not np.isfinite(a).all():
            f = int(np.flatnonzero(~np.isfinite(a).all(axis=1))[0])
            raise MeshShapeError(f"alpha: expected finite corner angles (got {a[f].tolist()} in face {f})")
        alpha = a
    return _vertex_normals(mesh, alpha=alpha)


def _vertex_normals(mesh: CheckedMesh, *, alpha: np.ndarray | None = None) -> np.ndarray:
    """Kernel of :func:`vertex_normals` on a checked mesh (no validation)."""
    V, F = require_checked(mesh)
    if alpha is None:
        alpha = corner_angles(V, F)
    fn = _face_normals(V, F)
    fl = np.linalg.norm(fn, axis=1)
    unit = np.divide(fn, fl[:, None], out=np.zeros_like(fn), where=fl[:, None] > 0)
    nV = V.shape[0]
    N = np.zeros((nV, 3))
    A = np.zeros((nV, 3))
    for c in range(3):
        np.add.at(N, F[:, c], unit * alpha[:, c, None])
        np.add.at(A, F[:, c], fn)
    scale = np.linalg.norm(V.max(0) - V.min(0)) if nV else 1.0
    tiny = 1e-14
    nN = np.linalg.norm(N, axis=1)
    bad = nN <= tiny
    N[bad] = A[bad]
    nN = np.linalg.norm(N, axis=1)
    bad = nN <= tiny * max(scale, 1e-300) ** 2
    N[bad] = (0.0, 0.0, 1.0)
    nN[bad] = 1.0
    return N / nN[:, None]


@accepts_mesh
def halfedge_angles(V, F, *, gauge=None) -> tuple[np.ndarray, np.ndarray]:
    """Angle of every half-edge in its tail vertex's gauge.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    gauge : (nV,) float64, optional
        Rotate every frame by its own angle (see the module docstring); ``None`` is the
        standard gauge.

    Returns
    -------
    edges : (m, 2) int64
        Directed edges ``(i, j)``: both directions of every mesh edge, sorted lexicographically.
    phi : (m,) float64
        ``φ_ij``, the angle of ``i → j`` in ``i``'s gauge: in ``[0, 2π)`` at interior vertices
        (standard gauge), unwrapped at boundary vertices.

    Examples
    --------
    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(3)                  # centre vertex 4; face 0 = (0, 3, 4) gives reference 4 -> 0
    >>> edges, phi = halfedge_angles(V, F)
    >>> out = edges[:, 0] == 4
    >>> dict(zip(edges[out, 1].tolist(), np.round(np.degrees(phi[out])).tolist()))
    {0: 0.0, 1: 315.0, 2: 270.0, 3: 45.0, 5: 225.0, 6: 90.0, 7: 135.0, 8: 180.0}
    """
    V, F = check_mesh(V, F)
    fans = Fans(F, corner_angles(V, F), V.shape[0])
    return _apply_gauge_phi(fans, _check_gauge(gauge, V.shape[0]))


def halfedge_angles_from_lengths(F, lengths, n_vertices: int | None = None, *, gauge=None):
    """Intrinsic version of :func:`halfedge_angles` from edge lengths ``(nF, 3)``.

    Column ``c`` of ``lengths`` is the length of the edge opposite corner ``c`` (as returned by
    :func:`manifold_nets.shapes.flat_torus_lengths`).  Returns ``(edges, phi)`` as
    :func:`halfedge_angles`.
    """
    L, F, nV = _check_lengths_common(lengths, F, n_vertices)
    fans = Fans(F, corner_angles_from_lengths(L), nV)
    return _apply_gauge_phi(fans, _check_gauge(gauge, nV))


def _apply_gauge_phi(fans: Fans, g):
    if g is None:
        return fans.edges.copy(), fans.phi.copy()
    return fans.edges.copy(), fans.phi - g[fans.edges[:, 0]]


@accepts_mesh
def tangent_frames(V, F, *, gauge=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-vertex normal and tangent basis in the documented gauge.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
    gauge : (nV,) float64, optional
        Rotate the frame at vertex ``i`` by ``gauge[i]`` counter-clockwise about ``n_i``.

    Returns
    -------
    normals, x_axes, y_axes : (nV, 3) float64 each
        Orthonormal and right-handed: ``y_i = n_i × x_i``.

    Examples
    --------
    >>> from manifold_nets.shapes import grid
    >>> V, F = grid(3)
    >>> n, x, y = tangent_frames(V, F)
    >>> n[4].tolist(), np.round(x[4] * 2**0.5, 12).tolist()   # reference half-edge 4 -> 0
    ([0.0, 0.0, 1.0], [-1.0, -1.0, 0.0])
    >>> np.allclose(y, np.cross(n, x))
    True
    """
    return _tangent_frames(check_mesh(V, F), gauge=gauge)


def _tangent_frames(mesh: CheckedMesh, *, gauge=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Kernel of :func:`tangent_frames` on a checked mesh (validates only ``gauge``)."""
    V, F = require_checked(mesh)
    nV = V.shape[0]
    g = _check_gauge(gauge, nV)
    n = _vertex_normals(mesh, alpha=corner_angles(V, F))
    nC = 3 * F.shape[0]
    ref = np.full(nV, nC, dtype=np.int64)
    np.minimum.at(ref, F.ravel(), np.arange(nC))
    used = ref < nC
    x = np.zeros((nV, 3))
    x[:, 0] = 1.0
    rc = ref[used]
    head = F[rc // 3, (rc % 3 + 1) % 3]
    e = V[head] - V[used]
    e = e - np.einsum("ij,ij->i", e, n[used])[:, None] * n[used]
    x[used] = e
    xl = np.linalg.norm(x, axis=1)
    el = np.linalg.norm(V[head] - V[used], axis=1) if used.any() else np.zeros(0)
    bad = np.zeros(nV, dtype=bool)
    bad[used] = xl[used] <= 1e-9 * np.maximum(el, 1e-300)
    if bad.any():
        nb = n[bad]
        axis = np.eye(3)[np.argmin(np.abs(nb), axis=1)]
        xb = axis - np.einsum("ij,ij->i", axis, nb)[:, None] * nb
        x[bad] = xb
        xl[bad] = np.linalg.norm(xb, axis=1)
    x /= xl[:, None]
    # re-orthogonalise once more for accuracy
    x -= np.einsum("ij,ij->i", x, n)[:, None] * n
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = np.cross(n, x)
    if g is not None:
        x, y = rotate_frames(x, y, g)
    return n, x, y


def rotate_frames(x_axes, y_axes, gauge) -> tuple[np.ndarray, np.ndarray]:
    """Rotate each frame by its own angle: ``x ← cos g x + sin g y``, ``y ← −sin g x + cos g y``.

    Returns the new ``(x_axes, y_axes)``, ``(nV, 3)`` each.
    """
    x = np.asarray(x_axes, dtype=np.float64)
    y = np.asarray(y_axes, dtype=np.float64)
    g = _check_gauge(gauge, x.shape[0])
    c, s = np.cos(g)[:, None], np.sin(g)[:, None]
    return c * x + s * y, -s * x + c * y


def random_gauge(n_vertices: int, seed=None) -> np.ndarray:
    """Uniform random gauge angles ``(n_vertices,)`` in ``[0, 2π)`` (for equivariance tests)."""
    if isinstance(n_vertices, (bool, np.bool_)) or not isinstance(n_vertices, (int, np.integer)) \
            or int(n_vertices) < 0:
        raise MeshShapeError(f"n_vertices: expected a non-negative integer (got {n_vertices!r})")
    rng = np.random.default_rng(seed)
    return rng.uniform(0.0, 2.0 * np.pi, int(n_vertices))


def change_gauge(gauge, *, vectors=None, vertices=None, angles=None, angle_vertices=None,
                 edges=None, transport=None) -> dict:
    """Express quantities in the gauge rotated by ``gauge`` (``(nV,)`` angles).

    Parameters
    ----------
    gauge : (nV,) float64
        Frame rotation angle ``g_i`` of every vertex.
    vectors : complex array, optional
        Tangent vectors; ``vectors[k]`` lives at ``vertices[k]`` (``vertices`` defaults to
        ``arange(len(vectors))``, i.e. one vector per vertex).  Becomes ``e^{−i g} z``.
    angles : float array, optional
        Angles measured at ``angle_vertices`` (same shape).  Becomes ``θ − g``.
    edges, transport : (m, 2) int64 and (m,) float, optional
        Transport angles of directed edges ``(i, j)``.  Becomes ``ρ_ij − g_i + g_j``
        (wrapped to ``(−π, π]``).

    Returns
    -------
    dict with the keys ``"vectors"``, ``"angles"``, ``"transport"`` of the given inputs.

    Examples
    --------
    >>> g = np.array([0.5, 0.0])
    >>> out = change_gauge(g, vectors=np.array([1 + 0j, 1j]), edges=np.array([[0, 1]]),
    ...                    transport=np.array([0.0]))
    >>> np.round(out["vectors"], 3).tolist(), np.round(out["transport"], 3).tolist()
    ([(0.878-0.479j), 1j], [-0.5])
    """
    g = _as_array(gauge, np.float64, "gauge", "(nV,) angles")
    if g.ndim != 1:
        raise MeshShapeError(f"gauge: expected shape (nV,), one angle per vertex (got {g.shape})")
    g = _check_gauge(g, g.shape[0])
    nV = g.shape[0]
    out = {}
    if vectors is not None:
        z = _as_array(vectors, np.complex128, "vectors", "complex tangent vectors")
        if z.ndim == 0:
            raise MeshShapeError("vectors: expected an array with one row per vector (got a scalar)")
        idx = _vertex_index(vertices, z.shape[0], nV, "vertices", "vectors")
        shape = (-1,) + (1,) * (z.ndim - 1)
        out["vectors"] = z * np.exp(-1j * g[idx]).reshape(shape)
    if angles is not None:
        if angle_vertices is None:
            raise MeshShapeError("angle_vertices: expected the vertex of every angle (got None)")
        a = _as_array(angles, np.float64, "angles", "real angles")
        av = np.asarray(angle_vertices)
        if av.shape != a.shape:
            raise MeshShapeError(f"angle_vertices: expected shape {a.shape} like angles (got {av.shape})")
        av = _vertex_index(av.reshape(-1), a.size, nV, "angle_vertices", "angles").reshape(a.shape)
        out["angles"] = a - g[av]
    if transport is not None:
        if edges is None:
            raise MeshShapeError("edges: expected the (m, 2) edges of the transport angles (got None)")
        rho = _as_array(transport, np.float64, "transport", "(m,) transport angles")
        e = np.asarray(edges)
        if e.ndim != 2 or e.shape[1] != 2 or rho.shape != (e.shape[0],):
            raise MeshShapeError(
                f"edges, transport: expected shapes (m, 2) and (m,) (got {e.shape} and {rho.shape})")
        e = _vertex_index(e.reshape(-1), e.size, nV, "edges", "edges").reshape(e.shape)
        out["transport"] = wrap_angle(rho - g[e[:, 0]] + g[e[:, 1]])
    return out


def tangent_to_world(z, x_axes, y_axes, vertices=None) -> np.ndarray:
    """3D vectors ``Re(z) x_i + Im(z) y_i`` of complex tangent vectors ``z`` (``(k,)`` → ``(k, 3)``).

    Row ``k`` uses frame ``vertices[k]``; without ``vertices`` there must be one row per frame
    (a :class:`~manifold_nets.errors.MeshShapeError` otherwise, never a silent subset)."""
    z = _as_array(z, np.complex128, "z", "(k,) complex tangent vectors")
    if z.ndim != 1:
        raise MeshShapeError(f"z: expected shape (k,), one complex vector per row (got {z.shape})")
    x, y = _check_axes(x_axes, y_axes)
    idx = _vertex_index(vertices, z.shape[0], x.shape[0], "vertices", "z")
    return z.real[:, None] * x[idx] + z.imag[:, None] * y[idx]


def world_to_tangent(vec, x_axes, y_axes, vertices=None) -> np.ndarray:
    """Complex coordinates of 3D vectors ``(k, 3)`` projected onto the tangent frames → ``(k,)``.

    Row ``k`` uses frame ``vertices[k]``; without ``vertices`` there must be one row per frame
    (a :class:`~manifold_nets.errors.MeshShapeError` otherwise, never a silent subset)."""
    vec = _as_array(vec, np.float64, "vec", "a (k, 3) array of 3D vectors")
    if vec.ndim != 2 or vec.shape[1] != 3:
        raise MeshShapeError(f"vec: expected shape (k, 3) (got {vec.shape})")
    x, y = _check_axes(x_axes, y_axes)
    idx = _vertex_index(vertices, vec.shape[0], x.shape[0], "vertices", "vec")
    return np.einsum("ij,ij->i", vec, x[idx]) + 1j * np.einsum("ij,ij->i", vec, y[idx])
