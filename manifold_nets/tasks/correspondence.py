"""Dense shape correspondence (axiomatic functional maps) and its evaluation.

:func:`correspond` maps every vertex of a source mesh to a vertex of a target mesh:

1. both meshes are scaled to unit area (maps do not depend on units) and, when closed, their
   faces are read with outward normals (a mesh with negative signed volume is read with its faces
   reversed; only the orientation term uses the winding);
2. ``k`` Laplace–Beltrami eigenpairs (:func:`~manifold_nets.geometry.eigenbasis`, cotan
   Laplacian, lumped mass) and HKS and WKS descriptors (or one of them)
   (:mod:`manifold_nets.geometry.descriptors`);
3. a ``k_init × k_init`` functional map per descriptor kind from descriptor preservation, Laplacian
   commutativity and the orientation-preserving term
   (:func:`manifold_nets.geometry.fmaps.solve_fmap`), which keeps the map from landing on the
   mirror image of the target (left leg onto right leg);
4. conversion to a point-to-point map and ZoomOut up to ``k``
   (:func:`manifold_nets.geometry.fmaps.zoomout`), subsampled except for the last step (the
   initial map is only converted at the samples; nearest neighbours are exact, by KD-tree).  With
   two candidate maps (HKS and WKS, the default) both are refined up to :data:`SELECT_AT`, and
   the one with the lower ZoomOut energy there (no ground truth involved) goes on: neither kind
   is better on every pair.

:func:`geodesic_error` is the Kim et al. 2011 protocol: the geodesic distance on the target
between the predicted and the true image of every source vertex, divided by ``√area`` of the
target; distances are computed only from the target vertices that are true images (heat method
by default, exact polyhedral distances with ``exact=True``), in chunks, never as a dense
``nV × nV`` matrix unless asked.  :func:`error_curve` is the cumulative curve.

:func:`orientation_score` tells a map onto the mirror image apart: it is the area fraction of
source faces whose image triangle keeps its orientation, measured against the target's vertex
normals (the image triangle's normal ``(q1 − q0) × (q2 − q0)`` against the normal at ``q0``),
over faces whose three corners land on three distinct vertices.  A map whose score is below
``0.5`` reverses the orientation on most of the surface: it is reported as *mirrored*
(:func:`is_mirrored`).  This needs both meshes consistently oriented (closed meshes are read with
outward normals as above).

A map that sends the source onto a handful of target vertices (fewer than
:data:`DEGENERATE_FRACTION` of the smaller vertex count, or all onto one vertex) is returned with a
:class:`~manifold_nets.errors.MeshWarning`: it happens on very symmetric shapes (a regular
tetrahedron mapped to itself), whose repeated Laplacian eigenvalues leave the functional map
undetermined, and on meshes with too few vertices for a spectral basis (a triangle soup has its own
warning instead).
"""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np

from ..errors import ManifoldNetsError, MeshError, MeshShapeError, MeshWarning

__all__ = [
    "correspond",
    "initial_fmaps",
    "SpectralShape",
    "spectral_shape",
    "geodesic_error",
    "error_curve",
    "orientation_score",
    "is_mirrored",
    "evaluate_pairs",
    "K_DEFAULT",
    "N_FINAL_DEFAULT",
    "STEP_DEFAULT",
    "K_INIT_DEFAULT",
    "DESCRIPTORS_DEFAULT",
    "DESCRIPTOR_CHOICES",
    "SELECT_AT",
    "N_SAMPLES_DEFAULT",
    "BIJECTIVE_DEFAULT",
    "DEGENERATE_FRACTION",
]

logger = logging.getLogger(__name__)

