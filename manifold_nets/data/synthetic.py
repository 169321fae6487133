"""Synthetic articulated shapes with named parts: labelled training data with no download.

A shape is a posed skeleton of tapered capsules ("round cones"), each belonging to a named part.
Its surface is the zero level set of a smooth union (a log-sum-exp soft minimum) of the capsules'
distance fields, meshed with scikit-image's marching cubes on a grid with a random offset and
spacing, cleaned (duplicate vertices merged, collapsed and duplicate faces removed, only the
largest component kept), and decimated with ``fast-simplification`` to the requested vertex count.
Every face is labelled by the capsule whose distance is smallest at its centroid (the primitive
that dominates the field there).  So every mesh has its own triangulation, pose, proportions,
and, in :func:`make_segmentation_set`, its own scale and rigid placement.

Kinds (:data:`KINDS`) and their parts:

``"figure"``
    a humanoid: ``head, torso, upper_arm, lower_arm, upper_leg, lower_leg``.  Both arms share
    names, both legs too (mirror images are indistinguishable to an intrinsic model); arms and
    legs differ in length and thickness, upper and lower segments in their place on the chain.
``"creature"``
    a quadruped with a tail: ``body, neck, head, front_leg, hind_leg, tail``; hind legs are
    longer and thicker than front legs.

Every generated mesh is closed, edge- and vertex-manifold, consistently oriented, one component,
with no degenerate or duplicate face (checked with :func:`manifold_nets.topology.mesh_report`; a
grid that fails is redrawn), and every part of its kind is present on it.  Random poses are also
genus 0 (a pose whose limbs touch is redrawn); a pose given explicitly is meshed as it is.

Needs scikit-image (``pip install 'manifold-nets[data]'``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ManifoldNetsError, MeshError, optional_import
from ..topology import mesh_report
from .dataset import LabeledMesh, MeshDataset
from .transforms import _decimate_unit, _random_rotation, _rotation_about
from .transforms import remesh as _remesh

__all__ = ["KINDS", "PART_NAMES", "POSE_RANGES", "synthetic_shape", "make_segmentation_set"]

#: Part names of every kind, in label order.
PART_NAMES = {
    "figure": ("head", "torso", "upper_arm", "lower_arm", "upper_leg", "lower_leg"),
    "creature": ("body", "neck", "head", "front_leg", "hind_leg", "tail"),
}
KINDS = tuple(PART_NAMES)

#: Joint angles in degrees: ``name -> (rest, low, high)``; a random pose draws each uniformly.
POSE_RANGES = {
    "figure": {
        "spine_bend": (0.0, -15.0, 25.0), "spine_side": (0.0, -12.0, 12.0),
        "spine_twist": (0.0, -30.0, 30.0), "neck_bend": (0.0, -25.0, 30.0),
        "neck_turn": (0.0, -50.0, 50.0),
        **{f"{s}_shoulder_abduct": (25.0, 15.0, 100.0) for s in "lr"},
        **{f"{s}_shoulder_flex": (0.0, -50.0, 80.0) for s in "lr"},
        **{f"{s}_elbow": (10.0, 0.0, 120.0) for s in "lr"},
        **{f"{s}_hip_flex": (0.0, -30.0, 70.0) for s in "lr"},
        **{f"{s}_hip_abduct": (6.0, 3.0, 30.0) for s in "lr"},
        **{f"{s}_knee": (5.0, 0.0, 110.0) for s in "lr"},
    },
    "creature": {
        "back_arch": (0.0, -12.0, 12.0), "neck_raise": (45.0, 15.0, 75.0),
        "neck_turn": (0.0, -35.0, 35.0), "head_pitch": (-40.0, -75.0, 0.0),
        **{f"{s}_shoulder": (0.0, -35.0, 35.0) for s in ("fl", "fr")},
        **{f"{s}_elbow": (0.0, 0.0, 70.0) for s in ("fl", "fr")},
        **{f"{s}_hip": (0.0, -35.0, 35.0) for s in ("hl", "hr")},
        **{f"{s}_knee": (0.0, 0.0, 70.0) for s in ("hl", "hr")},
        "tail_raise": (10.0, -30.0, 60.0), "tail_curl": (0.0, -50.0, 50.0),
        "tail_side": (0.0, -45.0, 45.0),
    },
}

#: Random proportions: every length and radius is multiplied by a factor in this range.
PROPORTION_RANGE = (0.85, 1.15)


@dataclass
class _Capsule:
    a: np.ndarray
    b: np.ndarray
    ra: float
    rb: float
    part: int


def _rot(axis, deg):
    return _rotation_about(np.asarray(axis, dtype=np.float64), np.deg2rad(deg))


# ----------------------------------------------------------------------------- skeletons
def _figure(pose: dict, p: dict) -> list[_Capsule]:
    """Humanoid, z up, y forward, x to the figure's left.  ``p``: proportion factors."""
    H, T, UA, LA, UL, LL = range(6)
    X, Y, Z = np.eye(3)
    L_ul, L_ll = 0.44 * p["ul"], 0.42 * p["ll"]
    hip_h = L_ul + L_ll + 0.06
    P0 = np.array([0.0, 0.0, hip_h])
    Rs = (_rot(Z, pose["spine_twist"]) @ _rot(Y, pose["spine_side"]) @ _rot(X, pose["spine_bend"]))
    up, side = Rs @ Z, Rs @ X
    L_t, r_t = 0.50 * p["torso"], 0.14 * p["torso_r"]
    C = P0 + L_t * up
    half = 0.17 * p["shoulders"]
    caps = [
        _Capsule(P0 + 0.02 * up, C - 0.06 * up, 0.85 * r_t, r_t, T),
        _Capsule(P0 - 0.08 * X, P0 + 0.08 * X, 0.10 * p["torso_r"], 0.10 * p["torso_r"], T),
        _Capsule(C - 0.07 * up - half * side, C - 0.07 * up + half * side, 0.07, 0.07, T),
    ]
    Rn = Rs @ _rot(Z, pose["neck_turn"]) @ _rot(X, pose["neck_bend"])
    r_h = 0.105 * p["head"]
    N1 = C + 0.07 * (Rn @ Z)
    caps.append(_Capsule(C - 0.03 * up, N1, 0.05, 0.045, H))
    caps.append(_Capsule(N1 + 0.9 * r_h * (Rn @ Z), N1 + 1.3 * r_h * (Rn @ Z), r_h, 0.9 * r_h, H))
    for sgn, s in ((1.0, "l"), (-1.0, "r")):
        S = C - 0.07 * up + sgn * (half + 0.05) * side
        # arm hangs along -up; abduction swings it out sideways, flexion forward
        Ra = Rs @ _rot(Y, -sgn * pose[f"{s}_shoulder_abduct"]) @ _rot(X, pose[f"{s}_shoulder_flex"])
        d1 = Ra @ -Z
        E = S + 0.29 * p["ua"] * d1
        d2 = Ra @ _rot(X, pose[f"{s}_elbow"]) @ -Z
        Hd = E + 0.27 * p["la"] * d2
        caps.append(_Capsule(S, E, 0.052 * p["arm_r"], 0.044 * p["arm_r"], UA))
        caps.append(_Capsule(E, Hd, 0.040 * p["arm_r"], 0.032 * p["arm_r"], LA))
        caps.append(_Capsule(Hd, Hd + 0.05 * d2, 0.036 * p["arm_r"], 0.03 * p["arm_r"], LA))
        J = P0 - 0.02 * up + sgn * 0.09 * X
        Rl = _rot(Y, -sgn * pose[f"{s}_hip_abduct"]) @ _rot(X, pose[f"{s}_hip_flex"])
        d1 = Rl @ -Z
        K = J + L_ul * d1
        Rk = Rl @ _rot(X, -pose[f"{s}_knee"])
        d2 = Rk @ -Z
        A = K + L_ll * d2
        caps.append(_Capsule(J, K, 0.085 * p["leg_r"], 0.062 * p["leg_r"], UL))
        caps.append(_Capsule(K, A, 0.058 * p["leg_r"], 0.042 * p["leg_r"], LL))
        caps.append(_Capsule(A, A + 0.13 * p["foot"] * (Rk @ Y), 0.042 * p["leg_r"],
                             0.034 * p["leg_r"], LL))
    return caps


