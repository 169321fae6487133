"""Intrinsic Delaunay triangulation by edge flips, with signpost angles in the input gauge.

:func:`intrinsic_delaunay` computes the intrinsic Delaunay triangulation of a (mollified)
triangle mesh by edge flips (Bobenko & Springborn 2007; Sharp & Crane 2020 for the
mollification).  The vertices stay the vertices of the input, only the connectivity and the
edge lengths change; the surface (its metric) is exactly the input's.  Besides the flipped
faces and their edge lengths it tracks, for every corner, the angle of its first side in the
*original* vertex gauge (the signpost angle), so tangent vectors computed on the intrinsic
triangulation are expressed in the frames of :mod:`manifold_nets.geometry.frames`.
Edges that are boundary, non-manifold or inconsistently oriented are never flipped, so the
function accepts any triangle mesh.

Written by hand because no maintained Python package exposes the flipped triangulation with its
signposts: ``robust_laplacian`` returns only the matrices, and the heat method and the log map
need gradients and transport on the same triangulation as their Laplacian.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._checked import CheckedMesh, accepts_mesh, check_mesh, require_checked, warn_user
from ._common import areas_from_lengths
from ._intrinsic import (
    Fans,
    corner_angles,
    corner_angles_from_lengths,
    edge_lengths,
    halfedge_angle_table,
)

__all__ = ["IntrinsicTriangulation", "intrinsic_delaunay"]


@dataclass(frozen=True)
class IntrinsicTriangulation:
    """An intrinsic triangulation on the vertices of a mesh.

    Attributes
    ----------
    F : (nF, 3) int64
        Faces (same vertices as the input, flipped connectivity, same face count).
    lengths : (nF, 3) float64
        Intrinsic edge lengths, column ``c`` opposite corner ``c``.
    alpha : (nF, 3) float64
        Corner angles (from the lengths).
    signpost : (nF, 3) float64
        For every corner, the angle (unscaled, i.e. in radians of the vertex's cone angle) of its
        first side ``F[f, c] → F[f, (c+1) % 3]``, measured counter-clockwise from the reference
        direction of the *input* mesh's vertex gauge; see :attr:`Fans.corner_phi_first`.
    scale : (nV,) float64
        ``2π / Θ_i`` at interior vertices of the input, 1 elsewhere (as :class:`Fans`).
    n_vertices : int
    n_flips : int
    mollify : float
        Length added to every edge (intrinsic mollification).
    """

    F: np.ndarray
    lengths: np.ndarray
    alpha: np.ndarray
    signpost: np.ndarray
    scale: np.ndarray
    n_vertices: int
    n_flips: int
    mollify: float

    @property
    def area(self) -> np.ndarray:
        """Face areas ``(nF,)`` (Heron's formula, stable form)."""
        return areas_from_lengths(self.lengths)

    def half_edge_angles(self):
        """``(edges, phi)``: directed edges ``(m, 2)`` sorted, and their angle in the input gauge.

        The rows are those of :class:`Fans` built on the intrinsic faces; ``phi`` is scaled by
        :attr:`scale` and wrapped to ``[0, 2π)`` at interior vertices, like :attr:`Fans.phi`.
        """
        F = self.F
        v = F.ravel()
        a = F[:, [1, 2, 0]].ravel()
        b = F[:, [2, 0, 1]].ravel()
        sp_ = self.signpost.ravel()
        al = self.alpha.ravel()
        sc = self.scale[v]
        return halfedge_angle_table(v, a, b, sp_ * sc, (sp_ + al) * sc, self.scale != 1.0)


def _twins(F: np.ndarray, nV: int) -> np.ndarray:
    """``(3 nF,)``: for corner ``3f + k`` the corner across the edge opposite it, or -1.

    Only edges with exactly two faces, consistently oriented, get a twin.
    """
    nC = F.size
    u = F[:, [1, 2, 0]].ravel()
    w = F[:, [2, 0, 1]].ravel()
    lo, hi = np.minimum(u, w), np.maximum(u, w)
    und = lo * nV + hi
    _, inv, cnt = np.unique(und, return_inverse=True, return_counts=True)
    dkey = u * nV + w
    _, dinv, dcnt = np.unique(dkey, return_inverse=True, return_counts=True)
    ok = (cnt[inv] == 2) & (dcnt[dinv] == 1) & (u != w)
    rkey = w * nV + u
    o = np.argsort(dkey)
    sk = dkey[o]
    pos = np.searchsorted(sk, rkey)
    posc = np.minimum(pos, max(nC - 1, 0))
    hit = ok & (pos < nC) & (sk[posc] == rkey)
    twin = np.full(nC, -1, dtype=np.int64)
    twin[hit] = o[posc[hit]]
    twin[twin >= 0] = np.where(ok[twin[twin >= 0]], twin[twin >= 0], -1)
    return twin


def _angle(o: float, a: float, b: float) -> float:
    """Angle opposite side ``o`` in a triangle with sides ``a, b`` around it."""
    den = 2.0 * a * b
    if den <= 0:
        return 0.0
    return math.acos(max(-1.0, min(1.0, (a * a + b * b - o * o) / den)))


@accepts_mesh
def intrinsic_delaunay(V, F, *, mollify_factor: float = 1e-5, max_flips: int | None = None,
                       signposts: bool = True) -> IntrinsicTriangulation:
    """Intrinsic Delaunay triangulation by edge flips, with signpost angles in the input gauge.

    Parameters
    ----------
    V : (nV, 3) float64
    F : (nF, 3) int64
        Any triangle mesh; only edges with two consistently oriented faces are flipped.
    mollify_factor : float
        Every edge length is increased by the smallest ``ε ≥ 0`` such that each triangle
        inequality holds with margin ``mollify_factor × mean edge length`` (intrinsic
        mollification, Sharp & Crane 2020), so degenerate faces get well-defined angles.
    max_flips : int, optional
        Safety cap (default ``20 × number of faces``).
    signposts : bool
        Track the signpost angles (needed for tangent vectors; ``False`` leaves
        :attr:`IntrinsicTriangulation.signpost` as NaN and :attr:`~IntrinsicTriangulation.scale`
        as ones, which is enough for scalar operators and a little faster).

    Returns
    -------
    IntrinsicTriangulation

    Examples
    --------
    >>> from manifold_nets.shapes import icosphere
    >>> T = intrinsic_delaunay(*icosphere(2))
    >>> T.n_flips, T.F.shape
    (0, (320, 3))
    """
    return _intrinsic_delaunay(check_mesh(V, F), mollify_factor=mollify_factor, max_flips=max_flips,
                               signposts=signposts)


def _intrinsic_delaunay(mesh: CheckedMesh, *, mollify_factor: float = 1e-5, max_flips: int | None = None,
                        signposts: bool = True) -> IntrinsicTriangulation:
    """Kernel of :func:`intrinsic_delaunay` on a checked mesh (no validation)."""
    V, F = require_checked(mesh)
    nV, nF = V.shape[0], F.shape[0]
    L = edge_lengths(V, F)
    valid = F[:, 0] != F[:, 1]
    valid &= (F[:, 1] != F[:, 2]) & (F[:, 0] != F[:, 2])
    h = float(L[valid].mean()) if valid.any() else 1.0
    delta = float(mollify_factor) * h
    eps = 0.0
    if delta > 0 and nF:
        slack = np.stack([L[:, (c + 1) % 3] + L[:, (c + 2) % 3] - L[:, c] for c in range(3)], 1)
        eps = float(max(0.0, np.max(delta - slack[valid]) if valid.any() else 0.0))
        L = L + eps * valid[:, None]
    if signposts:
        fans = Fans(F, corner_angles(V, F), nV)
        scale = fans.scale.copy()
        signpost0 = (fans.corner_phi_first / fans.scale[fans.corner_vertex]).reshape(nF, 3)
    else:
        scale = np.ones(nV)
        signpost0 = np.full((nF, 3), np.nan)
    alpha0 = corner_angles_from_lengths(L)
    twin = _twins(F, nV)
    # seed: interior edges whose opposite angles sum to more than π
    cot = np.cos(alpha0) / np.maximum(np.sin(alpha0), 1e-300)
    cflat = cot.ravel()
    has = twin >= 0
    cand = np.flatnonzero(has & (np.arange(F.size) < np.where(has, twin, -1)))
    bad = cand[cflat[cand] + cflat[twin[cand]] < -1e-12]
    if bad.size == 0:
        return IntrinsicTriangulation(F.copy(), L, alpha0, signpost0, scale, nV, 0, eps)

    Fl = F.tolist()
    Ll = L.tolist()
    Sp = signpost0.tolist()
    Tw = twin.tolist()
    # undirected edges as keys lo * nV + hi; a flipped edge has exactly two faces, so a set is enough
    eu = F[:, [1, 2, 0]].ravel()
    ew = F[:, [2, 0, 1]].ravel()
    edges_present = set((np.minimum(eu, ew) * nV + np.maximum(eu, ew)).tolist())
    stack = bad.tolist()
    cap = 20 * nF if max_flips is None else int(max_flips)
    flips = 0
    cos = math.cos

    def cot_at(f, k):
        lf = Ll[f]
        o, a, b = lf[k], lf[(k + 1) % 3], lf[(k + 2) % 3]
        num = a * a + b * b - o * o
        s = (a + b + o) * (-o + a + b) * (o - a + b) * (o + a - b)
        area4 = math.sqrt(s) if s > 0 else 0.0  # 4 * area
        if area4 <= 0:
            return -math.inf if num < 0 else math.inf
        return num / (2.0 * area4)

    while stack and flips < cap:
        hc = stack.pop()
        tc = Tw[hc]
        if tc < 0:
            continue
        f, k = divmod(hc, 3)
        g, m = divmod(tc, 3)
        if f == g or cot_at(f, k) + cot_at(g, m) >= -1e-12:
            continue
        k1, k2 = (k + 1) % 3, (k + 2) % 3
        m1, m2 = (m + 1) % 3, (m + 2) % 3
        c, a, b = Fl[f][k], Fl[f][k1], Fl[f][k2]
        d = Fl[g][m]
        if c == d or Fl[g][m1] != b or Fl[g][m2] != a:
            continue
        key_cd = c * nV + d if c < d else d * nV + c
        if key_cd in edges_present:
            continue
        t_bc, t_ca = Tw[3 * f + k1], Tw[3 * f + k2]
        t_ad, t_db = Tw[3 * g + m1], Tw[3 * g + m2]
        fo1, fo2, fo3, fo4 = t_bc // 3, t_ca // 3, t_ad // 3, t_db // 3  # -1 // 3 == -1
        if fo1 == f or fo1 == g or fo2 == f or fo2 == g or fo3 == f or fo3 == g or fo4 == f or fo4 == g:
            continue  # the quad folds onto itself (a vertex of degree 2 or 3): leave it
        l_ab = Ll[f][k]
        l_bc, l_ca = Ll[f][k1], Ll[f][k2]
        l_ad, l_db = Ll[g][m1], Ll[g][m2]
        ang_a = _angle(l_bc, l_ca, l_ab) + _angle(l_db, l_ad, l_ab)  # full quad angle at a
        l_cd = math.sqrt(max(l_ca * l_ca + l_ad * l_ad - 2.0 * l_ca * l_ad * cos(ang_a), 0.0))
        s_c, s_b = Sp[f][k], Sp[f][k2]
        s_d, s_a = Sp[g][m], Sp[g][m2]
        beta_c = _angle(l_ad, l_ca, l_cd)   # new face (c, a, d): angle at c
        gamma_d = _angle(l_bc, l_db, l_cd)  # new face (d, b, c): angle at d
        fi, gi = f, g
        Fl[fi] = [c, a, d]
        Ll[fi] = [l_ad, l_cd, l_ca]
        Sp[fi] = [s_c, s_a, s_d + gamma_d]
        Fl[gi] = [d, b, c]
        Ll[gi] = [l_bc, l_cd, l_db]
        Sp[gi] = [s_d, s_b, s_c + beta_c]
        Tw[3 * fi + 0] = t_ad
        Tw[3 * fi + 1] = 3 * gi + 1
        Tw[3 * fi + 2] = t_ca
        Tw[3 * gi + 0] = t_bc
        Tw[3 * gi + 1] = 3 * fi + 1
        Tw[3 * gi + 2] = t_db
        for t, me in ((t_ad, 3 * fi), (t_ca, 3 * fi + 2), (t_bc, 3 * gi), (t_db, 3 * gi + 2)):
            if t >= 0:
                Tw[t] = me
        edges_present.discard(a * nV + b if a < b else b * nV + a)
        edges_present.add(key_cd)
        stack.extend((3 * fi, 3 * fi + 2, 3 * gi, 3 * gi + 2))
        flips += 1
    if stack and flips >= cap:
        warn_user(
            f"intrinsic_delaunay: stopped at max_flips={cap} flips with {len(stack)} half-edges still queued "
            "for a check; the triangulation may not be Delaunay (raise max_flips)", RuntimeWarning)
    Fn = np.asarray(Fl, dtype=np.int64).reshape(nF, 3)
    Ln = np.asarray(Ll, dtype=np.float64).reshape(nF, 3)
    return IntrinsicTriangulation(Fn, Ln, corner_angles_from_lengths(Ln),
                                  np.asarray(Sp, dtype=np.float64).reshape(nF, 3), scale, nV, flips, eps)