#: Default final basis size of ZoomOut, reached in steps of :data:`STEP_DEFAULT`, then
#: :data:`N_FINAL_DEFAULT` extra ZoomOut iterations on every vertex at that size.  Chosen on the
#: 90 remeshed lion pose pairs of ``benchmarks/bench_correspondence.py`` (pairs with a lower error
#: than pyFM: 76 with k 120 / step 3 / 0 extra, the previous default; 81 with 160 / 3 / 2, slower
#: than pyFM on some pairs; 85 with 160 / 5 / 2 at 2.0 s per pair; k 200 was slower than pyFM on
#: most pairs) and checked on the 90 cat pairs, which played no part in the choice (README,
#: correspondence table).
K_DEFAULT = 160
STEP_DEFAULT = 5
#: Final iterations: 3, made two-sided by :data:`BIJECTIVE_DEFAULT` (on the same lion pairs, one-sided
#: with 2 iterations 88 pairs below pyFM and mean error x 100 2.15; two-sided with 3: 89, 2.12; with
#: 5: 89, 2.12; README, correspondence table).
N_FINAL_DEFAULT = 3
#: Whether the final ZoomOut iterations are two-sided (:func:`manifold_nets.geometry.fmaps.zoomout`'s
#: ``bijective``).
BIJECTIVE_DEFAULT = True
#: Farthest-point samples per shape in ZoomOut's intermediate steps; a shape with at most this many
#: vertices is used whole.
N_SAMPLES_DEFAULT = 3000
#: Default basis size of the initial functional map.
K_INIT_DEFAULT = 30
#: Descriptor choices of :func:`correspond`: ``"auto"`` builds an initial map from each of HKS and
#: WKS and keeps the one with the lower ZoomOut energy at :data:`SELECT_AT`.
DESCRIPTOR_CHOICES = ("auto", "hks", "wks")
#: Default descriptors of :func:`correspond`.  Chosen on the 90 remeshed lion pose pairs of
#: ``benchmarks/bench_correspondence.py`` (mean error x 100 with the other defaults: HKS 2.20,
#: WKS 3.17, auto 2.15; pairs below pyFM 85, 88, 88 of 90; one map from HKS and WKS side by side
#: as a single descriptor set: 2.62, 88) and checked on the 90 cat pairs, which played no part in
#: the choice (README, correspondence table).
DESCRIPTORS_DEFAULT = "auto"
#: Basis size at which ``descriptors="auto"`` compares its candidate maps (ZoomOut energy on the
#: samples, :func:`manifold_nets.geometry.fmaps.spectral_residual`).  Chosen on the lion pairs
#: among the sizes 30, 50, 80, 110 and 155 (mean error x 100: 2.18, 2.15, 2.30, 2.25, 2.52).
SELECT_AT = 50
#: Default number of WKS energies / HKS times.
N_DESCRIPTORS = 64
#: Default number of descriptors used in the orientation term (evenly picked).
N_ORIENT = 16
#: Default number of eigenpairs for the descriptors.
K_DESCR = 120
#: :func:`correspond` warns (:class:`~manifold_nets.errors.MeshWarning`) when the map hits fewer
#: than this fraction of ``min(n_source, n_target)`` distinct target vertices, or a single target
#: vertex (with at least two vertices on both sides).  Maps between different real shapes hit 0.75
#: to 0.8 of the vertices (the segmentation figures of ``meshes/`` to each other or to an
#: ellipsoid), maps of a shape onto a moved or remeshed copy 0.9 to 1, and even the poor map of a
#: level-1 icosphere onto itself 0.43; a regular tetrahedron mapped onto itself hits 1 of 4.
DEGENERATE_FRACTION = 0.2


def _checked(V, F, name):
    from ..geometry._checked import check_mesh, warn_if_soup

    try:
        mesh = check_mesh(V, F)
    except MeshError as exc:
        raise type(exc)(f"{name}: {exc}") from None
    warn_if_soup(mesh.F, mesh.V.shape[0], name)
    return mesh


def _check_descriptor_kind(descriptors) -> None:
    if descriptors not in DESCRIPTOR_CHOICES:
        raise MeshShapeError(f"descriptors: expected 'auto', 'hks' or 'wks' (got {descriptors!r})")


def _signed_volume(V, F) -> float:
    c = V.mean(axis=0)
    a, b, d = V[F[:, 0]] - c, V[F[:, 1]] - c, V[F[:, 2]] - c
    return float(np.einsum("ij,ij->i", a, np.cross(b, d)).sum() / 6.0)


class SpectralShape:
    """A mesh with what the functional-map pipeline needs (all float64, unit area).

    Attributes
    ----------
    V : (nV, 3) float64
        Vertices scaled to unit area.
    F : (nF, 3) int64
        Faces, reversed when the input had negative signed volume (see :attr:`flipped`).
    scale : float
        The factor applied to the input vertices.
    flipped : bool
    mass : (nV,) float64
    evals : (k,) float64
    evecs : (nV, k) float64
    descriptor_sets : dict of str to (nV, d) float64
        Descriptors by kind (``"hks"``, ``"wks"``, both with ``descriptors="auto"``), each column of
        unit M-norm.
    descr : (nV, d) float64
        The first of them.
    seconds : dict
        Seconds spent on the ``"eigenbasis"`` (Laplacian, mass and eigenpairs) and the
        ``"descriptors"``.
    """

    def __init__(self, V, F, scale, flipped, mass, evals, evecs, descr, seconds=None):
        self.V, self.F, self.scale, self.flipped = V, F, scale, flipped
        self.mass, self.evals, self.evecs = mass, evals, evecs
        self.descriptor_sets = dict(descr) if isinstance(descr, dict) else {"given": descr}
        self.seconds = dict(seconds or {})

    @property
    def descr(self) -> np.ndarray:
        """The first descriptor set (HKS with ``descriptors="auto"``)."""
        return next(iter(self.descriptor_sets.values()))

    @descr.setter
    def descr(self, D) -> None:
        self.descriptor_sets = {"given": D}