def _creature(pose: dict, p: dict) -> list[_Capsule]:
    """Quadruped, x forward, z up, y to its left.  ``p``: proportion factors."""
    B, N, H, FL, HL, TL = range(6)
    X, Y, Z = np.eye(3)
    L_b = 0.9 * p["torso"]
    h = 0.62 * p["ll"]
    Ra = _rot(Y, pose["back_arch"])
    B0 = np.array([-L_b / 2, 0.0, h])
    B1 = B0 + L_b * (Ra @ X)
    r_b = 0.17 * p["torso_r"]
    caps = [_Capsule(B0, B1, r_b, 1.1 * r_b, B)]
    # neck: from the shoulders, raised above the horizontal, turned sideways
    Rn = _rot(Z, pose["neck_turn"]) @ _rot(Y, -pose["neck_raise"])
    dn = Rn @ X
    N0 = B1 + 0.1 * X + 0.08 * Z
    N1 = N0 + 0.4 * p["ua"] * dn
    caps.append(_Capsule(N0, N1, 0.085 * p["arm_r"], 0.065 * p["arm_r"], N))
    dh = Rn @ _rot(Y, -pose["head_pitch"]) @ X
    Hs = N1 + 0.04 * dn
    caps.append(_Capsule(Hs, Hs + 0.2 * p["head"] * dh, 0.1 * p["head"], 0.065 * p["head"], H))
    for s, base, sgn, r1, r2, L1, L2, part in (
            ("fl", B1, 1.0, 0.062, 0.045, 0.27, 0.26, FL), ("fr", B1, -1.0, 0.062, 0.045, 0.27, 0.26, FL),
            ("hl", B0, 1.0, 0.092, 0.05, 0.31, 0.29, HL), ("hr", B0, -1.0, 0.092, 0.05, 0.31, 0.29, HL)):
        J = base + sgn * 0.1 * p["shoulders"] * Y - 0.07 * Z
        knee = "elbow" if part == FL else "knee"
        joint = "shoulder" if part == FL else "hip"
        R1 = _rot(Y, pose[f"{s}_{joint}"])
        d1 = R1 @ -Z
        K = J + L1 * p["ul"] * d1
        bend = 1.0 if part == FL else -1.0
        d2 = R1 @ _rot(Y, bend * pose[f"{s}_{knee}"]) @ -Z
        A = K + L2 * p["ll"] * d2
        caps.append(_Capsule(J, K, r1 * p["leg_r"], 0.8 * r1 * p["leg_r"], part))
        caps.append(_Capsule(K, A, r2 * p["leg_r"], 0.75 * r2 * p["leg_r"], part))
    # tail: three segments curling progressively
    d = _rot(Z, pose["tail_side"]) @ _rot(Y, -pose["tail_raise"]) @ -X
    axis = np.cross(d, Y if abs(d[1]) < 0.9 else Z)
    axis /= np.linalg.norm(axis)
    P = B0 - 0.1 * X + 0.03 * Z
    r = 0.05 * p["arm_r"]
    for _ in range(3):
        Q = P + 0.2 * p["la"] * d
        caps.append(_Capsule(P, Q, r, 0.8 * r, TL))
        P, r = Q, 0.8 * r
        d = _rotation_about(axis, np.deg2rad(pose["tail_curl"])) @ d
    return caps


