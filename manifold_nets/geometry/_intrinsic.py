"""Private intrinsic helpers: corner angles, edge lengths and the vertex fans of a triangle mesh.

Everything here depends on the connectivity ``F`` and on corner angles (or edge lengths) only,
so it serves both embedded meshes (``V, F``) and intrinsic ones (edge lengths ``(nF, 3)``, e.g.
:func:`manifold_nets.shapes.flat_torus_lengths`).

Corner ``k = 3 f + c`` is corner ``c`` of face ``f`` at vertex ``F[f, c]``.  Its *first side* is
the half-edge ``F[f, c] → F[f, (c+1) % 3]`` and its *last side* ``F[f, c] → F[f, (c+2) % 3]``;
sweeping the corner counter-clockwise (about the face normal) goes from the first side to the
last side.  The *counter-clockwise successor* of a corner is the corner at the same vertex whose
first side is this corner's last side (the face across that edge, when the edge is manifold and
consistently oriented).  Following successors walks a vertex's fan counter-clockwise.
"""

from __future__ import annotations

import numpy as np

from ._common import FaceGeometry
from ._common import check_lengths as _check_lengths_common

TWO_PI = 2.0 * np.pi


def edge_lengths(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Edge lengths ``(nF, 3)``: column ``c`` is the length of the edge opposite corner ``c``."""
    Vt = np.ascontiguousarray(np.asarray(V).T)  # coordinates as rows: every step below is contiguous
    P = [Vt[:, F[:, c]] for c in range(3)]
    out = np.empty((F.shape[0], 3))
    for c in range(3):
        d = P[(c + 2) % 3] - P[(c + 1) % 3]
        d *= d
        s = d[0].copy()
        for k in range(1, d.shape[0]):  # np.linalg.norm's sum, in the same order
            s += d[k]
        out[:, c] = np.sqrt(s)
    return out


def corner_angles(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """Interior angle ``(nF, 3)`` at each corner of an embedded mesh.

    The angles of the one triangle kernel, :class:`._common.FaceGeometry` (``atan2`` of
    ``4 area`` and the law-of-cosines numerator, accurate for thin triangles).  A corner with
    a zero-length side has no defined angle; such corners share what is left of ``π`` in
    their face equally (so every face's angles still sum to ``π``).
    """
    return FaceGeometry.from_vertices(np.asarray(V, dtype=np.float64), np.asarray(F)).angles.copy()


def corner_angles_from_lengths(L: np.ndarray) -> np.ndarray:
    """Corner angles ``(nF, 3)`` from edge lengths ``(nF, 3)`` (column ``c`` opposite corner ``c``).

    The kernel's angles with the area from Kahan's Heron formula (a triangle-inequality
    violation gives zero area, hence flat corners ``0, 0, π`` instead of NaN); corners with a
    zero-length side share what is left of π.
    """
    return FaceGeometry.from_lengths(np.asarray(L, dtype=np.float64)).angles.copy()


def check_lengths(L, F) -> np.ndarray:
    """Validate intrinsic edge lengths ``(nF, 3)`` against faces ``F`` (finite, non-negative,
    triangle inequality); see :func:`._common.check_lengths`."""
    return _check_lengths_common(L, F)[0]


class Fans:
    """Counter-clockwise fans of corners around every vertex, and the half-edge angles they give.

    Parameters
    ----------
    F : (nF, 3) int64
    alpha : (nF, 3) float64
        Corner angles.
    n_vertices : int
    halfedges : bool
        Build :attr:`edges` and :attr:`phi` (default); ``False`` skips that sort when only the
        corner angles and scales are needed (both attributes are then ``None``).

    Attributes
    ----------
    succ, pred : (3 nF,) int64
        Counter-clockwise successor / predecessor corner, ``-1`` where the fan is cut (boundary
        edge, non-manifold edge, inconsistently oriented edge, degenerate side).
    ref : (nV,) int64
        Reference corner of every vertex (its corner in the lowest-numbered face), ``-1`` for
        unreferenced vertices.
    theta_sum : (nV,) float64
        Sum ``Θ_i`` of the corner angles at each vertex.
    interior : (nV,) bool
        Every corner at the vertex has a successor (its fans are closed).  Unreferenced
        vertices are not interior.
    scale : (nV,) float64
        ``2π / Θ_i`` at interior vertices, ``1`` elsewhere.
    edges : (m, 2) int64
        Directed edges ``(i, j)``, both directions of every undirected edge of a face with
        ``i != j``, sorted lexicographically.
    phi : (m,) float64
        Angle of ``i → j`` in ``i``'s gauge (see :mod:`manifold_nets.geometry.frames`).
    """

    def __init__(self, F: np.ndarray, alpha: np.ndarray, n_vertices: int, *, halfedges: bool = True):
        F = np.asarray(F, dtype=np.int64)
        nV = int(n_vertices)
        nF = F.shape[0]
        nC = 3 * nF
        v = F.ravel()
        a = F[:, [1, 2, 0]].ravel()
        b = F[:, [2, 0, 1]].ravel()
        al = np.asarray(alpha, dtype=np.float64).ravel()
        self.nV, self.nF = nV, nF
        self.corner_vertex, self.corner_first, self.corner_last, self.corner_alpha = v, a, b, al

        # successor: corner whose first side equals my last side, when both keys are unique
        kf = v * nV + a
        kl = v * nV + b
        of = np.argsort(kf, kind="stable")
        sf = kf[of]
        uf, cf = np.unique(kf, return_counts=True)
        ul, cl = np.unique(kl, return_counts=True)
        first_unique = np.zeros(nC, dtype=bool)
        first_unique[of] = cf[np.searchsorted(uf, sf)] == 1
        last_unique = cl[np.searchsorted(ul, kl)] == 1
        pos = np.searchsorted(sf, kl)
        posc = np.minimum(pos, max(nC - 1, 0))
        found = (pos < nC) & (sf[posc] == kl) if nC else np.zeros(0, bool)
        cand = of[posc]
        ok = found & last_unique & (v != b) & (v != a)
        ok &= first_unique[cand] & (v[cand] != a[cand])
        succ = np.full(nC, -1, dtype=np.int64)
        succ[ok] = cand[ok]
        pred = np.full(nC, -1, dtype=np.int64)
        pred[succ[ok]] = np.flatnonzero(ok)
        self.succ, self.pred = succ, pred

        # reference corner: the lowest corner index at each vertex (lowest face, then lowest c)
        ref = np.full(nV, -1, dtype=np.int64)
        if nC:
            ref_rev = np.full(nV, nC, dtype=np.int64)
            np.minimum.at(ref_rev, v, np.arange(nC))
            has = ref_rev < nC
            ref[has] = ref_rev[has]
        self.ref = ref

        # walk the chains: open chains from their heads, then closed ones from the reference
        # corner (or, for further closed fans of a non-manifold vertex, their lowest corner)
        chain = np.full(nC, -1, dtype=np.int64)
        position = np.zeros(nC, dtype=np.int64)

        def walk(starts):
            cur = np.asarray(starts, dtype=np.int64)
            chain[cur] = cur
            position[cur] = 0
            while cur.size:
                nxt = succ[cur]
                m = nxt >= 0
                m[m] = chain[nxt[m]] < 0
                cur, nxt = cur[m], nxt[m]
                chain[nxt] = chain[cur]
                position[nxt] = position[cur] + 1
                cur = nxt

        walk(np.flatnonzero(pred < 0))
        r = ref[ref >= 0]
        walk(r[chain[r] < 0])
        while True:
            left = np.flatnonzero(chain < 0)
            if not left.size:
                break
            _, first = np.unique(v[left], return_index=True)
            walk(left[first])
        self.chain, self.position = chain, position

        # order the corners of each vertex: reference chain first, then other chains by their
        # lowest corner, each chain in counter-clockwise order; exclusive cumulative angles
        chain_min = np.full(nC, nC, dtype=np.int64)
        if nC:
            np.minimum.at(chain_min, chain, np.arange(nC))
        not_ref = chain != chain[ref[v]] if nC else np.zeros(0, bool)
        order = np.lexsort((position, chain_min[chain], not_ref, v))
        excl = np.empty(nC, dtype=np.float64)
        cs = np.cumsum(al[order])
        excl[order] = cs - al[order]
        start = np.zeros(nC, dtype=np.float64)
        if nC:
            start = excl[ref[v]]
        cum = excl - start  # angle of the first side of every corner, before rescaling

        theta_sum = np.bincount(v, weights=al, minlength=nV)
        closed = np.bincount(v, weights=(succ < 0).astype(float), minlength=nV) == 0
        interior = closed & (ref >= 0) & (theta_sum > 0)
        scale = np.ones(nV)
        scale[interior] = TWO_PI / theta_sum[interior]
        self.theta_sum, self.interior, self.scale = theta_sum, interior, scale
        self.corner_phi_first = cum * scale[v]
        self.corner_phi_last = (cum + al) * scale[v]

        # half-edge angles: first-side values win, then the lowest corner (both directions of
        # every undirected edge exist: an edge ij of a face is a side of the corners at i and j)
        self.edges, self.phi = None, None
        if halfedges:
            self.edges, self.phi = halfedge_angle_table(v, a, b, self.corner_phi_first, self.corner_phi_last,
                                                        interior)

    def edge_index(self, i, j) -> np.ndarray:
        """Row of directed edges ``(i, j)`` in :attr:`edges` (``-1`` where absent)."""
        i = np.asarray(i, dtype=np.int64)
        j = np.asarray(j, dtype=np.int64)
        key = self.edges[:, 0] * self.nV + self.edges[:, 1]
        q = i * self.nV + j
        pos = np.searchsorted(key, q)
        posc = np.minimum(pos, max(key.size - 1, 0))
        hit = (pos < key.size) & (key[posc] == q) if key.size else np.zeros(q.shape, bool)
        return np.where(hit, posc, -1)

    def reverse(self) -> np.ndarray:
        """Row of the reverse edge ``(j, i)`` for each row of :attr:`edges`."""
        return self.edge_index(self.edges[:, 1], self.edges[:, 0])

    def transport(self) -> np.ndarray:
        """Transport angle ``ρ_ij = φ_ij − φ_ji + π`` wrapped to ``(−π, π]`` for each edge row."""
        rho = self.phi - self.phi[self.reverse()] + np.pi
        return wrap_angle(rho)


def wrap_angle(x):
    """Wrap angles to ``(−π, π]``."""
    y = np.pi - np.mod(np.pi - np.asarray(x, dtype=np.float64), TWO_PI)
    return y


def halfedge_angle_table(v, a, b, phi_first, phi_last, interior):
    """Directed edges ``(v, a)`` / ``(v, b)`` of every corner with their polar angles at ``v``.

    Corner ``c`` at vertex ``v[c]`` has sides towards ``a[c]`` (angle ``phi_first[c]``) and
    ``b[c]`` (``phi_last[c]``).  Each directed edge keeps one value: first-side values win, then
    the lowest corner.  Angles at ``interior`` vertices are wrapped into ``[0, 2π)``.

    Returns ``edges (m, 2) int64`` (sorted by tail, then head) and ``phi (m,)``.
    """
    nC = v.size
    tail = np.concatenate([v, v])
    head = np.concatenate([a, b])
    val = np.concatenate([phi_first, phi_last])
    prio = np.concatenate([np.arange(nC), np.arange(nC) + nC])
    keep = tail != head
    tail, head, val, prio = tail[keep], head[keep], val[keep], prio[keep]
    o = np.lexsort((prio, head, tail))
    tail, head, val = tail[o], head[o], val[o]
    first = np.ones(tail.size, dtype=bool)
    first[1:] = (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])
    edges = np.stack([tail[first], head[first]], axis=1)
    phi = val[first]
    itr = interior[edges[:, 0]]
    phi[itr] = np.mod(phi[itr], TWO_PI)
    phi[itr & (phi >= TWO_PI)] = 0.0
    return edges, phi
