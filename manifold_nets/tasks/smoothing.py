"""Label smoothing along the surface by a graph cut (alpha-expansion with PyMaxflow).

Minimises over face labels ``L``::

    E(L) = Σ_f −log(p_f(L_f) + ε)  +  smoothness · Σ_{f~g} w_fg [L_f ≠ L_g]

over the pairs of faces ``f ~ g`` sharing an edge (every pair of faces of a non-manifold edge),
with ``p_f`` the face's class probabilities and the Potts weight::

    w_fg = (ℓ_fg / ℓ̄) · (1 − θ_fg / π)²

``ℓ_fg`` the shared edge's length, ``ℓ̄`` the mean length of the shared edges (so the weight does
not depend on the unit) and ``θ_fg ∈ [0, π]`` the unsigned angle between the two face normals
(0 on a flat region): a cut along a sharp crease costs less than a cut across a flat region,
a short cut less than a long one.  The angle is unsigned, so inconsistent face orientations in a
user's file do not matter.

The minimisation is alpha-expansion (Boykov, Veksler & Zabih 2001): each move solves one
binary max-flow problem with PyMaxflow (``pip install PyMaxflow``; the ``seg`` extra) for
"keep the current label or switch to α", with the Kolmogorov–Zabih construction (the Potts
term is a metric, so every move is exact); sweeps over the labels repeat until no move
lowers the energy.  The energy never increases.
"""

from __future__ import annotations

import numpy as np

from ..errors import MeshError, MeshShapeError, optional_import
from .metrics import _face_adjacency

__all__ = ["potts_weights", "labelling_energy", "graphcut_smooth", "require_pymaxflow", "DEFAULT_SMOOTH",
           "DEFAULT_SMOOTHNESS"]

_EPS = 1e-6

#: Label smoothing of the commands (``segment predict``, ``segment eval``, ``batch --do segment``)
#: unless told otherwise: none.  A graph cut at smoothness 16 was chosen on the tuning categories of
#: the Labeled PSB (Human, FourLeg, Hand, Ant; two folds each, models of the default ``segment
#: train``: 93.81 % unsmoothed, 94.27 / 94.39 / 94.57 / 94.42 % at smoothness 4 / 8 / 16 / 32,
#: higher at 16 in all four) but did not help on six held-out target categories (fold 0: 97.19 %
#: either way, higher on 4 of 6, Glasses 97.46 -> 96.50 %), so it is not the default (README,
#: Benchmarks).
DEFAULT_SMOOTH = "none"
#: Weight of the Potts term when ``--smooth graphcut`` is asked for (the best of the tuning grid).
DEFAULT_SMOOTHNESS = 16.0


def require_pymaxflow():
    """The ``maxflow`` module (PyMaxflow), or a :class:`~manifold_nets.errors.MissingDependencyError`
    saying ``pip install 'manifold-nets[seg]'``."""
    return optional_import("maxflow", extra="seg", purpose="graph-cut label smoothing (smooth='graphcut')")