_BUILDERS = {"figure": _figure, "creature": _creature}
_PROPORTIONS = ("ul", "ll", "ua", "la", "torso", "torso_r", "shoulders", "head", "arm_r", "leg_r",
                "foot")


# ----------------------------------------------------------------------------- field and meshing
def _distances(P: np.ndarray, caps: list[_Capsule]) -> np.ndarray:
    """``(len(caps), n)`` float64: tapered-capsule distance of each point to each capsule."""
    out = np.empty((len(caps), len(P)))
    for i, c in enumerate(caps):
        ab = c.b - c.a
        ll = float(ab @ ab)
        t = np.clip(((P - c.a) @ ab) / ll, 0.0, 1.0) if ll > 0 else np.zeros(len(P))
        q = c.a + t[:, None] * ab
        out[i] = np.linalg.norm(P - q, axis=1) - (c.ra + t * (c.rb - c.ra))
    return out


def _grid_field(axes, caps: list[_Capsule], k: float, margin: float) -> np.ndarray:
    """Smooth union (log-sum-exp soft minimum, width ``k``) of the capsule distances on the grid
    ``axes`` (three 1-D coordinate arrays) -> ``(nx, ny, nz)`` float64.

    Each capsule is evaluated only in its bounding box grown by ``margin``: near the surface
    (field ~ 0) a capsule farther than ``margin`` changes the field by less than
    ``k exp(-margin / k)``, and a missing term only raises the field, by no more than it would
    take to flip a sign (every missing capsule is farther than ``margin``).  Grid points outside
    every box get ``margin`` (outside the shape).
    """
    shape = tuple(len(a) for a in axes)
    m = np.full(shape, np.inf)
    s = np.zeros(shape)
    for c in caps:
        lo = np.minimum(c.a - c.ra, c.b - c.rb) - margin
        hi = np.maximum(c.a + c.ra, c.b + c.rb) + margin
        sl = tuple(slice(int(np.searchsorted(a, l)), int(np.searchsorted(a, h, side="right")))
                   for a, l, h in zip(axes, lo, hi))
        px = axes[0][sl[0], None, None] - c.a[0]
        py = axes[1][None, sl[1], None] - c.a[1]
        pz = axes[2][None, None, sl[2]] - c.a[2]
        ab = c.b - c.a
        ll = float(ab @ ab)
        dot = px * ab[0] + py * ab[1] + pz * ab[2]
        t = np.clip(dot / ll, 0.0, 1.0) if ll > 0 else np.zeros_like(dot)
        d = np.sqrt((px - t * ab[0]) ** 2 + (py - t * ab[1]) ** 2 + (pz - t * ab[2]) ** 2)
        d -= c.ra + t * (c.rb - c.ra)
        m_old = m[sl]
        m_new = np.minimum(m_old, d)
        s[sl] = s[sl] * np.exp(-(m_old - m_new) / k) + np.exp(-(d - m_new) / k)
        m[sl] = m_new
    out = np.full(shape, float(margin))
    has = s > 0
    out[has] = m[has] - k * np.log(s[has])
    return out