def spectral_shape(V, F, *, k: int = K_DEFAULT, descriptors: str = DESCRIPTORS_DEFAULT, n_descr: int = N_DESCRIPTORS,
                   k_descr: int = K_DESCR, name: str = "mesh") -> SpectralShape:
    """Scale to unit area, orient outwards, eigenbasis and descriptors (see :class:`SpectralShape`).

    ``descriptors`` is ``"hks"``, ``"wks"`` or ``"auto"`` (both); the default is
    :data:`DESCRIPTORS_DEFAULT`, the same as :func:`correspond`'s, so a shape built here and one built
    by ``correspond`` carry the same descriptors.
    """
    from ..geometry import cotan_laplacian, eigenbasis, hks, mass_matrix, wks
    from ..geometry.normalize import total_area

    V, F = _checked(V, F, name)
    _check_descriptor_kind(descriptors)
    for pname, value in (("k", k), ("k_descr", k_descr), ("n_descr", n_descr)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
            raise MeshShapeError(f"{pname}: expected a positive integer (got {value!r})")
    area = total_area(V, F)
    if not area > 0:
        raise MeshShapeError(f"{name}: expected a surface with positive area (got {area})")
    s = 1.0 / np.sqrt(area)
    V = V * s
    flipped = _signed_volume(V, F) < 0
    if flipped:
        F = F[:, ::-1].copy()
    t0 = time.perf_counter()
    L = cotan_laplacian(V, F)
    M = mass_matrix(V, F)
    kk = max(int(k), int(k_descr))
    evals, evecs = eigenbasis(L, M, min(kk, V.shape[0] - 1))
    m = M.diagonal()
    t1 = time.perf_counter()
    kd = min(int(k_descr), evals.shape[0])
    sets = {}
    for kind in (("hks", "wks") if descriptors == "auto" else (descriptors,)):
        fn = wks if kind == "wks" else hks
        D = fn(evals[:kd], evecs[:, :kd], int(n_descr), mass=m)
        nrm = np.sqrt(m @ (D * D))
        sets[kind] = D / np.where(nrm > 0, nrm, 1.0)
    return SpectralShape(V, F, s, flipped, m, evals, evecs, sets,
                         {"eigenbasis": t1 - t0, "descriptors": time.perf_counter() - t1})


def correspond(V_src, F_src, V_tgt, F_tgt, *, descriptors: str = DESCRIPTORS_DEFAULT, k: int = K_DEFAULT,
               k_init: int = K_INIT_DEFAULT, refine: str = "zoomout", orientation: bool = True,
               n_descr: int = N_DESCRIPTORS, n_orient: int = N_ORIENT, w_descr: float | None = None,
               w_lap: float | None = None, w_orient: float | None = None, w_dcomm: float | None = None,
               step: int = STEP_DEFAULT,
               n_samples: int | None = N_SAMPLES_DEFAULT, n_final: int = N_FINAL_DEFAULT,
               bijective: bool = BIJECTIVE_DEFAULT, both: bool = False, return_info: bool = False,
               descriptors_src=None, descriptors_tgt=None):
    """Vertex-to-vertex map from a source mesh to a target mesh (axiomatic functional maps).

    Parameters
    ----------
    V_src, F_src : (n_s, 3) float64, (m_s, 3) int64
    V_tgt, F_tgt : (n_t, 3) float64, (m_t, 3) int64
    descriptors : {"auto", "hks", "wks"}
        Default :data:`DESCRIPTORS_DEFAULT` (``"auto"``: an initial map from HKS and one from WKS;
        the one with the lower ZoomOut energy (:func:`~manifold_nets.geometry.fmaps.spectral_residual`)
        at basis size :data:`SELECT_AT`, or at ``k_init`` without ZoomOut, goes on).
    k : int
        Final basis size of ZoomOut (and the eigenpairs computed).
    k_init : int
        Basis size of the initial functional map.
    refine : {"zoomout", "icp", "none"}
        ``"none"`` converts the initial map only.
    orientation : bool
        Use the orientation-preserving term.
    n_descr, n_orient : int
        Number of descriptors, and how many of them enter the orientation term.
    w_descr, w_lap, w_orient, w_dcomm : float, optional
        Weights of the functional-map energy (defaults of :mod:`manifold_nets.geometry.fmaps`).
    step : int
        ZoomOut step (default :data:`STEP_DEFAULT`).
    n_samples : int or None
        Samples per shape in ZoomOut's intermediate steps (default :data:`N_SAMPLES_DEFAULT`;
        ``None``: every vertex).
    n_final : int
        Extra ZoomOut iterations on every vertex at the final size (default
        :data:`N_FINAL_DEFAULT`).
    bijective : bool
        Make those iterations two-sided (default :data:`BIJECTIVE_DEFAULT`; see
        :func:`manifold_nets.geometry.fmaps.zoomout`).
    both : bool
        Also return the map from target to source (from the same functional map).
    return_info : bool
        Also return a dict of timings and sizes.
    descriptors_src, descriptors_tgt : (n_s, d), (n_t, d) float arrays, optional
        Precomputed descriptors (e.g. learned ones,
        :func:`manifold_nets.tasks.correspondence_train.learned_descriptors`) used instead of
        WKS / HKS; both or neither.

    Vertices on no face (unreferenced) take no part: no vertex is mapped onto one, and each
    such source vertex gets the image of its nearest (3-D) referenced source vertex.

    A degenerate map, one that hits fewer than :data:`DEGENERATE_FRACTION` (20 %) of
    ``min(n_s, n_t)`` distinct target vertices, or a single target vertex, is returned with a
    :class:`~manifold_nets.errors.MeshWarning` saying how many source vertices land on how few
    target vertices (symmetric shapes with repeated eigenvalues, or too few vertices); not when a
    mesh is a triangle soup, whose own warning says why.

    Returns
    -------
    p2p : (n_s,) int64
        For every source vertex, the index of its target vertex.
    p2p_back : (n_t,) int64
        Only with ``both=True``.
    info : dict
        Only with ``return_info=True``: seconds per stage (``seconds_spectral`` = eigenbases and
        descriptors of both meshes, ``seconds_fmap``, ``seconds_refine``; finer:
        ``seconds_eigenbasis``, ``seconds_descriptors``, ``seconds_operators``, ``seconds_solve``,
        ``seconds_zoomout_sampling|init|steps|final``), total ``seconds``, sizes, weights and
        ``n_target_hit``, the number of distinct target vertices of the map.
    """
    from ..geometry import fmaps

    if refine not in ("zoomout", "icp", "none"):
        raise MeshShapeError(f"refine: expected 'zoomout', 'icp' or 'none' (got {refine!r})")
    for name, v in (("k", k), ("k_init", k_init), ("n_descr", n_descr), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise MeshShapeError(f"{name}: expected a positive integer (got {v!r})")
    if k_init > k:
        raise MeshShapeError(f"k_init: expected at most k = {k} (got {k_init})")
    w = {name: default if value is None else fmaps.check_weight(value, name)
         for name, value, default in (("w_descr", w_descr, fmaps.W_DESCR), ("w_lap", w_lap, fmaps.W_LAP),
                                      ("w_orient", w_orient, fmaps.W_ORIENT), ("w_dcomm", w_dcomm, fmaps.W_DCOMM))}
    if not orientation:
        w["w_orient"] = 0.0
    if (descriptors_src is None) != (descriptors_tgt is None):
        given = "descriptors_src" if descriptors_tgt is None else "descriptors_tgt"
        raise MeshShapeError(f"descriptors_src, descriptors_tgt: expected both or neither (got only {given})")
    loose = _unreferenced_split(V_src, F_src, V_tgt, F_tgt)
    if loose is not None:
        # vertices on no face have no eigenbasis rows: map the meshes without them, then give each
        # loose source vertex the image of its nearest (3-D) referenced vertex; no vertex maps
        # onto a loose target vertex
        (Vs, Fs, old_s), (Vt, Ft, old_t) = loose
        kw = dict(descriptors=descriptors, k=k, k_init=k_init, refine=refine, orientation=orientation,
                  n_descr=n_descr, n_orient=n_orient, w_descr=w_descr, w_lap=w_lap, w_orient=w_orient,
                  w_dcomm=w_dcomm, step=step, n_samples=n_samples, n_final=n_final, bijective=bijective,
                  both=both, return_info=return_info,
                  descriptors_src=None if descriptors_src is None else np.asarray(descriptors_src)[old_s],
                  descriptors_tgt=None if descriptors_tgt is None else np.asarray(descriptors_tgt)[old_t])
        res = correspond(Vs, Fs, Vt, Ft, **kw)
        res = list(res) if isinstance(res, tuple) else [res]
        res[0] = _expand_map(res[0], old_s, old_t, np.asarray(V_src, dtype=np.float64))
        if both:
            res[1] = _expand_map(res[1], old_t, old_s, np.asarray(V_tgt, dtype=np.float64))
        return res[0] if len(res) == 1 else tuple(res)
    t0 = time.perf_counter()
    _check_descriptor_kind(descriptors)
    kind = "hks" if descriptors_src is not None else descriptors  # replaced below when given
    src = spectral_shape(V_src, F_src, k=k, descriptors=kind, n_descr=n_descr, name="source")
    tgt = spectral_shape(V_tgt, F_tgt, k=k, descriptors=kind, n_descr=n_descr, name="target")
    if descriptors_src is not None:
        src.descr = _given_descriptors(descriptors_src, src, "descriptors_src")
        tgt.descr = _given_descriptors(descriptors_tgt, tgt, "descriptors_tgt")
    t1 = time.perf_counter()
    # C maps functions on the target (a) to functions on the source (b): p2p source -> target
    k0 = min(int(k_init), src.evals.shape[0], tgt.evals.shape[0])
    kinds = list(src.descriptor_sets)
    stages: dict = {}
    Cs = list(initial_fmaps(src, tgt, k_init=k0, n_orient=n_orient, weights=w, timings=stages).values())
    t2 = time.perf_counter()
    kk = min(int(k), src.evals.shape[0], tgt.evals.shape[0])
    zt: dict = {}
    residuals = None
    if refine == "zoomout":
        # the initial point-to-point map is only needed at ZoomOut's samples; with several
        # candidates ZoomOut keeps the one with the lowest energy at SELECT_AT
        p2p, C = fmaps.zoomout(None, tgt.evecs, src.evecs, src.mass, k_start=k0, k_end=kk, step=step,
                               n_samples=n_samples, V_a=tgt.V, V_b=src.V, mass_a=tgt.mass, n_final=n_final,
                               bijective=bijective, C_init=Cs, select_at=SELECT_AT, timings=zt)
        chosen = int(zt.pop("selected", 0))
        residuals = zt.pop("residuals", None)
    else:
        p2ps = [fmaps.fmap_to_p2p(c, tgt.evecs, src.evecs) for c in Cs]
        chosen = 0
        if len(Cs) > 1:  # the candidate with the lower ZoomOut energy at k_init
            residuals = [fmaps.spectral_residual(q, tgt.evecs[:, :k0], src.evecs[:, :k0], src.mass) for q in p2ps]
            chosen = int(np.argmin(residuals))
        p2p, C = p2ps[chosen], Cs[chosen]
        if refine == "icp":
            p2p, C = fmaps.icp_refine(C, tgt.evecs, src.evecs)
    t3 = time.perf_counter()
    n_hit = _warn_if_degenerate(p2p, src.V.shape[0], tgt.V.shape[0], soup=_is_soup(src) or _is_soup(tgt))
    out = [p2p]
    if both:
        # the map back from the transposed (near-orthogonal) functional map
        kc = C.shape[0]
        out.append(fmaps.nearest_neighbors(tgt.evecs[:, :kc], src.evecs[:, :kc] @ C))
    if return_info:
        stages = {"seconds_eigenbasis": src.seconds["eigenbasis"] + tgt.seconds["eigenbasis"],
                  "seconds_descriptors": src.seconds["descriptors"] + tgt.seconds["descriptors"],
                  "seconds_operators": stages["operators"], "seconds_solve": stages["solve"]}
        stages.update({f"seconds_zoomout_{key}": v for key, v in zt.items()})
        out.append({"seconds_spectral": t1 - t0, "seconds_fmap": t2 - t1, "seconds_refine": t3 - t2,
                    **stages, "seconds": time.perf_counter() - t0, "k": kk, "k_init": k0,
                    "n_source": int(src.V.shape[0]), "n_target": int(tgt.V.shape[0]),
                    "source_flipped": bool(src.flipped), "target_flipped": bool(tgt.flipped),
                    "weights": w, "descriptors": kinds[chosen], "refine": refine, "n_target_hit": n_hit,
                    "candidates": {kd: float(r) for kd, r in zip(kinds, residuals)} if residuals else None})
    return out[0] if len(out) == 1 else tuple(out)


def _is_soup(shape: SpectralShape) -> bool:
    from ..topology import soup_message

    return soup_message(shape.F, shape.V.shape[0]) is not None


def _warn_if_degenerate(p2p, n_src: int, n_tgt: int, *, soup: bool = False) -> int:
    """The number of distinct target vertices of ``p2p``; warns when the map is degenerate
    (see :data:`DEGENERATE_FRACTION`), unless a mesh is a triangle soup (``soup``: its own warning,
    given when it was read, says why the map is poor)."""
    from ..geometry._checked import warn_user

    n_hit = int(np.unique(p2p).size)
    n_min = min(int(n_src), int(n_tgt))
    if not soup and n_min >= 2 and (n_hit <= 1 or n_hit < DEGENERATE_FRACTION * n_min):
        warn_user(
            f"degenerate map: the {n_src} source vertices map onto only {n_hit} of the {n_tgt} target "
            f"vertices (expected at least {DEGENERATE_FRACTION:.0%} of the smaller vertex count, and more "
            f"than one); the shapes are probably symmetric (repeated Laplacian eigenvalues leave the "
            f"functional map undetermined) or have too few vertices", MeshWarning)
    return n_hit


def _unreferenced_split(V_src, F_src, V_tgt, F_tgt):
    """``None`` when every vertex of both meshes lies on a face; else, per mesh, the referenced
    vertices, the faces renumbered onto them and their old indices (checked arrays)."""
    from ..geometry._checked import check_mesh

    out, any_loose = [], False
    for name, V, F in (("source", V_src, F_src), ("target", V_tgt, F_tgt)):
        try:
            m = check_mesh(V, F)
        except MeshError as exc:
            raise type(exc)(f"{name}: {exc}") from None
        nV = m.V.shape[0]
        used = np.zeros(nV, dtype=bool)
        used[m.F.ravel()] = True
        any_loose |= not used.all()
        old = np.flatnonzero(used)
        new = np.full(nV, -1, dtype=np.int64)
        new[old] = np.arange(old.size)
        out.append((m.V[old], new[m.F], old))
    return tuple(out) if any_loose else None


def _expand_map(p2p, old_a, old_b, V_a):
    """A map between the referenced vertices, on all vertices of ``a`` with indices of ``b``."""
    from scipy.spatial import cKDTree

    full = np.empty(V_a.shape[0], dtype=np.int64)
    full[old_a] = old_b[p2p]
    loose = np.setdiff1d(np.arange(V_a.shape[0]), old_a)
    if loose.size:
        near = cKDTree(V_a[old_a]).query(V_a[loose], k=1)[1]
        full[loose] = full[old_a[near]]
    return full


def _given_descriptors(D, shape: SpectralShape, name: str) -> np.ndarray:
    """``(n, d)`` float64 descriptors checked against the shape, each column of unit M-norm."""
    D = np.asarray(D, dtype=np.float64)
    n = shape.V.shape[0]
    if D.ndim != 2 or D.shape[0] != n or D.shape[1] < 1:
        raise MeshShapeError(f"{name}: expected an ({n}, d) array, one row per vertex (got shape {D.shape})")
    if not np.isfinite(D).all():
        raise MeshShapeError(f"{name}: expected finite values (got NaN or inf)")
    nrm = np.sqrt(shape.mass @ (D * D))
    return D / np.where(nrm > 0, nrm, 1.0)


def _norm(x) -> float:
    n = float(np.linalg.norm(x))
    return n if n > 0 else 1.0


def _check_map(m, n_src, n_tgt, name):
    a = np.asarray(m)
    if a.ndim != 1 or a.shape[0] != n_src:
        raise MeshShapeError(f"{name}: expected one target vertex per source vertex, shape ({n_src},) "
                             f"(got shape {a.shape})")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not (np.isfinite(a).all() and (a == np.round(a)).all()):
            raise MeshShapeError(f"{name}: expected integer vertex indices (got {a.dtype} values)")
    a = a.astype(np.int64)
    bad = np.flatnonzero((a < 0) | (a >= n_tgt))
    if bad.size:
        i = int(bad[0])
        raise MeshShapeError(f"{name}: expected target vertex indices in [0, {n_tgt}) "
                             f"(got {int(a[i])} at source vertex {i})")
    return a


def geodesic_error(V_tgt, F_tgt, pred_map, true_map, *, normalize: str = "sqrt_area", exact: bool = False,
                   dense: bool = False, chunk: int = 256, sources=None) -> np.ndarray:
    """Geodesic error of a vertex map, per source vertex (Kim et al. 2011).

    Parameters
    ----------
    V_tgt, F_tgt : (n_t, 3) float64, (m_t, 3) int64
        The target mesh.
    pred_map, true_map : (n,) int
        Predicted and true target vertex of each of ``n`` source vertices.
    normalize : {"sqrt_area", "none"}
        Divide by ``√(area of the target)``.
    exact : bool
        Exact polyhedral distances (libigl, manifold meshes; slower) instead of the heat method.
    dense : bool
        Compute the full ``n_t × n_t`` distance matrix (chunked) instead of the rows needed.
    chunk : int
        Sources per chunk.
    sources : (n,) bool or int array, optional
        Evaluate only these source vertices (the others get NaN) — to bound the cost on large
        meshes.

    Returns
    -------
    err : (n,) float64
    """
    from ..geometry import HeatGeodesicSolver
    from ..geometry._checked import check_mesh
    from ..geometry.geodesics import _exact_geodesic_distance, _require_edge_manifold
    from ..geometry.normalize import total_area

    V, F = check_mesh(V_tgt, F_tgt)
    nt = V.shape[0]
    t = np.asarray(true_map).reshape(-1)
    p = _check_map(pred_map, t.shape[0], nt, "pred_map")
    t = _check_map(true_map, t.shape[0], nt, "true_map")
    if normalize not in ("sqrt_area", "none"):
        raise MeshShapeError(f"normalize: expected 'sqrt_area' or 'none' (got {normalize!r})")
    sel = np.ones(t.shape[0], dtype=bool)
    if sources is not None:
        s = np.asarray(sources)
        if s.dtype == bool:
            if s.shape != sel.shape:
                raise MeshShapeError(f"sources: expected a ({sel.shape[0]},) mask (got {s.shape})")
            sel = s.copy()
        else:
            sel = np.zeros_like(sel)
            sel[_check_map(s, s.reshape(-1).shape[0], t.shape[0], "sources")] = True
    err = np.full(t.shape[0], np.nan)
    need = np.unique(t[sel]) if not dense else np.arange(nt)
    if exact:
        _require_edge_manifold(F)
        mesh = check_mesh(V, F)

        def rows(ss):
            return np.stack([_exact_geodesic_distance(mesh, int(x), manifold_checked=True) for x in ss])
    else:
        solver = HeatGeodesicSolver(V, F)

        def rows(ss):
            return solver.distances(ss)
    # group the evaluated source vertices by their true image
    idx = np.flatnonzero(sel)
    order = idx[np.argsort(t[idx], kind="stable")]
    tv = t[order]
    for a in range(0, need.size, int(chunk)):
        ss = need[a:a + int(chunk)]
        D = rows(ss)  # (len(ss), n_t)
        lo, hi = np.searchsorted(tv, ss[0], "left"), np.searchsorted(tv, ss[-1], "right")
        o = order[lo:hi]
        r = np.searchsorted(ss, t[o])
        err[o] = D[r, p[o]]
    if normalize == "sqrt_area":
        err /= np.sqrt(total_area(V, F))
    return err


def error_curve(err, thresholds=None) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error curve: ``(thresholds (T,), fraction (T,))`` of vertices whose error is at
    most each threshold (NaN errors left out).  Default thresholds ``0, 0.0025, …, 0.25``."""
    e = np.asarray(err, dtype=np.float64).reshape(-1)
    e = e[np.isfinite(e)]
    th = np.linspace(0.0, 0.25, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    if e.size == 0:
        return th, np.zeros_like(th)
    es = np.sort(e)
    return th, np.searchsorted(es, th, side="right") / es.size


def orientation_score(V_src, F_src, V_tgt, F_tgt, p2p) -> float:
    """Area fraction in ``[0, 1]`` of mapped source faces whose image keeps its orientation
    (see the module notes; closed meshes are read with outward normals).  NaN when no face
    lands on three distinct vertices."""
    from ..geometry import vertex_normals
    from ..geometry.differential import face_areas

    Vs, Fs = _checked(V_src, F_src, "source")
    Vt, Ft = _checked(V_tgt, F_tgt, "target")
    T = _check_map(p2p, Vs.shape[0], Vt.shape[0], "p2p")
    if _signed_volume(Vs, Fs) < 0:
        Fs = Fs[:, ::-1]
    if _signed_volume(Vt, Ft) < 0:
        Ft = Ft[:, ::-1]
    N = vertex_normals(Vt, Ft)
    img = T[Fs]
    ok = (img[:, 0] != img[:, 1]) & (img[:, 1] != img[:, 2]) & (img[:, 0] != img[:, 2])
    if not ok.any():
        return float("nan")
    q = Vt[img[ok]]
    nrm = np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0])
    ref = N[img[ok]].sum(axis=1)
    keep = np.einsum("ij,ij->i", nrm, ref) > 0
    w = face_areas(Vs, np.ascontiguousarray(Fs))[ok]
    tot = w.sum()
    return float(w[keep].sum() / tot) if tot > 0 else float(keep.mean())


def is_mirrored(V_src, F_src, V_tgt, F_tgt, p2p) -> bool:
    """Whether a map reverses orientation on most of the surface (:func:`orientation_score` < 0.5)."""
    s = orientation_score(V_src, F_src, V_tgt, F_tgt, p2p)
    return bool(np.isfinite(s) and s < 0.5)


def evaluate_pairs(pairs, *, sample: int | None = None, seed: int = 0, exact: bool = False, method=None,
                   progress=None, triangulate: bool = False, skip_failed: bool = False, **kwargs) -> dict:
    """Map and score every pair of a benchmark folder.

    Parameters
    ----------
    pairs : list of :class:`manifold_nets.data.remeshed_pairs.Pair`
    sample : int, optional
        Score this many random source vertices per pair (default: all).
    exact : bool
        Exact geodesics for the error (default: heat method).
    method : callable, optional
        ``method(V_src, F_src, V_tgt, F_tgt) -> p2p``; default :func:`correspond` with ``kwargs``.
    progress : callable, optional
        Called with each finished row.
    triangulate : bool
        Triangulate polygon faces of the meshes when reading them (as
        :func:`manifold_nets.io.read_triangles`; the vertices, hence the maps, are unchanged).
    skip_failed : bool
        A pair that fails (a mesh or ground truth that cannot be read, a ground truth of the wrong
        length, a map that cannot be computed: a :class:`~manifold_nets.errors.ManifoldNetsError`,
        an :class:`OSError` or a :class:`MemoryError`) is recorded in ``"failures"`` and the other
        pairs go on; by default the error is raised.

    Warnings raised while a pair is mapped (e.g. a degenerate map, see :func:`correspond`) are
    raised again with ``"<source> -> <target>: "`` in front.

    Returns
    -------
    dict
        ``{"pairs": [row, ...], "failures": [failure, ...], "summary": {...}}``; a row holds
        ``source``, ``target``, ``group``, ``n_source``, ``n_target``, ``mean_error`` (× √area),
        ``median_error``, ``seconds``, ``orientation_score``, ``mirrored`` and ``descriptors`` (the
        kind :func:`correspond` used, ``"hks"`` or ``"wks"``; ``None`` with ``method``); a failure
        ``index`` (in ``pairs``), ``source``, ``target``, ``ground_truth``, ``group``, ``file`` (the
        file concerned, or ``"<source> -> <target>"`` when the map or the score failed), ``error``
        (the exception's type name) and ``message`` (one line, naming the file); the summary
        the number of scored pairs ``n_pairs`` and of failed ones ``n_failed``, the mean error over
        pairs, the mean time, the number of mirrored pairs and the cumulative curve of all scored
        vertices.
    """
    rng = np.random.default_rng(seed)
    rows, all_err, failures = [], [], []
    for i, pr in enumerate(pairs):
        stage = {"file": None}
        row = e = error = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                row, e = _evaluate_pair(pr, rng, sample=sample, exact=exact, method=method,
                                        triangulate=triangulate, stage=stage, kwargs=kwargs)
            except (ManifoldNetsError, OSError, MemoryError) as exc:
                error = exc
        for w in caught:
            warnings.warn(f"{pr.source} -> {pr.target}: {w.message}", w.category, stacklevel=2)
        if error is not None:
            if not skip_failed:
                raise error
            failures.append(_failure(i, pr, stage["file"], error))
            continue
        all_err.append(e)
        rows.append(row)
        if progress is not None:
            progress(row)
    allv = np.concatenate(all_err) if all_err else np.zeros(0)
    th, frac = error_curve(allv)
    summary = {"n_pairs": len(rows), "n_failed": len(failures),
               "mean_error": float(np.mean([r["mean_error"] for r in rows])) if rows else float("nan"),
               "mean_seconds": float(np.mean([r["seconds"] for r in rows])) if rows else float("nan"),
               "n_mirrored": int(sum(r["mirrored"] for r in rows)),
               "curve": {"thresholds": th.tolist(), "fraction": frac.tolist()}}
    return {"pairs": rows, "failures": failures, "summary": summary}


def _evaluate_pair(pr, rng, *, sample, exact, method, triangulate, stage, kwargs):
    """One row of :func:`evaluate_pairs` and the finite errors; ``stage["file"]`` names the file
    being read when an error is raised (``None`` past reading)."""
    from ..data.maps import read_map
    from ..io import read_triangles

    stage["file"] = pr.source
    s = read_triangles(pr.source, triangulate=triangulate)
    stage["file"] = pr.target
    t = read_triangles(pr.target, triangulate=triangulate)
    stage["file"] = pr.ground_truth
    gt = read_map(pr.ground_truth, n_source=len(s.V), n_target=len(t.V))
    stage["file"] = None
    t0 = time.perf_counter()
    kind = None
    if method is None:
        p2p, info = correspond(s.V, s.F, t.V, t.F, return_info=True, **kwargs)
        kind = info["descriptors"]
    else:
        p2p = method(s.V, s.F, t.V, t.F)
    dt = time.perf_counter() - t0
    sel = None
    if sample is not None and sample < len(s.V):
        sel = np.sort(rng.choice(len(s.V), int(sample), replace=False))
    err = geodesic_error(t.V, t.F, p2p, gt, exact=exact, sources=sel)
    e = err[np.isfinite(err)]
    score = orientation_score(s.V, s.F, t.V, t.F, p2p)
    row = {"source": str(pr.source), "target": str(pr.target), "group": pr.group,
           "n_source": int(len(s.V)), "n_target": int(len(t.V)),
           "mean_error": float(e.mean()) if e.size else float("nan"),
           "median_error": float(np.median(e)) if e.size else float("nan"),
           "seconds": dt, "orientation_score": score, "mirrored": bool(np.isfinite(score) and score < 0.5),
           "descriptors": kind}
    return row, e


def _failure(index: int, pr, file, exc: BaseException) -> dict:
    """A failure record of :func:`evaluate_pairs`; the message is one line that names the file."""
    if isinstance(exc, OSError) and not isinstance(exc, ManifoldNetsError) and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    else:
        lines = str(exc).strip().splitlines()
        text = lines[0] if lines else type(exc).__name__
    where = str(file) if file is not None else f"{pr.source} -> {pr.target}"
    if file is None or str(file) not in text:
        text = f"{where}: {text}"
    return {"index": int(index), "source": str(pr.source), "target": str(pr.target),
            "ground_truth": str(pr.ground_truth), "group": pr.group, "file": where,
            "error": type(exc).__name__, "message": text}


def initial_fmaps(src: SpectralShape, tgt: SpectralShape, *, k_init: int = K_INIT_DEFAULT,
                  n_orient: int = N_ORIENT, weights: dict | None = None,
                  timings: dict | None = None) -> dict:
    """The initial functional maps of :func:`correspond`, one per descriptor set of the shapes.

    Parameters
    ----------
    src, tgt : SpectralShape
        From :func:`spectral_shape` (the same descriptor kinds on both).
    k_init : int
        Basis size (at most the eigenpairs of both).
    n_orient : int
        Descriptors per set that enter the orientation and multiplication terms.
    weights : dict, optional
        ``w_descr``, ``w_lap``, ``w_orient``, ``w_dcomm`` (defaults of
        :mod:`manifold_nets.geometry.fmaps`); a zero weight drops its term.
    timings : dict, optional
        Filled with the seconds of the ``"operators"`` and of the ``"solve"``.

    Returns
    -------
    dict of str to (k0, k0) float64
        ``C`` per descriptor kind (``"hks"``, ``"wks"`` or ``"given"``), mapping functions on the
        target to functions on the source (:func:`~manifold_nets.geometry.fmaps.fmap_to_p2p`
        gives the source -> target map); ``k0 = min(k_init, eigenpairs of either shape)``.
    """
    from ..geometry import fmaps

    w = {"w_descr": fmaps.W_DESCR, "w_lap": fmaps.W_LAP, "w_orient": fmaps.W_ORIENT, "w_dcomm": fmaps.W_DCOMM}
    w.update({key: float(v) for key, v in (weights or {}).items()})
    if set(w) != {"w_descr", "w_lap", "w_orient", "w_dcomm"}:
        raise MeshShapeError(f"weights: expected keys among w_descr, w_lap, w_orient, w_dcomm (got {sorted(weights)})")
    if list(src.descriptor_sets) != list(tgt.descriptor_sets):
        raise MeshShapeError(f"src, tgt: expected the same descriptor kinds (got {list(src.descriptor_sets)} "
                             f"and {list(tgt.descriptor_sets)})")
    k0 = min(int(k_init), src.evals.shape[0], tgt.evals.shape[0])
    kinds = list(src.descriptor_sets)
    picks = {}
    for kind in kinds:
        d = tgt.descriptor_sets[kind].shape[1]
        picks[kind] = np.unique(np.linspace(0, d - 1, max(1, int(n_orient))).round().astype(int))
    t_ops = time.perf_counter()
    # the operators of every candidate's picked descriptors in one pass per shape
    picked = {name: np.concatenate([sh.descriptor_sets[kd][:, picks[kd]] for kd in kinds], axis=1)
              for name, sh in (("a", tgt), ("b", src))}
    ops = mult = None
    if w["w_orient"]:
        ops = {name: fmaps.orientation_operators(sh.V, sh.F, sh.evecs[:, :k0], picked[name])
               for name, sh in (("a", tgt), ("b", src))}
    if w["w_dcomm"]:
        mult = {name: fmaps.multiplication_operators(sh.evecs[:, :k0], sh.mass, picked[name])
                for name, sh in (("a", tgt), ("b", src))}
    t_solve = time.perf_counter()
    Cs = {}
    at = 0
    for kind in kinds:
        part = slice(at, at + picks[kind].shape[0])
        at = part.stop
        A = fmaps.project(tgt.evecs[:, :k0], tgt.mass, tgt.descriptor_sets[kind])
        B = fmaps.project(src.evecs[:, :k0], src.mass, src.descriptor_sets[kind])
        # every term is scaled to unit size on the source, so the weights are relative
        A, B = A / _norm(B), B / _norm(B)
        ops_a = ops_b = mult_a = mult_b = None
        if ops is not None:
            ops_a, ops_b = ops["a"][part] / _norm(ops["b"][part]), ops["b"][part] / _norm(ops["b"][part])
        if mult is not None:
            mult_a, mult_b = mult["a"][part] / _norm(mult["b"][part]), mult["b"][part] / _norm(mult["b"][part])
        Cs[kind] = fmaps.solve_fmap(A, B, tgt.evals[:k0], src.evals[:k0], ops_a, ops_b, mult_a=mult_a,
                                    mult_b=mult_b, **w)
    if timings is not None:
        timings.update({"operators": t_solve - t_ops, "solve": time.perf_counter() - t_solve})
    return Cs