def potts_weights(V, F) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face pairs sharing an edge and their Potts weights (see the module docstring).

    Shapes: V ``(nV, 3)``, F ``(nF, 3)`` -> f ``(m,)``, g ``(m,)`` int64, w ``(m,)`` float64 >= 0.
    """
    V = np.asarray(V, dtype=np.float64)
    F = np.asarray(F, dtype=np.int64)
    f, g, e = _face_adjacency(F)
    if len(f) == 0:
        return f, g, np.zeros(0)
    ell = np.linalg.norm(V[e[:, 0]] - V[e[:, 1]], axis=1)
    mean = ell.mean()
    ell = ell / mean if mean > 0 else np.ones_like(ell)
    N = np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]])
    n = np.linalg.norm(N, axis=1, keepdims=True)
    N = np.where(n > 0, N / np.where(n > 0, n, 1), 0.0)
    cos = np.clip(np.abs(np.sum(N[f] * N[g], axis=1)), 0.0, 1.0)
    # unsigned: the angle between the normals' lines, so flipped faces count as flat
    theta = np.arccos(cos)
    w = ell * (1.0 - theta / np.pi) ** 2
    return f, g, w


def _unary(scores) -> np.ndarray:
    P = np.asarray(scores, dtype=np.float64)
    return -np.log(np.clip(P, 0.0, 1.0) + _EPS)


def labelling_energy(labels, unary, f, g, w, smoothness: float) -> float:
    """``Σ_f unary[f, L_f] + smoothness · Σ w [L_f ≠ L_g]``."""
    L = np.asarray(labels, dtype=np.int64)
    return float(unary[np.arange(len(L)), L].sum() + smoothness * np.sum(w[L[f] != L[g]]))


def _expand(maxflow, L, alpha, D, f, g, w):
    """One alpha-expansion move: the labels after the optimal 'keep or switch to alpha' cut."""
    n = len(L)
    gph = maxflow.GraphFloat()
    nodes = gph.add_nodes(n)
    cost0 = D[np.arange(n), L].copy()  # keep
    cost1 = D[:, alpha].copy()  # switch to alpha
    # pairwise E(x_f, x_g) with A = E00, B = E01, C = E10, D = E11 = 0 (Potts):
    # E = A + (C - A) x_f + (D - C) x_g + (B + C - A - D)(1 - x_f) x_g
    lf, lg = L[f], L[g]
    A = w * (lf != lg)
    B = w * (lf != alpha)
    C = w * (alpha != lg)
    # unary parts: (C - A) on x_f, (0 - C) on x_g (D = 0)
    np.add.at(cost1, f, np.maximum(C - A, 0))
    np.add.at(cost0, f, np.maximum(A - C, 0))
    np.add.at(cost0, g, C)  # (−C) x_g  ==  C (1 − x_g) − C
    pair = B + C - A
    # x = 1 (switch) <-> sink side: a node on the sink side pays its source capacity
    base = np.minimum(cost0, cost1)
    gph.add_grid_tedges(nodes, cost1 - base, cost0 - base)
    keep = pair > 0
    if keep.any():
        gph.add_edges(nodes[f[keep]], nodes[g[keep]], pair[keep], np.zeros(int(keep.sum())))
    gph.maxflow()
    switch = gph.get_grid_segments(nodes)
    out = L.copy()
    out[switch] = alpha
    return out


def graphcut_smooth(V, F, face_scores, *, smoothness: float = 1.0, max_sweeps: int = 5,
                    init=None) -> np.ndarray:
    """Face labels smoothed along the surface by alpha-expansion graph cuts.

    Parameters
    ----------
    V, F : (nV, 3) float64, (nF, 3) int64
    face_scores : (nF, K) float
        Class probabilities per face (rows summing to 1; the data term is ``−log p``).
    smoothness : float
        Weight of the Potts term (0: the arg-max of the scores).
    max_sweeps : int
        At most this many sweeps over the ``K`` labels.
    init : (nF,) int, optional
        Starting labels (default: the arg-max of the scores).

    Returns
    -------
    (nF,) int64 labels whose energy is at most that of ``init``.

    Raises
    ------
    MissingDependencyError
        PyMaxflow is not installed (``pip install PyMaxflow`` or ``'manifold-nets[seg]'``).
    """
    F = np.asarray(F, dtype=np.int64)
    P = np.asarray(face_scores, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] != len(F):
        raise MeshShapeError(f"face_scores: expected shape ({len(F)}, K) (got {P.shape})")
    if not np.isfinite(smoothness) or smoothness < 0:
        raise MeshError(f"smoothness: expected a finite number >= 0 (got {smoothness!r})")
    L = P.argmax(axis=1).astype(np.int64) if init is None else np.asarray(init, dtype=np.int64).copy()
    if smoothness == 0 or P.shape[1] < 2 or len(F) == 0:
        return L
    maxflow = require_pymaxflow()
    D = _unary(P)
    f, g, w = potts_weights(V, F)
    w = smoothness * w
    energy = labelling_energy(L, D, f, g, w, 1.0)
    for _ in range(int(max_sweeps)):
        improved = False
        for alpha in range(P.shape[1]):
            cand = _expand(maxflow, L, alpha, D, f, g, w)
            e = labelling_energy(cand, D, f, g, w, 1.0)
            if e < energy - 1e-9 * max(1.0, abs(energy)):
                L, energy, improved = cand, e, True
        if not improved:
            break
    return L