def _clean(V: np.ndarray, F: np.ndarray):
    """Marching-cubes output made into a clean surface: exact duplicate vertices merged, faces that
    repeat a vertex removed, pairs of faces on the same three vertices removed, unreferenced
    vertices dropped, only the largest edge-connected component kept."""
    from ..topology import face_components

    # exact duplicates: sort lexicographically, compare neighbours, map each to its first copy
    order = np.lexsort(V.T[::-1])
    Vs = V[order]
    new_group = np.r_[True, (Vs[1:] != Vs[:-1]).any(axis=1)]
    rep = order[np.flatnonzero(new_group)][np.cumsum(new_group) - 1]  # representative per sorted row
    first = np.empty(len(V), np.int64)
    first[order] = rep
    F = first[F]
    F = F[(F[:, 0] != F[:, 1]) & (F[:, 1] != F[:, 2]) & (F[:, 2] != F[:, 0])]
    # faces on the same three vertices come in pairs (a zero-volume fold): drop every copy
    n = np.int64(len(V))
    key = np.sort(F, axis=1)
    key = (key[:, 0] * n + key[:, 1]) * n + key[:, 2]
    _, idx, cnt = np.unique(key, return_inverse=True, return_counts=True)
    F = F[cnt[idx] == 1]
    n, lab = face_components(F)
    if n > 1:
        F = F[lab == np.bincount(lab).argmax()]
    used = np.zeros(len(V), bool)
    used[F.ravel()] = True
    new = np.cumsum(used) - 1
    return V[used], new[F]


def _ok(V, F, genus0: bool = False) -> bool:
    r = mesh_report(V, F)
    return (r["closed"] and r["edge_manifold"] and r["vertex_manifold"] and r["components"] == 1
            and r["degenerate_faces"] == 0 and r["duplicate_faces"] == 0
            and r["unreferenced_vertices"] == 0 and r["orientable"] and r["consistently_oriented"]
            and (r["genus"] == 0 or not genus0))


def _mesh_field(caps, rng, n_vertices: int, k: float):
    skimage_measure = optional_import("skimage.measure", extra="data",
                                      purpose="synthetic shapes (marching cubes)")
    lo = np.min([np.minimum(c.a - c.ra, c.b - c.rb) for c in caps], axis=0)
    hi = np.max([np.maximum(c.a + c.ra, c.b + c.rb) for c in caps], axis=0)
    r_min = min(min(c.ra, c.rb) for c in caps)
    area = sum(2 * np.pi * max(c.ra, c.rb) * np.linalg.norm(c.b - c.a) for c in caps)
    # fine enough for the thinnest part and for ~3 grid vertices per output vertex
    h = min(0.55 * r_min, np.sqrt(area / (3.0 * n_vertices))) * rng.uniform(0.85, 1.0)
    origin = lo - 2 * h - rng.uniform(0.0, h, size=3)
    shape = np.ceil((hi + 2 * h - origin) / h).astype(int) + 1
    axes = [origin[i] + h * np.arange(shape[i]) for i in range(3)]
    vol = _grid_field(axes, caps, k, margin=max(6.0 * k, 2.0 * h))
    V, F, _, _ = skimage_measure.marching_cubes(vol.astype(np.float64), 0.0, spacing=(h, h, h),
                                                allow_degenerate=False)
    V = np.asarray(V, dtype=np.float64) + origin
    F = np.asarray(F, dtype=np.int64)
    V, F = _clean(V, F)
    # outward orientation: positive signed volume
    vol6 = np.einsum("ij,ij->i", V[F[:, 0]], np.cross(V[F[:, 1]], V[F[:, 2]])).sum()
    if vol6 < 0:
        F = F[:, ::-1].copy()
    return V, F


def _resolve_pose(kind: str, pose, rng: np.random.Generator) -> dict:
    ranges = POSE_RANGES[kind]
    if pose is None or (isinstance(pose, str) and pose == "rest"):
        return {j: r[0] for j, r in ranges.items()}
    if isinstance(pose, str) and pose == "random":
        return {j: float(rng.uniform(r[1], r[2])) for j, r in ranges.items()}
    if isinstance(pose, dict):
        unknown = sorted(set(pose) - set(ranges))
        if unknown:
            raise MeshError(f"pose: expected joint names of a {kind!r} ({', '.join(ranges)}) "
                            f"(got {unknown[0]!r})")
        out = {j: r[0] for j, r in ranges.items()}
        out.update({j: float(v) for j, v in pose.items()})
        return out
    raise MeshError(f"pose: expected None, 'rest', 'random' or a dict of joint angles (got {pose!r})")


def _check_kind(kind) -> str:
    if kind not in PART_NAMES:
        raise MeshError(f"kind: expected one of {', '.join(map(repr, KINDS))} (got {kind!r})")
    return kind


def synthetic_shape(kind: str = "figure", *, pose="random", seed=None, n_vertices: int = 1500,
                    smoothness: float = 0.025, name: str = "") -> LabeledMesh:
    """One articulated shape with labelled parts, in its own frame (feet/paws near ``z = 0``,
    height about 1.7 for a figure, 1 for a creature).

    Parameters
    ----------
    kind : {"figure", "creature"}
    pose : "random", "rest", None (rest) or dict
        Joint angles in degrees (:data:`POSE_RANGES`; a dict sets some, the rest stay at rest).
    seed : int, numpy.random.Generator or None
        Draws the proportions, the random pose and the meshing grid.
    n_vertices : int
        The mesh has at most this many vertices (decimated from the marching-cubes mesh), at
        least 200.
    smoothness : float
        Width of the smooth union at the joints (in the shape's units).

    Returns
    -------
    LabeledMesh
        ``V (nV, 3)``, ``F (nF, 3)``, one label per face into ``PART_NAMES[kind]``; ``meta`` has
        ``kind``, ``pose`` and ``proportions``.

    Raises
    ------
    MeshError
        Unknown kind or joint name, ``n_vertices < 200``.
    """
    kind = _check_kind(kind)
    if isinstance(n_vertices, bool) or not isinstance(n_vertices, (int, np.integer)) or n_vertices < 200:
        raise MeshError(f"n_vertices: expected an integer >= 200 (got {n_vertices!r})")
    rng = np.random.default_rng(seed)
    props = {q: float(rng.uniform(*PROPORTION_RANGE)) for q in _PROPORTIONS}
    angles = _resolve_pose(kind, pose, rng)
    redraw = isinstance(pose, str) and pose == "random"
    parts = PART_NAMES[kind]
    for attempt in range(8):
        if attempt and redraw:  # a random pose whose limbs touch (genus > 0): draw another
            angles = _resolve_pose(kind, pose, rng)
        caps = _BUILDERS[kind](angles, props)
        V, F = _mesh_field(caps, rng, int(n_vertices), smoothness)
        # the figures are built at one fixed size, so the unnormalised decimation (as the
        # committed samples and measured figures were made) is deterministic here
        V, F = _decimate_unit(V, F, int(n_vertices))
        if not _ok(V, F, genus0=redraw):
            continue
        D = _distances(V[F].mean(axis=1), caps)
        owner = np.array([c.part for c in caps])
        labels = owner[D.argmin(axis=0)]
        if len(np.unique(labels)) == len(parts):
            break
    else:
        raise ManifoldNetsError(f"synthetic_shape: no clean {kind} mesh with every part after 8 "
                                f"grids (seed {seed!r}, n_vertices {n_vertices}); try more vertices")
    meta = {"kind": kind, "pose": angles, "proportions": props, "grid_attempts": attempt + 1}
    return LabeledMesh(V, F, labels, parts, name=name or kind, meta=meta)


def _range(value, name: str, cast, low) -> tuple:
    try:
        lo, hi = value
        lo, hi = cast(lo), cast(hi)
    except (TypeError, ValueError):
        raise MeshError(f"{name}: expected a pair (low, high) (got {value!r})") from None
    if not (lo >= low and hi >= lo):
        raise MeshError(f"{name}: expected {low} <= low <= high (got {value!r})")
    return lo, hi


def make_segmentation_set(n_meshes: int, *, kind: str = "figure", seed=0,
                          resolution=(1000, 2000), scale=(0.5, 2.0), remesh: bool = True,
                          progress=None) -> MeshDataset:
    """A labelled data set of ``n_meshes`` articulated shapes of one kind.

    Each mesh has its own random pose, proportions, vertex count (uniform in ``resolution``),
    triangulation, scale (log-uniform in ``scale``: the unit of length differs between meshes)
    and rigid placement (a uniform random rotation and a translation of up to one shape size).

    Parameters
    ----------
    n_meshes : int
    kind : {"figure", "creature"}
    seed : int
        The whole set is a function of ``seed`` (and the other arguments).
    resolution : (int, int)
        Range of vertex counts.
    scale : (float, float)
        Range of scale factors.
    remesh : bool
        Also pass every mesh through :func:`manifold_nets.data.transforms.remesh` (subdivide,
        jitter, decimate), so its triangulation owes nothing to the marching-cubes grid.
    progress : callable, optional
        Called as ``progress(i, n_meshes)`` after each mesh.

    Returns
    -------
    MeshDataset
        Meshes named ``"<kind>_<i>"``; part names :data:`PART_NAMES[kind] <PART_NAMES>`.

    >>> ds = make_segmentation_set(2, resolution=(400, 500), seed=1)
    >>> len(ds), ds.part_names[:2], all(400 <= m.n_vertices <= 500 for m in ds)
    (2, ('head', 'torso'), True)
    """
    kind = _check_kind(kind)
    if isinstance(n_meshes, bool) or not isinstance(n_meshes, (int, np.integer)) or n_meshes < 1:
        raise MeshError(f"n_meshes: expected an integer >= 1 (got {n_meshes!r})")
    lo_n, hi_n = _range(resolution, "resolution", int, 200)
    lo_s, hi_s = _range(scale, "scale", float, 1e-12)
    rng = np.random.default_rng(seed)
    meshes = []
    for i in range(int(n_meshes)):
        sub = np.random.default_rng(rng.integers(2**63 - 1))
        nv = int(sub.integers(lo_n, hi_n + 1))
        m = synthetic_shape(kind, pose="random", seed=sub, n_vertices=nv if not remesh else
                            int(nv * 1.3), name=f"{kind}_{i}")
        if remesh:
            m = _remesh(m, target_vertices=nv, seed=sub)
            if not _ok(m.V, m.F, genus0=True) or len(np.unique(m.face_labels)) < len(m.part_names):
                # rare: fall back to the (clean, complete) decimated mesh at this resolution
                m = synthetic_shape(kind, pose=m.meta["pose"], seed=sub, n_vertices=nv,
                                    name=f"{kind}_{i}")
        s = float(np.exp(sub.uniform(np.log(lo_s), np.log(hi_s))))
        R = _random_rotation(sub)
        size = float(np.linalg.norm(m.V.max(0) - m.V.min(0)))
        t = sub.uniform(-1.0, 1.0, size=3) * size * s
        V = (m.V - m.V.mean(0)) @ R.T * s + t
        meta = dict(m.meta, scale=s, rotation=R.tolist(), translation=t.tolist())
        meshes.append(m.replace(V=V, meta=meta))
        if progress is not None:
            progress(i + 1, int(n_meshes))
    return MeshDataset(meshes, PART_NAMES[kind], name=f"synthetic-{kind}")
